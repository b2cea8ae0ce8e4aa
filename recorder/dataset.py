"""Recorded gameplay datasets: a directory of HDF5 shards (or one .h5 file).

This module is the public face of the format: `ShardWriter` writes shards (defined with the
schema in `recorder.shard_format`), `open_dataset` reads them, `validate` checks them and
`summarize` describes them for `gamegan inspect`. Every failure caused by the files
themselves becomes a one-line `DatasetError` naming the file, never a bare h5py error.
"""

from __future__ import annotations

import contextlib
import operator
import os
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from recorder.shard_format import (
    CODECS,
    DEFAULT_CODEC,
    FORMAT,
    FORMAT_VERSION,
    REQUIRED_DATASETS,
    SHARD_GLOB,
    DatasetError,
    DatasetMeta,
    Episode,
    ShardWriter,
    list_shards,
    shard_name,
)
from recorder.game.geometry import CellGeometry

__all__ = [
    "CODECS", "DEFAULT_CODEC", "FORMAT", "FORMAT_VERSION", "SHARD_GLOB", "Dataset",
    "DatasetError", "DatasetMeta", "Episode", "ShardWriter", "list_shards", "open_dataset",
    "CATCH_FIELDS", "catches", "episode_catches", "fright_onsets", "shard_name", "summarize", "validate",
]


MAX_OPEN_SHARDS = 128
"""Open HDF5 files per Dataset (per process): well under the usual 1,024 open-file limit."""


