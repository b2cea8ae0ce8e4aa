"""Level geometry: the fixed classic layouts and the random maze generator.

Layouts are ASCII (Berkeley Pac-Man style): `%` wall, `.` pellet, `o` power pellet, `P`
Pac-Man's start, `G` a ghost start, space an empty floor cell, and optionally one `-`: the
door of the ghost pen, an empty floor cell that ghosts head for when they (re)spawn. Both sources produce a
`Level`, the only thing the engine needs to start an episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYOUTS: dict[str, list[str]] = {
    # 10x10: 3 px cells at 32x32 frames.
    "small": [
        "%%%%%%%%%%",
        "%o..%%..o%",
        "%.%....%.%",
        "%.%.%%.%.%",
        "%..GGGG..%",
        "%%.%%%%.%%",
        "%...P....%",
        "%.%%%%%%.%",
        "%o......o%",
        "%%%%%%%%%%",
    ],
    # 15x15: 4 px cells at 64x64, 5 px at 84, 8 px at 128. Mirror-symmetric, no dead ends,
    # every corridor one cell wide, a ghost pen in the middle with one door upwards.
    "classic": [
        "%%%%%%%%%%%%%%%",
        "%o.....%.....o%",
        "%.%%%%.%.%%%%.%",
        "%.............%",
        "%.%%.%%-%%.%%.%",
        "%....%.G.%....%",
        "%%%%.%.%.%.%%%%",
        "%%%%.%GGG%.%%%%",
        "%%%%.%%%%%.%%%%",
        "%......P......%",
        "%.%%.%%%%%.%%.%",
        "%o...........o%",
        "%.%%.%.%.%.%%.%",
        "%.............%",
        "%%%%%%%%%%%%%%%",
    ],
    # 15x15, the size of `classic` with the same ghost pen, other walls: pillars beside the pen,
    # a crossbar under it. With `classic` it makes a two-layout game (`layout="classic+pillars"`)
    # in which swapping the static world means another maze.
    "pillars": [
        "%%%%%%%%%%%%%%%",
        "%o...%...%...o%",
        "%.%%.%.%.%.%%.%",
        "%.%%.......%%.%",
        "%....%%-%%....%",
        "%.%%.%.G.%.%%.%",
        "%.%%.%.%.%.%%.%",
        "%.%%.%GGG%.%%.%",
        "%.%%.%%%%%.%%.%",
        "%......P......%",
        "%.%.%%%.%%%.%.%",
        "%o%...%.%...%o%",
        "%.%.%.....%.%.%",
        "%.....%%%.....%",
        "%%%%%%%%%%%%%%%",
    ],
}

LAYOUT_SEPARATOR = "+"
"""Joins layout names into one game that plays one of them per episode: "classic+pillars"."""


@dataclass
class Level:
    """Everything an episode starts from; arrays are owned by the level."""

    walls: np.ndarray  # bool (R, C)
    pellets: np.ndarray  # bool (R, C)
    power_pellets: np.ndarray  # bool (R, C)
    pacman_start: tuple[int, int]
    ghost_starts: list[tuple[int, int]]  # at least one; ghost i starts at ghost_starts[i % len]
    ghost_exit: tuple[int, int] | None = None  # pen door ghosts walk to before hunting


def layout_names(layout: str) -> tuple[str, ...]:
    """The layouts a `GameConfig.layout` names: "classic" -> ("classic",), "a+b" -> ("a", "b")."""
    return tuple(layout.split(LAYOUT_SEPARATOR))


def layout_shape(layout: str) -> tuple[int, int]:
    """(rows, cols) of a named layout (of the first, for several: they share one shape)."""
    rows = LAYOUTS[layout_names(layout)[0]]
    return len(rows), len(rows[0])


def parse_layout(rows: list[str]) -> Level:
    """Turn an ASCII layout into a `Level`; raises ValueError on a malformed layout."""
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError("layout rows must be non-empty and all the same length")
    grid = np.array([list(r) for r in rows])
    unknown = set(np.unique(grid)) - set("%.oPG -")
    if unknown:
        raise ValueError(f"layout has unknown characters {sorted(unknown)}")
    pac = np.argwhere(grid == "P")
    ghosts = [(int(r), int(c)) for r, c in np.argwhere(grid == "G")]
    doors = np.argwhere(grid == "-")
    if len(pac) != 1 or not ghosts or len(doors) > 1:
        raise ValueError("layout needs exactly one 'P', at least one 'G' and at most one '-'")
    border = np.ones(grid.shape, dtype=bool)
    border[1:-1, 1:-1] = False
    if not (grid[border] == "%").all():
        raise ValueError("layout must be enclosed by walls ('%' all around its border)")
    return Level(
        walls=grid == "%",
        pellets=grid == ".",
        power_pellets=grid == "o",
        pacman_start=(int(pac[0][0]), int(pac[0][1])),
        ghost_starts=ghosts,
        ghost_exit=(int(doors[0][0]), int(doors[0][1])) if len(doors) else None,
    )


def carve_maze(size: int, loops: float, rng: np.random.Generator) -> np.ndarray:
    """Walls of a random `size` x `size` maze with 1-cell corridors and some loops.

    Rooms sit on odd coordinates; a randomised depth-first search carves a perfect maze
    between them, then a fraction `loops` of the remaining inner walls between two rooms is
    knocked out. Cells with two even coordinates stay walls, so no 2x2 open area appears and
    every corridor stays one cell wide.
    """
    n = size // 2  # rooms per side
    flat = [True] * (size * size)  # pure-Python lists: this loop is per-episode hot code
    visited = [False] * (n * n)
    draws = rng.random(2 * n * n).tolist()
    start = int(draws.pop() * n * n)
    visited[start] = True
    flat[(2 * (start // n) + 1) * size + 2 * (start % n) + 1] = False
    stack = [start]
    while stack:
        room = stack[-1]
        r, c = divmod(room, n)
        options = []
        if r > 0 and not visited[room - n]:
            options.append(room - n)
        if r < n - 1 and not visited[room + n]:
            options.append(room + n)
        if c > 0 and not visited[room - 1]:
            options.append(room - 1)
        if c < n - 1 and not visited[room + 1]:
            options.append(room + 1)
        if not options:
            stack.pop()
            continue
        nxt = options[int(draws.pop() * len(options))] if len(options) > 1 else options[0]
        visited[nxt] = True
        nr, nc = divmod(nxt, n)
        flat[(2 * nr + 1) * size + 2 * nc + 1] = False
        flat[(r + nr + 1) * size + c + nc + 1] = False  # the wall between the two rooms
        stack.append(nxt)
    walls = np.array(flat, dtype=bool).reshape(size, size)
    # Inner walls between two rooms: one odd and one even coordinate, not on the border.
    rr, cc = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    between = ((rr % 2) != (cc % 2)) & (rr > 0) & (cc > 0) & (rr < size - 1) & (cc < size - 1)
    candidates = np.argwhere(between & walls)
    k = int(round(loops * len(candidates)))
    if k:
        for r, c in candidates[rng.choice(len(candidates), size=k, replace=False)]:
            walls[r, c] = False
    return walls


def generate_maze(size: int, loops: float, n_power: int, n_ghosts: int, rng: np.random.Generator) -> Level:
    """A random maze level: Pac-Man near the middle, ghosts far from him, pellets everywhere else."""
    walls = carve_maze(size, loops, rng)
    floor = np.argwhere(~walls)
    # Pac-Man starts on a room cell near the centre so the first view is mostly maze.
    mid = size // 2
    near = floor[(np.abs(floor[:, 0] - mid) <= size // 4) & (np.abs(floor[:, 1] - mid) <= size // 4)]
    pr, pc = near[int(rng.integers(len(near)))]
    pacman = (int(pr), int(pc))
    manhattan = np.abs(floor[:, 0] - pacman[0]) + np.abs(floor[:, 1] - pacman[1])
    far = floor[manhattan >= max(6, size // 3)]
    if len(far) < n_ghosts:
        far = floor[manhattan >= 1]
    ghosts = [tuple(int(v) for v in far[i]) for i in rng.choice(len(far), size=n_ghosts, replace=False)]
    pellets = ~walls
    pellets[pacman] = False
    power = np.zeros_like(walls)
    free = np.argwhere(pellets)
    for r, c in free[rng.choice(len(free), size=min(n_power, len(free)), replace=False)]:
        power[r, c] = True
    pellets &= ~power
    for g in ghosts:  # ghost homes start empty, as in the classic layouts
        pellets[g] = power[g] = False
    return Level(walls=walls, pellets=pellets, power_pellets=power, pacman_start=pacman, ghost_starts=ghosts)
