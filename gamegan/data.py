"""Training and evaluation windows: T consecutive frames and their T-1 actions from the shards.

Episodes are split into train/validation deterministically (a fixed permutation of episode
indices), so every run on the same data holds out the same episodes. Small datasets are
loaded into memory once; large ones are read window by window, with h5py files opened lazily
in each DataLoader worker process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from recorder.dataset import Dataset, DatasetError, open_dataset

from gamegan.config import ConfigError
from gamegan.model.types import Batch

EVENT_POSITIONS = range(2, 9)
"""Where in an event window the event's frame falls: after the two real frames training ends
its warm-up at, early enough that its loss is not decayed away. An event too near its
episode's end for these (one that ends the game) falls as late as the window allows."""
IN_MEMORY_LIMIT_BYTES = 4 * 2**30
"""Datasets whose frames fit under this are held in RAM: sampling then costs microseconds."""
SPLIT_SEED = 1234


def to_model_frames(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    x = torch.as_tensor(frames)
    return x.movedim(-1, -3).float().div_(127.5).sub_(1.0)


def to_uint8_frames(frames: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    x = frames.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


def split_episodes(n_episodes: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, val) episode indices; val gets at least one episode when there are two or more."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n_episodes)
    n_val = int(round(n_episodes * val_fraction))
    if val_fraction > 0 and n_episodes >= 2:
        n_val = max(1, n_val)
    n_val = min(n_val, n_episodes - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@dataclass
class WindowSpec:
    """Which windows to draw: length T over a subset of episodes."""

    seq_len: int
    episodes: np.ndarray


class SequenceData:
    """Random windows of `seq_len` frames from chosen episodes of a dataset.

    `sample(rng, batch_size)` returns a `Batch` on the CPU. In memory mode the episodes'
    frames are read once into one array; otherwise each window is one h5py read. With
    `agent=True` batches also carry `Batch.agent`, the data's `agent` mask of every frame
    (`AGENT_MASK`; DatasetError when the recording has none).
    `event_shares` {name: share}: that share of each batch are windows around the data's event
    `name` (`Dataset.event_frames`: stored `events/<name>`, or one the game derives from its
    state), the event at a frame in `EVENT_POSITIONS` (DatasetError when no episode has one).
    Such events are often rare (about one frame in a hundred in the recorder's game), too rare to
    be learned from uniform windows.
    """

    def __init__(self, path: str | Path, seq_len: int, episodes: np.ndarray | None = None,
                 in_memory: bool | None = None, agent: bool = False, event_shares: dict[str, float] | None = None) -> None:
        shares = {name: float(v) for name, v in (event_shares or {}).items() if v}
        if not all(0 <= v <= 1 for v in shares.values()) or sum(shares.values()) > 1:
            raise ConfigError(f"train.event_windows are shares of each batch: each in [0, 1] and together at most 1, "
                              f"got {shares}")
        self.path = Path(path)
        with open_dataset(self.path) as data:
            self.meta = data.meta
            lengths = data.episode_lengths.astype(np.int64)
            all_episodes = np.arange(data.n_episodes)
            self.episodes = all_episodes if episodes is None else np.asarray(episodes)
            self.episodes = self.episodes[lengths[self.episodes] >= seq_len]
            if len(self.episodes) == 0:
                raise DatasetError(f"{self.path}: no episode has at least {seq_len} frames (the sequence length)")
            self.lengths = lengths[self.episodes]
            frame_bytes = int(np.prod(data.meta.frame_shape))
            if in_memory is None:
                in_memory = int(self.lengths.sum()) * frame_bytes <= IN_MEMORY_LIMIT_BYTES
            self.in_memory = in_memory
            if in_memory:
                self._frames = np.concatenate([data.frames(int(i)) for i in self.episodes])
                self._actions = np.concatenate([data.actions(int(i)) for i in self.episodes]).astype(np.int64)
            # A few hundred bytes a frame: held in RAM even when frames are read lazily.
            self._agent = _agent_masks(data, self.episodes) if agent else None
            self.event_shares = shares
            self._event_windows = {name: _event_windows(data, self.episodes, self.lengths, seq_len, name)
                                   for name in shares}
        self.seq_len = seq_len
        self.n_actions = self.meta.n_actions
        self._offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        # An episode of length L holds L - T + 1 windows; sample episodes in proportion.
        windows = self.lengths - seq_len + 1
        self._weights = windows / windows.sum()
        self._dataset: Dataset | None = None

    @property
    def n_frames(self) -> int:
        return int(self.lengths.sum())

    def _lazy(self) -> Dataset:
        if self._dataset is None:
            self._dataset = open_dataset(self.path)
        return self._dataset

    def window(self, k: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames (T, H, W, 3) uint8 and actions (T-1,) int64 of episode slot k from `start`."""
        stop = start + self.seq_len
        if self.in_memory:
            base = self._offsets[k]
            return self._frames[base + start:base + stop], self._actions[base + start:base + stop - 1]
        data = self._lazy()
        episode = int(self.episodes[k])
        actions = data.actions(episode)[start:stop - 1].astype(np.int64)
        return data.frames(episode, start, stop), actions

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """A batch of random windows, with a wrong action for each true one."""
        slots = rng.choice(len(self.episodes), size=batch_size, p=self._weights)
        starts = rng.integers(0, self.lengths[slots] - self.seq_len + 1)
        taken = 0  # the first rows of the batch are the rare events' windows, each share in turn
        for name, share in self.event_shares.items():
            windows = self._event_windows[name]
            n = min(round(share * batch_size), batch_size - taken)  # two halves of an odd batch round up
            rows = slice(taken, taken + n)
            slots[rows], starts[rows] = windows[rng.integers(0, len(windows), size=n), :2].T
            taken += n
        idx = (self._offsets[slots] + starts)[:, None] + np.arange(self.seq_len)  # (B, T) rows of the concatenation
        if self.in_memory:
            frames, actions = self._frames[idx], self._actions[idx[:, :-1]]
        else:
            pairs = [self.window(int(k), int(s)) for k, s in zip(slots, starts)]
            frames = np.stack([f for f, _ in pairs])
            actions = np.stack([a for _, a in pairs])
        agent = None
        if self._agent is not None:
            width = self.meta.frame_shape[1]
            bits = np.unpackbits(self._agent[idx], axis=-1, count=width).astype(bool)  # (B, T, H, W)
            agent = torch.from_numpy(bits).unsqueeze(2)  # (B, T, 1, H, W)
        actions_t = torch.from_numpy(actions)
        shift = torch.from_numpy(rng.integers(1, self.n_actions, size=actions.shape))
        return Batch(frames=to_model_frames(frames), actions=actions_t,
                     wrong_actions=(actions_t + shift) % self.n_actions, agent=agent)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_dataset"] = None  # h5py handles never cross process boundaries
        return state


class _WindowStream(IterableDataset):
    """Endless batches for DataLoader workers; each worker seeds its own generator."""

    def __init__(self, data: SequenceData, batch_size: int, seed: int) -> None:
        self.data, self.batch_size, self.seed = data, batch_size, seed

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        rng = np.random.default_rng([self.seed, worker])
        while True:
            yield self.data.sample(rng, self.batch_size)


def _collate_one(batch: Batch) -> Batch:
    return batch


def batch_stream(data: SequenceData, batch_size: int, rng: np.random.Generator, num_workers: int = 0,
                 seed: int = 0) -> Iterator[Batch]:
    """An endless iterator of batches. With workers, prefetching hides h5py reads; in memory,
    sampling in the main process with `rng` keeps the stream exactly resumable."""
    if num_workers <= 0 or data.in_memory:
        while True:
            yield data.sample(rng, batch_size)
    loader = DataLoader(_WindowStream(data, batch_size, seed), batch_size=None, num_workers=num_workers,
                        collate_fn=_collate_one, persistent_workers=True, prefetch_factor=4)
    yield from loader


AGENT_MASK = "agent"
"""The dataset mask `Batch.agent` carries: `masks/agent` when a recording stores it (the pixels
of the player's character), or the one the recorder derives from its game's state."""


def _agent_masks(data: Dataset, episodes: np.ndarray) -> np.ndarray:
    """The agent mask of every frame of `episodes`, bits packed along the width: uint8
    (frames, H, ceil(W / 8)), a few hundred bytes a frame; DatasetError when the data has none."""
    if AGENT_MASK not in data.mask_names:
        raise DatasetError(f"{data.path}: no '{AGENT_MASK}' mask (masks/{AGENT_MASK}, or for this repository's game "
                           "the state the recorder derives it from) (needed by loss.recon_horizon_keep_agent)")
    return np.concatenate([np.packbits(data.mask(int(i), AGENT_MASK), axis=-1) for i in episodes])


def _event_windows(data: Dataset, episodes: np.ndarray, lengths: np.ndarray, seq_len: int, name: str) -> np.ndarray:
    """(slot, start, position) of every window of `episodes` with event `name` at `position`
    (counted from the window's start): one of `EVENT_POSITIONS`, or for an event too near its
    episode's end the latest position that keeps the window inside it. int (N, 3)."""
    if name not in data.event_names:
        raise DatasetError(f"{data.path}: no event {name!r} to sample windows around (train.event_windows; "
                           f"the data has: {', '.join(data.event_names) or 'none'})")
    found = []
    for slot, (episode, length) in enumerate(zip(episodes, lengths)):
        at: dict[int, int] = {}  # window start -> the first event in it, counted from the start
        for frame in data.event_frames(int(episode), name):
            fits = [p for p in EVENT_POSITIONS if p < seq_len and 0 <= frame - p <= length - seq_len]
            latest = int(frame - (length - seq_len))  # the window that ends the episode
            if not fits and EVENT_POSITIONS.start <= latest < seq_len:
                fits = [latest]
            for p in fits:
                at.setdefault(int(frame - p), p)
        found += [(slot, start, p) for start, p in sorted(at.items())]
    if not found:
        raise DatasetError(f"{data.path}: no training window of {seq_len} frames with event {name!r} in it "
                           "(train.event_windows needs episodes where it happens)")
    return np.array(found, dtype=np.int64)


def load_splits(path: str | Path, seq_len: int, val_fraction: float, agent: bool = False,
                event_shares: dict[str, float] | None = None) -> tuple[SequenceData, SequenceData | None]:
    """Train and validation windows of one dataset, split by episode (`agent`, and for the
    training windows only `event_shares`: see SequenceData)."""
    with open_dataset(path) as data:
        n_episodes = data.n_episodes
    train_eps, val_eps = split_episodes(n_episodes, val_fraction)
    train = SequenceData(path, seq_len, train_eps, agent=agent, event_shares=event_shares)
    val = None
    if len(val_eps):
        try:
            val = SequenceData(path, seq_len, val_eps, agent=agent)
        except DatasetError:
            val = None  # held-out episodes all shorter than T: train on, without validation
    return train, val
