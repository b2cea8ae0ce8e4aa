"""What storing weights in fp16 costs: a checkpoint against its `gamegan export` on held-out windows.

Runs both models over the same windows with the same noise, teacher-forced and free-running,
and prints one JSON line: PSNR against the recorded frames for each, and the largest pixel
difference between the two models' frames (on the 0-255 scale after rounding).

    python benchmarks/export_precision.py runs/ship gamegan/assets/pacman-small.safetensors --data data/pacman-test
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gamegan.checkpoint import load_model
from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.evaluation.image_quality import psnr
from recorder.dataset import open_dataset


def compare(reference: Path, exported: Path, data: Path, *, episodes: int, length: int, warmup: int) -> dict:
    models = [load_model(p)[0].simulator for p in (reference, exported)]
    results: dict[str, list[torch.Tensor]] = {"ref_tf": [], "exp_tf": [], "ref_free": [], "exp_free": []}
    max_diff = 0
    with open_dataset(data) as d, torch.inference_mode():
        for ep in range(min(episodes, d.n_episodes)):
            if d.episode_lengths[ep] < length:
                continue
            frames = to_model_frames(d.frames(ep, 0, length))[None]  # (1, T, 3, S, S)
            actions = torch.as_tensor(d.actions(ep)[: length - 1].astype("int64"))[None]
            z = torch.randn(1, length - 1, models[0].config.z_dim, generator=torch.Generator().manual_seed(ep))
            for mode, w in (("tf", length - 1), ("free", warmup)):
                outs = [m.rollout(frames, actions, warmup=w, z=z).frames for m in models]
                results[f"ref_{mode}"].append(psnr(outs[0], frames[:, 1:]).mean())
                results[f"exp_{mode}"].append(psnr(outs[1], frames[:, 1:]).mean())
                a, b = (torch.from_numpy(to_uint8_frames(o)).int() for o in outs)
                max_diff = max(max_diff, int((a - b).abs().max()))
    out = {k: round(float(torch.stack(v).mean()), 3) for k, v in results.items()}
    out.update(windows=len(results["ref_tf"]), length=length, free_warmup=warmup, max_pixel_diff=max_diff,
               reference=str(reference), exported=str(exported))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="run directory or checkpoint (fp32)")
    parser.add_argument("exported", type=Path, help="the exported weights")
    parser.add_argument("--data", type=Path, required=True, help="held-out dataset")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--length", type=int, default=32, help="frames per window (from each episode's start)")
    parser.add_argument("--warmup", type=int, default=6, help="real frames before free-running")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(compare(args.reference, args.exported, args.data, episodes=args.episodes,
                             length=args.length, warmup=args.warmup)))


if __name__ == "__main__":
    main()
