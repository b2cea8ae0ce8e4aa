"""Which frame codec and chunk size should shards use? Prints JSON figures for each.

Writes the same synthetic Pac-Man-like episodes through `ShardWriter` with every codec
(lzf, gzip-1, none) and several frames-per-chunk settings, then reads them back through
`Dataset` as the trainer does (random windows of T frames). Frames imitate the game: a
fixed maze of flat colours with pellet dots, and five 4x4 sprites moving a cell per step;
the `maze` scene scrolls a larger maze with Pac-Man, as the egocentric mode does.

    PYTHONPATH=. .venv/bin/python benchmarks/codec.py [--frames 6000] [--repeats 3]

Timings are medians over repeats, read from the page cache (decompression, not the disk).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from recorder.dataset import CODECS, DatasetMeta, Episode, ShardWriter, open_dataset

CELL = 4  # pixels per maze cell: 64x64 frames show 16x16 cells
WALL, FLOOR, PELLET = (33, 33, 222), (0, 0, 0), (255, 184, 151)
SPRITES = [(255, 255, 0), (255, 0, 0), (255, 184, 255), (0, 255, 255), (255, 184, 82)]
MOVES = np.array([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)])  # NOOP UP DOWN LEFT RIGHT


def random_maze(rng: np.random.Generator, cells: int) -> np.ndarray:
    """bool (cells, cells), True = wall: a border and scattered wall blocks, corridors between."""
    walls = np.zeros((cells, cells), dtype=bool)
    walls[[0, -1], :] = walls[:, [0, -1]] = True
    for r in range(2, cells - 2, 3):
        for c in range(2, cells - 2, 3):
            if rng.random() < 0.7:
                walls[r:r + 2, c:c + 1 + rng.integers(0, 2)] = True
    return walls


def render(walls: np.ndarray, pellets: np.ndarray, sprites: np.ndarray, origin: tuple[int, int],
           view_cells: int) -> np.ndarray:
    """uint8 (H, W, 3) view of `view_cells` cells from `origin`, sprites drawn over the maze."""
    r0, c0 = origin
    size = view_cells * CELL
    frame = np.zeros((size, size, 3), dtype=np.uint8)
    window = walls[r0:r0 + view_cells, c0:c0 + view_cells]
    frame[np.kron(window, np.ones((CELL, CELL), dtype=bool))] = WALL
    dots = np.argwhere(pellets[r0:r0 + view_cells, c0:c0 + view_cells])
    frame[dots[:, 0] * CELL + 1, dots[:, 1] * CELL + 1] = PELLET
    for colour, (r, c) in zip(SPRITES, sprites):
        r, c = r - r0, c - c0
        if 0 <= r < view_cells and 0 <= c < view_cells:
            frame[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL] = colour
    frame[frame.shape[0] // 2, frame.shape[1] // 2] ^= 1  # a one-pixel "mouth" detail
    return frame


def synthetic_episode(rng: np.random.Generator, length: int, scrolling: bool) -> Episode:
    """An episode of random-walking sprites; `scrolling` follows Pac-Man across a 48-cell maze."""
    view = 16
    walls = random_maze(rng, 48 if scrolling else view)
    if scrolling:  # wall margin so the view can always centre on Pac-Man
        walls = np.pad(walls, view // 2, constant_values=True)
    pellets = ~walls
    floor = np.argwhere(~walls)
    sprites = floor[rng.choice(len(floor), size=len(SPRITES), replace=False)]
    frames = np.empty((length, view * CELL, view * CELL, 3), dtype=np.uint8)
    actions = rng.integers(0, len(MOVES), size=length).astype(np.int8)
    actions[-1] = -1
    positions = np.empty((length, len(SPRITES), 2), dtype=np.int16)
    for t in range(length):
        origin = (0, 0)
        if scrolling:
            origin = tuple(sprites[0] - view // 2)
        frames[t] = render(walls, pellets, sprites, origin, view)
        positions[t] = sprites
        pellets[tuple(sprites[0])] = False
        moves = MOVES[np.concatenate([[max(actions[t], 0)], rng.integers(1, 5, len(SPRITES) - 1)])]
        target = sprites + moves
        free = ~walls[target[:, 0], target[:, 1]]
        sprites = np.where(free[:, None], target, sprites)
    state = {"pacman": positions[:, 0], "ghosts": positions[:, 1:]}
    return Episode(frames, actions, state, seed=int(rng.integers(1 << 31)), agent="synthetic")


def time_write(path: Path, meta: DatasetMeta, episodes: list[Episode], codec: str, chunk: int) -> float:
    """Seconds to write the episodes as one shard (including close: flush, fsync, rename)."""
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    with ShardWriter(path, meta, codec, chunk_frames=chunk) as writer:
        for episode in episodes:
            writer.add(episode)
    return time.perf_counter() - start


def time_windows(path: Path, window: int, n_reads: int, seed: int) -> float:
    """Seconds for n_reads random windows of `window` frames, as the trainer reads them."""
    with open_dataset(path) as data:
        rng = np.random.default_rng(seed)
        picks = [(int(i), int(rng.integers(0, data.episode_lengths[i] - window + 1)))
                 for i in rng.integers(0, data.n_episodes, size=n_reads)]
        data.frames(0, 0, 1)  # open the file outside the timing
        start = time.perf_counter()
        for i, s in picks:
            data.frames(i, s, s + window)
        return time.perf_counter() - start


def time_episodes(path: Path) -> float:
    """Seconds to read every episode whole, as loading a small dataset into RAM does."""
    with open_dataset(path) as data:
        data.frames(0, 0, 1)
        start = time.perf_counter()
        for i in range(data.n_episodes):
            data.frames(i)
        return time.perf_counter() - start


def measure_scene(episodes: list[Episode], settings: list[tuple[str, int]], repeats: int,
                  workdir: Path) -> list[dict]:
    """Figures for each (codec, chunk) setting on one scene. Repeats are the outer loop, so
    a burst of load from other processes is spread over all settings instead of hitting one."""
    n_frames = sum(len(e) for e in episodes)
    meta = DatasetMeta(episodes[0].frames.shape[1:], 5, ["NOOP", "UP", "DOWN", "LEFT", "RIGHT"],
                       {"mode": "benchmark"})
    times: dict[tuple[str, int], dict[str, list[float]]] = {s: {} for s in settings}
    for repeat in range(repeats):
        for codec, chunk in settings:
            path = workdir / f"shard-{codec}-{chunk}.h5"
            timing = times[(codec, chunk)]
            timing.setdefault("write", []).append(time_write(path, meta, episodes, codec, chunk))
            for window in (16, 32):
                timing.setdefault(f"T={window}", []).append(time_windows(path, window, 400, repeat))
            timing.setdefault("episodes", []).append(time_episodes(path))
    results = []
    for codec, chunk in settings:
        path, timing = workdir / f"shard-{codec}-{chunk}.h5", times[(codec, chunk)]
        with h5py.File(path) as f:
            frame_bytes = f["frames"].id.get_storage_size() / n_frames
        results.append({
            "codec": codec,
            "chunk_frames": chunk,
            "write_frames_per_s": round(n_frames / statistics.median(timing["write"])),
            "frame_bytes_per_frame": round(frame_bytes, 1),
            "file_bytes_per_frame": round(path.stat().st_size / n_frames, 1),
            "read_windows_per_s": {T: round(400 / statistics.median(timing[T])) for T in ("T=16", "T=32")},
            "read_episodes_frames_per_s": round(n_frames / statistics.median(timing["episodes"])),
        })
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6000, help="frames per scene")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (median reported)")
    parser.add_argument("--chunks", type=int, nargs="+", default=[4, 8, 16, 32, 64], help="frames per chunk")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    settings = [(codec, chunk) for codec in CODECS for chunk in args.chunks]
    report = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "h5py": h5py.version.version,
                          "hdf5": h5py.version.hdf5_version, "loadavg_before": os.getloadavg()[0]},
              "frames_per_scene": args.frames, "raw_bytes_per_frame": 64 * 64 * 3, "scenes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for scene, scrolling in (("classic", False), ("maze", True)):
            episodes, total = [], 0
            while total < args.frames:
                episode = synthetic_episode(rng, int(rng.integers(100, 600)), scrolling)
                episodes.append(episode)
                total += len(episode)
            report["scenes"][scene] = measure_scene(episodes, settings, args.repeats, Path(tmp))
    report["machine"]["loadavg_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
