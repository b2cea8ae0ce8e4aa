"""The trained Pac-Man simulator that ships inside the package, and the export that makes it.

`gamegan/assets/pacman-small.safetensors` holds the weights (fp16) with the config and step
in its metadata, so it plays like any checkpoint; `pacman-small.config.json` beside it is the
same config for people and tools that do not read safetensors headers. `export_model` turns a
run's checkpoint into such a pair, for shipping or for sharing a model of one's own.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from gamegan.checkpoint import load_model, save_weights
from gamegan.errors import UsageError

SHIPPED_NAME = "pacman-small"
"""File stem of the shipped model under gamegan/assets."""

NO_SHIPPED_MODEL = f"this install has no shipped model (gamegan/assets/{SHIPPED_NAME}.safetensors is missing)"

EXPORT_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def shipped_model() -> Path | None:
    """The weights packaged under gamegan/assets, or None in an install without them."""
    asset = resources.files("gamegan").joinpath("assets").joinpath(f"{SHIPPED_NAME}.safetensors")
    return Path(str(asset)) if asset.is_file() else None


def model_source(name: str | Path) -> Path:
    """A model named on the command line: 'shipped' is the packaged one, anything else a path."""
    if str(name) != "shipped":
        return Path(name)
    path = shipped_model()
    if path is None:
        raise UsageError(NO_SHIPPED_MODEL)
    return path


def config_path(weights: Path) -> Path:
    """The JSON config written beside exported weights: `name.safetensors` -> `name.config.json`."""
    return weights.with_name(weights.name.removesuffix(".safetensors") + ".config.json")


def export_model(source: Path, out: Path, dtype: str = "fp16") -> Path:
    """Write the weights of `source` (a run directory's latest checkpoint, or a checkpoint
    file) to `out` (`.safetensors`) cast to `dtype`, plus its config beside it. Returns `out`.

    Only the weights travel: optimizer state stays in the run. fp16 halves the file and
    loads back into an fp32 model (see README, model card, for what it costs in quality).
    """
    if dtype not in EXPORT_DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(EXPORT_DTYPES)}, got {dtype!r}")
    out = Path(out)
    if out.suffix != ".safetensors":
        raise UsageError(f"{out}: the exported file must end in .safetensors")
    model, config, step = load_model(Path(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(out, model, config, step, dtype=EXPORT_DTYPES[dtype])
    config.save(config_path(out))
    return out
