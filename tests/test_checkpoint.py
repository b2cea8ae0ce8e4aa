"""Checkpoint files: atomic, self-describing, safe to load, clear errors."""

import pytest
import torch
from torch import nn

from gamegan.checkpoint import (latest_checkpoint, list_checkpoints, load_train_state, load_weights, read_config,
                                resolve_checkpoint, save_checkpoint, save_weights)
from gamegan.config import preset
from gamegan.errors import CheckpointError


def _model(width: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, 2))


def test_save_load_round_trip_with_config_and_state(tmp_path):
    model, config = _model(), preset("tiny")
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 3)).sum().backward()
    opt.step()
    state = {"step": 5, "optimizers": {"G": opt.state_dict()}, "torch_rng": torch.get_rng_state(),
             "numpy_rng": {"bit_generator": "PCG64", "state": {"state": 2**120 + 7, "inc": 3}}}
    path = save_checkpoint(tmp_path, 5, model, config, state)
    other = _model()
    for p in other.parameters():
        nn.init.zeros_(p)
    assert load_weights(path, other) == 5
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert read_config(path) == config
    loaded = load_train_state(path)
    assert loaded["step"] == 5 and loaded["numpy_rng"]["state"]["state"] == 2**120 + 7
    assert torch.equal(loaded["torch_rng"], state["torch_rng"])


def test_keep_last_prunes_old_checkpoints(tmp_path):
    model, config = _model(), preset("tiny")
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, model, config, {"step": step}, keep_last=2)
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step_0000003.safetensors", "step_0000004.safetensors"]
    assert not (tmp_path / "checkpoints" / "step_0000001.state.pt").exists()
    assert resolve_checkpoint(tmp_path) == latest_checkpoint(tmp_path)
    save_checkpoint(tmp_path, 10, model, config, {"step": 10})
    assert [p.name for p in list_checkpoints(tmp_path, first=4, last=9)] == ["step_0000004.safetensors"]
    assert [p.name for p in list_checkpoints(tmp_path, first=4)] == ["step_0000004.safetensors",
                                                                     "step_0000010.safetensors"]


def test_no_temp_files_remain(tmp_path):
    save_checkpoint(tmp_path, 1, _model(), preset("tiny"), {"step": 1})
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path, 1, _model(), preset("tiny"), {"step": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.with_name("step_0000001.state.pt").stat().st_mode & 0o777 == 0o644


def test_other_model_config_is_a_clear_error(tmp_path):
    save_weights(tmp_path / "w.safetensors", _model(4), preset("tiny"), 1)
    with pytest.raises(CheckpointError, match="different model config"):
        load_weights(tmp_path / "w.safetensors", _model(8))


@pytest.mark.parametrize("content", [b"", b"garbage" * 50, b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_corrupt_files_are_checkpoint_errors(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_weights(path, _model())


def test_truncated_weights_are_a_checkpoint_error(tmp_path):
    save_weights(tmp_path / "w.safetensors", _model(), preset("tiny"), 1)
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "w.safetensors").write_bytes(data[: len(data) - 20])
    with pytest.raises(CheckpointError):
        load_weights(tmp_path / "w.safetensors", _model())


def test_run_without_checkpoints_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoints yet"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no such"):
        resolve_checkpoint(tmp_path / "missing")


def test_fp16_weights_load_into_fp32_model(tmp_path):
    model = _model()
    save_weights(tmp_path / "h.safetensors", model, preset("tiny"), 3, dtype=torch.float16)
    other = _model()
    load_weights(tmp_path / "h.safetensors", other)
    for a, b in zip(model.parameters(), other.parameters()):
        assert b.dtype == torch.float32
        assert torch.allclose(a, b, atol=1e-2)


def test_a_checkpoint_from_before_noop_had_a_fixed_kernel_loads_with_the_same_moving_kernels(tmp_path):
    # Older checkpoints learned a kernel for NOOP too: one more input column of the kernel MLP,
    # at NOOP's place among the kernel owners (NOOP, UP, LEFT with tied opposites).
    from safetensors.torch import load_file, save_file

    from gamegan.checkpoint import read_metadata
    from gamegan.config import apply_overrides
    from gamegan.model.factory import build_model

    config = apply_overrides(preset("tiny"), ["model.memory=true", "model.tie_opposite_kernels=true"])
    torch.manual_seed(0)
    model = build_model(config.model)
    path = tmp_path / "new.safetensors"
    save_weights(path, model, config, 3)
    tensors = load_file(str(path))
    key = next(k for k in tensors if k.endswith("memory.kernel_mlp.0.weight"))
    new = tensors[key]
    tensors[key] = torch.cat([torch.randn(new.shape[0], 1), new], dim=1)  # NOOP owned slot 0
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata=read_metadata(path))
    torch.manual_seed(1)
    loaded = build_model(config.model)
    assert load_weights(old, loaded) == 3
    memory = next(m for n, m in model.named_modules() if n.endswith("memory"))
    memory_loaded = next(m for n, m in loaded.named_modules() if n.endswith("memory"))
    actions = torch.arange(5)
    torch.testing.assert_close(memory_loaded.kernels(actions), memory.kernels(actions))


def test_resuming_with_an_optimiser_state_of_another_layout_names_the_fix():
    import numpy as np

    from gamegan.train import _restore_train_state

    before = nn.Linear(3, 4)
    opt = torch.optim.Adam(before.parameters())
    before(torch.randn(2, 3)).sum().backward()
    opt.step()
    state = {"step": 1, "optimizers": {"G": opt.state_dict()}, "torch_rng": torch.get_rng_state(),
             "numpy_rng": np.random.default_rng(0).bit_generator.state}
    after = nn.Linear(2, 4)
    with pytest.raises(CheckpointError, match="--init-from"):
        _restore_train_state(state, {"G": torch.optim.Adam(after.parameters())}, np.random.default_rng(0))
