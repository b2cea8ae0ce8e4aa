"""Where do the simulator's ghosts go? Lasting losses of plausible ghosts in `follow_keys`
sessions, by what came just before each (`gamegan.evaluation.ghost_losses`): the real ghosts turning
frightened, a ghost touching Pac-Man, two ghosts running into each other, or none of these
(then by how the lost ghosts look: stopped, blended or faded).

    python benchmarks/ghost_losses.py                            # the shipped model, seeds 2000-2199
    python benchmarks/ghost_losses.py runs/ship --episodes 40 --seed 1000
"""

from __future__ import annotations

import argparse
import json

import torch

from gamegan.evaluation.ghost_losses import format_ghost_losses
from play.measure import ghost_losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="run directory or checkpoint (default: shipped)")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seed", type=int, default=2000, help="first game seed (the recordings use 0 and 999)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    summary = ghost_losses(args.model, episodes=args.episodes, steps=args.steps, seed=args.seed).summary()
    print(format_ghost_losses(summary))
    print(json.dumps({"model": args.model or "shipped", "seed": args.seed, "steps": args.steps, **summary}))


if __name__ == "__main__":
    main()
