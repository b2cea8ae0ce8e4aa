"""Does the model know that a ghost catches Pac-Man? Its frames at the moment a real ghost
does, on recorded windows.

One window of `--length` frames per caught episode in `--data`: the episode's last frames,
which end on the catch (`recorder.dataset.catches`). Each is rolled out teacher-forced (every
input real) and free-running over its last `--free` frames, and the model's catch frame is
read with `gamegan.evaluation.catch.CatchWatch` (Pac-Man's cell from the frame before): `caught` when it
draws a ghost under him or he vanishes next to one, as `gamegan play` would end the game;
`beside` when it draws a ghost in or next to his cell but no catch (a ghost that stopped
short); `none` otherwise. The recorded frames themselves score `caught` 1.0, and the script
also reads every other recorded frame the same way: none should read as a catch.

A simulator should not draw the catch in every window: one step before it, Pac-Man may still
get away. The recorded game says how often he does, by where the nearest ghost that is not
frightened is (next cell, or two cells away) and whether Pac-Man stays put on that step
(`catch_odds`); the share of windows a simulator that knew those odds would draw caught
(`odds_caught`) is the figure to compare `teacher` with, and `teacher_standing` is the
teacher-forced share over the windows where Pac-Man stood still next to the ghost, the
catch the real game almost always makes. `gamegan eval` reports it as `catches`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.evaluation.catch import CatchWatch, neighbourhood
from gamegan.evaluation.sprites import LOST, PaletteReader
from recorder.dataset import CATCH_FIELDS, Dataset, catches

SITUATIONS = ("next cell, Pac-Man stays", "next cell, Pac-Man moves", "two cells, Pac-Man stays",
              "two cells, Pac-Man moves")
Steps = list[tuple[np.ndarray, np.ndarray]]  # `situations` of every episode, in order


def situations(ds: Dataset, episode: int) -> tuple[np.ndarray, np.ndarray]:
    """One read of an episode's state: per frame t but the last, the index into `SITUATIONS` of
    the step from t to t + 1 (-1 when no ghost that is not frightened is within two cells, or
    frame t is itself a catch), and per frame whether it is a catch. int (L-1,), bool (L,)."""
    pacman, ghosts, frightened = (ds.state(episode, name) for name in CATCH_FIELDS)
    caught = np.zeros(len(pacman), dtype=bool)
    caught[catches(pacman, ghosts, frightened)] = True
    distance = np.where(frightened, 99, np.abs(ghosts - pacman[:, None]).sum(-1)).min(-1)[:-1]  # (L-1,)
    moves = (pacman[1:] != pacman[:-1]).any(-1)
    index = np.where((distance == 1) | (distance == 2), 2 * (distance - 1) + moves, -1)
    return np.where(caught[:-1], -1, index), caught


def catch_odds(steps: Steps) -> list[tuple[int, int]]:
    """(catches the next step, steps) in each of `SITUATIONS`, from every episode's `situations`."""
    counts = np.zeros((len(SITUATIONS), 2), dtype=np.int64)
    for index, caught in steps:
        for k in range(len(SITUATIONS)):
            counts[k] += [int(caught[1:][index == k].sum()), int((index == k).sum())]
    return [(int(c), int(n)) for c, n in counts]


def catch_windows(ds: Dataset, steps: Steps, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames (N, length, H, W, 3), actions (N, length - 1), the `SITUATIONS` index of the step
    into the catch (N,)) of every caught episode's last `length` frames."""
    found = [(episode, int(t) - length + 1, int(index[t - 1]))
             for episode, (index, caught) in enumerate(steps) for t in np.flatnonzero(caught) if t >= length - 1]
    if not found:
        raise ValueError(f"no episode of {length} frames or more ends with a ghost catching Pac-Man")
    frames = np.stack([ds.frames(e, t, t + length) for e, t, _ in found])
    actions = np.stack([ds.actions(e)[t:t + length - 1] for e, t, _ in found]).astype(np.int64)
    return frames, actions, np.array([kind for _, _, kind in found])


