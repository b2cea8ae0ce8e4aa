"""Training throughput: frames/s, seconds per G+D iteration, GFLOP per iteration and GFLOP/s,
peak memory, parameters.

Uses synthetic batches of the configured shape, so it measures the model's compute, not data
loading (data loading is measured separately and is far faster). Frames = batch x T per
iteration. FLOPs are counted by `torch.utils.flop_counter` over one more iteration (forward,
backward and the R1 penalty's double backward; matmuls and convolutions, which dominate, but
not FFTs or elementwise ops), so GFLOP/s says how much of the machine's arithmetic is used.
"""

from __future__ import annotations

import resource
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from gamegan.config import Config
from gamegan.model.factory import build_model
from gamegan.model.types import Batch, StepContext
from gamegan.train import run_phase, resolve_device, use_channels_last, warmup_at
from gamegan.distributed import DistInfo


def synthetic_batch(config: Config, device: torch.device) -> Batch:
    """Random frames and actions of the configured shape."""
    m, t = config.model, config.train
    frames = torch.rand(t.batch_size, t.seq_len, 3, m.frame_size, m.frame_size, device=device) * 2 - 1
    actions = torch.randint(0, m.n_actions, (t.batch_size, t.seq_len - 1), device=device)
    wrong = (actions + torch.randint(1, m.n_actions, actions.shape, device=device)) % m.n_actions
    return Batch(frames=frames, actions=actions, wrong_actions=wrong)


def bench_train(config: Config, iters: int = 5, warmup_iters: int = 2) -> dict:
    """Median seconds per full iteration (every phase) after `warmup_iters` untimed ones."""
    device = resolve_device(config.train.device)
    torch.manual_seed(0)
    model = build_model(config.model).to(device)
    if device.type == "cuda" and config.train.amp:
        use_channels_last(model)
    phases = model.phases(config.loss)
    opts = {p.name: torch.optim.Adam(p.module.parameters(), lr=config.train.lr, betas=tuple(config.train.betas))
            for p in phases}
    batch = synthetic_batch(config, device)
    info = DistInfo()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup_iters + iters):
        ctx = StepContext(step=i, warmup=warmup_at(0, config))
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for phase in phases:
            run_phase(phase, opts[phase.name], phases, batch, ctx, config, device, info)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup_iters:
            times.append(time.perf_counter() - start)
    with FlopCounterMode(display=False) as flops:
        ctx = StepContext(step=warmup_iters + iters, warmup=warmup_at(0, config))
        for phase in phases:
            run_phase(phase, opts[phase.name], phases, batch, ctx, config, device, info)
    gflop = flops.get_total_flops() / 1e9
    sec = statistics.median(times)
    frames = config.train.batch_size * config.train.seq_len
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    params = {p.name: sum(x.numel() for x in p.module.parameters()) for p in phases}
    return {
        "model": config.model.kind, "device": str(device), "frames_per_s": round(frames / sec, 1),
        "seconds_per_iter": round(sec, 4), "gflop_per_iter": round(gflop, 2), "gflop_per_s": round(gflop / sec, 1),
        "peak_memory_mib": round(peak, 1), "params": params,
        "params_total": sum(params.values()), "batch": config.train.batch_size, "seq_len": config.train.seq_len,
        "frame_size": config.model.frame_size, "threads": torch.get_num_threads(), "iters": iters,
    }
