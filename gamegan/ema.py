"""An exponential moving average of the simulator's weights (the generator EMA of StyleGAN).

A GAN's raw weights swing from one checkpoint to the next: on Pac-Man, checkpoints 100 steps
apart follow 79-98 % of the keys. The average over the last ~1/(1 - decay) steps plays far
more steadily, so when `train.ema_decay` is on, training updates the raw weights and keeps
the average beside them; play, eval and export use the average (`load_model`), `--resume`
restores both. Only the simulator is averaged: the discriminators are never played.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gamegan.config import ConfigError
from gamegan.model.upgrade import upgrade_tensors

EMA_PREFIX = "ema."
"""Checkpoint tensors `ema.<name>` hold the average of the model's tensor `<name>`."""


def simulator_prefix(model: nn.Module) -> str:
    """Where `model.simulator` sits in `model.state_dict()`: 'generator.' for GameGAN, '' for a
    baseline that is its own simulator."""
    for name, module in model.named_modules():
        if module is model.simulator:
            return f"{name}." if name else ""
    raise ValueError(f"{type(model).__name__}.simulator is not one of its submodules")


class SimulatorEMA:
    """The running average of `model.simulator`'s parameters; buffers follow the raw model
    (ours are constants, and averaging an integer buffer would round it)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"train.ema_decay must lie in [0, 1) (0 turns the average off), got {decay}")
        self.decay = decay
        self._prefix = simulator_prefix(model)
        # The first update copies the raw weights; every later one lerps towards them.
        self.averaged = AveragedModel(model.simulator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
        self.averaged.requires_grad_(False)

    @property
    def simulator(self) -> nn.Module:
        """The averaged simulator, ready to roll out (what samples and play should see)."""
        return self.averaged.module

    def update(self, model: nn.Module) -> None:
        """Move the average towards the model's current simulator weights."""
        self.averaged.update_parameters(model.simulator)

    def tensors(self) -> dict[str, Tensor]:
        """The averaged weights named as checkpoint tensors (`ema.` + the model's own name)."""
        return {f"{EMA_PREFIX}{self._prefix}{name}": t for name, t in self.simulator.state_dict().items()}

    def load(self, tensors: dict[str, Tensor]) -> None:
        """Take the average back from a checkpoint's `ema.` tensors (as `tensors` wrote them)."""
        state = {name: tensors[f"{EMA_PREFIX}{self._prefix}{name}"] for name in self.simulator.state_dict()}
        upgrade_tensors(self.simulator, state)
        self.simulator.load_state_dict(state)
        with torch.no_grad():
            self.averaged.n_averaged.fill_(1)  # an average exists: the next update must lerp, not copy
