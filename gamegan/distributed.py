"""Data-parallel training under torchrun: process-group setup and gradient averaging.

GameGAN alternates G and D phases and freezes the other network during each, which
DistributedDataParallel's hooks handle badly (parameters whose `requires_grad` changes after
wrapping). Instead each phase averages its gradients across ranks with one all-reduce over a
flattened buffer after backward — the same arithmetic as DDP, without the hooks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistInfo:
    """Where this process stands in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the torchrun job described by the environment, if any (NCCL on CUDA, gloo otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    info = DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def broadcast_parameters(module: nn.Module, info: DistInfo) -> None:
    """Make every rank start from rank 0's weights and buffers."""
    if not info.enabled:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[nn.Parameter], info: DistInfo) -> None:
    """Average `.grad` over ranks with one collective; missing grads count as zero."""
    if not info.enabled:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def all_agree(flag: bool, info: DistInfo) -> bool:
    """True on every rank only if `flag` is true on every rank (e.g. 'this step's loss is finite')."""
    if not info.enabled:
        return flag
    t = torch.tensor([0.0 if flag else 1.0])
    dist.all_reduce(t)
    return bool(t.item() == 0.0)


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
