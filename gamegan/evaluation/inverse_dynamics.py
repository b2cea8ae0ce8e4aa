"""Action faithfulness: a classifier that tells which action turned x_t into x_{t+1}.

GameGAN's own test of action-conditioning: train an inverse-dynamics model on real
transitions (x_t, x_{t+1}, a_t), then ask it which action produced each *generated*
transition. A simulator that follows the keys scores close to the classifier's accuracy on
real held-out transitions (the ceiling: a move into a wall looks like NOOP, so it is below
1); one that ignores them scores near chance.

The classifier is trained once per dataset and cached beside it
(`<data>/.inverse_dynamics.safetensors`, or `.<name>.inverse_dynamics.safetensors` next to a
single shard file), keyed on the dataset's shards and the training settings.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from recorder.dataset import Dataset, open_dataset

from gamegan.data import split_episodes, to_model_frames
from gamegan.model.layers import LEAK, conv3x3, pyramid

CACHE_FORMAT = "gamegan-inverse-dynamics"


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes): rows are true classes, columns predictions."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return m


@dataclass
class InverseDynamicsConfig:
    """How the inverse-dynamics classifier is trained (part of its cache key)."""

    steps: int = 1500
    """Adam steps."""
    batch_size: int = 64
    """Transitions per step."""
    lr: float = 1e-3
    """Adam learning rate."""
    channels: int = 32
    """Width of the first conv (doubling per halving, up to 4x)."""
    val_fraction: float = 0.1
    """Share of the dataset's episodes held out to measure accuracy on real transitions."""
    max_pairs: int = 20_000
    """At most this many training transitions are loaded (sampled uniformly)."""
    seed: int = 0
    """Seed for the split sampling, init and batches."""


class InverseDynamics(nn.Module):
    """(x_t, x_{t+1}) -> action logits. The input stacks both frames and their difference;
    stride-2 convs down to <= 8 px, then global max and mean pooling (Pac-Man can be
    anywhere), then a small MLP."""

    def __init__(self, *, frame_size: int, n_actions: int, channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        c = 9
        for i in range(len(pyramid(frame_size, smallest=8)) - 1):
            c_out = channels * min(2**i, 4)
            layers += [conv3x3(c, c_out, stride=2), nn.LeakyReLU(LEAK)]
            c = c_out
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * c, c), nn.LeakyReLU(LEAK), nn.Linear(c, n_actions))

    def forward(self, x_t: Tensor, x_next: Tensor) -> Tensor:
        """(N, 3, S, S) twice, in [-1, 1] -> (N, A) logits."""
        x = self.convs(torch.cat([x_t, x_next, x_next - x_t], dim=1))  # (N, C, r, r)
        return self.head(torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1))


@torch.no_grad()
def predict_actions(model: InverseDynamics, x_t: Tensor, x_next: Tensor, batch_size: int = 256) -> np.ndarray:
    """Predicted action ids (N,) for float frame pairs (N, 3, S, S) in [-1, 1] (on any device)."""
    model.eval()
    dev = next(model.parameters()).device
    out = [model(x_t[a:a + batch_size].to(dev), x_next[a:a + batch_size].to(dev)).argmax(-1)
           for a in range(0, len(x_t), batch_size)]
    return torch.cat(out).cpu().numpy() if out else np.zeros(0, dtype=np.int64)


def cache_path(data_path: Path) -> Path:
    """Where the classifier for a dataset is cached."""
    data_path = Path(data_path)
    if data_path.is_dir():
        return data_path / ".inverse_dynamics.safetensors"
    return data_path.parent / f".{data_path.stem}.inverse_dynamics.safetensors"


def fingerprint(data: Dataset) -> dict:
    """What identifies a dataset's contents cheaply: its shards' names and sizes, and its shape."""
    return {
        "shards": [[p.name, p.stat().st_size] for p in data.shards],
        "episodes": int(data.n_episodes), "frames": int(data.n_frames),
        "frame_shape": list(data.meta.frame_shape), "action_names": list(data.meta.action_names),
    }


