"""Play latency: `Generator.step` at batch 1 on CPU, as the play client calls it.

Prints one JSON line: preset, parameter count, threads, p50/p99/mean wall ms per step
(warm-up excluded), with hard memory under torch.inference_mode. DESIGN section 9 asks for
p50 <= 8 ms and p99 <= 16 ms for `small` on 2 CPU cores.

Wall time is what a player feels, but on a shared machine it measures the neighbours too, so
the line also carries the process CPU ms per step (p50) and the load average before and after:
with 1 thread, CPU ms is close to what the step takes on an idle core. On a busy machine
also try OMP_WAIT_POLICY=PASSIVE (read when torch starts, so set it in the environment):
spinning OpenMP workers that wait for a descheduled sibling make p99 explode.

    python benchmarks/sim_step.py --preset small --steps 1000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from gamegan.config import preset
from gamegan.model.generator import Generator


def measure(preset_name: str, *, steps: int, warmup_steps: int, threads: int, seed: int) -> dict:
    """Time `steps` consecutive play steps (random actions), after `warmup_steps` untimed ones."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    config = preset(preset_name).model
    model = Generator(config).eval()
    model.hard_memory = True
    s = config.frame_size
    times, cpu = [], []
    load_before = os.getloadavg()[0]
    with torch.inference_mode():
        state = model.initial_state(torch.rand(1, 3, s, s) * 2 - 1)
        actions = torch.randint(0, config.n_actions, (warmup_steps + steps, 1))
        for i in range(warmup_steps + steps):
            t0, c0 = time.perf_counter(), time.process_time()
            _, state, _ = model.step(state, actions[i])
            if i >= warmup_steps:
                times.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
    times.sort()
    cpu.sort()
    return {
        "preset": preset_name,
        "params": sum(p.numel() for p in model.parameters()),
        "threads": threads,
        "steps": steps,
        "p50_ms": round(times[len(times) // 2], 3),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
        "mean_ms": round(sum(times) / len(times), 3),
        "cpu_p50_ms": round(cpu[len(cpu) // 2], 3),
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = measure(args.preset, steps=args.steps, warmup_steps=args.warmup, threads=args.threads, seed=args.seed)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
