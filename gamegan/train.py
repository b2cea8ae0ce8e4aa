"""The training loop, shared by GameGAN and the baselines.

A model describes its updates as a list of `Phase`s (GameGAN: G then D); the loop runs them
in order every iteration, one Adam each. It reads top to bottom in stages: set up the run,
build model and optimisers (or resume them, or start from another run's weights), then
iterate — sample, update, log, sample rollouts, checkpoint — until the step budget is spent
or a signal asks it to stop.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gamegan.checkpoint import (latest_checkpoint, load_ema_tensors, load_train_state, load_weights, read_config,
                                read_metadata, resolve_checkpoint, save_checkpoint)
from gamegan.config import Config, ModelConfig, config_at, schedule_steps
from gamegan.data import SequenceData, batch_stream, load_splits
from gamegan.distributed import (DistInfo, all_agree, average_gradients, broadcast_parameters,
                                 init_distributed, shutdown)
from gamegan.ema import SimulatorEMA
from gamegan.errors import CheckpointError, UsageError
from gamegan.model.factory import build_model
from gamegan.model.types import Batch, Phase, StepContext
from gamegan.run_log import RunLog
from gamegan.samples import write_samples

BAD_STEPS_BEFORE_RESTORE = 3
"""Consecutive non-finite iterations after which the last good state is restored."""


@dataclass
class TrainResult:
    """How a call to `train` ended."""

    run_dir: Path
    step: int
    seconds: float
    frames_per_s: float
    interrupted: bool
    nonfinite_steps: int
    model: nn.Module
    """The trained model (on its training device), for library users."""
    ema: SimulatorEMA | None = None
    """The simulator's weight average when `train.ema_decay` is on (`ema.simulator` plays)."""


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; a named device that is absent is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device auto or cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps: MPS is not available (use --device auto or cpu)")
    if name not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unknown device '{name}' (auto, cpu, cuda or mps)")
    return torch.device(name)


def warmup_at(step: int, config: Config) -> int:
    """Ground-truth frames fed at `step`: linear decay from w0 to the floor, at most T-1."""
    t = config.train
    frac = min(1.0, step / max(1, t.warmup_decay_steps))
    w = round(t.warmup_start - (t.warmup_start - t.warmup_floor) * frac)
    return int(max(1, min(w, t.seq_len - 1)))


def fit_config_to_data(config: Config, data: SequenceData) -> Config:
    """Frame size and action set come from the dataset, never from a constant."""
    config = copy.deepcopy(config)
    h, w, _ = data.meta.frame_shape
    if h != w:
        raise UsageError(f"frames are {h}x{w}; the model needs square frames")
    config.model.frame_size = h
    config.model.n_actions = data.meta.n_actions
    config.model.action_names = list(data.meta.action_names)
    config.game = dict(data.meta.game)
    return config


class _StopRequest:
    """SIGINT/SIGTERM set a flag; the loop saves a checkpoint at the end of the iteration."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: list[Any] = []

    def __enter__(self) -> "_StopRequest":
        def handler(signum: int, frame: object) -> None:
            self.requested = True
        with contextlib.suppress(ValueError):  # not the main thread: no signal handling
            self._previous = [signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)]
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, prev in zip((signal.SIGINT, signal.SIGTERM), self._previous):
            signal.signal(sig, prev)


def use_channels_last(model: nn.Module) -> None:
    """channels_last for 2-D convolutions only: 3-D (temporal) weights have no such layout."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.to(memory_format=torch.channels_last)


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_phase(phase: Phase, optimizer: torch.optim.Optimizer, phases: list[Phase], batch: Batch,
               ctx: StepContext, config: Config, device: torch.device, info: DistInfo) -> dict[str, float] | None:
    """One optimiser update; None (and no update) when the loss or gradients are not finite."""
    for other in phases:
        other.module.requires_grad_(other is phase)
    optimizer.zero_grad(set_to_none=True)
    with _autocast(device, config.train.amp):
        loss, logs = phase.loss(batch, ctx)
    if not all_agree(bool(torch.isfinite(loss).item()), info):
        return None
    loss.backward()
    params = [p for p in phase.module.parameters() if p.requires_grad]
    average_gradients(params, info)
    clip = config.train.grad_clip if config.train.grad_clip > 0 else float("inf")
    norm = torch.nn.utils.clip_grad_norm_(params, clip)
    if not all_agree(bool(torch.isfinite(norm).item()), info):
        optimizer.zero_grad(set_to_none=True)
        return None
    optimizer.step()
    return {**logs, f"loss/{phase.name}/total": float(loss.item()), f"grad_norm/{phase.name}": float(norm.item())}


