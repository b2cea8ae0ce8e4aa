"""Build a model from its config: the one place that maps `ModelConfig.kind` to a class.

Every model exposes `phases(loss_config) -> list[Phase]` for the trainer and a `simulator`
(the `Simulator` API) for play and eval.
"""

from __future__ import annotations

from torch import nn

from gamegan.config import ConfigError, ModelConfig

MODEL_KINDS = ("gamegan", "action-lstm", "world-models")


def build_model(config: ModelConfig) -> nn.Module:
    """A fresh, randomly initialised model of `config.kind`."""
    if config.kind == "gamegan":
        from gamegan.model.gamegan import GameGAN

        return GameGAN(config)
    if config.kind == "action-lstm":
        from gamegan.model.baselines import ActionLSTM

        return ActionLSTM(config)
    if config.kind == "world-models":
        from gamegan.model.baselines import WorldModels

        return WorldModels(config)
    raise ConfigError(f"unknown model kind '{config.kind}' (choose from: {', '.join(MODEL_KINDS)})")
