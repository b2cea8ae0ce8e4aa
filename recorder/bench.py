"""Recorder throughput: game step, render and HDF5 write, one worker, measured separately
and as a whole recording. Used by `gamegan bench record` and `benchmarks/record.py`."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from recorder.agents import make_agent
from recorder.dataset import ShardWriter, summarize
from recorder.game import Game, GameConfig
from recorder.record import RecordConfig, dataset_meta, episode_seeds, play_episode, record


def _play(cfg: GameConfig, agent: str, episodes: int) -> tuple[list, float]:
    start = time.perf_counter()
    played = []
    for index in range(episodes):
        game_seed, agent_seed = episode_seeds(0, index)
        bot = make_agent(agent, seed=agent_seed)
        played.append(play_episode(Game(cfg, seed=game_seed), bot, np.random.default_rng(agent_seed), lambda: False))
    return played, time.perf_counter() - start


def _render_us(cfg: GameConfig, n: int = 2000) -> float:
    game = Game(cfg, seed=0)
    game.reset()
    start = time.perf_counter()
    for _ in range(n):
        game.render()
    return (time.perf_counter() - start) / n * 1e6


def bench_record(episodes: int = 40, frame_size: int = 64, agent: str = "mix", repeats: int = 3) -> dict:
    """Median figures over `repeats` runs; frames/s counts every stored frame."""
    cfg = GameConfig(frame_size=frame_size)
    play_fps, write_fps, total_fps, bytes_per_frame = [], [], [], 0.0
    for rep in range(repeats):
        played, play_s = _play(cfg, agent, episodes)
        n_frames = sum(len(e.frames) for e in played)
        play_fps.append(n_frames / play_s)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            with ShardWriter(Path(tmp) / "shard-bench.h5", dataset_meta(cfg)) as writer:
                for episode in played:
                    writer.add(episode)
            write_fps.append(n_frames / (time.perf_counter() - start))
            out = Path(tmp) / "whole"
            summary = record(RecordConfig(out=out, episodes=episodes, workers=1, seed=rep, agent=agent, game=cfg))
            total_fps.append(summary.frames_per_s)
            bytes_per_frame = summarize(out)["bytes_per_frame"]
    raw = frame_size * frame_size * 3
    return {
        "frames_per_s_per_worker": round(statistics.median(total_fps)),
        "play_frames_per_s": round(statistics.median(play_fps)),
        "hdf5_write_frames_per_s": round(statistics.median(write_fps)),
        "render_us": round(_render_us(cfg), 1),
        "bytes_per_frame": round(bytes_per_frame, 1),
        "raw_bytes_per_frame": raw,
        "compression_ratio": round(raw / max(bytes_per_frame, 1e-9), 1),
        "frame_size": frame_size, "agent": agent, "episodes": episodes, "repeats": repeats,
    }
