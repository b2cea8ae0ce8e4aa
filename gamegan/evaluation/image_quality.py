"""Image quality per frame: PSNR and SSIM on float frames (..., 3, H, W) in [-1, 1]."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

PSNR_CAP_DB = 100.0
"""PSNR of identical frames (MSE 0) is reported as this, so every figure stays a finite number."""


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB per frame, on the [0, 1] range: (..., 3, H, W) -> (...)."""
    mse = ((pred.float() - target.float()) / 2).pow(2).mean(dim=(-3, -2, -1))
    return (10 * torch.log10(1.0 / mse.clamp_min(10 ** (-PSNR_CAP_DB / 10)))).clamp_max(PSNR_CAP_DB)


@lru_cache(maxsize=8)
def _band(n: int, size: int, sigma: float, device: torch.device) -> Tensor:
    """(n, n - size + 1) float64 matrix whose column k is the normalised Gaussian at rows k..k+size-1."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x**2 / (2 * sigma**2))
    band = torch.zeros(n, n - size + 1, dtype=torch.float64)
    for k in range(n - size + 1):
        band[k:k + size, k] = g / g.sum()
    return band.to(device)


def ssim(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Structural similarity per frame (Wang et al. 2004: Gaussian window, K1 = 0.01, K2 = 0.03,
    channels averaged, valid region only) on the [0, 1] range: (..., 3, H, W) -> (...)."""
    lead, (h, w) = pred.shape[:-3], pred.shape[-2:]
    # float64: the variances are differences of near-equal moments, which float32 rounds visibly.
    x = ((pred.double() + 1) / 2).reshape(-1, 1, h, w)  # (N*3, 1, H, W)
    y = ((target.double() + 1) / 2).reshape(-1, 1, h, w)
    size = min(window, h, w)
    # The five local moments, filtered separably as two matrix products with banded Gaussians
    # (much faster on CPU than float64 convolutions).
    maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (N*3, 5, H, W)
    maps = _band(h, size, sigma, x.device).T @ maps @ _band(w, size, sigma, x.device)  # (N*3, 5, H', W')
    mx, my, xx, yy, xy = maps.unbind(1)
    c1, c2 = 0.01**2, 0.03**2
    sxx, syy, sxy = xx - mx**2, yy - my**2, xy - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.mean(dim=(-2, -1)).reshape(*lead, 3).mean(-1).float()