@contextlib.contextmanager
def _reading(path: Path, failure: str = "unreadable") -> Iterator[None]:
    """Turn h5py's assorted errors on a broken file into a one-line DatasetError."""
    try:
        yield
    except (OSError, KeyError, ValueError, TypeError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatasetError(f"{path}: {failure} ({detail})") from None


@dataclass
class _ShardHeader:
    """What a reader learns about one shard from its attributes and episode table."""

    meta: DatasetMeta
    start: np.ndarray
    length: np.ndarray
    seed: np.ndarray
    agent: list[str]
    score: np.ndarray
    state_fields: list[str]
    event_fields: list[str]
    mask_fields: list[str]


def _read_header(path: Path, f: h5py.File) -> _ShardHeader:
    """Attributes, episode table and the cheap shape checks that keep reads in bounds."""
    meta = DatasetMeta.from_attrs(f.attrs, path)
    missing = [name for name in REQUIRED_DATASETS if name not in f]
    if missing:
        raise DatasetError(f"{path}: missing dataset(s) {', '.join(missing)}")
    frames, n_frames = f["frames"], f["frames"].shape[0]
    if frames.shape[1:] != meta.frame_shape:
        raise DatasetError(f"{path}: frames have shape {frames.shape}, attrs say {meta.frame_shape}")
    if f["actions"].shape != (n_frames,):
        raise DatasetError(f"{path}: actions shape {f['actions'].shape} != ({n_frames},)")
    table = {key: f[f"episodes/{key}"][()] for key in ("start", "length", "seed", "score")}
    agent = [str(a) for a in f["episodes/agent"].asstr()[()]]
    n_episodes = len(table["start"])
    if any(np.ndim(v) != 1 or len(v) != n_episodes for v in (*table.values(), agent)):
        raise DatasetError(f"{path}: episodes/* arrays differ in shape")
    start, length = table["start"].astype(np.int64), table["length"].astype(np.int64)
    if n_episodes and (start.min() < 0 or length.min() < 1 or (start + length).max() > n_frames):
        raise DatasetError(f"{path}: episode table points outside frames [0, {n_frames})")
    state_fields = sorted(f["state"].keys()) if isinstance(f.get("state"), h5py.Group) else []
    event_fields = sorted(f["events"].keys()) if isinstance(f.get("events"), h5py.Group) else []
    mask_fields = sorted(f["masks"].keys()) if isinstance(f.get("masks"), h5py.Group) else []
    for group, names in (("state", state_fields), ("events", event_fields), ("masks", mask_fields)):
        for name in names:
            shape = f[f"{group}/{name}"].shape
            if not shape or shape[0] != n_frames:
                raise DatasetError(f"{path}: {group}/{name} shape {shape} has first dim != {n_frames} frames")
    for name in event_fields:
        if f[f"events/{name}"].ndim != 1 or f[f"events/{name}"].dtype != np.bool_:
            raise DatasetError(f"{path}: events/{name} must be bool [N] (the frames the event happens on)")
    for name in mask_fields:
        if f[f"masks/{name}"].shape[1:] != meta.frame_shape[:2] or f[f"masks/{name}"].dtype != np.bool_:
            raise DatasetError(f"{path}: masks/{name} must be bool [N, H, W] (pixels of each frame)")
    score = table["score"]  # integer scores as int64; fractional ones stay what they are (as float64)
    score = score.astype(np.float64 if np.issubdtype(score.dtype, np.floating) else np.int64)
    return _ShardHeader(meta, start, length, table["seed"].astype(np.int64), agent, score, state_fields,
                        event_fields, mask_fields)


class Dataset:
    """Read-only view over one .h5 file or a directory of shards.

    Episodes are numbered globally: shards sorted by name, then file order. HDF5 files are
    opened lazily and re-opened after a fork or unpickling (only paths and the small episode
    tables are pickled), so DataLoader workers can share one Dataset.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f"{self.path}: no such file or directory")
        self.shards = list_shards(self.path)
        if not self.shards:
            raise DatasetError(f"{self.path}: no {SHARD_GLOB} files in this directory")
        self._open: OrderedDict[int, tuple[h5py.File, dict[str, h5py.Dataset]]] = OrderedDict()
        self._pid = os.getpid()
        try:
            headers = [self._header(k) for k in range(len(self.shards))]
        except BaseException:
            self.close()
            raise
        self.meta = headers[0].meta
        for path, header in zip(self.shards[1:], headers[1:]):
            reason = self.meta.compatible_with(header.meta)
            if reason:
                self.close()
                raise DatasetError(f"shards disagree: {self.shards[0]} and {path}: {reason}")
        self.state_fields = sorted(set.intersection(*(set(h.state_fields) for h in headers)))
        self._stored_events = sorted(set.intersection(*(set(h.event_fields) for h in headers)))
        self._stored_masks = sorted(set.intersection(*(set(h.mask_fields) for h in headers)))
        self.episode_lengths = np.concatenate([h.length for h in headers])  # (E,) int64
        self._shard_of = np.concatenate([np.full(len(h.start), k) for k, h in enumerate(headers)])
        self._local = np.concatenate([np.arange(len(h.start)) for h in headers])
        self._start = np.concatenate([h.start for h in headers])
        self._seed = np.concatenate([h.seed for h in headers])
        self._score = np.concatenate([h.score for h in headers])
        self._agent = [a for h in headers for a in h.agent]
        self.n_episodes = len(self.episode_lengths)
        self.n_frames = int(self.episode_lengths.sum())

    def _header(self, k: int) -> _ShardHeader:
        f, _ = self._shard(k)
        with _reading(self.shards[k]):
            return _read_header(self.shards[k], f)

    def _shard(self, k: int) -> tuple[h5py.File, dict[str, h5py.Dataset]]:
        """Shard k's open file and its looked-up datasets (a lookup costs more than a
        small read), opening it if need be and closing the least recently used beyond
        MAX_OPEN_SHARDS."""
        if self._pid != os.getpid():
            # Forked: HDF5 handles inherited from the parent must not be used here.
            self._open, self._pid = OrderedDict(), os.getpid()
        if k in self._open:
            self._open.move_to_end(k)
            return self._open[k]
        if len(self._open) >= MAX_OPEN_SHARDS:
            _, (oldest, _) = self._open.popitem(last=False)
            oldest.close()
        with _reading(self.shards[k], "cannot open as HDF5"):
            self._open[k] = (h5py.File(self.shards[k], "r"), {})
        return self._open[k]

    def _read(self, k: int, name: str, start: int, stop: int | None) -> np.ndarray:
        f, datasets = self._shard(k)
        with _reading(self.shards[k]):
            if name not in datasets:
                datasets[name] = f[name]
            return datasets[name][start:stop]

    def _locate(self, i: int) -> tuple[int, int, int]:
        i = operator.index(i)
        if not -self.n_episodes <= i < self.n_episodes:
            raise IndexError(f"episode {i} out of range for {self.n_episodes} episodes")
        i %= self.n_episodes
        return int(self._shard_of[i]), int(self._start[i]), int(self.episode_lengths[i])

    def frames(self, i: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start:stop] of episode i as uint8 (T, H, W, 3), in one HDF5 read.
        start/stop follow Python slicing (negative counts from the end, clipped)."""
        k, offset, length = self._locate(i)
        a, b = _span(start, stop, length)
        return self._read(k, "frames", offset + a, offset + b)

    def actions(self, i: int) -> np.ndarray:
        """Actions of episode i as int8 (L,); the last one is -1."""
        k, offset, length = self._locate(i)
        return self._read(k, "actions", offset, offset + length)

    def state(self, i: int, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows [start:stop] of state field `name` for episode i."""
        if name not in self.state_fields:
            raise KeyError(f"{self.path}: no state field {name!r} (has {self.state_fields})")
        k, offset, length = self._locate(i)
        a, b = _span(start, stop, length)
        return self._read(k, f"state/{name}", offset + a, offset + b)

    @property
    def event_names(self) -> list[str]:
        """The events `event_frames` can find: stored `events/<name>` arrays, and the ones this
        repository's game derives from its state (`fright_onset`, `catch`; see DERIVED_EVENTS)."""
        derived = [n for n, fields in DERIVED_EVENTS.items() if set(fields) <= set(self.state_fields)]
        return sorted(set(self._stored_events) | set(derived))

    def event_frames(self, i: int, name: str) -> np.ndarray:
        """Frames of episode i on which event `name` happens, int64 (sorted): from `events/<name>`
        when the recording stores it, else derived from the game state (older recordings)."""
        if name in self._stored_events:
            k, offset, length = self._locate(i)
            return np.flatnonzero(self._read(k, f"events/{name}", offset, offset + length)).astype(np.int64)
        if name in DERIVED_EVENTS and set(DERIVED_EVENTS[name]) <= set(self.state_fields):
            return _derive_event(self, i, name)
        raise KeyError(f"{self.path}: no event {name!r} (it has: {', '.join(self.event_names) or 'none'})")

    @property
    def mask_names(self) -> list[str]:
        """The per-pixel masks `mask` can give: stored `masks/<name>` arrays, and `agent` (the
        pixels of Pac-Man's cell) derived from the state of this repository's game."""
        return sorted(set(self._stored_masks) | ({"agent"} if self._agent_geometry() is not None else set()))

    def mask(self, i: int, name: str) -> np.ndarray:
        """Mask `name` of every frame of episode i, bool (L, H, W): `masks/<name>` when the
        recording stores it, else derived from the game state (`agent`)."""
        if name in self._stored_masks:
            k, offset, length = self._locate(i)
            return self._read(k, f"masks/{name}", offset, offset + length)
        geometry = self._agent_geometry() if name == "agent" else None
        if geometry is None:
            raise KeyError(f"{self.path}: no mask {name!r} (it has: {', '.join(self.mask_names) or 'none'})")
        pac = self.state(i, "pacman").astype(np.int64)
        if geometry.mode != "classic":
            pac = pac - self.state(i, "view_origin")
        cells = np.zeros((len(pac), geometry.rows, geometry.cols), dtype=bool)
        inside = (pac >= 0).all(axis=1) & (pac[:, 0] < geometry.rows) & (pac[:, 1] < geometry.cols)
        cells[np.flatnonzero(inside), pac[inside, 0], pac[inside, 1]] = True
        return geometry.pixels(cells)

    def _agent_geometry(self) -> "CellGeometry | None":
        """The cell geometry to place Pac-Man by, when the state and the game config allow."""
        needed = {"pacman"} | ({"view_origin"} if self.meta.mode != "classic" else set())
        if not needed <= set(self.state_fields):
            return None
        try:
            return CellGeometry.from_game(self.meta.game)
        except (TypeError, ValueError, KeyError):
            return None

    def episode(self, i: int, with_state: bool = True) -> Episode:
        """Episode i in full: frames, actions, state (unless with_state=False), provenance."""
        fields = self.state_fields if with_state else []
        info = self.episode_info(i)
        return Episode(
            frames=self.frames(i), actions=self.actions(i),
            state={name: self.state(i, name) for name in fields},
            seed=info["seed"], agent=info["agent"], score=info["score"],
        )

    def episode_info(self, i: int) -> dict:
        """seed, agent, score, length, shard path and index within the shard of episode i."""
        k, _, length = self._locate(i)
        i %= self.n_episodes
        return {"seed": int(self._seed[i]), "agent": self._agent[i], "score": self._score[i].item(),
                "length": length, "shard": str(self.shards[k]), "index_in_shard": int(self._local[i])}

    def close(self) -> None:
        """Close the open HDF5 files (they re-open on the next read)."""
        for f, _ in self._open.values():
            with contextlib.suppress(Exception):
                f.close()
        self._open = OrderedDict()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close()

    def __len__(self) -> int:
        return self.n_episodes

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()  # h5py handles cannot cross processes; re-opened on demand
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return (f"Dataset({str(self.path)!r}, shards={len(self.shards)}, "
                f"episodes={self.n_episodes}, frames={self.n_frames})")


def _span(start: int, stop: int | None, length: int) -> tuple[int, int]:
    a, b, _ = slice(start, stop).indices(length)
    return a, max(a, b)


def open_dataset(path: str | Path) -> Dataset:
    """Open a dataset directory or a single shard; DatasetError if it cannot be used."""
    return Dataset(path)


def validate(path: str | Path, deep: bool = False) -> dict:
    """Check every shard against format version 1 and return a short summary.

    Beyond what opening checks (attributes, required datasets, shapes, shard agreement),
    this checks dtypes, that episodes tile the frames contiguously, and that actions are
    valid ids with -1 exactly at each episode's last frame. deep=True also decompresses
    every frame and state chunk, which catches corrupted data. Raises DatasetError.
    """
    with Dataset(path) as ds:
        for k, shard in enumerate(ds.shards):
            f, _ = ds._shard(k)
            with _reading(shard):
                _check_contents(shard, f, ds.meta.n_actions)
                if deep:
                    _read_everything(f)
        return {"path": str(ds.path), "shards": len(ds.shards), "episodes": ds.n_episodes,
                "frames": ds.n_frames, "deep": deep}


# What each required dataset may hold: any dtype of the kinds its meaning allows (we write the
# first of each), so a recording made by another program need not match ours bit for bit.
_DTYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "frames": ((np.uint8,), "uint8 (RGB 0-255)"),
    "actions": ((np.signedinteger,), "a signed integer type (ids, -1 at episode ends; we write int8)"),
    "episodes/start": ((np.integer,), "an integer type (we write int64)"),
    "episodes/length": ((np.integer,), "an integer type (we write int64)"),
    "episodes/seed": ((np.integer,), "an integer type (we write int64)"),
    "episodes/score": ((np.integer, np.floating), "a numeric type (we write int64)"),
}


