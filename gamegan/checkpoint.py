"""Checkpoints: weights as safetensors (self-describing), training state loaded safely.

A checkpoint at step S in a run directory is two files written atomically (temp + rename):
- `checkpoints/step_00000S.safetensors`: every weight, with the config JSON and the step in
  the safetensors metadata, so a single file is enough to play or evaluate; with
  `train.ema_decay` on, also the simulator's averaged weights as `ema.<name>` (`gamegan.ema`),
  which `load_model` plays in place of the raw ones;
- `checkpoints/step_00000S.state.pt`: optimizer states, RNG states, step and counters,
  loaded with `torch.load(weights_only=True)` (no arbitrary pickle).
The weights file is renamed into place last, so a checkpoint is complete once it is visible.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from gamegan.config import Config, ConfigError
from gamegan.ema import EMA_PREFIX
from gamegan.errors import CheckpointError
from gamegan.model.upgrade import upgrade_tensors

FORMAT = "gamegan-checkpoint"
VERSION = "1"
_STEP_FILE = re.compile(r"^step_(\d+)\.safetensors$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _atomic_write(path: Path, write: Any) -> None:
    """Call `write(tmp_path)`, fsync, then rename over `path`: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp, which makes files 0600: created like any new file, the temp gets the umask's
    # mode. Some writers (safetensors) recreate the file, so that mode is put back afterwards.
    tmp = str(path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    mode = os.stat(tmp).st_mode & 0o777
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(path: Path, model: nn.Module, config: Config, step: int, dtype: torch.dtype | None = None,
                 extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write the model's weights (optionally cast, e.g. fp16 for shipping) with config metadata;
    `extra` tensors (the EMA's `ema.` ones) are stored beside them."""
    tensors = {}
    for name, tensor in {**model.state_dict(), **(extra or {})}.items():
        t = tensor.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous()
    metadata = {"format": FORMAT, "version": VERSION, "step": str(step), "config": config.to_json()}
    _atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata=metadata))


def read_metadata(path: Path) -> dict[str, str]:
    """The safetensors header metadata of a checkpoint; CheckpointError when it is not one."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({err})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gamegan checkpoint (no '{FORMAT}' metadata)")
    return metadata


def read_config(path: Path) -> Config:
    """The config a checkpoint was trained with."""
    metadata = read_metadata(path)
    try:
        return Config.from_dict(json.loads(metadata["config"]))
    except (KeyError, json.JSONDecodeError, ConfigError) as err:
        raise CheckpointError(f"{path}: its stored config is unreadable ({err})") from None


def load_weights(path: Path, model: nn.Module, use_ema: bool = False) -> int:
    """Load weights into `model` (strict); returns the checkpoint's step.

    With `use_ema`, the simulator gets the checkpoint's averaged weights where it has them.
    A file whose tensors do not fit the model (trained with another config) is a CheckpointError
    that names the first differing tensor.
    """
    path = Path(path)
    metadata = read_metadata(path)
    tensors = _read_tensors(path)
    averaged = {name.removeprefix(EMA_PREFIX): tensors.pop(name) for name in list(tensors) if name.startswith(EMA_PREFIX)}
    upgrade_tensors(model, tensors)
    upgrade_tensors(model, averaged)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted((set(tensors) | set(averaged)) - set(expected))
    if missing or unexpected:
        name = (missing or unexpected)[0]
        raise CheckpointError(f"{path}: was saved from a different model config "
                              f"({len(missing)} missing and {len(unexpected)} unexpected tensors, e.g. '{name}')")
    for name, tensor in [*tensors.items(), *averaged.items()]:
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{path}: was saved from a different model config "
                                  f"('{name}' is {tuple(tensor.shape)}, the model expects {tuple(expected[name].shape)})")
    if use_ema:
        tensors.update(averaged)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return int(metadata.get("step", 0))


def load_ema_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's `ema.` tensors, as `SimulatorEMA.tensors` wrote them (empty without an EMA)."""
    path = Path(path)
    read_metadata(path)
    return {name: t for name, t in _read_tensors(path).items() if name.startswith(EMA_PREFIX)}


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: corrupt checkpoint ({err})") from None


def save_checkpoint(run_dir: Path, step: int, model: nn.Module, config: Config, train_state: dict[str, Any],
                    keep_last: int = 3, extra: dict[str, torch.Tensor] | None = None) -> Path:
    """Write weights (+ `extra` tensors) and training state for `step`, then prune to the
    newest `keep_last`."""
    directory = checkpoint_dir(run_dir)
    weights = directory / f"step_{step:07d}.safetensors"
    state = directory / f"step_{step:07d}.state.pt"
    _atomic_write(state, lambda tmp: torch.save(train_state, tmp))
    save_weights(weights, model, config, step, extra=extra)
    if keep_last > 0:
        for old in list_checkpoints(run_dir)[:-keep_last]:
            old.unlink(missing_ok=True)
            old.with_name(old.name.replace(".safetensors", ".state.pt")).unlink(missing_ok=True)
    return weights


def list_checkpoints(run_dir: Path, first: int = 0, last: int | None = None) -> list[Path]:
    """Complete checkpoints (weights files) of a run, oldest first; only steps first..last
    (inclusive) when given."""
    directory = checkpoint_dir(run_dir)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for step, p in sorted(found) if step >= first and (last is None or step <= last)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def load_train_state(weights_path: Path) -> dict[str, Any]:
    """The training state saved beside a weights file (optimizers, RNG, counters)."""
    state_path = Path(weights_path).with_name(Path(weights_path).name.replace(".safetensors", ".state.pt"))
    if not state_path.is_file():
        raise CheckpointError(f"{state_path}: training state missing; cannot resume from {weights_path.name}")
    try:
        return torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises assorted types for truncated or foreign files
        raise CheckpointError(f"{state_path}: corrupt training state ({type(err).__name__}: {err})") from None


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its latest checkpoint; a file means itself."""
    path = Path(path)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"{path}: no checkpoints yet (expected {checkpoint_dir(path)}/step_*.safetensors)")
        return latest
    if not path.exists():
        raise CheckpointError(f"{path}: no such run directory or checkpoint")
    return path


def load_model(path: Path, device: torch.device | str = "cpu", use_ema: bool = True) -> tuple[nn.Module, Config, int]:
    """Build the model a checkpoint (or a run's latest) describes and load its weights: the
    simulator's averaged ones when the run kept an EMA (unless `use_ema` is off)."""
    from gamegan.model.factory import build_model

    weights = resolve_checkpoint(path)
    config = read_config(weights)
    model = build_model(config.model)
    step = load_weights(weights, model, use_ema=use_ema)
    return model.to(device).eval(), config, step
