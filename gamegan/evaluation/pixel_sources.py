"""Pixel sources: which part of the renderer draws each output pixel (DESIGN section 8).

GameGAN's rendering engine blends K components (component 0 drawn from memory: the static
world; the others from the engine's hidden state: what moves) with softmax fine masks, and
`renderer_input` adds the input frame as one more competitor. A part that wins no pixel does
no work. This module reads the blend weights of a rollout and counts, per source, the share
of pixels it wins (the largest weight) and its mean weight, overall and per entity class of
the real frame at that pixel (walls, pellets, Pac-Man, ghosts, floor, read by palette colour):
"which source draws the walls?" has a number.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from gamegan.model.types import Rollout

# Palette class names -> the entity class they are counted under; other names count as themselves.
_CLASS_OF = {"power_pellet": "pellets", "pellet": "pellets", "wall": "walls", "frightened": "ghosts"}


def entity_class(palette_name: str) -> str:
    """The entity class a palette colour belongs to: ghost colours are 'ghosts', both pellet
    kinds 'pellets', 'wall' is 'walls'; any other name (floor, pacman, a user's own) is itself."""
    return "ghosts" if palette_name.startswith("ghost_") else _CLASS_OF.get(palette_name, palette_name)


def source_names(simulator: Any, n_masks: int, has_copy: bool) -> list[str]:
    """Names of the sources a rollout's blend weights stand for: the simulator's own
    `source_names` when it has them, else 'drawn' for one mask or 'component k' for several;
    then 'copy' (the input frame) when the rollout has one."""
    names = getattr(simulator, "source_names", None)
    if names is None:
        names = ["drawn"] if n_masks == 1 else [f"component {k}" for k in range(n_masks)]
        names += ["copy"] if has_copy else []
    names = list(names)
    if len(names) != n_masks + has_copy:
        raise ValueError(f"{len(names)} source names for {n_masks} masks{' and a copy' if has_copy else ''}")
    return names


def blend_weights(rollout: Rollout) -> Tensor | None:
    """(B, T-1, S, H, W): each source's weight at every pixel (K masks, then the copy); the
    weights sum to 1 over S. None when the rollout has no masks (nothing to attribute)."""
    if rollout.masks is None:
        return None
    weights = rollout.masks[:, :, :, 0]  # (B, T-1, K, H, W)
    if rollout.copy is not None:
        weights = torch.cat([weights, rollout.copy], dim=2)
    return weights


class PixelSources:
    """Accumulates who wins which pixels over many frames; `summary()` gives the shares.

    `class_names[i]` is the entity class of label i (the palette reader's label order); give
    no labels to count pixels overall only.
    """

    def __init__(self, sources: Sequence[str], class_names: Sequence[str] = ()):
        self.sources = list(sources)
        self.classes = sorted(set(class_names))
        self._class_index = np.array([self.classes.index(c) for c in class_names], dtype=np.int64)
        n_s = len(self.sources)
        self.won = np.zeros(n_s, dtype=np.int64)  # pixels each source wins
        self.weight = np.zeros(n_s, dtype=np.float64)  # summed weights
        self.pixels = 0
        self.won_by_class = np.zeros((len(self.classes), n_s), dtype=np.int64)

    def add(self, weights: Tensor, labels: np.ndarray | None = None) -> None:
        """weights (N, S, H, W) summing to 1 over S; labels int (N, H, W) palette labels of the
        real frame at each pixel (needed for the per-class counts)."""
        w = weights.float().cpu()
        winner = w.argmax(dim=1).numpy()  # (N, H, W)
        n_s = len(self.sources)
        self.won += np.bincount(winner.ravel(), minlength=n_s)
        self.weight += w.sum(dim=(0, 2, 3)).double().numpy()
        self.pixels += winner.size
        if labels is not None and self.classes:
            cls = self._class_index[labels.ravel()]
            np.add.at(self.won_by_class, (cls, winner.ravel()), 1)

    def summary(self) -> dict | None:
        """{'won': {source: share}, 'mean_weight': {source: share}, 'by_class': {class: {'pixels':
        n, 'won': {source: share}}}, 'pixels': n}; None before any pixel was added."""
        if not self.pixels:
            return None
        out: dict[str, Any] = {
            "won": dict(zip(self.sources, (self.won / self.pixels).tolist())),
            "mean_weight": dict(zip(self.sources, (self.weight / self.pixels).tolist())),
            "pixels": int(self.pixels),
        }
        if self.classes:
            out["by_class"] = {
                c: {"pixels": int(row.sum()),
                    "won": dict(zip(self.sources, (row / max(row.sum(), 1)).tolist())) if row.sum() else None}
                for c, row in zip(self.classes, self.won_by_class)}
        return out
