"""Sample rollouts during training: real vs generated strips (PNG) and side-by-side GIFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gamegan.data import to_uint8_frames
from gamegan.media import grid, save_gif, save_png
from gamegan.model.types import Batch


@torch.no_grad()
def write_samples(simulator: torch.nn.Module, batch: Batch, warmup: int, out_dir: Path, step: int,
                  n: int = 4) -> tuple[Path, Path]:
    """Roll the simulator out on the first `n` windows of a validation batch.

    The strip has, per window, a row of real frames above a row of generated ones (the first
    column is the real start frame in both). The GIF plays real | generated side by side.
    """
    was_training = simulator.training
    simulator.eval()
    frames = batch.frames[:n]
    # Fixed noise, and the training RNG left untouched: resumed runs must match straight ones.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(step)
        rollout = simulator.rollout(frames, batch.actions[:n], warmup)
    simulator.train(was_training)
    real = to_uint8_frames(frames)  # (n, T, H, W, 3)
    fake = np.concatenate([real[:, :1], to_uint8_frames(rollout.frames)], axis=1)
    rows = []
    for i in range(len(real)):
        rows += [list(real[i]), list(fake[i])]
    strip = save_png(grid(rows), Path(out_dir) / f"step_{step:07d}.png", scale=2)
    pairs = [grid([[r, f] for r, f in zip(real[:, t], fake[:, t])]) for t in range(real.shape[1])]
    gif = save_gif(pairs, Path(out_dir) / f"step_{step:07d}.gif", fps=4, scale=3)
    return strip, gif
