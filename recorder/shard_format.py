"""The HDF5 shard schema (format version 1) and the writer that produces it.

One shard holds many episodes concatenated along the frame axis, plus an episode table
saying where each one lies. DESIGN.md section 4 is the specification; this module and
`recorder.dataset` (the reading side) are the only code that knows it. Import the public
names from `recorder.dataset`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np

FORMAT = "gamegan-episodes"
FORMAT_VERSION = 1
SHARD_GLOB = "shard-*.h5"

# Frame compression, by name. Chosen with benchmarks/codec.py on Pac-Man-like 64x64
# frames (2 cores, HDF5 2.0): gzip-1 stores ~600 bytes/frame to lzf's ~1,300 (raw 12,288)
# and reads random training windows 1.1-1.3x faster; lzf writes 5-25% faster, a few
# microseconds a frame, under 5% of the recorder's 200 us/frame budget. gzip is also the
# one filter every HDF5 tool has built in (lzf needs h5py). No shuffle filter: frames are
# uint8, so there are no bytes to regroup.
CODECS: dict[str, dict] = {
    "lzf": {"compression": "lzf"},
    "gzip-1": {"compression": "gzip", "compression_opts": 1},
    "none": {},
}
DEFAULT_CODEC = "gzip-1"

# Frames are chunked by whole frames along N, ~100 KB a chunk: 8 frames at 64x64. Random
# 16-frame training windows then read 1.1-1.5x faster than with 16-frame chunks and ~3x
# faster than with 64-frame chunks, for 1-2% more bytes; 4-frame chunks read no faster
# and cost 2-4% more bytes (benchmarks/codec.py). A byte target rather than a frame count
# keeps the same trade at 32x32 or 128x128.
FRAME_CHUNK_BYTES = 100_000
# State rows are tiny; big chunks keep the chunk index small.
STATE_CHUNK_BYTES = 64_000

REQUIRED_DATASETS = (
    "frames",
    "actions",
    "episodes/start",
    "episodes/length",
    "episodes/seed",
    "episodes/agent",
    "episodes/score",
)
REQUIRED_ATTRS = ("frame_shape", "n_actions", "action_names", "game", "palette", "created_with")


class DatasetError(Exception):
    """A dataset that cannot be read as asked; the one-line message names the file(s)."""


def _tool_version() -> str:
    try:
        return f"gamegan {metadata.version('gamegan')}"
    except metadata.PackageNotFoundError:
        return "gamegan (not installed)"


@dataclass
class DatasetMeta:
    """What every shard of a dataset records about itself (the shard attributes)."""

    frame_shape: tuple[int, int, int]
    """(H, W, 3) of every frame."""
    n_actions: int
    """Number of action ids; actions are 0..n_actions-1."""
    action_names: list[str]
    """Name of each action id, e.g. ["NOOP", "UP", "DOWN", "LEFT", "RIGHT"]."""
    game: dict = field(default_factory=dict)
    """The game's config, including `mode`; stored as JSON."""
    palette: dict = field(default_factory=dict)
    """Entity class -> RGB colour, so evaluation can find sprites; stored as JSON."""
    created_with: str = field(default_factory=_tool_version)
    """The program and version that wrote the shard."""

    def __post_init__(self) -> None:
        self.frame_shape = tuple(int(d) for d in self.frame_shape)
        self.n_actions = int(self.n_actions)
        self.action_names = [str(name) for name in self.action_names]
        if len(self.frame_shape) != 3 or self.frame_shape[2] != 3 or min(self.frame_shape) < 1:
            raise ValueError(f"frame_shape must be (H, W, 3), got {self.frame_shape}")
        if len(self.action_names) != self.n_actions or self.n_actions < 1:
            raise ValueError(
                f"n_actions={self.n_actions} but {len(self.action_names)} action names"
            )

    @property
    def mode(self) -> str:
        """The game mode (`classic`, `maze`, ...), or `unknown` for recordings without one."""
        return str(self.game.get("mode", "unknown"))

    def compatible_with(self, other: DatasetMeta) -> str | None:
        """None if shards with these two metas can form one dataset, else a short reason."""
        if self.frame_shape != other.frame_shape:
            return f"frame shape {self.frame_shape} vs {other.frame_shape}"
        if self.action_names != other.action_names:
            return f"actions {self.action_names} vs {other.action_names}"
        if self.mode != other.mode:
            return f"mode {self.mode!r} vs {other.mode!r}"
        return None

    def to_attrs(self) -> dict:
        """The shard attributes that store this meta."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "frame_shape": np.asarray(self.frame_shape, dtype=np.int64),
            "n_actions": self.n_actions,
            "action_names": json.dumps(self.action_names),
            "game": json.dumps(self.game, sort_keys=True),
            "palette": json.dumps(self.palette, sort_keys=True),
            "created_with": self.created_with,
        }

    @classmethod
    def from_attrs(cls, attrs, path: Path) -> DatasetMeta:
        """Read and check a shard's attributes; DatasetError names `path` if they are wrong."""
        fmt = _plain(attrs.get("format"))
        if fmt != FORMAT:
            raise DatasetError(f"{path}: not a {FORMAT} shard (format attribute is {fmt!r})")
        version = _plain(attrs.get("format_version"))
        if version != FORMAT_VERSION:
            raise DatasetError(
                f"{path}: format_version {version!r} is not supported (this reader knows "
                f"version {FORMAT_VERSION})"
            )
        missing = [name for name in REQUIRED_ATTRS if name not in attrs]
        if missing:
            raise DatasetError(f"{path}: missing attribute(s) {', '.join(missing)}")
        try:
            return cls(
                frame_shape=tuple(np.asarray(attrs["frame_shape"]).tolist()),
                n_actions=int(attrs["n_actions"]),
                action_names=json.loads(_plain(attrs["action_names"])),
                game=json.loads(_plain(attrs["game"])),
                palette=json.loads(_plain(attrs["palette"])),
                created_with=str(_plain(attrs["created_with"])),
            )
        except (ValueError, TypeError) as exc:  # bad JSON, wrong types, inconsistent counts
            raise DatasetError(f"{path}: bad shard attributes: {exc}") from None


