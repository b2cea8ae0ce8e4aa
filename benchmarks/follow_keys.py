"""Does Pac-Man follow the keys? The simulator against the real game under the same keys
(`play.follow`): match / lost rates per kind of step and per horizon, as a table and one JSON line.

    python benchmarks/follow_keys.py                                   # the shipped model
    python benchmarks/follow_keys.py runs/ship --episodes 40 --steps 80
    python benchmarks/follow_keys.py runs/ship --seed 2007 --strip s2007.png   # also: one session, sim | real
"""

from __future__ import annotations

import argparse
import json

import torch

from gamegan.media import save_png
from play.follow import follow_keys, follow_strip, format_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="run directory or checkpoint (default: shipped)")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1000, help="first game seed (the recordings use 0 and 999)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--strip", default=None, metavar="PNG",
                        help="also draw session --seed as simulator | real game per step (red bar: a miss)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    summary = follow_keys(args.model, episodes=args.episodes, steps=args.steps, seed=args.seed).summary()
    summary.update(model=args.model or "shipped", steps=args.steps, seed=args.seed)
    print(format_report(summary))
    print(json.dumps(summary))
    if args.strip:
        image = follow_strip(args.model, seed=args.seed, steps=args.steps)
        print(f"session {args.seed}: {save_png(image, args.strip, scale=2)}")


if __name__ == "__main__":
    main()