def _train_state(step: int, optimizers: dict[str, torch.optim.Optimizer], rng: np.random.Generator,
                 nonfinite: int) -> dict[str, Any]:
    state = {
        "step": step,
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": rng.bit_generator.state,
        "nonfinite_steps": nonfinite,
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def _restore_train_state(state: dict[str, Any], optimizers: dict[str, torch.optim.Optimizer],
                         rng: np.random.Generator) -> tuple[int, int]:
    for name, opt in optimizers.items():
        # load_state_dict brings back the saved lr and betas too; the config's (a `--set
        # train.lr=...` given with `--resume`) win, so a run can be fine-tuned at a lower rate.
        hyper = [{k: group[k] for k in ("lr", "betas")} for group in opt.param_groups]
        opt.load_state_dict(state["optimizers"][name])
        for group, wanted in zip(opt.param_groups, hyper):
            group.update(wanted)
            for p in group["params"]:  # Adam would fail only at its next step, far from the cause
                saved = opt.state.get(p, {}).get("exp_avg")
                if saved is not None and saved.shape != p.shape:
                    raise CheckpointError(f"the {name} optimiser state of this checkpoint is of an older model layout "
                                          f"({tuple(saved.shape)} for a {tuple(p.shape)} parameter): continue it with "
                                          "--init-from (its weights, fresh optimisers) instead of --resume")
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    rng.bit_generator.state = state["numpy_rng"]
    return int(state["step"]), int(state.get("nonfinite_steps", 0))


def _progress(enabled: bool) -> contextlib.AbstractContextManager:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if not enabled:
        return contextlib.nullcontext(None)
    return Progress(TextColumn("[bold]train"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=Console(stderr=True))


def _summary_text(step: int, logs: dict[str, float], fps: float, warmup: int) -> str:
    parts = [f"{k.split('/')[1]} {v:.3f}" for k, v in logs.items() if k.startswith("loss/") and k.endswith("/total")]
    return " ".join([f"step {step}"] + parts + [f"w {warmup}", f"{fps:,.0f} frames/s"])


def train(config: Config, data_path: Path, run_dir: Path, resume: bool = False, progress: bool = True,
          max_seconds: float | None = None, init_from: Path | None = None) -> TrainResult:
    """Train `config.model.kind` on the dataset at `data_path`, writing the run to `run_dir`.

    With `resume`, continue from the run's latest checkpoint exactly (same step, optimiser and
    RNG states, warm-up). `init_from` (a checkpoint, a run directory or exported weights such
    as the shipped model) starts a new run from its weights, weight average and step, with
    fresh optimisers: the step-driven schedules go on where it stopped, so `config.train.steps`
    must lie beyond its step. The model config must be the one it was trained with. Once the
    run has checkpoints of its own, `resume` continues from those and `init_from` is not read
    again, so a crashed run restarts with the same call plus `resume`. `max_seconds` stops
    (with a checkpoint) after that much wall time.
    """
    run_dir = Path(run_dir)
    device = resolve_device(config.train.device)
    info = init_distributed(device.type)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    try:
        return _train_stages(config, Path(data_path), run_dir, resume, progress and info.is_main, max_seconds, device,
                             info, None if init_from is None else Path(init_from))
    finally:
        shutdown(info)


def _train_stages(config: Config, data_path: Path, run_dir: Path, resume: bool, progress: bool,
                  max_seconds: float | None, device: torch.device, info: DistInfo, init_from: Path | None) -> TrainResult:
    """Train through `config.train.schedule`: each stage under the config its steps get, up to
    the next entry. A stage boundary is a checkpoint, then a resume: the path that continues a
    run exactly, and that rebuilds whatever the new values change (windows, optimisers' rate,
    the weight average)."""
    start, seconds, frames = time.perf_counter(), 0.0, 0.0
    step = _start_step(run_dir, resume, init_from)
    while True:
        stage = config_at(config, step)
        later = [b for b in schedule_steps(config) if b > step]
        stage.train.steps = min([*later, config.train.steps])
        left = None if max_seconds is None else max_seconds - (time.perf_counter() - start)
        result = _train(stage, data_path, run_dir, resume, progress, left, device, info, init_from, saved=config)
        seconds += result.seconds
        frames += result.frames_per_s * result.seconds
        if result.interrupted or result.step < stage.train.steps or result.step >= config.train.steps:
            return dataclasses.replace(result, seconds=seconds, frames_per_s=frames / max(seconds, 1e-9))
        step, resume, init_from = result.step, True, None


def _start_step(run_dir: Path, resume: bool, init_from: Path | None) -> int:
    """The step a call to `train` starts at: its own latest checkpoint's when resuming, else the
    step of the weights it starts from, else 0."""
    latest = latest_checkpoint(run_dir) if resume else None
    source = latest or (resolve_checkpoint(init_from) if init_from is not None else None)
    return int(read_metadata(source).get("step", 0)) if source is not None else 0


def _train(config: Config, data_path: Path, run_dir: Path, resume: bool, progress: bool, max_seconds: float | None,
           device: torch.device, info: DistInfo, init_from: Path | None, saved: Config) -> TrainResult:
    """One stage: train under `config` up to `config.train.steps`; `saved` (the run's whole
    config, schedule and all) is what config.json holds."""
    # --- Stage 1: data, config, run directory -----------------------------------------------
    train_data, val_data = load_splits(data_path, config.train.seq_len, config.train.val_fraction,
                                       agent=config.loss.recon_horizon_keep_agent,
                                       event_shares=config.train.event_windows)
    config = fit_config_to_data(config, train_data)
    latest = latest_checkpoint(run_dir)
    if latest is not None and not resume:
        raise UsageError(f"{run_dir}: already has checkpoints; pass --resume to continue it, or choose another --out")
    resumed = latest if resume else None
    start_weights = _check_init_source(init_from, config) if init_from is not None and resumed is None else None
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        fit_config_to_data(saved, train_data).save(run_dir / "config.json")
    torch.manual_seed(config.train.seed + info.rank)
    rng = np.random.default_rng([config.train.seed, info.rank])

    # --- Stage 2: model, phases, optimisers (or their resumed state) -------------------------
    model = build_model(config.model)
    phases = model.phases(config.loss)
    step, nonfinite = 0, 0
    loaded_from = resumed or start_weights
    if loaded_from is not None:
        step = load_weights(loaded_from, model)
    model.to(device)
    if device.type == "cuda" and config.train.amp:
        use_channels_last(model)
    broadcast_parameters(model, info)
    ema = _simulator_ema(model, config, loaded_from)  # of the same weights on every rank, uncompiled
    if config.train.compile:
        for phase in phases:
            for child in phase.module.children():
                child.compile()
    optimizers = {p.name: torch.optim.Adam(p.module.parameters(), lr=config.train.lr, betas=tuple(config.train.betas))
                  for p in phases}
    if resumed is not None:
        step, nonfinite = _restore_train_state(load_train_state(resumed), optimizers, rng)
    good = (copy.deepcopy(model.state_dict()), {n: copy.deepcopy(o.state_dict()) for n, o in optimizers.items()})

    log = RunLog(run_dir, enabled=info.is_main)
    log.truncate_after(step)
    if start_weights is not None:
        log.write(step, {"event": "initialised_from", "source": str(start_weights)})
    stream = batch_stream(train_data, config.train.batch_size, rng, config.train.num_workers, config.train.seed + 7919 * info.rank)
    sample_batch = (val_data or train_data).sample(np.random.default_rng(0), 4).to(device)
    frames_per_iter = config.train.batch_size * config.train.seq_len * info.world_size

    def checkpoint() -> None:
        nonlocal good
        if info.is_main:
            save_checkpoint(run_dir, step, model, config, _train_state(step, optimizers, rng, nonfinite),
                            config.train.keep_last, extra=ema.tensors() if ema else None)
        good = (copy.deepcopy(model.state_dict()), {n: copy.deepcopy(o.state_dict()) for n, o in optimizers.items()})

    # --- Stage 3: iterate --------------------------------------------------------------------
    start_step, start_time = step, time.perf_counter()
    window: dict[str, list[float]] = {}
    window_start, window_steps, bad_in_a_row, interrupted = time.perf_counter(), 0, 0, False
    with _StopRequest() as stop, _progress(progress) as bar:
        # With a time budget the bar tracks time (the step total is then only an upper bound).
        budget = max_seconds
        task = bar.add_task("train", total=budget or config.train.steps, completed=0 if budget else step,
                            stats="") if bar else None
        model.train()
        while step < config.train.steps:
            ctx = StepContext(step=step, warmup=warmup_at(step, config))
            batch = next(stream).to(device, non_blocking=True)
            step_logs: dict[str, float] = {}
            for phase in phases:
                logs = run_phase(phase, optimizers[phase.name], phases, batch, ctx, config, device, info)
                if logs is None:
                    step_logs = {}
                    break
                step_logs.update(logs)
            if step_logs:
                bad_in_a_row = 0
                if ema:
                    ema.update(model)
            else:
                nonfinite += 1
                bad_in_a_row += 1
                log.write(step, {"event": "nonfinite_loss_skipped", "consecutive": bad_in_a_row})
                if bad_in_a_row >= BAD_STEPS_BEFORE_RESTORE:
                    model.load_state_dict(good[0])
                    for name, opt in optimizers.items():
                        opt.load_state_dict(good[1][name])
                    log.write(step, {"event": "restored_last_good_state"})
                    bad_in_a_row = 0
            step += 1
            window_steps += 1
            for k, v in step_logs.items():
                window.setdefault(k, []).append(v)

            if step % config.train.log_every == 0 or step == config.train.steps:
                elapsed = time.perf_counter() - window_start
                fps = window_steps * frames_per_iter / max(elapsed, 1e-9)
                means = {k: float(np.mean(v)) for k, v in window.items()}
                log.write(step, {**means, "charts/frames_per_s": fps, "charts/warmup": ctx.warmup,
                                 "charts/seconds_per_iter": elapsed / max(window_steps, 1)})
                if bar:
                    bar.update(task, stats=_summary_text(step, means, fps, ctx.warmup))
                window, window_start, window_steps = {}, time.perf_counter(), 0
            if bar:
                bar.update(task, completed=time.perf_counter() - start_time if budget else step)
            if info.is_main and step % config.train.sample_every == 0:
                write_samples(ema.simulator if ema else model.simulator, sample_batch, config.train.warmup_floor,
                              run_dir / "samples", step)
            out_of_time = max_seconds is not None and time.perf_counter() - start_time > max_seconds
            if step % config.train.ckpt_every == 0 or step == config.train.steps or stop.requested or out_of_time:
                checkpoint()
            if stop.requested or out_of_time:
                interrupted = stop.requested
                break
    log.close()
    seconds = time.perf_counter() - start_time
    return TrainResult(run_dir=run_dir, step=step, seconds=seconds,
                       frames_per_s=(step - start_step) * frames_per_iter / max(seconds, 1e-9),
                       interrupted=interrupted, nonfinite_steps=nonfinite, model=model, ema=ema)


def _simulator_ema(model: nn.Module, config: Config, resumed_from: Path | None) -> SimulatorEMA | None:
    """The weight average when the config asks for one, taken back from the checkpoint resumed
    or started from (one that kept none starts the average at its weights)."""
    if config.train.ema_decay == 0:
        return None
    ema = SimulatorEMA(model, config.train.ema_decay)
    saved = load_ema_tensors(resumed_from) if resumed_from is not None else {}
    if saved:
        ema.load(saved)
    else:
        ema.update(model)
    return ema


def _check_init_source(init_from: Path, config: Config) -> Path:
    """The weights file a new run starts from; refuses one of another model (the data's frame
    size and actions included) or one already at the run's last step."""
    weights = resolve_checkpoint(init_from)
    diff = model_differences(config.model, read_config(weights).model)
    if diff:
        raise CheckpointError(f"{weights}: was trained with another model config or on other data (differs in: "
                              f"{', '.join(diff)}); --init-from needs the same model and frames of the same size")
    step = int(read_metadata(weights).get("step", 0))
    if config.train.steps <= step:
        raise UsageError(f"{weights} is at step {step:,} and the run would stop at step {config.train.steps:,}: "
                         f"pass a larger --steps (e.g. --steps {step + 1000})")
    return weights


def model_differences(mine: ModelConfig, theirs: ModelConfig, ignore: tuple[str, ...] = ()) -> list[str]:
    """Names of the model config fields that differ, leaving out `ignore`."""
    return [k for k, v in mine.__dict__.items() if k not in ignore and v != theirs.__dict__[k]]


def check_resume_config(run_dir: Path, config: Config) -> None:
    """A resumed run must keep its model: refuse a config whose model section differs."""
    stored_path = Path(run_dir) / "config.json"
    if not stored_path.exists():
        raise CheckpointError(f"{run_dir}: nothing to resume (no config.json)")
    # The fields filled from the data at start are not known yet.
    diff = model_differences(config.model, Config.load(stored_path).model,
                             ignore=("frame_size", "n_actions", "action_names"))
    if diff:
        raise CheckpointError(f"{run_dir}: was trained with another model config (differs in: {', '.join(diff)})")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
