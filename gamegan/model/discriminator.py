"""GameGAN's three discriminators (single-frame, action-conditioned, temporal) on one shared
per-frame feature extractor.

`Discriminator.forward(frames, actions, wrong_actions=None)` scores a whole sequence in one
pass: each frame is encoded once and every head reads those features. The losses call it
once per sequence batch (the D phase on real and generated sequences concatenated, so one
forward serves both). The small methods (`frame_logits`, `action_logits`, `info`,
`temporal_logits`, `features`) expose each head on raw frames, for tests and evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from gamegan.config import ModelConfig
from gamegan.model.disc_blocks import FrameEncoder, FrameHead, TemporalHead, TransitionHead


@dataclass
class DiscOutput:
    """Every head's output for a batch of sequences of T frames."""

    frame: Tensor  # (B, T) global single-frame logits
    patch: Tensor  # (B, T, P) patch logits, P = (S/8)^2
    action: Tensor  # (B, T-1) action-conditioned logits with the given actions
    wrong_action: Tensor | None  # (B, T-1) the same pairs with `wrong_actions`, if given
    info_action: Tensor  # (B, T-1, A) info head: logits of a_t from (x_t, x_{t+1})
    info_z: Tensor  # (B, T-1, Z) info head: prediction of z_t
    temporal: list[Tensor]  # per temporal scale s: (B, T_s)
    features: list[Tensor]  # per encoder block: (B, T, C_i, H_i, W_i), for feature matching


class Discriminator(nn.Module):
    """The single-frame, action-conditioned and temporal discriminators of GameGAN.

    Channel widths come from `config.disc_channels` (c): the frame encoder's blocks give
    c, 2c and 4c channels at strides 2, 4 and 8. The single-frame and temporal heads read the
    stride-8 map (the temporal 3-D convs are 2c wide); the transition trunk reads the stride-4
    map and pools to a 4c vector.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c = config.disc_channels
        self.encoder = FrameEncoder(channels=c)
        feat = self.encoder.out_channels
        self.frame_head = FrameHead(channels=feat)
        self.transition_head = TransitionHead(
            in_channels=2 * c, channels=feat, n_actions=config.n_actions, z_dim=config.z_dim, embed_dim=config.embed_dim,
        )
        self.temporal_head = TemporalHead(channels=feat, width=2 * c, scales=config.temporal_scales)
        self.frame_size = config.frame_size

    def forward(self, frames: Tensor, actions: Tensor, wrong_actions: Tensor | None = None) -> DiscOutput:
        """Score sequences: frames (B, T, 3, S, S) in [-1, 1], actions (B, T-1) long."""
        B, T = frames.shape[:2]
        if frames.shape[2:] != (3, self.frame_size, self.frame_size):
            raise ValueError(f"expected frames (B, T, 3, {self.frame_size}, {self.frame_size}), got {tuple(frames.shape)}")
        if T < 2 or actions.shape != (B, T - 1):
            raise ValueError(f"need T >= 2 frames and (B, T-1) actions, got frames {tuple(frames.shape)}, "
                             f"actions {tuple(actions.shape)}")
        maps = self.encoder(frames.flatten(0, 1))  # each (B*T, C_i, H_i, W_i)
        features = [m.unflatten(0, (B, T)) for m in maps]
        fseq = features[-1]  # (B, T, C, h, w)
        frame, patch = self.frame_head(maps[-1])  # (B*T,), (B*T, P)

        mid = features[-2]  # (B, T, 2c, S/4, S/4)
        u = self.transition_head.transition(mid[:, :-1].flatten(0, 1), mid[:, 1:].flatten(0, 1))  # (B*(T-1), 4c)
        flat_actions = actions.reshape(-1)
        action = self.transition_head.score(u, flat_actions).view(B, T - 1)
        wrong = None
        if wrong_actions is not None:
            wrong = self.transition_head.score(u, wrong_actions.reshape(-1)).view(B, T - 1)
        info_action, info_z = self.transition_head.info(u)

        return DiscOutput(
            frame=frame.view(B, T), patch=patch.view(B, T, -1), action=action, wrong_action=wrong,
            info_action=info_action.view(B, T - 1, -1), info_z=info_z.view(B, T - 1, -1),
            temporal=self.temporal_head(fseq), features=features,
        )

    def features(self, frames: Tensor) -> list[Tensor]:
        """Encoder activations of frames (..., 3, S, S): per block (..., C_i, H_i, W_i)."""
        lead = frames.shape[:-3]
        return [m.unflatten(0, lead) for m in self.encoder(frames.flatten(0, -4))]

    def frame_logits(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """Single-frame head on frames (N, 3, S, S): global (N,) and patch (N, P) logits."""
        return self.frame_head(self.encoder(frames)[-1])

    def _transition(self, x_t: Tensor, x_t1: Tensor) -> Tensor:
        return self.transition_head.transition(self.encoder(x_t)[-2], self.encoder(x_t1)[-2])

    def action_logits(self, x_t: Tensor, x_t1: Tensor, actions: Tensor) -> Tensor:
        """Action-conditioned head on pairs (N, 3, S, S) x 2 and actions (N,): logits (N,)."""
        return self.transition_head.score(self._transition(x_t, x_t1), actions)

    def info(self, x_t: Tensor, x_t1: Tensor) -> tuple[Tensor, Tensor]:
        """Info head on pairs (N, 3, S, S) x 2: action logits (N, A) and z prediction (N, Z)."""
        return self.transition_head.info(self._transition(x_t, x_t1))

    def temporal_logits(self, seq: Tensor) -> list[Tensor]:
        """Temporal heads on sequences (B, T, 3, S, S): per scale (B, T_s) logits."""
        return self.temporal_head(self.features(seq)[-1])