def fit_inverse_dynamics(
    data_path: Path, config: InverseDynamicsConfig | None = None, use_cache: bool = True,
    on_step: Callable[[int, int], None] | None = None, device: torch.device | str = "cpu",
) -> tuple[InverseDynamics, dict]:
    """The classifier for a dataset, from its cache when the cache matches, else trained now
    (and cached, when the dataset's folder is writable).

    Returns (model in eval mode, info): info holds the held-out accuracy and confusion matrix
    on real transitions of the held-out episodes, the pair counts, the settings and where
    the cache is. `on_step(done, total)` reports training progress.
    """
    config = config or InverseDynamicsConfig()
    data_path = Path(data_path)
    path = cache_path(data_path)
    with open_dataset(data_path) as data:
        key = {"config": asdict(config), "data": fingerprint(data)}
        frame_size, n_actions = data.meta.frame_shape[0], data.meta.n_actions
        with torch.random.fork_rng(devices=[]):  # seeded init, without touching the caller's RNG
            torch.manual_seed(config.seed)
            model = InverseDynamics(frame_size=frame_size, n_actions=n_actions, channels=config.channels)
        if use_cache:
            info = _load_cache(path, key, model)
            if info is not None:
                return model.to(device).eval(), {**info, "cache": str(path), "from_cache": True}
        train_eps, val_eps = split_episodes(data.n_episodes, config.val_fraction)
        rng = np.random.default_rng(config.seed)
        train_pairs = _load_pairs(data, train_eps, config.max_pairs, rng)
        val_pairs = _load_pairs(data, val_eps, config.max_pairs, rng)
    _train(model.to(device), train_pairs, config, on_step)
    info = {"source": str(data_path), "train_pairs": int(len(train_pairs[2])), "config": asdict(config)}
    info.update(_score(model, val_pairs, n_actions))
    info["cache_note"] = _save_cache(path, key, model, info) if use_cache else "caching off"
    return model.eval(), {**info, "cache": str(path), "from_cache": False}


def _load_pairs(data: Dataset, episodes: np.ndarray, max_pairs: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transitions (x_t, x_{t+1}, a_t) of the given episodes as uint8 frames and int actions,
    at most `max_pairs` of them, sampled uniformly without replacement."""
    counts = np.array([max(0, int(data.episode_lengths[e]) - 1) for e in episodes], dtype=np.int64)
    total = int(counts.sum())
    keep = np.sort(rng.choice(total, size=min(total, max_pairs), replace=False)) if total else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    xs, ys, acts = [], [], []
    for k, e in enumerate(episodes):
        picked = keep[(keep >= offsets[k]) & (keep < offsets[k + 1])] - offsets[k]
        if not len(picked):
            continue
        frames, actions = data.frames(int(e)), data.actions(int(e)).astype(np.int64)
        xs.append(frames[picked])
        ys.append(frames[picked + 1])
        acts.append(actions[picked])
    if not xs:
        shape = (0, *data.meta.frame_shape)
        return np.zeros(shape, np.uint8), np.zeros(shape, np.uint8), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(acts)


def _train(model: InverseDynamics, pairs: tuple[np.ndarray, np.ndarray, np.ndarray], config: InverseDynamicsConfig,
           on_step: Callable[[int, int], None] | None) -> None:
    x_t, x_next, actions = pairs
    if len(actions) == 0:
        raise ValueError("no transitions to train the inverse-dynamics classifier on")
    rng = np.random.default_rng(config.seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    model.train()
    for step in range(config.steps):
        idx = rng.integers(0, len(actions), size=config.batch_size)
        dev = next(model.parameters()).device
        logits = model(to_model_frames(x_t[idx]).to(dev), to_model_frames(x_next[idx]).to(dev))
        loss = F.cross_entropy(logits, torch.from_numpy(actions[idx]).to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step + 1, config.steps)
    model.eval()


def _score(model: InverseDynamics, pairs: tuple[np.ndarray, np.ndarray, np.ndarray], n_actions: int) -> dict:
    x_t, x_next, actions = pairs
    if not len(actions):
        return {"heldout_accuracy": None, "heldout_pairs": 0, "heldout_confusion": None}
    predicted = predict_actions(model, to_model_frames(x_t), to_model_frames(x_next))
    return {"heldout_accuracy": float((predicted == actions).mean()), "heldout_pairs": int(len(actions)),
            "heldout_confusion": confusion_matrix(actions, predicted, n_actions).tolist()}


def _load_cache(path: Path, key: dict, model: InverseDynamics) -> dict | None:
    """The cached info if `path` holds a classifier trained with `key`, loaded into `model`."""
    if not path.is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != CACHE_FORMAT or json.loads(meta.get("key", "null")) != key:
            return None
        model.load_state_dict(load_file(str(path)))
        return json.loads(meta["info"])
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError):
        return None  # stale or damaged: retrain


def _save_cache(path: Path, key: dict, model: InverseDynamics, info: dict) -> str:
    """Write the cache atomically; a read-only data folder only costs retraining next time."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": CACHE_FORMAT, "key": json.dumps(key, sort_keys=True), "info": json.dumps(info)}
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata=meta)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as err:
        return f"not cached ({err.strerror or err})"
    return "cached"
