"""Evaluate simulators on held-out episodes, every model on the same windows, and write
`metrics.json`, `report.md` and PNG plots (docs/evaluation.md defines every figure).

Figures, per model:
- teacher-forced next-frame PSNR / SSIM: windows of `teacher_len` frames rolled out with
  warm-up T-1, so every input is a real frame;
- free-running rollouts from `context` real frames with the recorded actions: PSNR by
  horizon, Pac-Man position error in cells (and how often he is lost), ghost-count and
  pellet-map agreement, read from the generated frames by palette colour (gamegan.evaluation.sprites)
  and compared with the recorded `state/*`;
- action faithfulness: an inverse-dynamics classifier trained on real transitions
  (gamegan.evaluation.inverse_dynamics) labels each generated transition; its accuracy on them;
- diversity: two rollouts with different noise; how much they differ on ghost cells and on
  wall cells (a stochastic model should vary the first and keep the second);
- pixel sources (gamegan.evaluation.pixel_sources): which renderer source (static, each dynamic
  component, the copy of the input frame) wins each pixel of the free-running frames,
  overall and per entity class of the real frame;
- controllability (gamegan.evaluation.controllability): delta-PSNR of recorded over random actions;
- come-back-home (gamegan.evaluation.come_back_home): walks away and back on the real game; the
  simulator's frame on return against the real one, with a random-frame reference row; and walks
  planned in the simulator's own maze, whose return frame is scored against the real start;
- the game's rules where they happen (gamegan.evaluation.fright_onset, .catches): are the
  ghosts drawn blue when the real ones turn frightened, and is the catch drawn?
- swap (gamegan.evaluation.swap, models with memory): another world's memory swapped in; are its walls
  drawn, at the swap and as the simulator walks on in it?
A "recorded" reference row replays the real frames through the same scoring, so every
column has its ceiling printed next to it. Metrics whose inputs the data lacks are skipped,
and `metrics.json` says why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from recorder.dataset import open_dataset

from recorder.game import GameConfig

from gamegan.evaluation import come_back_home as home
from gamegan.evaluation import catches, swap
from gamegan.evaluation import fright_onset as fright
from gamegan.evaluation.controllability import Controllability, controlled_psnr
from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.errors import UsageError
from gamegan.evaluation.inverse_dynamics import InverseDynamicsConfig, fit_inverse_dynamics
from gamegan.evaluation.image_quality import PSNR_CAP_DB
from gamegan.media import save_gif
from gamegan.evaluation.metrics import ModelScores, Scorer
from gamegan.model.types import Rollout, SimState
from gamegan.evaluation.pixel_sources import PixelSources, blend_weights, entity_class, source_names
from gamegan.evaluation.report import REFERENCE, write_report
from gamegan.evaluation.sprites import CellGeometry, PaletteReader


@dataclass
class EvalSettings:
    """Every knob of an evaluation; written with the figures to metrics.json."""

    horizons: tuple[int, ...] = (1, 5, 10, 20, 40)
    """Free-running steps after the last real frame at which figures are tabulated."""
    context: int = 2
    """Real frames fed before free-running (the rollout's warm-up); the same for every model."""
    teacher_len: int = 16
    """Frames per teacher-forced window (warm-up T-1: every input is real)."""
    episodes: int | None = None
    """Use the first N episodes of the data; None uses all."""
    batch_size: int = 16
    """Windows rolled out together."""
    diversity_windows: int = 16
    """Free-running windows rolled out a second time with other noise."""
    control_horizons: tuple[int, ...] = (4, 8, 16)
    """Controllability: free-running steps at which delta-PSNR is reported."""
    control_windows: int = 32
    """Controllability: free-running windows rolled out a second time with random actions."""
    home_ks: tuple[int, ...] = (5, 10, 20, 40)
    """Come-back-home: moves away (and as many back)."""
    home_starts: int = 16
    """Come-back-home: walks per k, each from its own real-game seed."""
    home_seed: int = 1_000_000
    """Come-back-home and swap: the first real-game seed (far from the seeds recordings use)."""
    swap_k: int = 10
    """Swap: moves walked in the other world after the swap."""
    swap_pairs: int = 16
    """Swap: pairs of real starts (two worlds each)."""
    event_length: int = 12
    """Fright onset and catches: frames per window around the event."""
    event_windows: int = 24
    """Fright onset: windows of each kind (`onset`, `during`)."""
    catch_free: int = 3
    """Catches: frames the free-running rollout predicts from its own before the catch."""
    strips: int = 2
    """Example windows drawn as real-vs-model strips."""
    plots: bool = True
    """Write the PNG plots and strips (report.md links them); off for quick numeric checks."""
    min_fraction: float = 0.5
    """A cell holds a sprite when this share of the sprite's area has its palette colour."""
    seed: int = 0
    """Seeds the models' noise (the same for every model)."""
    inverse_dynamics: InverseDynamicsConfig = field(default_factory=InverseDynamicsConfig)
    """How the action-faithfulness classifier is trained."""


@dataclass
class EvalModel:
    """A simulator to evaluate, under a display name, with where it came from."""

    name: str
    simulator: Any  # the Simulator API (warmup / step / rollout)
    info: dict = field(default_factory=dict)


class RecordedFrames(nn.Module):
    """The reference "model": its rollout returns the recorded next frames it is given.

    It relies on what evaluation passes to `rollout` (whole real windows), so it only has a
    rollout; it cannot step into an unrecorded future (no come-back-home, no diversity).
    """

    replays_recorded = True

    def rollout(self, frames: Tensor, actions: Tensor, warmup: int, z: Tensor | None = None) -> Rollout:
        return Rollout(frames=frames[:, 1:].clone())

    def warmup(self, frames: Tensor, actions: Tensor) -> SimState:
        return SimState(frame=frames[:, -1])

    def step(self, state: SimState, action: Tensor, z: Tensor | None = None) -> tuple[Tensor, SimState, dict]:
        raise NotImplementedError("recorded frames have no future beyond the recording")


def evaluate(
    run_or_ckpt: Path, data: Path, out_dir: Path, baselines: Sequence[Path] = (), episodes: int | None = None,
    horizons: Sequence[int] = (1, 5, 10, 20, 40), progress: bool = True, *, train_data: Path | None = None,
    device: str = "auto", settings: EvalSettings | None = None,
) -> dict:
    """Evaluate a run (or checkpoint) and baseline runs on the episodes in `data`; write
    metrics.json, report.md and plots to `out_dir`; return what metrics.json holds.

    The action-faithfulness classifier is trained on `train_data` (the training set; cached
    beside it) or, when not given, on the evaluation data's own episode split. `episodes`
    and `horizons` override the same fields of `settings`.
    """
    from gamegan.checkpoint import load_model
    from gamegan.train import resolve_device

    settings = dataclasses.replace(settings or EvalSettings(), episodes=episodes, horizons=tuple(int(h) for h in horizons))
    dev = resolve_device(device)
    models, names = [], set()
    for path in [run_or_ckpt, *baselines]:
        model, config, step = load_model(Path(path), device=dev)
        name = f"{config.model.kind} ({Path(path).name})"
        while name in names:
            name += "'"
        names.add(name)
        models.append(EvalModel(name, model.simulator, {"path": str(path), "kind": config.model.kind, "step": step,
                                                        "frame_size": config.model.frame_size,
                                                        "n_actions": config.model.n_actions}))
    return evaluate_models(models, data, out_dir, settings, train_data=train_data, progress=progress, device=dev)


def evaluate_models(
    models: Sequence[EvalModel], data: Path, out_dir: Path, settings: EvalSettings | None = None, *,
    train_data: Path | None = None, progress: bool = True, device: torch.device | str = "cpu",
    reference: bool = True,
) -> dict:
    """Evaluate simulators already in memory (what `evaluate` does after loading runs).

    Seeds torch inside a forked RNG, so the caller's random state is left as it was.
    """
    devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        return _evaluate_models(models, Path(data), Path(out_dir), settings or EvalSettings(), train_data, progress,
                                device, reference)


def _evaluate_models(models: Sequence[EvalModel], data: Path, out_dir: Path, settings: EvalSettings,
                     train_data: Path | None, progress: bool, device: torch.device | str, reference: bool) -> dict:
    _check_settings(settings)
    with open_dataset(data) as ds:
        meta, state_fields = ds.meta, list(ds.state_fields)
        n_eps = ds.n_episodes if settings.episodes is None else min(settings.episodes, ds.n_episodes)
        lengths = ds.episode_lengths[:n_eps].astype(int).tolist()
    for m in models:
        _check_fits(m, meta)
    entries = ([EvalModel(REFERENCE, RecordedFrames(), {"kind": "reference: the recorded frames"})] if reference else [])
    entries += list(models)
    skipped: dict[str, str] = {}
    reader = _reader(meta, settings, skipped)
    width = settings.context + max(settings.horizons)  # free-running window length
    with _progress_bar(progress) as bar:
        classifier, id_info = _classifier(train_data or data, settings, skipped, bar, device)
        scorer = Scorer(reader, state_fields, meta, settings, classifier, skipped)
        results = {m.name: ModelScores(settings.horizons) for m in entries}
        total = sum(len(_windows(n, settings.teacher_len, 2)) + len(_windows(n, width, settings.context + 1))
                    for n in lengths)
        task = bar.add_task("eval windows", total=total * len(entries)) if bar else None
        with open_dataset(data) as ds:
            for i, (kind, group) in enumerate(_window_batches(ds, n_eps, state_fields, settings)):
                batch = _stack(group, device)
                for m in entries:
                    noise_seed = settings.seed + 7919 * i  # the same noise for every model
                    torch.manual_seed(noise_seed)
                    if kind == "teacher":
                        _teacher_forced(m, batch, scorer, results[m.name], settings)
                    else:
                        _free_running(m, batch, scorer, results[m.name], settings, noise_seed, meta.n_actions)
                    if bar:
                        bar.advance(task, len(group))
        walks = _home_walks(meta, reader, settings, skipped)
        home_reference, home_gif, gif_of = {}, None, None
        game = _real_game(meta, reader, skipped, "swap")
        pairs = swap.swap_pairs(game, settings.swap_k, settings.swap_pairs, seed=settings.home_seed) if game else []
        for k, ws in walks.items():
            home_reference[str(k)] = home.summarize(home.home_scores(reader, np.stack([w.other for w in ws]),
                                                                     np.stack([w.home for w in ws])))
        for m in entries:
            if getattr(m.simulator, "replays_recorded", False) or not hasattr(m.simulator, "step"):
                continue  # these walk into futures no recording holds: only a steppable simulator can
            has_memory = getattr(getattr(m.simulator, "config", None), "memory", False)
            # A model with memory is scored twice: with the soft attention it was trained with, and
            # with the hard (one-hot) attention `gamegan play` uses.
            for played in (False, True) if has_memory and hasattr(m.simulator, "hard_memory") else (False,):
                with _hard_memory(m.simulator, played):
                    for k, ws in walks.items():
                        torch.manual_seed(settings.seed)
                        drawn, cells = home.simulate_walks(m.simulator, ws, device)  # (N, 2k, H, W, 3)
                        per_walk = home.home_scores(reader, drawn[:, -1], np.stack([w.home for w in ws]))
                        scores = home.summarize(per_walk | (home.attention_scores(cells) if cells is not None else {}))
                        scores.update(home.summarize(
                            home.home_scores(reader, drawn[:, k - 1], np.stack([w.away for w in ws])), prefix="away_"))
                        torch.manual_seed(settings.seed)
                        scores.update(home.own_walk_scores(m.simulator, ws, k, reader, seed=settings.home_seed,
                                                           device=device))
                        (results[m.name].home_played if played else results[m.name].home)[str(k)] = scores
                        # The GIF: the first model's longest walk, as played when it has memory.
                        if settings.plots and k == max(walks) and (home_gif is None or played and gif_of == m.name):
                            home_gif, gif_of = save_gif(home.walk_strip(ws[0], drawn[0]), out_dir / "come_back_home.gif",
                                                        fps=4), m.name
                    if pairs and has_memory:
                        swapped = _swap_figures(m.simulator, pairs, reader, device)
                        if played:
                            results[m.name].swap_played = swapped
                        else:
                            results[m.name].swap = swapped
        events = _event_recordings(data, n_eps, reader, state_fields, settings, skipped)
        for m in entries:
            if getattr(m.simulator, "replays_recorded", False):
                continue
            if "fright_onset" in events:
                results[m.name].events["fright_onset"] = fright.blue_by_frame(m.simulator, events["fright_onset"],
                                                                              reader, device)
            if "catches" in events:
                shares = catches.catch_shares(m.simulator, events["catches"], reader, settings.catch_free, device)
                results[m.name].events["catches"] = {**events["catches"]["figures"], **shares}
    real_strips = results[entries[0].name].real_strips
    figures = {
        "settings": {**_plain(dataclasses.asdict(settings)), "psnr_cap_db": PSNR_CAP_DB},
        "data": {"path": str(data), "mode": meta.mode, "frame_shape": list(meta.frame_shape),
                 "action_names": list(meta.action_names), "state_fields": state_fields,
                 "episodes_used": n_eps, "frames_used": int(sum(lengths))},
        "skipped": skipped,
        "inverse_dynamics": id_info,
        "models": {m.name: {"info": _plain(m.info), **results[m.name].summary(meta.n_actions, settings)}
                   for m in entries},
        "come_back_home_reference": home_reference,
        "come_back_home_gif": home_gif.name if home_gif else None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n")
    write_report(figures, {m.name: results[m.name].strips for m in entries}, real_strips, out_dir, plots=settings.plots)
    return figures


# --- set-up ------------------------------------------------------------------------------------

def _check_settings(s: EvalSettings) -> None:
    if s.context < 1 or s.teacher_len < 2 or not s.horizons or min(s.horizons) < 1 or s.batch_size < 1:
        raise UsageError("eval settings: context >= 1, teacher_len >= 2, horizons >= 1 and batch_size >= 1 are required")


def _check_fits(m: EvalModel, meta: Any) -> None:
    size, n_actions = m.info.get("frame_size"), m.info.get("n_actions")
    if size is not None and size != meta.frame_shape[0]:
        raise UsageError(f"{m.name} simulates {size}px frames; the data has {meta.frame_shape[0]}px frames")
    if n_actions is not None and n_actions != meta.n_actions:
        raise UsageError(f"{m.name} knows {n_actions} actions; the data has {meta.n_actions}")


def _reader(meta: Any, settings: EvalSettings, skipped: dict[str, str]) -> PaletteReader | None:
    """The palette reader for this data, or None (and the state metrics skipped, with why)."""
    try:
        geometry = CellGeometry.from_game(meta.game)
        return PaletteReader(meta.palette, geometry, settings.min_fraction)
    except (ValueError, KeyError, TypeError) as err:
        reason = f"frames cannot be read by palette ({err})"
        for name in ("position_error", "ghost_count", "pellets", "diversity"):
            skipped[name] = reason
        return None


def _classifier(source: Path, settings: EvalSettings, skipped: dict[str, str], bar: Any,
                device: torch.device | str) -> tuple[Any, dict]:
    task = bar.add_task("inverse dynamics", total=settings.inverse_dynamics.steps) if bar else None

    def on_step(done: int, total: int) -> None:
        if bar:
            bar.update(task, completed=done)

    try:
        model, info = fit_inverse_dynamics(source, settings.inverse_dynamics, on_step=on_step, device=device)
    except ValueError as err:
        skipped["action_faithfulness"] = f"no inverse-dynamics classifier ({err})"
        return None, {}
    if bar:
        bar.update(task, completed=settings.inverse_dynamics.steps)
    return model, info


@contextlib.contextmanager
def _progress_bar(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True)) as bar:
        yield bar


# --- rollouts ----------------------------------------------------------------------------------

@dataclass
class _Window:
    """T consecutive frames of one episode, their T-1 actions and the state of each frame."""

    frames: np.ndarray  # uint8 (T, H, W, 3)
    actions: np.ndarray  # int64 (T-1,)
    state: dict[str, np.ndarray]  # name -> (T, ...)


def _windows(length: int, window: int, min_len: int) -> list[tuple[int, int]]:
    """Non-overlapping (start, length) windows over an episode; the last may be shorter."""
    return [(s, min(window, length - s)) for s in range(0, length, window) if min(window, length - s) >= min_len]


def _window_batches(ds: Any, n_eps: int, state_fields: list[str], settings: EvalSettings
                    ) -> Iterator[tuple[str, list[_Window]]]:
    """("teacher" | "free", windows of one length) batches over the first `n_eps` episodes,
    pooled across episodes so that the models roll out full batches."""
    names = [n for n in ("pacman", "ghosts", "pellets", "power_pellets", "view_origin") if n in state_fields]
    spans = {"teacher": (settings.teacher_len, 2), "free": (settings.context + max(settings.horizons), settings.context + 1)}
    pending: dict[tuple[str, int], list[_Window]] = {}
    for e in range(n_eps):
        frames, actions = ds.frames(e), ds.actions(e).astype(np.int64)
        state = {n: ds.state(e, n) for n in names}
        for kind, (width, min_len) in spans.items():
            for start, n in _windows(len(frames), width, min_len):
                sl = slice(start, start + n)
                group = pending.setdefault((kind, n), [])
                group.append(_Window(frames[sl], actions[start:start + n - 1], {k: v[sl] for k, v in state.items()}))
                if len(group) == settings.batch_size:
                    yield kind, pending.pop((kind, n))
    for (kind, _), group in pending.items():
        yield kind, group


@dataclass
class _Batch:
    frames: Tensor  # (B, T, 3, H, W)
    actions: Tensor  # (B, T-1)
    state: dict[str, np.ndarray]  # name -> (B, T, ...)
    uint8: np.ndarray  # (B, T, H, W, 3)


def _stack(group: list[_Window], device: torch.device | str) -> _Batch:
    frames = np.stack([w.frames for w in group])
    return _Batch(frames=to_model_frames(frames).to(device),
                  actions=torch.from_numpy(np.stack([w.actions for w in group])).to(device),
                  state={k: np.stack([w.state[k] for w in group]) for k in group[0].state}, uint8=frames)


@torch.no_grad()
def _teacher_forced(m: EvalModel, batch: _Batch, scorer: Scorer, scores: ModelScores, settings: EvalSettings) -> None:
    """Every input real: warm-up T-1; each prediction scored against the next real frame."""
    if isinstance(m.simulator, nn.Module):
        m.simulator.eval()
    pred = m.simulator.rollout(batch.frames, batch.actions, batch.frames.shape[1] - 1).frames
    scores.add_teacher(scorer.image_scores(pred, batch.frames[:, 1:]))


@torch.no_grad()
def _free_running(m: EvalModel, batch: _Batch, scorer: Scorer, scores: ModelScores, settings: EvalSettings,
                  noise_seed: int, n_actions: int) -> None:
    """`context` real frames, then the model's own; generated frames scored by horizon, the
    renderer's pixel sources counted, and (for the first windows) the same rollout made again
    with random actions for controllability. The caller has seeded torch with `noise_seed`."""
    sim, c = m.simulator, settings.context
    if isinstance(sim, nn.Module):
        sim.eval()
    rollout = sim.rollout(batch.frames, batch.actions, c)
    pred = rollout.frames  # (B, T-1, 3, H, W)
    fake, real = pred[:, c - 1:], batch.frames[:, c:]  # horizons 1..T-c
    fed = torch.cat([batch.frames[:, c - 1:c], fake[:, :-1]], dim=1)  # x_t of each generated transition
    # Frames flattened with an explicit count: a state with no entities (ghosts (B, T, 0, 2)) has no -1 to infer.
    truth = {k: v[:, c:].reshape(v.shape[0] * (v.shape[1] - c), *v.shape[2:]) for k, v in batch.state.items()}
    free = scorer.free_scores(truth, fake, real, fed, batch.actions[:, c - 1:])
    scores.add_free(free)
    _count_sources(sim, rollout, batch, scorer, scores, c)
    if scores.control.windows < settings.control_windows and not getattr(sim, "replays_recorded", False):
        actions = torch.Generator().manual_seed(noise_seed)  # the same random actions for every model
        scores.control.add(*controlled_psnr(sim, batch.frames, batch.actions, c, n_actions, noise_seed=noise_seed,
                                            generator=actions, recorded=free["psnr"]))
    room = settings.strips - len(scores.strips)
    if room > 0:
        scores.strips.extend(to_uint8_frames(torch.cat([batch.frames[:, :c], fake], dim=1))[:room])
        scores.real_strips.extend(batch.uint8[:room])
    if scores.diversity_windows < settings.diversity_windows and not getattr(sim, "replays_recorded", False):
        torch.manual_seed(settings.seed + 104729 + scores.diversity_windows)
        again = sim.rollout(batch.frames, batch.actions, c).frames[:, c - 1:]
        scores.add_diversity(scorer.diversity(fake, again, real), len(fake))


def _count_sources(sim: Any, rollout: Rollout, batch: _Batch, scorer: Scorer, scores: ModelScores, c: int) -> None:
    """Add the free-running frames' blend weights to the model's pixel-source counts."""
    weights = blend_weights(rollout)
    if weights is None:
        return
    weights = weights[:, c - 1:]  # (B, n, S, H, W), the free-running steps
    if scores.sources is None:
        classes = [entity_class(n) for n in scorer.reader.names] if scorer.reader is not None else []
        scores.sources = PixelSources(source_names(sim, rollout.masks.shape[2], rollout.copy is not None), classes)
    labels = scorer.reader.labels(batch.uint8[:, c:].reshape(-1, *batch.uint8.shape[2:])) if scorer.reader else None
    scores.sources.add(weights.flatten(0, 1), labels)


# --- come-back-home ----------------------------------------------------------------------------

@contextlib.contextmanager
def _hard_memory(simulator: Any, on: bool) -> Iterator[None]:
    """Run `simulator` with hard memory attention (as play does) inside the block when `on`."""
    if not on:
        yield
        return
    before = simulator.hard_memory
    simulator.hard_memory = True
    try:
        yield
    finally:
        simulator.hard_memory = before


def _real_game(meta: Any, reader: PaletteReader | None, skipped: dict[str, str], metric: str) -> GameConfig | None:
    """The game the data was recorded from, to plan walks on in maze mode; None (and why)."""
    if reader is None:
        skipped[metric] = "frames cannot be read by palette"
        return None
    if meta.mode == "classic":
        skipped[metric] = "classic mode: the view never moves and there is one world, so the walls never differ"
        return None
    try:
        return GameConfig.from_dict(dict(meta.game))
    except (TypeError, ValueError) as err:
        skipped[metric] = f"the data's game cannot be rebuilt to plan walks on ({err})"
        return None


def _home_walks(meta: Any, reader: PaletteReader | None, settings: EvalSettings,
                skipped: dict[str, str]) -> dict[int, list[home.HomeWalk]]:
    """The walks for every k, planned on the game the data was recorded from, or {} (and why)."""
    config = _real_game(meta, reader, skipped, "come_back_home")
    if config is None:
        return {}
    walks = {}
    for k in settings.home_ks:
        ws = home.home_walks(config, k, settings.home_starts, context=settings.context, seed=settings.home_seed)
        if ws:
            walks[k] = ws
    if not walks:
        skipped["come_back_home"] = "no real-game start allowed a walk away and back"
    return walks


def _event_recordings(data: Path, n_eps: int, reader: PaletteReader | None, state_fields: list[str],
                      settings: EvalSettings, skipped: dict[str, str]) -> dict[str, Any]:
    """The recorded windows around the game's two rules, when the data allows: ghosts turning
    frightened (`fright_onset`) and a ghost catching Pac-Man (`catches`); the reason otherwise."""
    out: dict[str, Any] = {}
    if reader is None:
        skipped["fright_onset"] = skipped["catches"] = "frames cannot be read by palette"
        return out
    with open_dataset(data) as ds:
        if "frightened" not in state_fields:
            skipped["fright_onset"] = "the data has no state/frightened"
        else:
            try:
                out["fright_onset"] = fright.windows(ds, settings.event_length, settings.event_windows, n_eps)
            except ValueError as err:
                skipped["fright_onset"] = str(err)
        if not {"pacman", "ghosts", "frightened"} <= set(state_fields):
            skipped["catches"] = "the data has no state/pacman, state/ghosts and state/frightened"
        else:
            try:
                out["catches"] = catches.recorded_catches(ds, reader, settings.event_length, n_eps)
            except ValueError as err:
                skipped["catches"] = str(err)
    return out


def _swap_figures(sim: Any, pairs: list[swap.SwapPair], reader: PaletteReader, device: torch.device | str) -> dict:
    """Wall-cell agreement with B's real frames, swapped and not, at the swap and after each
    move: mean and standard error over the pairs."""
    swapped, unswapped = swap.simulate_swaps(sim, pairs, device)
    out: dict[str, Any] = {"pairs": len(pairs), "at": {}}
    for name, drawn in (("swapped", swapped), ("unswapped", unswapped)):
        scores = swap.swap_scores(reader, drawn, pairs)  # (N, 1 + k)
        for t in range(scores.shape[1]):
            at = out["at"].setdefault(str(t), {})
            at[name] = float(scores[:, t].mean())
            at[f"{name}_se"] = float(scores[:, t].std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else 0.0
    return out


def _plain(x: Any) -> Any:
    """JSON-ready copy: tuples become lists, paths strings."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x