def _check_contents(path: Path, f: h5py.File, n_actions: int) -> None:
    for name, (kinds, wanted) in _DTYPES.items():
        if not any(np.issubdtype(f[name].dtype, kind) for kind in kinds):
            raise DatasetError(f"{path}: {name} has dtype {f[name].dtype}, expected {wanted}")
    if h5py.check_string_dtype(f["episodes/agent"].dtype) is None:
        raise DatasetError(f"{path}: episodes/agent is not a string dataset")
    start, length = f["episodes/start"][()], f["episodes/length"][()]
    actions = f["actions"][()]
    n_frames = len(actions)
    expected_start = np.concatenate([[0], np.cumsum(length)[:-1]]) if len(length) else start
    if (length < 1).any() or (start != expected_start).any() or length.sum() != n_frames:
        raise DatasetError(f"{path}: episodes do not tile frames [0, {n_frames}) contiguously")
    is_end = np.zeros(n_frames, dtype=bool)
    is_end[start + length - 1] = True
    bad_end = np.flatnonzero(is_end & (actions != -1))
    if bad_end.size:
        t = bad_end[0]
        raise DatasetError(f"{path}: frame {t} ends an episode but has action {actions[t]}, not -1")
    bad = np.flatnonzero(~is_end & ((actions < 0) | (actions >= n_actions)))
    if bad.size:
        t = bad[0]
        raise DatasetError(f"{path}: frame {t} has action {actions[t]}, outside [0, {n_actions})")


