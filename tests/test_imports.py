"""Dependencies point one way (recorder <- gamegan <- play, the CLI above all three) and no module
imports itself back."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("recorder", "gamegan", "play")


def _imports() -> dict[str, set[str]]:
    """Module name -> the modules of our packages it imports (at any depth of its code)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module)
                elif isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
            graph[module] = {m for m in found if m.split(".")[0] in PACKAGES}
    return graph


def test_the_recorder_knows_neither_the_learner_nor_the_client():
    offenders = {m: sorted(d) for m, d in _imports().items()
                 if m.startswith("recorder") and any(x.split(".")[0] != "recorder" for x in d)}
    assert offenders == {}


def test_the_learner_does_not_import_the_client():
    offenders = {m: sorted(d) for m, d in _imports().items()
                 if (m == "gamegan" or m.startswith("gamegan.")) and any(x.split(".")[0] == "play" for x in d)}
    assert offenders == {}


def test_the_command_line_sits_above_the_three_packages():
    assert not (ROOT / "gamegan" / "cli.py").exists() and (ROOT / "gamegan_cli.py").is_file()
    assert "gamegan_cli" not in {d for deps in _imports().values() for d in deps}  # nothing imports it


def test_no_import_cycles_between_modules():
    graph = _imports()
    # A package's __init__ re-exporting its modules is not a cycle of concepts: leave packages out.
    graph = {m: {d for d in deps if d in graph and d != m and not (ROOT / Path(*d.split("."))).is_dir()}
             for m, deps in graph.items()}
    cycles, state = [], {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                cycles.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_learner_names_no_event_or_character_of_one_game():
    words = ("pacman", "pac-man", "fright", "catch", "ghost")
    files = [ROOT / "gamegan" / name for name in ("data.py", "losses.py", "train.py")]
    files += sorted((ROOT / "gamegan" / "model").glob("*.py"))
    found = {f.name: w for f in files for w in words if w in f.read_text().lower()}
    assert found == {}
