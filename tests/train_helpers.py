"""Configs for the short training runs tests make themselves."""

from __future__ import annotations

from gamegan.config import Config, apply_overrides, preset


def tiny(*overrides: str) -> Config:
    """The `tiny` preset on the CPU, logging every step and never writing samples."""
    base = ["train.log_every=1", "train.sample_every=1000", "train.device=cpu"]
    return apply_overrides(preset("tiny"), base + list(overrides))