def judge(reader: PaletteReader, watch_cells: int, before: np.ndarray, catch: np.ndarray) -> str:
    """`caught`, `beside` or `none` for the frame `catch` that follows `before` (uint8 frames)."""
    seen = reader.read(np.stack([before, catch]))
    watch = CatchWatch(watch_cells)
    for k in range(2):
        caught = watch.update(seen.pacman[k], seen.ghosts[k], bool(seen.ghost_under_pacman[k]))
    if caught:
        return "caught"
    cell = seen.pacman[1] if seen.pacman[1][0] != LOST else seen.pacman[0]
    near = cell[0] != LOST and neighbourhood(seen.ghosts[1])[tuple(cell)]
    return "beside" if near else "none"


def false_catches(ds: Dataset, steps: Steps, reader: PaletteReader, watch_cells: int) -> tuple[int, int]:
    """(frames read as a catch, frames) over every recorded frame that is not a catch."""
    found = frames = 0
    for episode, (_, real) in enumerate(steps):
        seen = reader.read(ds.frames(episode))
        watch = CatchWatch(watch_cells)
        for t in range(len(seen.pacman)):
            caught = watch.update(seen.pacman[t], seen.ghosts[t], bool(seen.ghost_under_pacman[t]))
            if not real[t]:
                found, frames = found + int(caught), frames + 1
    return found, frames


def recorded_catches(ds: Dataset, reader: PaletteReader, length: int, episodes: int | None = None) -> dict:
    """What the recording says, once for every model: the catch windows of the first `episodes`
    (all by default), the catch odds, and how often the reader takes a recorded frame that is
    not a catch for one. ValueError when no episode ends caught."""
    n = ds.n_episodes if episodes is None else min(episodes, ds.n_episodes)
    steps = [situations(ds, episode) for episode in range(n)]
    frames, actions, kinds = catch_windows(ds, steps, length)
    n_ghosts = ds.state(0, "ghosts").shape[1]
    false_found, other_frames = false_catches(ds, steps, reader, 2 * n_ghosts)
    odds = catch_odds(steps)
    rate = np.array([c / n if n else 0.0 for c, n in odds])
    return {"frames": frames, "actions": actions, "kinds": kinds, "watch_cells": 2 * n_ghosts,
            "figures": {"windows": len(frames), "recorded_false_catches": [false_found, other_frames],
                        "catch_odds": dict(zip(SITUATIONS, odds)),
                        "odds_caught": round(float(np.where(kinds >= 0, rate[kinds], 0.0).mean()), 3),
                        "recorded": _verdicts(reader, 2 * n_ghosts, frames[:, -2], frames[:, -1])}}


@torch.no_grad()
def catch_shares(simulator: Any, recorded: dict, reader: PaletteReader, free: int = 3,
                 device: torch.device | str = "cpu") -> dict:
    """A model's verdicts at the catch frame of each `recorded_catches` window: teacher-forced
    (`teacher`, and `teacher_standing`: caught of the windows where Pac-Man stood next to the
    ghost) and free-running over the last `free` frames (`free`)."""
    if isinstance(simulator, torch.nn.Module):
        simulator.eval()
    frames, kinds, cells = recorded["frames"], recorded["kinds"], recorded["watch_cells"]
    length = frames.shape[1]
    x, a = to_model_frames(frames).to(device), torch.from_numpy(recorded["actions"]).to(device)
    result: dict[str, Any] = {}
    for name, warmup in (("teacher", length - 1), ("free", length - free)):
        torch.manual_seed(0)  # the rollouts draw the model's noise z: the same figures on every run
        predicted = to_uint8_frames(simulator.rollout(x, a, warmup).frames)  # frames 1..length-1
        # Teacher-forced, the model's input before the catch is the recorded frame; free-running, its own.
        before = frames[:, -2] if name == "teacher" else predicted[:, -2]
        result[name] = _verdicts(reader, cells, before, predicted[:, -1])
        if name == "teacher":
            verdicts = [judge(reader, cells, b, c) for b, c in zip(before, predicted[:, -1])]
            standing = [v for v, k in zip(verdicts, kinds) if k == 0]
            result["teacher_standing"] = [standing.count("caught"), len(standing)]
    return result


def _verdicts(reader: PaletteReader, cells: int, before: np.ndarray, catch: np.ndarray) -> dict[str, float]:
    verdicts = [judge(reader, cells, b, c) for b, c in zip(before, catch)]
    return {k: round(verdicts.count(k) / len(verdicts), 3) for k in ("caught", "beside", "none")}
