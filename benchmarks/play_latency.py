"""Play latency: one simulator step at batch 1, as `gamegan play` takes it (DESIGN section 9:
p50 <= 8 ms, p99 <= 16 ms for `small` on 2 CPU cores). Prints one JSON line.

    python benchmarks/play_latency.py --model small --steps 1000            # a preset, random init
    python benchmarks/play_latency.py --model runs/pac --threads 2          # a trained run

The line carries the 1-minute load average: on a machine shared with other jobs, their load
shows up in p99 before anything else.
"""

from __future__ import annotations

import argparse
import json

from play.bench import bench_play


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small", help="preset name, run directory or checkpoint")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="default: the cores available, at most 4")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(bench_play(args.model, device=args.device, steps=args.steps, warmup_steps=args.warmup,
                                threads=args.threads, seed=args.seed)))


if __name__ == "__main__":
    main()
