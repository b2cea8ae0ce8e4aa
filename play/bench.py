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
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from gamegan.checkpoint import load_model
from gamegan.config import PRESETS, Config, ModelConfig, preset
from gamegan.errors import UsageError
from gamegan.model.factory import build_model
from recorder.game import GameConfig

MAX_PLAY_THREADS = 4
"""Batch-1 steps of a few hundred MFLOP stop gaining from threads beyond about this many."""


def play_threads() -> int:
    """Intra-op threads for play: 1 on machines with 2 cores or fewer, else half the cores
    (about the physical ones), at most `MAX_PLAY_THREADS`.

    Measured on 2 shared cores with `small` (80 MFLOP a step): 1 thread gave p50 8.6 ms /
    p99 14 ms, 2 threads p50 33 ms / p99 1 s -- a batch-1 step is too small to split, and
    when another process holds one core the second thread's barrier waits stall every conv.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return 1 if cores <= 2 else max(1, min(MAX_PLAY_THREADS, cores // 2))


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run with `n` intra-op threads (default `play_threads()`), restoring the old count after."""
    old = torch.get_num_threads()
    n = n or play_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(old)


def fallback_game_config(frame_size: int) -> GameConfig:
    """The game to start from when a run does not say which it was trained on."""
    return GameConfig(frame_size=frame_size, layout="small" if frame_size < 64 else "classic")


def game_config_of(config: Config) -> GameConfig:
    """The recorded game a run was trained on (`config.game`), or the fallback for its frame size."""
    if not config.game:
        return fallback_game_config(config.model.frame_size)
    try:
        return GameConfig.from_dict(config.game)
    except (TypeError, ValueError) as err:
        raise UsageError(f"the run's game config is unusable ({err}); start from a recording with --data") from None


def load_simulator(source: str | Path | Config | ModelConfig, device: torch.device | str = "cpu",
                   seed: int = 0) -> tuple[nn.Module, Config, str]:
    """A simulator from a preset name, a config (randomly initialised, seeded) or a run
    directory / checkpoint file (its weights; CheckpointError when it is not one).
    Returns (simulator, config, label)."""
    if isinstance(source, str) and source in PRESETS:
        config, label = preset(source), f"preset {source} (random init)"
    elif isinstance(source, (str, Path)):
        model, config, step = load_model(Path(source), device)
        return model.simulator, config, f"{source} (step {step})"
    elif isinstance(source, ModelConfig):
        config, label = Config(model=source), "model config (random init)"
    elif isinstance(source, Config):
        config, label = source, "config (random init)"
    else:
        raise TypeError(f"expected a preset name, a Config, a ModelConfig or a path, got {type(source).__name__}")
    torch.manual_seed(seed)
    return build_model(config.model).simulator.to(device).eval(), config, label


def bench_play(config_or_preset: str | Path | Config | ModelConfig = "small", device: str = "cpu", steps: int = 200,
               warmup_steps: int = 20, threads: int | None = None, seed: int = 0) -> dict:
    """Time `steps` play steps at batch 1 after `warmup_steps` untimed ones.

    Returns p50/p99/mean ms per step, steps/s (from the mean), parameters, threads and
    the machine. A preset name or a config is randomly initialised; any other string or
    path is loaded as a run directory or checkpoint.
    """
    from play.session import GameStarts, SimSession

    with torch_threads(threads if device == "cpu" else None) as n_threads:
        sim, config, label = load_simulator(config_or_preset, device, seed)
        session = SimSession(sim, GameStarts(game_config_of(config), warmup=4), seed=seed, device=device)
        actions = np.random.default_rng(seed).integers(0, config.model.n_actions, warmup_steps + steps)
        times = []
        for i, action in enumerate(actions):
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
