"""Rendering engines: engine state (h_t and the memory read m_t) -> frame.

Both return a `Rendered` (frame, per-component RGB, fine masks), so the generator and the
losses never branch on which one is in use:
- `SimpleRenderer` (K = 1): Linear -> coarse feature map -> residual up-sampling -> tanh.
- `DisentanglingRenderer` (K >= 2): each component draws its own RGB image and mask logit
  from its own code; softmax masks blend them. With memory, component 0 is the static world
  drawn from the memory read and components 1..K-1 the dynamic ones drawn from h_t.

Both decode from the coarsest map (8x8 at 32/64 px) up to half resolution with residual
up-sampling blocks and paint the full frame with a sub-pixel conv (`SubPixelOut`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gamegan.model.layers import ResUpBlock, SubPixelOut, act, conv3x3, pyramid

ROUGH_MAX = 8
"""The coarsest map side: renderers start at the first pyramid size <= this (8 for 32/64 px)."""


class Rendered(NamedTuple):
    """What a renderer draws for N states."""

    frame: Tensor  # (N, 3, S, S) in [-1, 1]
    components: Tensor  # (N, K, 3, S, S) per-component RGB in [-1, 1]
    masks: Tensor | None  # (N, K, 1, S, S) fine masks; None for a static-only render
    copy: Tensor | None = None  # (N, 1, S, S) share of the input frame kept; masks + copy sum to 1


def feature_levels(frame_size: int) -> tuple[list[int], int]:
    """(feature map sizes, output size): the decoder works from the coarsest size <= ROUGH_MAX
    up to half resolution, and a sub-pixel conv paints the full frame (64 -> [8, 16, 32])."""
    sizes = pyramid(frame_size, ROUGH_MAX)
    if len(sizes) < 3:
        raise ValueError(f"frame_size {frame_size} is too small: the renderer needs at least one "
                         f"up-sampling block (frames of 17 px or more)")
    return sizes[:-1], frame_size


def widths(n_levels: int, channels: int) -> list[int]:
    """Feature widths from the coarsest level to the finest (half resolution): `channels`
    at the finest, doubling per halving, capped at 8x (64 px, 16 -> [64, 32, 16])."""
    return [channels * min(2 ** (n_levels - 1 - i), 8) for i in range(n_levels)]


class InputFeatures(nn.Module):
    """x_t (N, 3, S, S) -> feature maps at the decoder's sizes, coarse to fine.

    Stride-2 convs from the frame down to the rough size; the map at each decoder size has
    that level's width (`channels[i]`), so it can be added to the decoder's features there.
    """

    def __init__(self, channels: list[int]):
        super().__init__()
        c_in, convs = 3, []
        for c_out in reversed(channels):  # fine to coarse: S/2, S/4, ..., r
            convs.append(conv3x3(c_in, c_out, stride=2))
            c_in = c_out
        self.convs = nn.ModuleList(convs)

    def forward(self, frame: Tensor) -> list[Tensor]:
        maps, x = [], frame
        for i, conv in enumerate(self.convs):
            x = conv(x if i == 0 else act(x))
            maps.append(x)
        return maps[::-1]


class SimpleRenderer(nn.Module):
    """One decoder for the whole frame (K = 1); the code is h_t, or [h_t, m_t] with memory."""

    def __init__(self, *, frame_size: int, code_dim: int, channels: int, renderer_input: bool = False):
        super().__init__()
        self.renderer_input = renderer_input
        self.sizes, self.frame_size = feature_levels(frame_size)  # e.g. [8, 16, 32], 64
        self.widths = widths(len(self.sizes), channels)
        r = self.sizes[0]
        self.proj = nn.Linear(code_dim, self.widths[0] * r * r)
        self.blocks = nn.ModuleList(
            ResUpBlock(c_in=c_in, c_out=c_out, modulated=False) for c_in, c_out in zip(self.widths, self.widths[1:])
        )
        self.to_rgb = SubPixelOut(self.widths[-1], 4 if renderer_input else 3)  # RGB (+ copy logit)
        if renderer_input:
            self.see_input = InputFeatures(self.widths)  # added to the decoder at every size

    def forward(self, hidden: Tensor, read: Tensor | None = None, *, previous: Tensor | None = None,
                static_only: bool = False) -> Rendered:
        """hidden (N, H), read (N, D) or None -> Rendered with K = 1.

        With `renderer_input`, `previous` (N, 3, S, S) is the input frame x_t: its features
        join the decoder at every size and a sigmoid copy mask blends it in; without
        `previous` the frame is drawn from the code alone.
        """
        if static_only:
            raise ValueError("the simple renderer has no static component")
        code = hidden if read is None else torch.cat([hidden, read], dim=-1)  # (N, code_dim)
        r = self.sizes[0]
        x = self.proj(code).view(-1, self.widths[0], r, r)  # (N, C0, r, r)
        seen = self.see_input(previous) if self.renderer_input and previous is not None else None
        if seen is not None:
            x = x + seen[0]
        for i, (block, size) in enumerate(zip(self.blocks, self.sizes[1:])):
            x = block(x, size)  # (N, C_i, S_i, S_i)
            if seen is not None:
                x = x + seen[i + 1]
        out = self.to_rgb(act(x), self.frame_size)  # (N, 3 or 4, S, S)
        drawn = torch.tanh(out[:, :3])  # (N, 3, S, S)
        if previous is None or not self.renderer_input:
            return Rendered(drawn, drawn[:, None], torch.ones_like(drawn[:, None, :1]))
        copy = torch.sigmoid(out[:, 3:4])  # (N, 1, S, S)
        return Rendered(drawn + copy * (previous - drawn), drawn[:, None], (1 - copy)[:, None], copy)


def window_grid(window: int, frame_size: int, size: int) -> Tensor:
    """Where each cell of a size x size map of the frame lies in a W x W window of memory cells,
    as `grid_sample` coordinates (1, size, size, 2). The window covers the frame's centred
    W * (S // W) pixels, one cell per S // W px (64 px over 15 cells: 60 px, 2 px border),
    which is where a view that scrolls one cell per move puts its cells."""
    cell = frame_size // window
    pad = (frame_size - window * cell) / 2
    centres = (torch.arange(size, dtype=torch.float64) + 0.5) * frame_size / size  # in px
    x = ((centres - pad) / (window * cell) * 2 - 1).float()
    gy, gx = torch.meshgrid(x, x, indexing="ij")
    return torch.stack([gx, gy], dim=-1)[None]


class WindowToFrame(nn.Module):
    """A window of memory cells (N, D, W, W) -> a 1x1 conv of it laid onto a size x size map of
    the frame (N, C, size, size), each cell where the view shows it (zero outside the window)."""

    def __init__(self, read_dim: int, out_channels: int, *, window: int, frame_size: int, size: int):
        super().__init__()
        self.conv = nn.Conv2d(read_dim, out_channels, 1)
        self.register_buffer("grid", window_grid(window, frame_size, size), persistent=False)

    def forward(self, window: Tensor) -> Tensor:
        x = self.conv(window)
        grid = self.grid.to(x.dtype).expand(x.shape[0], -1, -1, -1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class WindowRough(WindowToFrame):
    """Component 0's rough map from a window read, flattened (N, C*r*r) as `to_rough` gives it."""

    def forward(self, window: Tensor) -> Tensor:
        return super().forward(window).flatten(1)


class DisentanglingRenderer(nn.Module):
    """K components, one shared SPADE-style decoder, softmax fine masks.

    Per component k: a rough map (1 + A channels at the coarsest size r) from its code, split
    into an object map O_k = sigmoid(first channel) and attribute map A_k; the condition is
    [O_k * A_k, O_k * v_k] with v_k a learned type vector broadcast over O_k. The decoder is
    shared by all components (they run as one batch of N*K); the type vector is how it tells
    them apart. It starts from a conv of the condition and modulates every normalisation
    with per-pixel gamma/beta computed from the condition.

    Latency choice: gamma/beta are computed once, at the rough map's resolution r, for every
    block, and nearest-upsampled to each block's size. SPADE computes them with convs on the
    nearest-upsampled map at full resolution; since that map is piecewise constant on r-cells
    the two differ only within a pixel of cell boundaries, and ours costs a few percent of
    SPADE's per-block 3x3 convs.

    Codes: with memory (`read_dim` set) component 0 is drawn from the memory read m_t and
    components 1..K-1 from K-1 codes split off a projection of h_t. Without memory all K
    codes come from that projection (there is nothing else to draw a static world from).

    `renderer_input` (not in GameGAN) shows the renderer the input frame x_t twice: as one more
    competitor in the mask softmax (its logit the sum of a fifth output channel over the
    components), so pixels that do not change (walls, uneaten pellets) can be kept instead of
    redrawn from a vector; and as feature maps at every decoder size (`InputFeatures`: the
    rough one joins the dynamic components' condition, finer ones add to their decoder
    features, like a U-Net's skips), so a sprite is drawn next to where it was instead of
    from a position coded in h_t. On a CPU budget that is the difference between a maze
    without sprites and a playable model. The static component never sees x_t: it stays
    what memory holds (the cycle loss redraws it from memory alone).
    """

    def __init__(
        self, *, frame_size: int, hidden_dim: int, read_dim: int | None, n_components: int, code_dim: int,
        attribute_channels: int, channels: int, mask_temperature: float, renderer_input: bool = False,
        read_window: int = 0,
    ):
        super().__init__()
        self.renderer_input = renderer_input
        if n_components < 2:
            raise ValueError(f"the disentangling renderer needs n_components >= 2, got {n_components}")
        self.n_components, self.has_static = n_components, read_dim is not None
        self.mask_temperature = mask_temperature
        self.sizes, self.frame_size = feature_levels(frame_size)
        self.widths = widths(len(self.sizes), channels)
        r, a = self.sizes[0], attribute_channels
        n_from_h = n_components - 1 if self.has_static else n_components
        self.to_codes = nn.Linear(hidden_dim, n_from_h * code_dim)
        code_dims = ([read_dim] if self.has_static else []) + [code_dim] * n_from_h
        self.to_rough = nn.ModuleList(nn.Linear(d, (1 + a) * r * r) for d in code_dims)
        self.window_skips = None
        if read_window and self.has_static:
            # A windowed memory read is already a map: component 0's rough map is a 1x1 conv of
            # it, and every finer decoder size gets it as a skip (the world at that resolution).
            self.to_rough[0] = WindowRough(read_dim, 1 + a, window=read_window, frame_size=frame_size, size=r)
            self.window_skips = nn.ModuleList(
                WindowToFrame(read_dim, c, window=read_window, frame_size=frame_size, size=size)
                for c, size in zip(self.widths[1:], self.sizes[1:]))
        self.types = nn.Parameter(torch.randn(n_components, a))  # v_k
        cond = 3 * a if renderer_input else 2 * a
        if renderer_input:
            # The rough level joins the condition (A channels); finer ones add to the decoder.
            self.see_input = InputFeatures([a] + self.widths[1:])
        self.stem = conv3x3(cond, self.widths[0])
        self.blocks = nn.ModuleList(
            ResUpBlock(c_in=c_in, c_out=c_out, modulated=True) for c_in, c_out in zip(self.widths, self.widths[1:])
        )
        # Every block's (gamma, beta) for both of its norms, in one 1x1 conv: sizes below.
        self.mod_split = [2 * c for block in self.blocks for c in (block.c_in, block.c_out)]
        self.mod_hidden = conv3x3(cond, max(self.widths[0] // 2, cond))
        self.mod_out = nn.Conv2d(self.mod_hidden.out_channels, sum(self.mod_split), 1)
        self.to_out = SubPixelOut(self.widths[-1], 5 if renderer_input else 4)  # RGB + mask logit (+ copy logit)
        # 1x1 conv over the K (+1 copy) logits before the softmax; starts as the identity.
        n_logits = n_components + renderer_input
        self.mask_mix = nn.Conv2d(n_logits, n_logits, 1)
        with torch.no_grad():
            self.mask_mix.weight.copy_(torch.eye(n_logits)[:, :, None, None])
            self.mask_mix.bias.zero_()

    def forward(self, hidden: Tensor | None, read: Tensor | None = None, *, previous: Tensor | None = None,
                static_only: bool = False) -> Rendered:
        """hidden (N, H), read (N, D) -> Rendered with K components.

        With `renderer_input`, `previous` (N, 3, S, S) is the input frame x_t and competes in the
        mask softmax; without it the K components share the masks among themselves.
        `static_only` draws component 0 from `read` alone (for the memory cycle loss):
        `frame` is then its RGB, `components` (N, 1, 3, S, S), `masks` None.
        """
        codes = self._codes(hidden, read, static_only)  # K' tensors (N, d_k)
        rough = torch.stack([lin(code) for lin, code in zip(self.to_rough, codes)], dim=1)  # (N, K', (1+A)*r*r)
        n, k = rough.shape[:2]
        r = self.sizes[0]
        rough = rough.view(n * k, -1, r, r)  # (N*K', 1+A, r, r), component-minor
        obj, attr = torch.sigmoid(rough[:, :1]), rough[:, 1:]  # (N*K', 1, r, r), (N*K', A, r, r)
        types = self.types[:k].expand(n, k, -1).reshape(n * k, -1)[:, :, None, None]  # (N*K', A, 1, 1)
        cond = torch.cat([obj * attr, obj * types], dim=1)  # (N*K', 2A, r, r)
        seen = self._input_features(previous, n, k, cond) if self.renderer_input else None
        if seen is not None:
            cond = torch.cat([cond, seen[0]], dim=1)  # (N*K', 3A, r, r)
        skips = None if seen is None else seen[1:]
        if self.window_skips is not None:
            skips = self._window_skips(codes[0], n, k, skips)
        out = self._decode(cond, skips)  # (N*K', 4 or 5, S, S)
        s = out.shape[-1]
        rgb = torch.tanh(out[:, :3]).view(n, k, 3, s, s)  # (N, K', 3, S, S)
        if static_only:
            return Rendered(rgb[:, 0], rgb, None)
        logits = out[:, 3].view(n, k, s, s)  # (N, K, S, S)
        if self.renderer_input:
            copy_logit = out[:, 4].view(n, k, s, s).sum(1, keepdim=True)  # (N, 1, S, S)
            logits = self.mask_mix(torch.cat([logits, copy_logit], dim=1))
        else:
            logits = self.mask_mix(logits)
        copying = self.renderer_input and previous is not None
        # Without an input frame there is nothing to copy: the components share the masks.
        masks = torch.softmax(logits[:, : k + copying] / self.mask_temperature, dim=1)[:, :, None]
        frame = (masks[:, :k] * rgb).sum(dim=1)  # (N, 3, S, S)
        if not copying:
            return Rendered(frame, rgb, masks)
        copy = masks[:, k]  # (N, 1, S, S)
        return Rendered(frame + copy * previous, rgb, masks[:, :k], copy)

    def _codes(self, hidden: Tensor | None, read: Tensor | None, static_only: bool) -> list[Tensor]:
        if static_only:
            if not self.has_static:
                raise ValueError("this renderer has no static (memory) component")
            return [read]
        from_h = list(act(self.to_codes(hidden)).chunk(len(self.to_rough) - self.has_static, dim=-1))
        if self.has_static:
            if read is None:
                raise ValueError("this renderer draws component 0 from the memory read; pass `read`")
            return [read] + from_h
        return from_h

    def _input_features(self, previous: Tensor | None, n: int, k: int, like: Tensor) -> list[Tensor]:
        """x_t's feature maps at every decoder size for each dynamic component, zeros for the
        static one (and for all without an input frame): (N*K', C_i, s_i, s_i), coarse to fine."""
        maps = self.see_input(previous) if previous is not None else None
        dynamic = 1 if self.has_static else 0
        out = []
        for level, (c, s) in enumerate(zip([self.types.shape[1]] + self.widths[1:], self.sizes)):
            full = like.new_zeros(n, k, c, s, s)
            if maps is not None and k > dynamic:
                full[:, dynamic:] = maps[level][:, None]
            out.append(full.flatten(0, 1))
        return out

    def _window_skips(self, window: Tensor, n: int, k: int, skips: list[Tensor] | None) -> list[Tensor]:
        """The window read (N, D, W, W) resized to every finer decoder size, added to component
        0's skips (zeros for the others unless the input frame's features are there)."""
        out = []
        for i, to_frame in enumerate(self.window_skips):
            static = to_frame(window)  # (N, C, s, s)
            if skips is None:
                rest = static.new_zeros(n, k - 1, *static.shape[1:])
            else:
                rest = skips[i].view(n, k, *static.shape[1:])[:, 1:]
                static = static + skips[i].view(n, k, *static.shape[1:])[:, 0]
            out.append(torch.cat([static[:, None], rest], dim=1).flatten(0, 1))
        return out

    def _decode(self, cond: Tensor, skips: list[Tensor] | None = None) -> Tensor:
        """(M, 2A or 3A, r, r) condition -> (M, 4 or 5, S, S) RGB + logit pre-activations;
        `skips[i]` is added after block i (the input frame's features at that size)."""
        mods = self.mod_out(act(self.mod_hidden(cond))).split(self.mod_split, dim=1)  # 2 per block
        x = self.stem(cond)  # (M, C0, r, r)
        for i, (block, size) in enumerate(zip(self.blocks, self.sizes[1:])):
            x = block(x, size, mods[2 * i], mods[2 * i + 1])  # (M, C_i, S_i, S_i)
            if skips is not None:
                x = x + skips[i]
        return self.to_out(act(x), self.frame_size)
