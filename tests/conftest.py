"""Shared fixtures: headless SDL, tiny recordings made on the fly."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# OpenMP threads spin while waiting by default; on a busy 2-core CI box a spinning thread
# starves its descheduled sibling and torch runs 5-10x slower. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture
def one_thread():
    """Tiny models run faster on one intra-op thread than on two that wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve short 32x32 episodes of the small layout, recorded once per test session."""
    from recorder.game import GameConfig
    from recorder.record import RecordConfig, record

    out = tmp_path_factory.mktemp("data") / "tiny"
    record(RecordConfig(out=out, episodes=12, seed=0, shard_episodes=5,
                        game=GameConfig(layout="small", frame_size=32, max_steps=60)))
    return out
