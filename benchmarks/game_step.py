"""Throughput of the game engine alone and of the engine driven by each bot.

Prints one JSON object: for each configuration, median frames/s over a few repeats and
µs per step (step + render, plus the agent's act() where an agent is named). The recorder
needs >= 5,000 frames/s per worker at 64x64 including HDF5 writes (DESIGN.md section 9),
so step + render + act must stay well under 200 µs.

    python benchmarks/game_step.py [--steps 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from recorder.agents import make_agent
from recorder.game import Game, GameConfig


def run(config: GameConfig, agent_name: str | None, steps: int, seed: int = 0) -> tuple[float, float]:
    """(wall-clock, CPU-time) frames per second over `steps` steps, resetting at episode ends."""
    game = Game(config, seed=seed)
    rng = np.random.default_rng(seed)
    agent = make_agent(agent_name, seed=seed) if agent_name else None
    actions = rng.integers(0, 5, size=steps).tolist()
    game.reset()
    if agent:
        agent.reset(game, rng)
    t0, c0 = time.perf_counter(), time.process_time()
    for t in range(steps):
        a = agent.act(game) if agent else actions[t]
        _, _, done = game.step(a)
        if done:
            game.reset()
            if agent:
                agent.reset(game, rng)
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "classic64_random_actions": (GameConfig(), None),
        "classic64_4ghosts_random_actions": (GameConfig(n_ghosts=4), None),
        "maze64_random_actions": (GameConfig(mode="maze"), None),
        "small32_random_actions": (GameConfig(layout="small", frame_size=32), None),
        "classic128_random_actions": (GameConfig(frame_size=128), None),
        "classic64_mix": (GameConfig(), "mix"),
        "classic64_greedy": (GameConfig(), "greedy"),
        "maze64_mix": (GameConfig(mode="maze"), "mix"),
        "maze64_4ghosts_mix": (GameConfig(mode="maze", n_ghosts=4), "mix"),
    }
    results = {}
    for name, (config, agent) in cases.items():
        runs = [run(config, agent, args.steps, seed=s) for s in range(args.repeats)]
        fps = statistics.median(r[0] for r in runs)
        cpu_fps = statistics.median(r[1] for r in runs)
        results[name] = {"frames_per_s": round(fps), "us_per_step": round(1e6 / fps, 1),
                         "cpu_frames_per_s": round(cpu_fps), "cpu_us_per_step": round(1e6 / cpu_fps, 1)}
    # CPU-time figures say what one unshared core does; wall-clock ones drop when the machine is busy.
    print(json.dumps({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                      "load_average": [round(x, 2) for x in os.getloadavg()],
                      "steps": args.steps, "repeats": args.repeats, "results": results}, indent=2))


if __name__ == "__main__":
    main()
