"""GameGAN: the generator (the simulator) and its discriminators, trained as two phases.

`GameGAN.phases(loss_cfg)` gives the trainer its schedule as data: phase "G" rolls the
generator out over the batch, leaves the detached rollout in `ctx.scratch["rollout"]` and
returns the generator loss; phase "D" scores that rollout against the real batch. The
trainer owns the optimisers, zeroes grads and freezes the other phase's module.
"""

from __future__ import annotations

from dataclasses import fields

from torch import Tensor, nn

from gamegan.config import LossConfig, ModelConfig
from gamegan.losses import discriminator_loss, generator_loss
from gamegan.model.discriminator import Discriminator
from gamegan.model.generator import Generator
from gamegan.model.types import Batch, Phase, Rollout, StepContext

ROLLOUT_KEY = "rollout"


def detach_rollout(rollout: Rollout) -> Rollout:
    """A copy of `rollout` cut from the graph (tensors detached, the final state too)."""
    values = {}
    for f in fields(rollout):
        value = getattr(rollout, f.name)
        if isinstance(value, Tensor):
            value = value.detach()
        elif f.name == "final_state" and value is not None:
            value = value.detach()
        elif f.name == "extra":
            value = {k: v.detach() for k, v in value.items()}
        values[f.name] = value
    return Rollout(**values)


class GameGAN(nn.Module):
    """The GameGAN model: `generator` (what play and eval drive) and `discriminator`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)

    @property
    def simulator(self) -> Generator:
        return self.generator

    def phases(self, loss_cfg: LossConfig) -> list[Phase]:
        """One G step, then one D step on the same rollout (DESIGN section 5, schedule)."""

        def g_loss(batch: Batch, ctx: StepContext) -> tuple[Tensor, dict[str, float]]:
            rollout = self.generator.rollout(batch.frames, batch.actions, ctx.warmup)
            ctx.scratch[ROLLOUT_KEY] = detach_rollout(rollout)
            return generator_loss(self.generator, self.discriminator, batch, rollout, loss_cfg)

        def d_loss(batch: Batch, ctx: StepContext) -> tuple[Tensor, dict[str, float]]:
            if ROLLOUT_KEY not in ctx.scratch:
                raise RuntimeError("the D phase needs the G phase's rollout: run phase 'G' first in each iteration")
            return discriminator_loss(self.discriminator, batch, ctx.scratch[ROLLOUT_KEY], loss_cfg, step=ctx.step)

        return [Phase("G", self.generator, g_loss), Phase("D", self.discriminator, d_loss)]
