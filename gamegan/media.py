"""Writing frames as GIFs and PNG strips, for `inspect`, training samples and play.

Frames are uint8 (H, W, 3) arrays. Pixel-art frames are upscaled with nearest-neighbour so
cells stay crisp; GIFs use an adaptive palette per frame, which is exact for our few colours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscale of (H, W, 3) by an integer factor."""
    if scale <= 1:
        return frame
    return frame.repeat(scale, axis=0).repeat(scale, axis=1)


def save_gif(frames: Sequence[np.ndarray] | np.ndarray, path: str | Path, fps: float = 10.0, scale: int = 4) -> Path:
    """Write frames (N, H, W, 3) uint8 as a looping GIF; returns the path."""
    if len(frames) == 0:
        raise ValueError("cannot write a GIF with no frames")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(upscale(np.asarray(f, dtype=np.uint8), scale)) for f in frames]
    # GIF delays are in whole hundredths of a second; PIL takes milliseconds.
    duration = max(20, int(round(1000 / fps / 10)) * 10)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0,
                   optimize=False, disposal=1)
    return path


def save_png(frame: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """Write one (H, W, 3) uint8 image as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(upscale(np.asarray(frame, dtype=np.uint8), scale)).save(path)
    return path


def grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile rows of equally sized (H, W, 3) frames into one image with `pad` px gutters."""
    h, w = np.asarray(rows[0][0]).shape[:2]
    n_cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) - pad, n_cols * (w + pad) - pad, 3), pad_value, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            out[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = frame
    return out


def read_gif_frames(path: str | Path) -> list[np.ndarray]:
    """All frames of a GIF as (H, W, 3) uint8 arrays (used by tests and tooling)."""
    frames = []
    with Image.open(path) as image:
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB")))
    return frames
