"""Frame encoder: x_t (B, 3, S, S) in [-1, 1] -> s_t (B, out_dim), the dynamics engine's
view of the current frame."""

from __future__ import annotations

from torch import Tensor, nn

from gamegan.model.layers import LEAK, act, conv3x3, pyramid


class Encoder(nn.Module):
    """Stride-2 convs (width doubling up to 4x `channels`) down to <= 4x4, then a Linear.

    Works for any frame side (32, 64, 84, 128, ...): every conv maps n -> ceil(n / 2), and
    the Linear is sized from the resulting grid.
    """

    def __init__(self, *, frame_size: int, channels: int, out_dim: int):
        super().__init__()
        sizes = pyramid(frame_size, smallest=4)  # e.g. [4, 8, 16, 32, 64]
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(len(sizes) - 1):
            c_out = channels * min(2**i, 4)
            layers += [conv3x3(c_in, c_out, stride=2), nn.LeakyReLU(LEAK)]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        self.frame_size = frame_size
        self.proj = nn.Linear(c_in * sizes[0] * sizes[0], out_dim)

    def forward(self, frame: Tensor) -> Tensor:
        """(N, 3, S, S) -> (N, out_dim)."""
        if frame.shape[-3:] != (3, self.frame_size, self.frame_size):
            s = self.frame_size
            raise ValueError(f"encoder expects (N, 3, {s}, {s}) frames, got {tuple(frame.shape)}")
        x = self.convs(frame)  # (N, C, r, r)
        return act(self.proj(x.flatten(1)))  # (N, out_dim)