def _read_everything(f: h5py.File) -> None:
    state = f.get("state")
    names = ["frames"] + [f"state/{name}" for name in (state if isinstance(state, h5py.Group) else [])]
    for name in names:
        dataset = f[name]
        block = dataset.chunks[0] * 16 if dataset.chunks else 1024
        for a in range(0, dataset.shape[0], block):
            dataset[a:a + block]


def summarize(path: str | Path) -> dict:
    """Figures that describe a dataset, for `gamegan inspect` (JSON-serialisable)."""
    with Dataset(path) as ds:
        counts = np.zeros(ds.meta.n_actions, dtype=np.int64)
        for k in range(len(ds.shards)):
            actions = ds._read(k, "actions", 0, None)
            counts += np.bincount(actions[actions >= 0], minlength=ds.meta.n_actions)[:ds.meta.n_actions]
        # How often the model sees the power-pellet rule at work: frames with an edible ghost,
        # and the frames where the ghosts turn edible (per episode, so none spans two).
        # And the frames a ghost catches him on, when the state says where everyone is.
        scared, caught = [], None
        if "frightened" in ds.state_fields:
            scared = [ds.state(i, "frightened").any(axis=-1) for i in range(ds.n_episodes)]
        if set(CATCH_FIELDS) <= set(ds.state_fields):
            caught = sum(len(episode_catches(ds, i)) for i in range(ds.n_episodes))
        size = sum(p.stat().st_size for p in ds.shards)
        raw = int(np.prod(ds.meta.frame_shape))
        per_frame = size / ds.n_frames if ds.n_frames else None
        return {
            "path": str(ds.path),
            "shards": len(ds.shards),
            "episodes": ds.n_episodes,
            "frames": ds.n_frames,
            "frame_shape": list(ds.meta.frame_shape),
            "mode": ds.meta.mode,
            "n_actions": ds.meta.n_actions,
            "action_names": ds.meta.action_names,
            "action_histogram": dict(zip(ds.meta.action_names, counts.tolist())),
            "agents": dict(Counter(ds._agent)),
            "score": _stats(ds._score),
            "episode_length": _stats(ds.episode_lengths),
            "frightened_frames": sum(int(f.sum()) for f in scared) / ds.n_frames if scared else None,
            "fright_onsets": sum(len(fright_onsets(f)) for f in scared) if scared else None,
            "catches": caught,
            "size_on_disk_bytes": size,
            "bytes_per_frame": per_frame,  # whole files (frames, actions, state) per frame
            "raw_bytes_per_frame": raw,  # one uncompressed frame
            "compression_ratio": raw / per_frame if per_frame else None,
            "state_fields": ds.state_fields,
            "created_with": ds.meta.created_with,
        }


