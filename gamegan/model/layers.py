"""Small building blocks shared by the generator's modules.

Everything here is per-sample (no batch statistics), so a frame rendered alone at play time
equals the same frame rendered inside a training batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAK = 0.2
"""Negative slope of every LeakyReLU in the generator."""


def act(x: Tensor) -> Tensor:
    """The generator's nonlinearity (LeakyReLU 0.2)."""
    return F.leaky_relu(x, LEAK)


def pyramid(size: int, smallest: int) -> list[int]:
    """Spatial sizes from coarse to `size`, halving (rounding up) until <= `smallest`.

    A stride-2, padding-1, 3x3 conv maps n to ceil(n / 2), so the encoder walks this list
    backwards and the renderer forwards: 64 -> [8, 16, 32, 64], 84 -> [6, 11, 21, 42, 84].
    """
    sizes = [size]
    while sizes[-1] > smallest:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes[::-1]


def upsample(x: Tensor, size: int) -> Tensor:
    """Nearest-neighbour resize of (N, C, h, w) to (N, C, size, size).

    Integer factors use expand + reshape, which is 2-3x faster on CPU than F.interpolate at
    the feature sizes the renderer uses; other sizes (84 px pyramids) fall back to it.
    """
    n, c, h, w = x.shape
    if h == size and w == size:
        return x
    if size % h == 0 and size % w == 0 and size // h == size // w:
        return _Repeat.apply(x, size // h)
    return F.interpolate(x, size=(size, size), mode="nearest")


class _Repeat(torch.autograd.Function):
    """Integer-factor nearest upsampling whose backward is an average pool (times f^2): the
    gradient of expand + reshape is a strided sum that runs ~2x slower on CPU."""

    @staticmethod
    def forward(ctx, x: Tensor, f: int) -> Tensor:
        ctx.f = f
        n, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(n, c, h, f, w, f).reshape(n, c, h * f, w * f)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        f = ctx.f
        return F.avg_pool2d(grad, f) * (f * f), None


def mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    """Linear -> LeakyReLU -> Linear."""
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.LeakyReLU(LEAK), nn.Linear(d_hidden, d_out))


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)


class ResUpBlock(nn.Module):
    """Residual block that changes width c_in -> c_out and upsamples to a given size.

    norm -> act -> conv (c_in -> c_out) at the low resolution, norm -> act, upsample, conv at
    the high resolution; skip = upsample(1x1 conv(x)). Normalisation is GroupNorm without
    affine parameters; the affine part is either learned per channel (`modulated=False`) or
    supplied per pixel by the caller (SPADE-style, `modulated=True`).

    The second norm runs before the nearest upsample, not after: for integer factors the two
    are identical (upsampling repeats pixels, leaving group means and variances unchanged,
    and the caller's gamma/beta are nearest-upsampled too), and it costs a quarter as much.
    """

    def __init__(self, *, c_in: int, c_out: int, modulated: bool):
        super().__init__()
        self.c_in, self.c_out, self.modulated = c_in, c_out, modulated
        self.conv1 = conv3x3(c_in, c_out)
        self.conv2 = conv3x3(c_out, c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)
        if not modulated:
            self.affine1 = nn.Parameter(torch.zeros(2, c_in))  # (gamma - 1, beta) per channel
            self.affine2 = nn.Parameter(torch.zeros(2, c_out))

    def forward(self, x: Tensor, size: int, mod1: Tensor | None = None, mod2: Tensor | None = None) -> Tensor:
        """x: (N, c_in, h, h) -> (N, c_out, size, size). With `modulated`, mod1 (N, 2*c_in, r, r)
        and mod2 (N, 2*c_out, r, r) are gamma/beta maps at a resolution r dividing h."""
        h = self.conv1(act(self._norm(x, mod1, 1)))  # (N, c_out, h, h)
        h = act(self._norm(h, mod2, 2))
        h = self.conv2(upsample(h, size))  # (N, c_out, size, size)
        return h + upsample(self.skip(x), size)

    def _norm(self, x: Tensor, mod: Tensor | None, which: int) -> Tensor:
        c = x.shape[1]
        x = F.group_norm(x, _groups(c))
        if self.modulated:
            gamma, beta = upsample(mod, x.shape[-1]).chunk(2, dim=1)  # (N, C, H, W) each
        else:
            gamma, beta = getattr(self, f"affine{which}")[:, :, None, None]  # (C, 1, 1) each
        return x * (1 + gamma) + beta


class SubPixelOut(nn.Module):
    """Features at half resolution (N, C, h, h) -> (N, c_out, size, size), size <= 2h.

    A 3x3 conv to 4 * c_out channels, then pixel shuffle: each low-resolution cell paints
    its own 2x2 block of output pixels (ESPCN). It replaces a full-resolution block, which on
    CPU costs more than the rest of the decoder (narrow convs over 4x the pixels).
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = conv3x3(c_in, 4 * c_out)

    def forward(self, x: Tensor, size: int) -> Tensor:
        y = F.pixel_shuffle(self.conv(x), 2)  # (N, c_out, 2h, 2h)
        return y[:, :, :size, :size]  # odd sizes: ceil-halving made h one too big


def _groups(c: int) -> int:
    """Largest of 8, 4, 2, 1 that divides c (GroupNorm needs an exact split)."""
    for g in (8, 4, 2, 1):
        if c % g == 0:
            return g
    return 1
