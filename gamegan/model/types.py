"""The data that flows between the simulator, the losses, the trainer, play and eval.

Conventions: frames are float tensors in [-1, 1] shaped (B, T, 3, H, W); `actions[:, t]` is
applied to `frames[:, t]` and produces `frames[:, t + 1]`, so a window of T frames has T - 1
actions. Every model kind (GameGAN and the baselines) speaks these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Protocol

import torch
from torch import Tensor, nn


@dataclass
class Batch:
    """One training batch of sequence windows."""

    frames: Tensor  # (B, T, 3, H, W) float in [-1, 1]
    actions: Tensor  # (B, T-1) long
    wrong_actions: Tensor  # (B, T-1) long, each != actions (for the action discriminator)
    agent: Tensor | None = None  # (B, T, 1, H, W) bool: the data's agent mask (its character's pixels), when asked for

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        def move(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.to(device, non_blocking=non_blocking)
        return Batch(*(move(getattr(self, f.name)) for f in fields(self)))


@dataclass
class SimState:
    """Recurrent state of a simulator between steps.

    `frame` is the current frame (the one the next action is applied to). Fields a model does
    not use stay None (e.g. `memory` without the memory module). `extra` holds model-specific
    tensors (e.g. a World Models latent).
    """

    frame: Tensor  # (B, 3, H, W)
    h: Tensor | None = None  # (B, H_dim) engine hidden state
    c: Tensor | None = None  # (B, H_dim) engine cell state
    memory: Tensor | None = None  # (B, N*N, D) memory grid, cells flattened row-major
    alpha: Tensor | None = None  # (B, N, N) attention over memory cells
    read: Tensor | None = None  # (B, D) last memory read m_{t-1}
    extra: dict[str, Tensor] = field(default_factory=dict)

    def detach(self) -> "SimState":
        def d(x: Any) -> Any:
            return x.detach() if isinstance(x, Tensor) else x
        return SimState(
            frame=d(self.frame), h=d(self.h), c=d(self.c), memory=d(self.memory),
            alpha=d(self.alpha), read=d(self.read), extra={k: d(v) for k, v in self.extra.items()},
        )


@dataclass
class Rollout:
    """Everything a rollout over a window produced, one entry per predicted frame (T-1 of them).

    `frames[:, t]` is the prediction of the real `frames[:, t + 1]`. Optional fields are None
    when the model has no such part (no memory, simple renderer, deterministic model).
    """

    frames: Tensor  # (B, T-1, 3, H, W) predictions in [-1, 1]
    # Real frames fed (clamped to [1, T-1]): frames[:, t] for t >= warmup came from the model's own.
    warmup: int = 1
    z: Tensor | None = None  # (B, T-1, Z) noise used at each step
    components: Tensor | None = None  # (B, T-1, K, 3, H, W) per-component RGB
    masks: Tensor | None = None  # (B, T-1, K, 1, H, W) fine masks, sum to 1 over K (with `copy`)
    copy: Tensor | None = None  # (B, T-1, 1, H, W) share of each step's input frame kept (renderer_input)
    alphas: Tensor | None = None  # (B, T-1, N, N) memory attention after each step
    hidden: Tensor | None = None  # (B, T-1, H_dim) engine hidden states
    final_state: SimState | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)


def rollout_shape(frames: Tensor, actions: Tensor, warmup: int) -> tuple[int, int, int]:
    """Check rollout inputs; returns (batch B, predicted steps T-1, warm-up clamped to [1, T-1])."""
    b, t_all = frames.shape[:2]
    n = t_all - 1
    if n < 1 or actions.shape != (b, n):
        raise ValueError(f"rollout: expected frames (B, T>=2, ...) and actions (B, T-1), got "
                         f"{tuple(frames.shape)} and {tuple(actions.shape)}")
    return b, n, min(max(int(warmup), 1), n)


class Simulator(Protocol):
    """What play and eval drive. `warmup` consumes real frames; `step` predicts one frame."""

    def warmup(self, frames: Tensor, actions: Tensor) -> SimState:
        """Feed (B, T0, 3, H, W) real frames and their (B, T0-1) actions; the state's `frame`
        is the last real frame, ready for `step`."""
        ...

    def step(self, state: SimState, action: Tensor, z: Tensor | None = None) -> tuple[Tensor, SimState, dict[str, Tensor]]:
        """Apply (B,) actions to `state.frame`: returns the next frame (B, 3, H, W), the new
        state, and extras ('components' (B, K, 3, H, W), 'masks' (B, K, 1, H, W), ...)."""
        ...

    def rollout(self, frames: Tensor, actions: Tensor, warmup: int, z: Tensor | None = None) -> Rollout:
        """Predict frames[:, 1:] from frames[:, 0] and actions; the first `warmup` inputs are
        real frames, later ones the model's own detached outputs."""
        ...


@dataclass
class StepContext:
    """Per-iteration facts the losses need, plus a scratch dict shared by the phases of one
    iteration (the G phase leaves its rollout there for the D phase)."""

    step: int
    warmup: int
    scratch: dict[str, Any] = field(default_factory=dict)


LossFn = Callable[[Batch, StepContext], "tuple[Tensor, dict[str, float]]"]


@dataclass
class Phase:
    """One optimiser update per iteration: which parameters, and the loss that drives them.

    The trainer builds one Adam per phase and runs phases in order each iteration (GameGAN:
    G then D). Parameters of modules outside `module` must not be stepped by this phase; the
    trainer zeroes all grads before each phase and freezes the other phases' modules.
    """

    name: str
    module: nn.Module
    loss: LossFn
