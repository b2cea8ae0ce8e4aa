"""The figures evaluation reports, and how they are accumulated.

Per-frame scores first: game-state agreement (Pac-Man position, ghost count, pellet map)
between what `gamegan.evaluation.sprites` reads from a frame and what `state_view` says the frame should
show (image quality is in `gamegan.evaluation.image_quality`). Then
`Scorer`, which applies them to windows of generated frames, and `ModelScores`, which
accumulates one model's figures and summarises them (by horizon where that applies).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from gamegan.evaluation.controllability import Controllability
from gamegan.data import to_uint8_frames
from gamegan.evaluation.image_quality import psnr, ssim
from gamegan.evaluation.inverse_dynamics import confusion_matrix, predict_actions
from gamegan.evaluation.sprites import state_view

if TYPE_CHECKING:
    from gamegan.evaluation.pixel_sources import PixelSources
    from gamegan.evaluation.sprites import PaletteReader

def position_error(found: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Euclidean distance in cells between found and true Pac-Man cells, (N, 2) -> (N,);
    NaN where the finder lost him (row -1)."""
    d = np.linalg.norm((found - true).astype(np.float64), axis=-1)
    d[found[:, 0] < 0] = np.nan
    return d


def cell_accuracy(found: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Share of cells where two (N, R, C) bool maps agree, over cells where `mask` is True."""
    agree = found == true
    if mask is None:
        return agree.mean(axis=(1, 2))
    n = mask.sum(axis=(1, 2))
    return np.where(n > 0, (agree & mask).sum(axis=(1, 2)) / np.maximum(n, 1), np.nan)


def iou(found: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Intersection over union of two (N, R, C) bool maps per frame (1 when both are empty)."""
    if mask is not None:
        found, true = found & mask, true & mask
    inter = (found & true).sum(axis=(1, 2))
    union = (found | true).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def nan_mean(values: np.ndarray) -> float | None:
    """Mean of the finite values, or None when there are none (JSON null: 'no figure')."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def finite_or_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# --- scoring windows of generated frames against the recording ---------------------------------


class Scorer:
    """Per-frame figures for generated frames: image quality, what the palette reader finds
    versus the recorded state, and what the inverse-dynamics classifier says of each
    transition. Built once per evaluation; what the data cannot support is recorded in
    `skipped` (metric -> reason) and returns no figure.
    """

    def __init__(self, reader: "PaletteReader | None", state_fields: list[str], meta: Any, settings: Any,
                 classifier: nn.Module | None, skipped: dict[str, str]):
        self.reader, self.classifier, self.mode = reader, classifier, meta.mode
        self.geometry = reader.geometry if reader is not None else None
        fields = set(state_fields)
        self.use: set[str] = set()
        if reader is not None:
            if self.mode != "classic" and "view_origin" not in fields:
                for name in ("position_error", "ghost_count", "pellets"):
                    skipped[name] = "maze data without state/view_origin: cells cannot be placed in the view"
            else:
                for name, needs in (("position_error", "pacman"), ("ghost_count", "ghosts"), ("pellets", "pellets")):
                    if needs in fields:
                        self.use.add(name)
                    else:
                        skipped[name] = f"the data has no state/{needs}"

    # -- image quality ------------------------------------------------------------------------

    def image_scores(self, pred: Tensor, target: Tensor) -> dict[str, np.ndarray]:
        """PSNR and SSIM per frame, flattened: (B, T, 3, H, W) twice -> {name: (B*T,)}."""
        return {"psnr": psnr(pred, target).flatten().cpu().numpy(), "ssim": ssim(pred, target).flatten().cpu().numpy()}

    # -- free-running windows -----------------------------------------------------------------

    def free_scores(self, state: dict[str, np.ndarray], fake: Tensor, real: Tensor, fed: Tensor,
                    actions: Tensor) -> dict[str, np.ndarray]:
        """Figures per generated frame, each (B, n) with column j at horizon j + 1. `state`
        holds the recorded state of each real frame, flattened to (B*n, ...); (fed[:, j],
        fake[:, j]) is the transition made by actions[:, j]."""
        b, n = fake.shape[:2]
        out = {"psnr": psnr(fake, real).cpu().numpy()}
        if self.classifier is not None:
            pred = predict_actions(self.classifier, fed.flatten(0, 1).float(), fake.flatten(0, 1).float()).reshape(b, n)
            out["action_true"] = actions.cpu().numpy()
            out["action_pred"] = pred
            out["action_correct"] = (pred == out["action_true"]).astype(np.float64)
        if not self.use:
            return out
        found = self.reader.read(to_uint8_frames(fake.flatten(0, 1)))
        truth = state_view(self.geometry, state)
        if "position_error" in self.use:
            err = position_error(found.pacman, truth["pacman"])
            out["position_error"] = err.reshape(b, n)
            out["lost"] = np.isnan(err).reshape(b, n).astype(np.float64)
            out["position_exact"] = (err == 0).reshape(b, n).astype(np.float64)
        if "ghost_count" in self.use:
            diff = found.ghost_count - truth["ghosts"].sum(axis=(1, 2))
            out["ghost_count_agreement"] = (diff == 0).reshape(b, n).astype(np.float64)
            out["ghost_count_error"] = np.abs(diff).reshape(b, n).astype(np.float64)
        if "pellets" in self.use:
            visible = ~truth["covered"]  # pellets under a sprite cannot be seen in any frame
            out["pellet_accuracy"] = cell_accuracy(found.pellets, truth["pellets"], visible).reshape(b, n)
            out["pellet_iou"] = iou(found.pellets, truth["pellets"], visible).reshape(b, n)
        return out

    def diversity(self, a: Tensor, b: Tensor, real: Tensor) -> dict[str, np.ndarray]:
        """Mean |a - b| on the [0, 1] scale per frame, over ghost cells (found in a, b or the
        recorded frame) and over wall cells (of the recorded frame); NaN where there are none."""
        if self.reader is None:
            return {}
        diff = ((a - b).abs() / 2).mean(dim=-3).flatten(0, 1).cpu().numpy()  # (N, H, W)
        seen = [self.reader.read(to_uint8_frames(x.flatten(0, 1))) for x in (a, b, real)]
        ghosts = self.geometry.pixels(seen[0].ghosts | seen[1].ghosts | seen[2].ghosts)
        walls = self.geometry.pixels(seen[2].walls)
        return {"ghost_cells": _masked_mean(diff, ghosts), "wall_cells": _masked_mean(diff, walls),
                "all_pixels": diff.mean(axis=(1, 2))}

def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = mask.sum(axis=(1, 2))
    return np.where(n > 0, (values * mask).sum(axis=(1, 2)) / np.maximum(n, 1), np.nan)


class ModelScores:
    """Everything measured for one model, accumulated window by window; `summary()` makes
    the JSON-ready figures."""

    def __init__(self, horizons: Sequence[int]):
        self.horizons = tuple(horizons)
        self.teacher: dict[str, list[np.ndarray]] = {}
        self.free: dict[str, list[np.ndarray]] = {}  # (B, n) arrays, column j = horizon j + 1
        self.div: dict[str, list[np.ndarray]] = {}
        self.strips: list[np.ndarray] = []  # (T, H, W, 3): context frames then generated
        self.real_strips: list[np.ndarray] = []
        self.diversity_windows = 0
        self.sources: "PixelSources | None" = None  # set at the first rollout that has blend weights
        self.control = Controllability()
        self.home: dict[str, dict] = {}  # come-back-home summary per k
        self.swap: dict | None = None  # the static-component swap's figures (models with memory)
        # The same two with hard memory attention, as `gamegan play` runs the model.
        self.home_played: dict[str, dict] = {}
        self.swap_played: dict | None = None
        self.events: dict[str, dict] = {}  # 'fright_onset', 'catches': the game's rules where they happen

    def add_teacher(self, scores: dict[str, np.ndarray]) -> None:
        for k, v in scores.items():
            self.teacher.setdefault(k, []).append(v)

    def add_free(self, scores: dict[str, np.ndarray]) -> None:
        for k, v in scores.items():
            self.free.setdefault(k, []).append(v)

    def add_diversity(self, scores: dict[str, np.ndarray], windows: int) -> None:
        if scores:
            self.diversity_windows += windows
        for k, v in scores.items():
            self.div.setdefault(k, []).append(v)

    def by_horizon(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean per horizon 1..H (NaN where no value) and the number of values behind each."""
        arrays = self.free.get(name, [])
        h_max = max((a.shape[1] for a in arrays), default=0)
        total, count = np.zeros(h_max), np.zeros(h_max, dtype=np.int64)
        for a in arrays:
            ok = np.isfinite(a)
            total[:a.shape[1]] += np.where(ok, a, 0).sum(axis=0)
            count[:a.shape[1]] += ok.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count

    def summary(self, n_actions: int, settings: Any = None) -> dict:
        """JSON-ready figures; `settings` (EvalSettings) names the controllability horizons."""
        out: dict[str, Any] = {}
        if self.teacher:
            out["teacher_forced"] = {k: nan_mean(np.concatenate(v)) for k, v in self.teacher.items()}
            out["teacher_forced"]["frames"] = int(sum(len(v) for v in self.teacher["psnr"]))
        free = {}
        for name in self.free:
            if name in ("action_true", "action_pred"):
                continue
            mean, count = self.by_horizon(name)
            free[name] = {"by_horizon": [finite_or_none(x) for x in mean], "count": count.tolist(),
                          "at": {str(h): finite_or_none(mean[h - 1]) if h <= len(mean) else None for h in self.horizons},
                          "all": nan_mean(np.concatenate([a.reshape(-1) for a in self.free[name]]))}
        if free:
            out["free_running"] = free
        if "action_true" in self.free:
            true = np.concatenate([a.reshape(-1) for a in self.free["action_true"]])
            pred = np.concatenate([a.reshape(-1) for a in self.free["action_pred"]])
            out["action_faithfulness"] = {"accuracy": float((true == pred).mean()), "pairs": int(len(true)),
                                          "confusion": confusion_matrix(true, pred, n_actions).tolist()}
        if self.div:
            out["diversity"] = {**{k: nan_mean(np.concatenate([a.reshape(-1) for a in v])) for k, v in self.div.items()},
                                "windows": self.diversity_windows}
        if self.sources is not None and self.sources.summary() is not None:
            out["pixel_sources"] = self.sources.summary()
        horizons = tuple(getattr(settings, "control_horizons", (4, 8, 16)))
        if self.control.summary(horizons) is not None:
            out["controllability"] = self.control.summary(horizons)
        if self.home:
            out["come_back_home"] = self.home
        if self.swap:
            out["swap"] = self.swap
        if self.home_played:
            out["come_back_home_played"] = self.home_played
        if self.swap_played:
            out["swap_played"] = self.swap_played
        out.update(self.events)
        return out
