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
"""File stem of the default shipped model (the classic layout) under gamegan/assets."""

SHIPPED_NAMES = {"shipped": SHIPPED_NAME, "pacman-small": "pacman-small", "pacman-maze": "pacman-maze"}
"""Short names a command line may use for the models under gamegan/assets."""

NO_SHIPPED_MODEL = f"this install has no shipped model (gamegan/assets/{SHIPPED_NAME}.safetensors is missing)"

EXPORT_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def shipped_model(name: str = SHIPPED_NAME) -> Path | None:
    """The weights packaged under gamegan/assets as `name`, or None in an install without them."""
    asset = resources.files("gamegan").joinpath("assets").joinpath(f"{name}.safetensors")
    return Path(str(asset)) if asset.is_file() else None


def model_source(name: str | Path) -> Path:
    """A model named on the command line: a path when one exists there, else a short name of a
    shipped model ('shipped' is the classic one, 'pacman-maze' the maze one), else the path
    (whose absence the loader reports)."""
    if Path(name).exists() or str(name) not in SHIPPED_NAMES:
        return Path(name)
    stem = SHIPPED_NAMES[str(name)]
    path = shipped_model(stem)
    if path is None:
        raise UsageError(f"this install has no shipped model '{name}' (gamegan/assets/{stem}.safetensors is missing)")
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
