"""gamegan bench train: its FLOP count scales with the work and its rate follows from the time."""

from __future__ import annotations

import pytest

from gamegan.bench import bench_train
from gamegan.config import apply_overrides, preset


def test_flops_per_iteration_double_with_the_batch_and_the_rate_is_flops_over_time():
    base = apply_overrides(preset("tiny"), ["train.device=cpu", "train.batch_size=2"])
    one, two = bench_train(base, iters=1, warmup_iters=0), bench_train(
        apply_overrides(base, ["train.batch_size=4"]), iters=1, warmup_iters=0)
    assert one["gflop_per_iter"] > 0.1
    assert two["gflop_per_iter"] / one["gflop_per_iter"] == pytest.approx(2.0, rel=0.1)
    assert one["gflop_per_s"] == pytest.approx(one["gflop_per_iter"] / one["seconds_per_iter"], rel=0.05)
