"""Does the model know the power-pellet rule? Blue (frightened) ghosts in its frames around the
moment the real ghosts turn blue, on recorded windows.

Two kinds of window of `--length` frames from `--data`, one of each per fright onset
(`recorder.dataset.fright_onsets`, the frame after Pac-Man eats a power pellet) where it fits:
`during` starts at the onset, frightened throughout; `onset` turns frightened at its frame
`ONSET` and stays so. Each is rolled out teacher-forced (every input real) and free-running from
`ONSET - 1` real frames; for each predicted frame 1.. it gives the share of windows in which
the model draws a frightened ghost. A model that has learned the rule draws them from frame
`ONSET` on in both rollouts; one that only copies its input draws them `during`, and after the
onset only teacher-forced, one frame late. `gamegan eval` reports it as `fright_onset`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.evaluation.sprites import PaletteReader
from recorder.dataset import Dataset, fright_onsets

ONSET = 3
"""Frame of an `onset` window at which the ghosts first show frightened."""


def windows(ds: Dataset, length: int, per_kind: int, episodes: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Up to `per_kind` (frames, actions) windows of each kind from the first `episodes` (all by
    default): one per fright onset, and one per fright at most for `during`. ValueError when a
    kind has none."""
    found: dict[str, list[tuple[int, int]]] = {"during": [], "onset": []}
    for episode in range(ds.n_episodes if episodes is None else min(episodes, ds.n_episodes)):
        scared = ds.state(episode, "frightened").any(axis=-1)
        for onset in fright_onsets(scared):
            if onset + length <= len(scared) and scared[onset:onset + length].all():
                found["during"].append((episode, onset))
            start = onset - ONSET
            calm_before = start >= 0 and not scared[start:onset].any()  # not the tail of an earlier fright
            if calm_before and start + length <= len(scared) and scared[onset:start + length].all():
                found["onset"].append((episode, start))
    out = {}
    for kind, starts in found.items():
        starts = starts[:per_kind]
        if not starts:
            raise ValueError(f"no {kind} window of {length} frames (no episode in which Pac-Man eats a power pellet "
                             "early enough)")
        frames = np.stack([ds.frames(e, t, t + length) for e, t in starts])
        actions = np.stack([ds.actions(e)[t:t + length - 1] for e, t in starts]).astype(np.int64)
        out[kind] = (frames, actions)
    return out


@torch.no_grad()
def blue_by_frame(simulator: Any, kinds: dict[str, tuple[np.ndarray, np.ndarray]], reader: PaletteReader,
                  device: torch.device | str = "cpu") -> dict:
    """For each kind of window and each rollout (`teacher`, `free`): the share of windows with a
    frightened ghost drawn at each predicted frame 1..length-1; and the windows of each kind."""
    if isinstance(simulator, torch.nn.Module):
        simulator.eval()
    result: dict[str, Any] = {"onset_frame": ONSET}
    for kind, (frames, actions) in kinds.items():
        x, a = to_model_frames(frames).to(device), torch.from_numpy(actions).to(device)
        length = frames.shape[1]
        for name, warmup in (("teacher", length - 1), ("free", ONSET - 1)):
            torch.manual_seed(0)
            predicted = to_uint8_frames(simulator.rollout(x, a, warmup).frames)  # frames 1..length-1
            blue = reader.read(predicted.reshape(-1, *predicted.shape[2:])).frightened.any(axis=(1, 2))
            result[f"{kind}/{name}"] = [round(float(v), 3) for v in blue.reshape(predicted.shape[:2]).mean(axis=0)]
        result[f"{kind}/windows"] = len(frames)
    return result
