"""Play latency: the simulator step at batch 1, as the client takes it.

`bench_play("small")` times `SimSession.step` (the model's step under inference mode with
hard memory, plus fetching the frame as uint8) on real start frames from the game engine,
with random actions, after untimed warm-up steps. DESIGN section 9 asks for p50 <= 8 ms and
p99 <= 16 ms for `small` on 2 CPU cores. The result carries the load average: on a shared
machine other processes' load shows up directly in the tail.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import torch

from gamegan.config import Config, ModelConfig
from gamegan.run_game import game_config_of
from play.loading import load_simulator, torch_threads
from play.session import GameStarts, SimSession


def bench_play(config_or_preset: str | Path | Config | ModelConfig = "small", device: str = "cpu", steps: int = 200,
               warmup_steps: int = 20, threads: int | None = None, seed: int = 0) -> dict:
    """Time `steps` play steps at batch 1 after `warmup_steps` untimed ones.

    Returns p50/p99/mean ms per step, steps/s (from the mean), parameters, threads and
    the machine. A preset name or a config is randomly initialised; any other string or
    path is loaded as a run directory or checkpoint.
    """
    with torch_threads(threads if device == "cpu" else None) as n_threads:
        sim, config, label = load_simulator(config_or_preset, device, seed)
        session = SimSession(sim, GameStarts(game_config_of(config), warmup=4), seed=seed, device=device)
        actions = np.random.default_rng(seed).integers(0, config.model.n_actions, warmup_steps + steps)
        times = []
        for i, action in enumerate(actions):
            if session.done:  # its ghosts caught Pac-Man: a new game (untimed), as a player presses R
                session.reset()
            session.step(int(action))
            if i >= warmup_steps:
                times.append(session.last_step_ms)
    ms = np.asarray(times)
    return {
        "model": label,
        "frame_size": config.model.frame_size,
        "params": sum(p.numel() for p in sim.parameters()),
        "device": str(device),
        "threads": n_threads,
        "steps": steps,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "min_ms": round(float(ms.min()), 3),
        "steps_per_s": round(1e3 / float(ms.mean()), 1),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
    }
