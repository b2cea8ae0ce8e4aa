"""Batched dream stepping: env-steps per second of `gamegan/PacManDream-v0`'s vector env at
several batch sizes, random actions, autoreset included, on CPU.

Prints one JSON line per batch size (with the ratio to the first size), and where its time goes:
the simulator's forward pass and reading reward and termination off the frames.

    python benchmarks/dream_step.py --model shipped --envs 1,16,64,256 --seconds 10 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import gymnasium as gym
import numpy as np
import torch

import gamegan.envs  # noqa: F401  (registers the envs)


def measure(model: str, n: int, seconds: float) -> dict:
    envs = gym.make_vec("gamegan/PacManDream-v0", num_envs=n, vectorization_mode="vector_entry_point", model=model)
    rng = np.random.default_rng(0)
    envs.reset(seed=0)
    for _ in range(3):  # untimed
        envs.step(rng.integers(0, 5, n))
    batch = envs.unwrapped.batch
    sim_step, read = batch.sim.step, batch.rewards.step
    spent = {"model": 0.0, "read": 0.0}

    def timed(fn, key):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            spent[key] += time.perf_counter() - t0
            return out
        return run

    batch.sim.step, batch.rewards.step = timed(sim_step, "model"), timed(read, "read")
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        envs.step(rng.integers(0, 5, n))
        steps += 1
    wall = time.perf_counter() - t0
    return {"envs": n, "env_steps_per_s": round(steps * n / wall, 1), "ms_per_batch_step": round(1e3 * wall / steps, 2),
            "share_model": round(spent["model"] / wall, 3), "share_read": round(spent["read"] / wall, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shipped")
    parser.add_argument("--envs", default="1,16,64,256")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = None
    for n in (int(x) for x in args.envs.split(",")):
        row = measure(args.model, n, args.seconds)
        base = base or row["env_steps_per_s"]
        row.update(vs_one_env=round(row["env_steps_per_s"] / base, 2), model=args.model, threads=args.threads,
                   torch=torch.__version__, cpu=platform.processor() or platform.machine(),
                   load_average=round(os.getloadavg()[0], 2))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
