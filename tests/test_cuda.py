"""The CUDA path, on a machine with a GPU (`pytest -m cuda`; `benchmarks/gpu_check.sh` runs these):
bf16 autocast forward and backward of every model, channels_last, torch.compile, a short
`paper` training, a play step, NCCL. Skipped where there is no CUDA device."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

from gamegan.config import apply_overrides, preset
from gamegan.distributed import DistInfo
from gamegan.model.factory import build_model
from gamegan.train import run_phase, train, use_channels_last
from gamegan.bench import synthetic_batch
from gamegan.model.types import StepContext

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

KINDS = {
    "gamegan": [],
    "gamegan+window": ["model.memory=true", "model.renderer=disentangling", "model.n_components=2",
                       "model.memory_read=window", "model.memory_window=5", "model.memory_size=9", "model.memory_dim=16"],
    "action-lstm": ["model.kind=action-lstm"],
    "world-models": ["model.kind=world-models"],
}


def _config(*overrides: str):
    return apply_overrides(preset("tiny"), ["train.device=cuda", "train.amp=true", *overrides])


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("channels_last", [False, True])
def test_every_model_trains_a_step_under_bf16_autocast(kind: str, channels_last: bool) -> None:
    config = _config(*KINDS[kind])
    device = torch.device("cuda")
    model = build_model(config.model).to(device)
    if channels_last:
        use_channels_last(model)
    phases = model.phases(config.loss)
    opts = {p.name: torch.optim.Adam(p.module.parameters(), lr=1e-4) for p in phases}
    batch = synthetic_batch(config, device)
    ctx = StepContext(step=0, warmup=2)  # one per iteration: D reads the rollout G leaves in it
    for phase in phases:
        logs = run_phase(phase, opts[phase.name], phases, batch, ctx, config, device, DistInfo())
        assert logs is not None and all(torch.isfinite(torch.tensor(v)) for v in logs.values()), (kind, phase.name)


def test_compiled_training_and_a_short_paper_run(tiny_recording: Path, tmp_path: Path) -> None:
    compiled = train(_config("train.steps=3", "train.compile=true"), tiny_recording, tmp_path / "compiled",
                     progress=False)
    assert compiled.step == 3 and compiled.nonfinite_steps == 0
    paper = apply_overrides(preset("paper"), ["train.device=cuda", "train.steps=50", "train.batch_size=4",
                                              "train.seq_len=8", "train.warmup_start=4", "train.ckpt_every=50"])
    result = train(paper, tiny_recording, tmp_path / "paper", progress=False)
    assert result.step == 50 and result.nonfinite_steps == 0


def test_a_play_step_on_the_gpu(tmp_path: Path) -> None:
    from gamegan.checkpoint import save_weights
    from play.launch import open_session

    config = _config()
    config.game = {"layout": "small", "frame_size": 32}
    save_weights(tmp_path / "checkpoints" / "step_0000001.safetensors", build_model(config.model), config, step=1)
    session = open_session(tmp_path, device="cuda")
    assert session.step(3).shape == (32, 32, 3)


def test_nccl_all_reduces_on_this_gpu() -> None:
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        x = torch.ones(4, device="cuda")
        dist.all_reduce(x)
        assert x.tolist() == [1.0] * 4
    finally:
        dist.destroy_process_group()
