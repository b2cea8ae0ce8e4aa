"""Checkpoints written by an older layout of a module: brought to today's before they load.

A module whose tensors changed shape or meaning defines `upgrade_tensors(tensors, prefix) ->
bool`, which rewrites its own entries of a state dict in place when they have the old layout
(and says whether it did); loading calls every such module first, so old runs and shipped
models keep loading, to the same outputs.
"""

from __future__ import annotations

from torch import Tensor, nn


def upgrade_tensors(model: nn.Module, tensors: dict[str, Tensor]) -> bool:
    """Rewrite `tensors` (a state dict of `model`, maybe of an older layout) to today's layout, in
    place; True if any module changed something."""
    changed = False
    for name, module in model.named_modules():
        if hasattr(module, "upgrade_tensors"):
            changed |= module.upgrade_tensors(tensors, f"{name}." if name else "")
    return changed
