"""Building blocks of the GameGAN discriminators, all spectrally normalised.

Three parts share one per-frame feature extractor (`FrameEncoder`):
- `FrameHead`: real/fake per frame, a global logit on pooled features and a patch logit per
  feature-map cell;
- `TransitionHead`: features of a pair (x_t, x_{t+1}) -> a transition vector, scored together
  with an action embedding (the action-conditioned discriminator), and decoded back to the
  action and the noise z (the info head);
- `TemporalHead`: the feature maps of a whole sequence through 3-D convolutions, a logit per
  time position at each of several temporal scales (time halves from one scale to the next).

Every conv, linear and embedding weight is wrapped in
`torch.nn.utils.parametrizations.spectral_norm`, which keeps each layer 1-Lipschitz and is
what makes hinge GAN training on small batches stable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

LEAK = 0.2


def _sn(layer: nn.Conv2d | nn.Conv3d | nn.Linear) -> nn.Module:
    # Orthogonal weights and zero biases (as in BigGAN's D): with PyTorch's default uniform
    # biases the input-dependent part of a deep 1-Lipschitz stack starts out buried under
    # the biases, and the heads take many more steps to start learning.
    nn.init.orthogonal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return spectral_norm(layer)


def sn_conv2d(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Module:
    return _sn(nn.Conv2d(cin, cout, kernel, stride, padding))


def sn_conv3d(cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int],
              padding: tuple[int, int, int]) -> nn.Module:
    return _sn(nn.Conv3d(cin, cout, kernel, stride, padding))


def sn_linear(cin: int, cout: int) -> nn.Module:
    return _sn(nn.Linear(cin, cout))


def _act() -> nn.Module:
    return nn.LeakyReLU(LEAK)


class FrameEncoder(nn.Module):
    """A frame (3, S, S) -> feature maps after each block; the last is (out_channels, S/8, S/8).

    Three stride-2 4x4 convolutions (widths c, 2c, 4c). Strided convolutions without a
    full-resolution layer keep the extractor cheap: it runs on every real and generated frame
    of every sequence, which dominates the discriminators' cost.
    """

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        widths = [3, channels, 2 * channels, 4 * channels]
        self.blocks = nn.ModuleList(
            nn.Sequential(sn_conv2d(cin, cout, 4, stride=2, padding=1), _act())
            for cin, cout in zip(widths[:-1], widths[1:])
        )
        self.out_channels = widths[-1]

    def forward(self, x: Tensor) -> list[Tensor]:
        # x: (N, 3, S, S) -> [(N, c, S/2, S/2), (N, 2c, S/4, S/4), (N, 4c, S/8, S/8)]
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps


class FrameHead(nn.Module):
    """Single-frame real/fake logits: a global one from pooled features, one per map cell."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.global_head = sn_linear(channels, 1)
        self.patch_head = sn_conv2d(channels, 1, 1)

    def forward(self, fmap: Tensor) -> tuple[Tensor, Tensor]:
        # fmap: (N, C, h, w) -> global (N,), patch (N, h*w)
        pooled = fmap.sum(dim=(-2, -1))  # (N, C), global sum pooling as in SNGAN
        return self.global_head(pooled).squeeze(-1), self.patch_head(fmap).flatten(1)


CORR_OFFSETS = 9  # the 3x3 neighbourhood of a feature-map cell


def local_correlation(a: Tensor, b: Tensor) -> Tensor:
    """How well each cell of `a` matches each of the 3x3 neighbouring cells of `b`.

    a, b: (N, C, h, w) -> (N, 9, h, w), channel k = <a(y, x), b(y + dy, x + dx)> / C for the
    k-th offset (dy, dx) in row-major order (zero outside the map). Summed over the map,
    channel k says how much of the picture moved by (dy, dx): a direct motion signal that
    survives pooling, which a stack of convolutions and leaky ReLUs only finds slowly.
    """
    h, w = a.shape[-2:]
    padded = F.pad(b, (1, 1, 1, 1))
    return torch.stack(
        [(a * padded[:, :, dy:dy + h, dx:dx + w]).mean(1) for dy in range(3) for dx in range(3)], dim=1,
    )


