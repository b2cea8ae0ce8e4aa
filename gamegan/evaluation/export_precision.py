"""What storing weights at a lower precision costs: a checkpoint against its export.

Both models run over the same held-out windows with the same noise, teacher-forced and
free-running; `export_precision` gives PSNR against the recorded frames for each, and the
largest pixel difference between the two models' frames (0-255, after rounding), which is how
`gamegan export --check-on DATA` says whether an fp16 file plays like the fp32 run.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gamegan.checkpoint import load_model
from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.errors import UsageError
from gamegan.evaluation.image_quality import psnr
from recorder.dataset import open_dataset


@torch.inference_mode()
def export_precision(reference: Path, exported: Path, data: Path, *, episodes: int = 40, length: int = 32,
                     warmup: int = 6) -> dict:
    """PSNR (dB) of `reference` and `exported` on the first `length` frames of each of the
    first `episodes` episodes of `data` that are that long: `reference_teacher`,
    `exported_teacher` (every input frame real), `reference_free`, `exported_free` (`warmup`
    real frames, then the model's own), and `max_pixel_diff` between the two models' frames."""
    models = [load_model(p)[0].simulator.eval() for p in (reference, exported)]
    scores: dict[str, list[float]] = {f"{who}_{mode}": [] for who in ("reference", "exported")
                                      for mode in ("teacher", "free")}
    max_diff = 0
    with open_dataset(data) as ds:
        for ep in range(min(episodes, ds.n_episodes)):
            if ds.episode_lengths[ep] < length:
                continue
            frames = to_model_frames(ds.frames(ep, 0, length))[None]  # (1, T, 3, S, S)
            actions = torch.as_tensor(ds.actions(ep)[: length - 1].astype("int64"))[None]
            z = torch.randn(1, length - 1, models[0].config.z_dim, generator=torch.Generator().manual_seed(ep))
            for mode, w in (("teacher", length - 1), ("free", warmup)):
                outs = [m.rollout(frames, actions, warmup=w, z=z).frames for m in models]
                for who, o in zip(("reference", "exported"), outs):
                    scores[f"{who}_{mode}"].append(float(psnr(o, frames[:, 1:]).mean()))
                a, b = (torch.from_numpy(to_uint8_frames(o)).int() for o in outs)
                max_diff = max(max_diff, int((a - b).abs().max()))
    windows = len(scores["reference_teacher"])
    if not windows:
        raise UsageError(f"{data}: no episode of the first {episodes} has {length} frames to compare on")
    out: dict = {k: round(sum(v) / windows, 3) for k, v in scores.items()}
    out.update(windows=windows, length=length, free_warmup=warmup, max_pixel_diff=max_diff)
    return out


def format_precision(figures: dict, dtype: str) -> str:
    """One line for the console: what the export costs."""
    f = figures
    return (f"on {f['windows']} held-out windows: teacher-forced {f['reference_teacher']:.2f} dB (fp32) vs "
            f"{f['exported_teacher']:.2f} dB ({dtype}), free-running {f['reference_free']:.2f} vs "
            f"{f['exported_free']:.2f} dB; largest pixel difference {f['max_pixel_diff']}/255")
