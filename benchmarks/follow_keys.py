"""Does Pac-Man follow the keys? The simulator against the real game under the same keys
(`gamegan.evaluation.follow`): match / lost rates per kind of step and per horizon, with standard errors over
sessions, as a table and one JSON line.

    python benchmarks/follow_keys.py                                   # the shipped model
    python benchmarks/follow_keys.py runs/ship --episodes 40 --steps 80
    python benchmarks/follow_keys.py runs/ship --seed 2007 --strip s2007.png   # also: one session, sim | real
    python benchmarks/follow_keys.py runs/ship --checkpoints 4900:5700         # each checkpoint, one line each
"""

from __future__ import annotations

import argparse
import json

import torch

from gamegan.media import save_png
from gamegan.evaluation.follow import format_checkpoint_row, format_report
from play.measure import follow_checkpoints, follow_keys, follow_strip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="run directory or checkpoint (default: shipped)")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1000, help="first game seed (the recordings use 0 and 999)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--strip", default=None, metavar="PNG",
                        help="also draw session --seed as simulator | real game per step (red bar: a miss)")
    parser.add_argument("--checkpoints", default=None, metavar="FIRST:LAST",
                        help="score every checkpoint of the run MODEL with a step in FIRST..LAST (either may be empty)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoints:
        sweep(args)
        return
    summary = follow_keys(args.model, episodes=args.episodes, steps=args.steps, seed=args.seed).summary()
    summary.update(model=args.model or "shipped", steps=args.steps, seed=args.seed)
    print(format_report(summary))
    print(json.dumps(summary))
    if args.strip:
        image = follow_strip(args.model, seed=args.seed, steps=args.steps)
        print(f"session {args.seed}: {save_png(image, args.strip, scale=2)}")


def sweep(args: argparse.Namespace) -> None:
    """One line per checkpoint as it is scored, then the best by match (the later on a tie)."""
    try:
        first, last = (int(x) if x.strip() else None for x in args.checkpoints.split(":"))
    except ValueError:
        raise SystemExit(f"--checkpoints takes FIRST:LAST steps, e.g. 4900:5700, not {args.checkpoints!r}") from None
    if args.model is None:
        raise SystemExit("--checkpoints needs a run directory as MODEL")
    try:
        each = follow_checkpoints(args.model, first or 0, last, episodes=args.episodes, steps=args.steps,
                                  seed=args.seed)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    scored = []
    for step, summary in each:
        print(format_checkpoint_row(step, summary), flush=True)
        print(json.dumps({"step": step, **summary}), flush=True)
        scored.append((summary["overall"]["match"], step))
    match, step = max(scored)
    print(f"best by match on seeds {args.seed}-{args.seed + args.episodes - 1}: step {step} ({match:.1%})")


if __name__ == "__main__":
    main()
