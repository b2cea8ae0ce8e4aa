"""Controllability (Genie's delta-PSNR): how much the actions decide what the simulator draws.

A window of recorded frames is rolled out twice from the same real context and the same
noise: once with the recorded actions, once with actions drawn uniformly at random after the
context. Both are scored against the recorded frames; delta-PSNR at horizon t is the PSNR of
the first minus that of the second. A simulator that ignores its actions scores 0; the real
game, which follows its actions exactly, scores high.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from gamegan.evaluation.image_quality import psnr


def random_actions(actions: Tensor, context: int, n_actions: int, generator: torch.Generator) -> Tensor:
    """`actions` (B, T-1) with every action from the first free-running step on (index
    context - 1) replaced by a uniform draw from the n_actions ids."""
    out = actions.clone()
    free = out[:, context - 1:]
    draws = torch.randint(n_actions, free.shape, generator=generator)
    out[:, context - 1:] = draws.to(out.device)
    return out


@torch.no_grad()
def controlled_psnr(simulator: Any, frames: Tensor, actions: Tensor, context: int, n_actions: int, *,
                    noise_seed: int, generator: torch.Generator, recorded: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """PSNR of the free-running predictions (B, T-context), column j at horizon j + 1, with
    the recorded actions and with random ones. Both rollouts draw their noise after
    `torch.manual_seed(noise_seed)`, so only the actions differ; pass `recorded` when the
    recorded-action PSNR of that rollout is already known, and only the random one is run."""
    if isinstance(simulator, torch.nn.Module):
        simulator.eval()
    real = frames[:, context:]

    def rollout_psnr(acts: Tensor) -> np.ndarray:
        torch.manual_seed(noise_seed)
        pred = simulator.rollout(frames, acts, context).frames[:, context - 1:]  # (B, T-context, 3, H, W)
        return psnr(pred, real).cpu().numpy()

    if recorded is None:
        recorded = rollout_psnr(actions)
    return recorded, rollout_psnr(random_actions(actions, context, n_actions, generator))


class Controllability:
    """Accumulates both PSNRs per horizon over windows; `summary(horizons)` gives delta-PSNR."""

    def __init__(self) -> None:
        self.recorded: list[np.ndarray] = []
        self.random: list[np.ndarray] = []

    @property
    def windows(self) -> int:
        return sum(len(a) for a in self.recorded)

    def add(self, recorded: np.ndarray, random: np.ndarray) -> None:
        self.recorded.append(recorded)
        self.random.append(random)

    def summary(self, horizons: tuple[int, ...]) -> dict | None:
        """{'at': {t: {'delta_psnr', 'se', 'psnr_recorded', 'psnr_random', 'windows'}}} for each
        horizon t the windows reach, the standard error over windows; None without windows."""
        if not self.recorded:
            return None
        at = {}
        for t in horizons:
            rec = np.concatenate([a[:, t - 1] for a in self.recorded if a.shape[1] >= t] or [np.empty(0)])
            rnd = np.concatenate([a[:, t - 1] for a in self.random if a.shape[1] >= t] or [np.empty(0)])
            if not len(rec):
                continue
            delta = rec - rnd
            se = float(delta.std(ddof=1) / np.sqrt(len(delta))) if len(delta) > 1 else 0.0
            at[str(t)] = {"delta_psnr": float(delta.mean()), "se": se, "psnr_recorded": float(rec.mean()),
                          "psnr_random": float(rnd.mean()), "windows": int(len(delta))}
        return {"at": at}
