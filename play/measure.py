"""The play measurement's drivers: they open `gamegan play`'s sessions of a model (from the
real game engine's starts) and run the scoring of `gamegan.evaluation.follow` and
`gamegan.evaluation.ghost_losses` on them. `gamegan eval --play` and the scripts in
benchmarks/ call these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from gamegan.checkpoint import list_checkpoints, read_metadata
from gamegan.evaluation.catch import palette_reader
from gamegan.evaluation.follow import (format_report, STRIP_BAR, STRIP_MATCH, STRIP_MISS, STRIP_NO_KEY, FollowReport, StepScore,
                                       follow_episode)
from gamegan.evaluation.ghost_losses import GhostLossReport, classify_losses, format_ghost_losses, session_steps
from gamegan.evaluation.sprites import Entities
from gamegan.media import grid
from play.launch import open_session
from play.session import compose


def follow_keys(model: str | Path | None = None, episodes: int = 20, steps: int = 60, seed: int = 0,
                device: str = "cpu") -> FollowReport:
    """Play `episodes` sessions of `model` (default: the shipped one) from engine starts, seeds
    `seed`, `seed + 1`, ..., each for up to `steps` keys; see the module docstring."""
    report = FollowReport()
    session = open_session(model, seed=seed, device=device)  # loads the model once
    reader = palette_reader(session.start.game)
    for i in range(episodes):
        if i:
            session.reset(seed + i)
        follow_episode(session, reader, report, steps, seed + i)
    return report


def follow_checkpoints(run_dir: str | Path, first: int = 0, last: int | None = None, episodes: int = 40,
                       steps: int = 80, seed: int = 0, device: str = "cpu") -> Iterator[tuple[int, dict]]:
    """`follow_keys` on each checkpoint of `run_dir` with a step in first..last, oldest first:
    yields (step, summary) as each is scored, since every one takes minutes. GAN checkpoints
    a few hundred steps apart can differ by tens of points here, so a run is best picked from."""
    found = list_checkpoints(Path(run_dir), first, last)
    if not found:  # said now, not at the first next()
        raise ValueError(f"{run_dir}: no checkpoints with a step in {first}..{'' if last is None else last}")
    return ((int(read_metadata(path)["step"]),
             follow_keys(path, episodes=episodes, steps=steps, seed=seed, device=device).summary()) for path in found)


def follow_strip(model: str | Path | None = None, seed: int = 0, steps: int = 32, per_row: int = 4,
                 device: str = "cpu") -> np.ndarray:
    """One session of `follow_keys` as an image, to see what a miss looks like: per step what
    `gamegan play --side-by-side` shows (simulator | real game) over a bar that is red when
    Pac-Man is not in the real cell, white on a step with no key, grey otherwise; `per_row`
    steps a row."""
    session = open_session(model, seed=seed, device=device)
    tiles: list[np.ndarray] = []

    def draw(action: int, score: StepScore, _seen: Entities) -> None:
        tile = compose(session, side_by_side=True)
        colour = STRIP_MISS if not score.match else STRIP_NO_KEY if action == 0 else STRIP_MATCH
        tiles.append(np.concatenate([tile, np.broadcast_to(colour, (STRIP_BAR, tile.shape[1], 3))], axis=0))

    follow_episode(session, palette_reader(session.start.game), FollowReport(), steps, seed, on_step=draw)
    return grid([tiles[i:i + per_row] for i in range(0, len(tiles), per_row)], pad=4)


def ghost_losses(model: str | Path | None = None, episodes: int = 40, steps: int = 80, seed: int = 0,
                 device: str = "cpu", follow: FollowReport | None = None) -> GhostLossReport:
    """`follow_keys`'s sessions of `model` (default: the shipped one), seeds `seed`, `seed + 1`,
    ..., with each lasting loss of plausible ghosts classified (`classify_losses`); the same
    sessions' follow figures go into `follow` if given (one pass serves both)."""
    report = GhostLossReport()
    session = open_session(model, seed=seed, device=device)
    reader = palette_reader(session.start.game)
    for i in range(episodes):
        if i:
            session.reset(seed + i)
        log = session_steps(session, reader, steps, seed + i, follow)
        report.episodes += 1
        report.start_cells += log[0].plausible if log else 0
        for step, kind, cells in classify_losses(log):
            report.cells[kind] += cells
            report.where[kind].append((seed + i, step))
    return report


def add_play_measurement(report_dir: str | Path, model: str | Path, sessions: int = 200, steps: int = 80,
                         seed: int = 2000, device: str = "cpu") -> dict:
    """`follow_keys` and `ghost_losses` on `model` (one pass over `sessions` sessions from
    real-game seed `seed` on), added to the metrics.json (as `play` and `ghost_losses`) and the
    report.md that `gamegan eval` wrote in `report_dir`."""
    report_dir = Path(report_dir)
    follow = FollowReport()
    losses = ghost_losses(model, episodes=sessions, steps=steps, seed=seed, device=device, follow=follow).summary()
    summary = follow.summary()
    metrics = report_dir / "metrics.json"
    figures = json.loads(metrics.read_text())
    figures["play"] = {"sessions": sessions, "steps": steps, "seed": seed, **summary}
    figures["ghost_losses"] = losses
    metrics.write_text(json.dumps(figures, indent=2) + "\n")
    with open(report_dir / "report.md", "a") as report:
        report.write(f"\n## Play measurement\n\n{sessions} sessions of up to {steps} keys against the real game "
                     f"(seeds {seed}-{seed + sessions - 1}; docs/evaluation.md):\n\n```\n{format_report(summary)}\n```\n"
                     f"\nWhere the plausible ghosts go:\n\n```\n{format_ghost_losses(losses)}\n```\n")
    return summary
