"""Loading a simulator for play, and the CPU thread count play runs it with.

Shared by the client, the headless driver, the demo and the latency benchmark.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from gamegan.checkpoint import load_model
from gamegan.config import PRESETS, Config, ModelConfig, preset
from gamegan.model.factory import build_model

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