def _plain(value):
    """An attribute as a Python value: h5py gives numpy scalars, and other writers' strings
    may arrive as bytes."""
    if isinstance(value, np.generic):
        value = value.item()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


@dataclass(eq=False)  # arrays have no single truth value to compare by
class Episode:
    """One recorded episode: L frames, the action taken at each, and optional game state."""

    frames: np.ndarray
    """uint8 (L, H, W, 3)."""
    actions: np.ndarray
    """int8 (L,); actions[t] turns frames[t] into frames[t+1]; actions[-1] == -1."""
    state: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-frame game state, each (L, ...); may be empty."""
    seed: int = 0
    """Seed the episode was played with."""
    agent: str = ""
    """Who played it, e.g. "greedy", "random", "human"."""
    score: int = 0
    """Final score."""

    def __len__(self) -> int:
        return len(self.frames)


def list_shards(path: str | Path) -> list[Path]:
    """The shard files of a dataset path, sorted by name: the file itself, or the
    directory's `shard-*.h5` files (temporary files of unfinished writers never match)."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob(SHARD_GLOB) if p.is_file())


def shard_name(base_seed: int, worker: int, first_episode: int) -> str:
    """The file name a recorder gives a shard: unique per (base seed, worker, first
    episode), so many recorders can fill one directory without clashing."""
    return f"shard-s{base_seed}-w{worker:02d}-e{first_episode:07d}.h5"


def temp_path_for(path: Path) -> Path:
    """Where a shard is written before it is complete: hidden, and never `shard-*.h5`."""
    return path.with_name(f".{path.name}.tmp")


