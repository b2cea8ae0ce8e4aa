"""Does the model know the power-pellet rule? Blue (frightened) ghosts in its frames around the
moment the real ghosts turn blue, on recorded windows.

Two kinds of window of `--length` frames from `--data`, one of each per fright onset
(`recorder.dataset.fright_onsets`, the frame after Pac-Man eats a power pellet) where it fits:
`during` starts at the onset, frightened throughout; `onset` turns frightened at its frame
`ONSET` and stays so. Each is rolled out teacher-forced (every input real) and free-running from
`ONSET - 1` real frames; for each predicted frame 1.. it prints the share of windows in which
the model draws a frightened ghost. A model that has learned the rule draws them from frame
`ONSET` on in both rollouts; one that only copies its input draws them `during`, and after the
onset only teacher-forced, one frame late.

    python benchmarks/fright_onset.py gamegan/assets/pacman-small.safetensors --data data/pacman-test
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from gamegan.checkpoint import load_model
from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.evaluation.sprites import CellGeometry, PaletteReader
from recorder.dataset import Dataset, fright_onsets, open_dataset

ONSET = 3
"""Frame of an `onset` window at which the ghosts first show frightened."""


def windows(ds: Dataset, length: int, per_kind: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Up to `per_kind` (frames, actions) windows of each kind: one per fright onset, and one
    per fright at most for `during`."""
    found: dict[str, list[tuple[int, int]]] = {"during": [], "onset": []}
    for episode in range(ds.n_episodes):
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
            raise SystemExit(f"{ds.path}: no {kind} window of {length} frames "
                             "(record episodes in which Pac-Man eats power pellets)")
        frames = np.stack([ds.frames(e, t, t + length) for e, t in starts])
        actions = np.stack([ds.actions(e)[t:t + length - 1] for e, t in starts]).astype(np.int64)
        out[kind] = (frames, actions)
    return out


def blue_by_frame(model: str, data: str, length: int, per_kind: int) -> dict:
    simulator = load_model(model)[0].simulator.eval()
    with open_dataset(data) as ds:
        reader = PaletteReader(ds.meta.palette, CellGeometry.from_game(ds.meta.game))
        kinds = windows(ds, length, per_kind)
    result = {}
    for kind, (frames, actions) in kinds.items():
        x, a = to_model_frames(frames), torch.from_numpy(actions)
        for name, warmup in (("teacher", length - 1), ("free", ONSET - 1)):
            with torch.inference_mode():
                predicted = to_uint8_frames(simulator.rollout(x, a, warmup).frames)  # frames 1..length-1
            blue = reader.read(predicted.reshape(-1, *predicted.shape[2:])).frightened.any(axis=(1, 2))
            result[f"{kind}/{name}"] = [round(float(v), 2) for v in blue.reshape(predicted.shape[:2]).mean(axis=0)]
        result[f"{kind}/windows"] = len(frames)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="checkpoint, run directory or exported .safetensors")
    parser.add_argument("--data", required=True, help="recordings with state/frightened (held-out ones)")
    parser.add_argument("--length", type=int, default=12)
    parser.add_argument("--windows", type=int, default=24, help="windows of each kind")
    args = parser.parse_args()
    result = blue_by_frame(args.model, args.data, args.length, args.windows)
    for key, shares in result.items():
        if not key.endswith("/windows"):
            print(f"{key:<16} blue drawn at frames 1..{args.length - 1}: " + " ".join(f"{v:.2f}" for v in shares))
    print(f"onset windows turn blue at frame {ONSET}; {result['onset/windows']} onset and "
          f"{result['during/windows']} during windows")
    print(json.dumps({"model": args.model, "onset_frame": ONSET, **result}))


if __name__ == "__main__":
    main()
