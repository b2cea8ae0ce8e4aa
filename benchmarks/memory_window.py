"""The windowed memory's read and write: FFT against a direct grouped convolution (training,
soft attention) and against slicing (play, one-hot attention). One JSON line of ms per call.

    python benchmarks/memory_window.py            # training: batch 8, 41 x 41 x 128; play: batch 1, 129 x 129 x 32
"""

from __future__ import annotations

import json
import time

import torch
import torch.nn.functional as F

from gamegan.model.memory import Memory


def _ms(fn, repeat: int = 10) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return round((time.perf_counter() - start) / repeat * 1e3, 2)


def direct_read(memory: torch.Tensor, alpha: torch.Tensor, window: int) -> torch.Tensor:
    """The same read as a grouped convolution of the padded grid with alpha (the slow way)."""
    b, n = alpha.shape[:2]
    c, d = window // 2, memory.shape[-1]
    grid = F.pad(memory.transpose(1, 2).reshape(1, b * d, n, n), (c, c, c, c))
    kernel = alpha[:, None].expand(b, d, n, n).reshape(b * d, 1, n, n)
    return F.conv2d(grid, kernel, groups=b * d).view(b, d, window, window)


def main() -> None:
    torch.manual_seed(0)
    w = 15
    b, n, d = 8, 41, 128  # training: soft attention, forward and backward
    memory = torch.randn(b, n * n, d, requires_grad=True)
    alpha = torch.softmax(torch.randn(b, n * n), -1).view(b, n, n).requires_grad_()
    train = {name: _ms(lambda f=f: f(memory, alpha, w).sum().backward())
             for name, f in (("fft", Memory.read_window), ("direct_conv", direct_read))}
    b, n, d = 1, 129, 32  # play: one-hot attention, inference
    memory, alpha = torch.randn(b, n * n, d), torch.zeros(b, n, n)
    alpha[0, n // 2, n // 2] = 1
    patch = torch.rand(b, d, w, w)
    with torch.inference_mode():
        play = {"read_fft": _ms(lambda: Memory.read_window(memory, alpha, w)),
                "read_slice": _ms(lambda: Memory.read_window_at(memory, alpha, w)),
                "write_fft": _ms(lambda: Memory.write_window(memory, alpha, patch, patch)),
                "write_slice": _ms(lambda: Memory.write_window_at(memory, alpha, patch, patch))}
    print(json.dumps({"threads": torch.get_num_threads(), "train_read_fwd_bwd_ms": train, "play_ms": play}))


if __name__ == "__main__":
    main()
