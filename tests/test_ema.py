"""The simulator's weight average: its arithmetic, its checkpoint tensors, and who plays it."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from gamegan.checkpoint import latest_checkpoint, load_model
from gamegan.config import ConfigError, apply_overrides, preset
from gamegan.ema import EMA_PREFIX, SimulatorEMA, simulator_prefix
from gamegan.model.factory import build_model
from gamegan.shipped import export_model
from gamegan.train import train
from train_helpers import tiny


def _simulator_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.simulator.state_dict().items()}


def test_each_update_moves_the_average_by_one_minus_decay():
    torch.manual_seed(0)
    model = build_model(preset("tiny").model)
    ema = SimulatorEMA(model, decay=0.75)
    first = _simulator_weights(model)
    ema.update(model)  # the first update copies
    with torch.no_grad():
        for p in model.simulator.parameters():
            p.add_(1.0)
    ema.update(model)
    averaged = ema.simulator.state_dict()
    params = {name for name, _ in model.simulator.named_parameters()}
    for name in params:
        assert torch.allclose(averaged[name], first[name] + 0.25), name
    # The discriminator is never averaged, and the tensors carry the model's own names.
    assert simulator_prefix(model) == "generator."
    assert set(ema.tensors()) == {f"{EMA_PREFIX}generator.{name}" for name in averaged}


@pytest.mark.parametrize("decay", [1.0, -0.1])
def test_a_decay_outside_zero_one_is_a_config_error(decay):
    with pytest.raises(ConfigError, match="ema_decay"):
        SimulatorEMA(build_model(preset("tiny").model), decay)


def test_checkpoints_carry_the_average_and_play_and_export_use_it(tiny_recording, tmp_path):
    result = train(tiny("train.steps=3", "train.ema_decay=0.5"), tiny_recording, tmp_path / "run", progress=False)
    path = latest_checkpoint(tmp_path / "run")
    averaged, raw = _simulator_weights(result.ema), _simulator_weights(result.model)
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw)  # three steps apart from the raw weights

    played, _, _ = load_model(path)
    for name, tensor in played.simulator.state_dict().items():
        assert torch.equal(tensor, averaged[name]), name
    unaveraged, _, _ = load_model(path, use_ema=False)
    for name, tensor in unaveraged.simulator.state_dict().items():
        assert torch.equal(tensor, raw[name]), name
    for name, tensor in played.discriminator.state_dict().items():  # only the simulator is averaged
        assert torch.equal(tensor, result.model.discriminator.state_dict()[name]), name

    out = export_model(tmp_path / "run", tmp_path / "shipped.safetensors", dtype="fp32")
    with safe_open(str(out), framework="pt") as f:
        assert not any(k.startswith(EMA_PREFIX) for k in f.keys())
    exported, _, _ = load_model(out)
    for name, tensor in exported.simulator.state_dict().items():
        assert torch.equal(tensor, averaged[name]), name


def test_resume_restores_the_average_exactly(tiny_recording, tmp_path):
    config = tiny("train.steps=4", "train.ckpt_every=2", "train.ema_decay=0.5")
    straight = train(config, tiny_recording, tmp_path / "straight", progress=False)
    train(apply_overrides(config, ["train.steps=2"]), tiny_recording, tmp_path / "resumed", progress=False)
    resumed = train(config, tiny_recording, tmp_path / "resumed", resume=True, progress=False)
    a, b = _simulator_weights(straight.ema), _simulator_weights(resumed.ema)
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_a_run_resumed_with_an_average_starts_it_at_the_resumed_weights(tiny_recording, tmp_path):
    before = train(tiny("train.steps=2"), tiny_recording, tmp_path / "run", progress=False)
    start = _simulator_weights(before.model)
    after = train(tiny("train.steps=3", "train.ema_decay=0.5"), tiny_recording, tmp_path / "run", resume=True,
                  progress=False)
    end, averaged = _simulator_weights(after.model), _simulator_weights(after.ema)
    for name, _ in after.model.simulator.named_parameters():
        assert torch.allclose(averaged[name], (start[name] + end[name]) / 2, atol=1e-6), name
