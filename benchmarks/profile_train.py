"""Where one training iteration's time goes, on synthetic batches of a preset's shape.

Prints a table, then one JSON line:

- per phase (G, D): the loss's forward pass, and backward + optimizer step, medians over
  `--iters` iterations; the D phase once more on a step where the lazy R1 penalty is due
  (every `loss.r1_every` steps), so its cost per iteration is (R1 step - plain step) / r1_every;
- per module: forward time of the generator's parts (encoder, engine, memory, memory writer,
  renderer) and of each discriminator, summed over both phases of an iteration (forward hooks);
- the operators with the most self CPU time over one iteration (`torch.profiler`), and the
  share of the iteration's wall time they do not account for (Python and dispatch overhead).

    python benchmarks/profile_train.py --preset pacman --iters 5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

import torch
from torch import nn

from gamegan.bench import synthetic_batch
from gamegan.config import apply_overrides, preset
from gamegan.model.factory import build_model
from gamegan.model.types import StepContext
from gamegan.train import warmup_at


def _module_timers(model: nn.Module) -> dict[str, float]:
    """Forward seconds per named part, accumulated by hooks while they are installed."""
    spent: dict[str, float] = defaultdict(float)
    parts = {f"G.{n}": m for n, m in model.generator.named_children()} if hasattr(model, "generator") else {}
    if hasattr(model, "discriminator"):
        parts |= {f"D.{n}": m for n, m in model.discriminator.named_children()}
    for name, module in parts.items():
        started: list[float] = []
        module.register_forward_pre_hook(lambda _m, _a, s=started: s.append(time.perf_counter()))
        module.register_forward_hook(lambda _m, _a, _o, s=started, n=name: spent.__setitem__(
            n, spent[n] + time.perf_counter() - s.pop()))
    return spent


def profile(preset_name: str, iters: int, overrides: list[str]) -> dict:
    config = apply_overrides(preset(preset_name), overrides)
    config.train.device = "cpu"
    torch.manual_seed(0)
    model = build_model(config.model)
    phases = model.phases(config.loss)
    opts = {p.name: torch.optim.Adam(p.module.parameters(), lr=config.train.lr, betas=tuple(config.train.betas))
            for p in phases}
    batch = synthetic_batch(config, torch.device("cpu"))
    every = max(1, config.loss.r1_every)
    warmup = warmup_at(0, config)

    def iteration(step: int, times: dict[str, list[float]] | None) -> None:
        ctx = StepContext(step=step, warmup=warmup)
        for phase in phases:
            for other in phases:
                other.module.requires_grad_(other is phase)
            opts[phase.name].zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            loss, _ = phase.loss(batch, ctx)
            t1 = time.perf_counter()
            loss.backward()
            opts[phase.name].step()
            t2 = time.perf_counter()
            if times is not None:
                times[f"{phase.name}/forward"].append(t1 - t0)
                times[f"{phase.name}/backward+step"].append(t2 - t1)

    for i in range(2):  # untimed: allocator and kernel caches
        iteration(1 + i, None)
    times: dict[str, list[float]] = defaultdict(list)
    walls = []
    for i in range(iters):
        t0 = time.perf_counter()
        iteration(1 + i if (1 + i) % every else 2 + i, times)  # never an R1 step here
        walls.append(time.perf_counter() - t0)
    r1: dict[str, list[float]] = defaultdict(list)
    iteration(every, r1)  # the step the lazy R1 penalty is due
    spent = _module_timers(model)
    iteration(1 if every > 1 else 0, None)
    parts = {k: round(v, 4) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        iteration(1 if every > 1 else 0, None)
        wall = time.perf_counter() - t0
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    ops_total = sum(e.self_cpu_time_total for e in events) / 1e6
    top = [{"op": e.key, "self_s": round(e.self_cpu_time_total / 1e6, 4), "calls": e.count} for e in events[:12]]
    phase_s = {k: round(statistics.median(v), 4) for k, v in times.items()}
    d_r1 = r1["D/forward"][0] + r1["D/backward+step"][0]
    d_plain = phase_s.get("D/forward", 0) + phase_s.get("D/backward+step", 0)
    return {
        "preset": preset_name, "overrides": overrides, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "iteration_s": round(statistics.median(walls), 4), "phases_s": phase_s,
        "r1_step_D_s": round(d_r1, 4), "r1_per_iteration_s": round(max(0.0, d_r1 - d_plain) / every, 4),
        "forward_by_part_s": parts, "top_ops": top,
        "unaccounted_share": round(max(0.0, 1 - ops_total / wall), 3) if wall > 0 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="pacman")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = profile(args.preset, args.iters, args.overrides)
    print(f"iteration {out['iteration_s']:.3f} s ({out['threads']} threads, preset {out['preset']})")
    for k, v in out["phases_s"].items():
        print(f"  {k:<20} {v:8.3f} s")
    print(f"  R1 (lazy, per iteration) {out['r1_per_iteration_s']:.3f} s")
    print("forward by part (both phases):")
    for k, v in out["forward_by_part_s"].items():
        print(f"  {k:<20} {v:8.3f} s")
    print("top operators by self CPU time:")
    for row in out["top_ops"]:
        print(f"  {row['op']:<40} {row['self_s']:8.3f} s  x{row['calls']}")
    print(f"not in any operator (Python, dispatch): {out['unaccounted_share']:.1%}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