def _rows_per_chunk(row_shape: tuple[int, ...], itemsize: int, target_bytes: int) -> int:
    return max(1, target_bytes // max(1, itemsize * int(np.prod(row_shape))))


class ShardWriter:
    """Writes one shard under a temporary name (`.<name>.tmp`, same directory) and renames
    it into place on close(), so readers never see a partial shard.

    Episodes are appended to resizable chunked datasets as they come, so a shard is never
    held in memory. As a context manager it closes on exit even when an exception is
    raised, keeping the episodes already added: each was written whole, and losing them to
    a Ctrl-C would break "SIGINT loses nothing". Call abort() to discard instead.
    """

    def __init__(
        self,
        path: str | Path,
        meta: DatasetMeta,
        codec: str = DEFAULT_CODEC,
        *,
        chunk_frames: int | None = None,
    ) -> None:
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}; choose one of {sorted(CODECS)}")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path}: shard already exists; will not overwrite it")
        self.meta = meta
        self.temp_path = temp_path_for(self.path)
        self.n_episodes = 0
        self.n_frames = 0
        self._compression = CODECS[codec]
        self._table: dict[str, list] = {"start": [], "length": [], "seed": [], "agent": [], "score": []}
        self._state_spec: dict[str, tuple[np.dtype, tuple[int, ...]]] | None = None
        self._closed_path: Path | None = None

        frame_chunk = chunk_frames or _rows_per_chunk(meta.frame_shape, 1, FRAME_CHUNK_BYTES)
        # The chunk cache must hold the partly filled chunk at an episode boundary, or HDF5
        # would compress it half-empty and read it back to finish it.
        chunk_bytes = frame_chunk * int(np.prod(meta.frame_shape))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.temp_path, "w", rdcc_nbytes=max(2**20, 4 * chunk_bytes))
        self._file.attrs.update(meta.to_attrs())
        self._file.create_dataset(
            "frames", shape=(0, *meta.frame_shape), maxshape=(None, *meta.frame_shape),
            dtype=np.uint8, chunks=(frame_chunk, *meta.frame_shape), **self._compression,
        )
        self._file.create_dataset(
            "actions", shape=(0,), maxshape=(None,), dtype=np.int8,
            chunks=(_rows_per_chunk((), 1, STATE_CHUNK_BYTES),), **self._compression,
        )

    def add(self, episode: Episode) -> None:
        """Check the episode against the shard's meta and append it."""
        if self._file is None:
            raise ValueError(f"{self.path}: writer is closed")
        actions = self._checked_actions(episode)
        state = self._checked_state(episode)
        start, length = self.n_frames, len(episode.frames)
        self._append("frames", episode.frames)
        self._append("actions", actions)
        for name, values in state.items():
            self._append(f"state/{name}", values)
        for key, value in (("start", start), ("length", length), ("seed", int(episode.seed)),
                           ("agent", str(episode.agent)), ("score", int(episode.score))):
            self._table[key].append(value)
        self.n_frames += length
        self.n_episodes += 1

    def _checked_actions(self, episode: Episode) -> np.ndarray:
        frames, actions = episode.frames, np.asarray(episode.actions)
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            raise ValueError(f"{self.path}: frames must be a uint8 array")
        if frames.ndim != 4 or frames.shape[1:] != self.meta.frame_shape or len(frames) == 0:
            raise ValueError(
                f"{self.path}: frames shape {frames.shape}, expected (L>=1, *{self.meta.frame_shape})"
            )
        if actions.shape != (len(frames),) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"{self.path}: actions must be integers of shape ({len(frames)},), "
                f"got {actions.dtype} {actions.shape}"
            )
        if actions[-1] != -1:
            raise ValueError(f"{self.path}: an episode's last action must be -1")
        body = actions[:-1]
        if body.size and (body.min() < 0 or body.max() >= self.meta.n_actions):
            raise ValueError(f"{self.path}: actions outside [0, {self.meta.n_actions})")
        return actions.astype(np.int8)

    def _checked_state(self, episode: Episode) -> dict[str, np.ndarray]:
        state = {name: np.asarray(values) for name, values in episode.state.items()}
        for name, values in state.items():
            if values.ndim == 0 or len(values) != len(episode.frames):
                raise ValueError(
                    f"{self.path}: state/{name} has shape {values.shape} for {len(episode.frames)} frames"
                )
        spec = {name: (v.dtype, v.shape[1:]) for name, v in state.items()}
        if self._state_spec is None:
            self._state_spec = spec
            for name, (dtype, row_shape) in spec.items():
                rows = _rows_per_chunk(row_shape, dtype.itemsize, STATE_CHUNK_BYTES)
                # HDF5 chunks must be at least 1 along every axis; an axis of length 0 (a maze
                # without ghosts: state/ghosts (N, 0, 2)) is then declared unlimited.
                self._file.create_dataset(
                    f"state/{name}", shape=(0, *row_shape), maxshape=(None, *(d or None for d in row_shape)),
                    dtype=dtype, chunks=(rows, *(d or 1 for d in row_shape)), **self._compression,
                )
        elif spec != self._state_spec:
            raise ValueError(
                f"{self.path}: state fields {_describe(spec)} differ from this shard's "
                f"{_describe(self._state_spec)}"
            )
        return state

    def _append(self, name: str, values: np.ndarray) -> None:
        dataset = self._file[name]
        old = dataset.shape[0]
        dataset.resize(old + len(values), axis=0)
        dataset[old:] = values

    def close(self) -> Path | None:
        """Finish the shard and rename it into place; returns its path. A shard with no
        episodes is deleted instead (returns None). Calling close() again is harmless."""
        if self._file is None:
            return self._closed_path
        if self.n_episodes == 0:
            self.abort()
            return None
        try:
            self._drop_unfinished_episode()
            group = self._file.create_group("episodes")
            for key in ("start", "length", "seed", "score"):
                group.create_dataset(key, data=np.asarray(self._table[key], dtype=np.int64))
            group.create_dataset("agent", data=self._table["agent"], dtype=h5py.string_dtype("utf-8"))
            self._file.close()
            self._file = None
            # Data must be on disk before the rename makes it visible, or a power cut could
            # leave a complete-looking name over incomplete bytes.
            with open(self.temp_path, "rb") as handle:
                os.fsync(handle.fileno())
            if self.path.exists():
                raise FileExistsError(f"{self.path}: appeared while writing; left {self.temp_path}")
            os.replace(self.temp_path, self.path)
            self._closed_path = self.path
        except BaseException:
            if self._file is not None:
                self.abort()
            raise
        return self.path

    def _drop_unfinished_episode(self) -> None:
        # An add() cut short (Ctrl-C mid-write) can leave rows past the last whole episode
        # in some datasets; cutting every per-frame dataset back keeps the shard valid.
        names = ["frames", "actions"] + [f"state/{name}" for name in self._state_spec or {}]
        for name in names:
            if self._file[name].shape[0] != self.n_frames:
                self._file[name].resize(self.n_frames, axis=0)

    def abort(self) -> None:
        """Discard the shard: close and delete the temporary file."""
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
        self.temp_path.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close()


def _describe(spec: dict[str, tuple[np.dtype, tuple[int, ...]]]) -> str:
    return "{" + ", ".join(f"{k}: {d} {s}" for k, (d, s) in sorted(spec.items())) + "}"