class TransitionHead(nn.Module):
    """The action-conditioned discriminator and the info head, on one transition trunk.

    The trunk reads the encoder's stride-4 maps rather than its last (stride-8) ones, because
    a game step moves a sprite by a few pixels. It mixes the two frames' maps and their local
    correlation cell by cell (1x1 conv), looks at neighbouring cells (3x3, stride 2), and
    sum-pools to a transition vector u. `score(u, a)` is an MLP on [u, embed(a)]; `info(u)`
    decodes a_t (logits over the actions) and z_t with one linear layer.

    The info path is kept shallow on purpose: each spectrally normalised layer can only
    shrink a signal, and with one more hidden layer the info head sat at chance for many more
    steps before it began to read the action (measured on moving-sprite pairs).
    """

    def __init__(self, *, in_channels: int, channels: int, n_actions: int, z_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            sn_conv2d(2 * in_channels + CORR_OFFSETS, in_channels, 1), _act(),
            sn_conv2d(in_channels, channels, 3, stride=2, padding=1), _act(),
        )
        self.embed = spectral_norm(nn.Embedding(n_actions, embed_dim))
        self.score_mlp = nn.Sequential(sn_linear(channels + embed_dim, channels), _act(), sn_linear(channels, 1))
        self.info_mlp = sn_linear(channels, n_actions + z_dim)
        self.n_actions = n_actions

    def transition(self, f_t: Tensor, f_t1: Tensor) -> Tensor:
        # f_t, f_t1: (N, C_in, S/4, S/4) -> u: (N, C)
        x = torch.cat([f_t, f_t1, local_correlation(f_t, f_t1)], dim=1)  # (N, 2 C_in + 9, S/4, S/4)
        return self.trunk(x).sum(dim=(-2, -1))

    def score(self, u: Tensor, actions: Tensor) -> Tensor:
        # u: (N, C), actions: (N,) long -> (N,)
        return self.score_mlp(torch.cat([u, self.embed(actions)], dim=-1)).squeeze(-1)

    def info(self, u: Tensor) -> tuple[Tensor, Tensor]:
        # u: (N, C) -> action logits (N, A), z prediction (N, Z)
        out = self.info_mlp(u)
        return out[:, : self.n_actions], out[:, self.n_actions:]


class TemporalHead(nn.Module):
    """Sequence realism at `scales` temporal scales from per-frame feature maps.

    The first 3-D conv keeps time and halves space; each further one halves time (stride 2,
    padding 1, so any length >= 1 works: T=4 gives 4, 2, 1 positions). Each scale pools space
    and scores every remaining time position, so scale s sees roughly 3 * 2^s frames.
    """

    def __init__(self, *, channels: int, width: int, scales: int) -> None:
        super().__init__()
        if scales < 1:
            raise ValueError(f"temporal_scales must be >= 1, got {scales}")
        blocks = [nn.Sequential(sn_conv3d(channels, width, (3, 3, 3), (1, 2, 2), (1, 1, 1)), _act())]
        blocks += [
            nn.Sequential(sn_conv3d(width, width, (3, 3, 3), (2, 1, 1), (1, 1, 1)), _act())
            for _ in range(scales - 1)
        ]
        self.blocks = nn.ModuleList(blocks)
        self.heads = nn.ModuleList(sn_linear(width, 1) for _ in range(scales))

    def forward(self, fseq: Tensor) -> list[Tensor]:
        # fseq: (B, T, C, h, w) -> per scale s: (B, T_s) with T_0 = T, T_s = ceil(T_{s-1} / 2)
        x = fseq.transpose(1, 2)  # (B, C, T, h, w): Conv3d wants channels before time
        logits = []
        for block, head in zip(self.blocks, self.heads):
            x = block(x)
            pooled = x.sum(dim=(-2, -1)).transpose(1, 2)  # (B, T_s, width)
            logits.append(head(pooled).squeeze(-1))
        return logits