def fright_onsets(frightened: np.ndarray) -> np.ndarray:
    """Frames of one episode at which the ghosts turn frightened (Pac-Man has just eaten a power
    pellet): `frightened` is state/frightened (L, G) or its any-ghost reduction (L,)."""
    scared = frightened.any(axis=-1) if frightened.ndim == 2 else frightened
    return np.flatnonzero(scared[1:] & ~scared[:-1]) + 1


CATCH_FIELDS = ("pacman", "ghosts", "frightened")
"""The state fields `catches` reads, in its argument order."""


def catches(pacman: np.ndarray, ghosts: np.ndarray, frightened: np.ndarray) -> np.ndarray:
    """Frames of one episode on which a ghost catches Pac-Man: one that is not frightened shares
    his cell. From state/pacman (L, 2), state/ghosts (L, G, 2) and state/frightened (L, G)."""
    shared = (ghosts == pacman[:, None, :]).all(axis=-1) & ~frightened
    return np.flatnonzero(shared.any(axis=-1))


def episode_catches(ds: Dataset, episode: int) -> np.ndarray:
    """`catches` of episode `episode` of `ds`, from its recorded state."""
    return catches(*(ds.state(episode, name) for name in CATCH_FIELDS))


DERIVED_EVENTS: dict[str, tuple[str, ...]] = {"fright_onset": ("frightened",), "catch": CATCH_FIELDS}
"""Events of this repository's game found from its state when a recording does not store them,
with the state fields each needs: the ghosts turning frightened, a ghost catching Pac-Man."""


def _derive_event(ds: Dataset, episode: int, name: str) -> np.ndarray:
    if name == "fright_onset":
        return fright_onsets(ds.state(episode, "frightened")).astype(np.int64)
    return episode_catches(ds, episode).astype(np.int64)


def _stats(values: np.ndarray) -> dict | None:
    if not len(values):
        return None
    return {"mean": float(values.mean()), "min": values.min().item(), "max": values.max().item()}
