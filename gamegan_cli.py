"""The `gamegan` command line: parses options, then calls the library functions of the recorder,
the learner (gamegan) and the play client, above all three (none of them imports it).

Heavy imports (torch, pygame) happen inside the commands that need them, so `gamegan record`
and `gamegan --help` start quickly. Errors a user can fix are printed as one line and exit 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console

from recorder.game import GameConfig as _GC  # defaults shown in `record --help`; no torch here
from recorder.record import RecordConfig as _RC

# torch's OpenMP threads spin-wait by default; on a machine doing anything else (a laptop,
# a shared 2-core box) that starves the sibling thread and costs 5-10x. Set before torch loads;
# export OMP_WAIT_POLICY=ACTIVE to opt back in.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    help="Learn a playable neural game simulator (GameGAN) from recorded Pac-Man play.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)
bench_app = typer.Typer(help="Measure performance; each command prints one JSON line.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
agent_app = typer.Typer(help="Agents that learn to play from pixels, in a simulator's dream or the real game.",
                        no_args_is_help=True)
app.add_typer(agent_app, name="agent")

console = Console(stderr=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one red line and exit code 1 (no traceback)."""
    from gamegan.errors import USER_ERRORS

    try:
        yield
    except USER_ERRORS as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def as_usage_error(*kinds: type[Exception]) -> Iterator[None]:
    """Re-raise the given exception kinds as UsageError: for validating user-given options."""
    from gamegan.errors import UsageError

    try:
        yield
    except kinds as err:
        raise UsageError(str(err)) from None


def _given(**options: object) -> dict[str, object]:
    """The options a user actually passed (typer leaves the others None): the dataclass
    configs keep the only defaults."""
    return {key: value for key, value in options.items() if value is not None}


@app.command()
def record(
    out: Path = typer.Option(..., "--out", help="Dataset directory to write shards into."),
    episodes: Optional[int] = typer.Option(None, help=f"Episodes to record (default {_RC.episodes})."),
    workers: Optional[int] = typer.Option(None, help=f"Worker processes, each writing its own shards (default {_RC.workers})."),
    seed: Optional[int] = typer.Option(None, help=f"Base seed; episode i always gets the same seeds (default {_RC.seed})."),
    agent: Optional[str] = typer.Option(None, help=f"mix | greedy | random | human (default {_RC.agent})."),
    mode: Optional[str] = typer.Option(None, help=f"classic | maze (default {_GC.mode})."),
    layout: Optional[str] = typer.Option(None, help=f"Classic-mode layout: classic, pillars, small, or several joined by + (classic+pillars: one per episode; default {_GC.layout})."),
    ghosts: Optional[int] = typer.Option(None, help=f"Number of ghosts, 2-4 (default {_GC.n_ghosts})."),
    size: Optional[int] = typer.Option(None, help=f"Frame size in pixels: 32, 64, 84 or 128 (default {_GC.frame_size})."),
    max_steps: Optional[int] = typer.Option(None, help=f"Episode length limit (default {_GC.max_steps})."),
    shard_episodes: Optional[int] = typer.Option(None, help=f"Episodes per shard file (default {_RC.shard_episodes})."),
    append: bool = typer.Option(False, "--append", help="Add episodes to an existing compatible dataset."),
) -> None:
    """Record episodes of the game played by a bot (or you) into sharded HDF5."""
    from gamegan.progress import episode_progress
    from recorder.record import check_output
    from recorder.record import record as run_record

    with user_errors():
        with as_usage_error(ValueError):
            game = _GC(**_given(mode=mode, layout=layout, n_ghosts=ghosts, frame_size=size, max_steps=max_steps))
            cfg = _RC(out=out, append=append, game=game, **_given(
                episodes=episodes, workers=workers, seed=seed, agent=agent, shard_episodes=shard_episodes))
        check_output(cfg)  # refuse a non-empty --out before any progress is drawn
        with episode_progress(cfg.episodes, "recording") as advance:
            summary = run_record(cfg, on_progress=advance)
    state = "interrupted, finished episodes kept" if summary.interrupted else "done"
    console.print(
        f"{state}: {summary.episodes} episodes, {summary.frames} frames in {summary.seconds:.1f} s "
        f"({summary.frames_per_s:,.0f} frames/s) -> {out} ({len(summary.shards)} new shard(s))"
    )
    if summary.interrupted:
        raise typer.Exit(130)


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="Dataset directory or one .h5 shard."),
    gif: Optional[Path] = typer.Option(None, help="Write an episode as a GIF here."),
    episode: int = typer.Option(0, help="Episode index for --gif."),
    fps: float = typer.Option(10.0, help="GIF frame rate."),
    scale: int = typer.Option(4, help="GIF upscale factor."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a dataset (shards, episodes, frames, actions, size) and optionally export a GIF."""
    from recorder.dataset import open_dataset, summarize, validate

    with user_errors():
        validate(path)
        summary = summarize(path)
        if as_json:
            print(json.dumps(summary, indent=2, default=str))
        else:
            _print_summary(summary)
        if gif is not None:
            from gamegan.errors import UsageError
            from gamegan.media import save_gif

            with open_dataset(path) as data:
                if not 0 <= episode < data.n_episodes:
                    raise UsageError(f"episode {episode} out of range (dataset has {data.n_episodes})")
                save_gif(data.frames(episode), gif, fps=fps, scale=scale)
            console.print(f"wrote {gif} (episode {episode}, {data.episode_lengths[episode]} frames)")


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(title="dataset", show_header=False)
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:,.3f}"
        table.add_row(str(key), str(value))
    Console().print(table)


@bench_app.command("record")
def bench_record(
    episodes: int = typer.Option(40, help="Episodes to record for the measurement."),
    size: int = typer.Option(64, help="Frame size."),
    agent: str = typer.Option("mix", help="Agent playing."),
    repeats: int = typer.Option(3, help="Repetitions; the median is reported."),
) -> None:
    """Frames/s of one worker: game step, render and HDF5 write, measured separately and together."""
    from recorder.bench import bench_record as run

    with user_errors():
        print(json.dumps(run(episodes=episodes, frame_size=size, agent=agent, repeats=repeats)))


def build_train_config(preset_name: str, out: Path, resume: bool, overrides: list[str],
                       kind: str | None = None, init_from: Path | None = None) -> "Config":  # noqa: F821
    """Preset (or the run's stored config when resuming, or the config of the weights a new run
    starts from), the model kind, then `key=value` overrides."""
    from gamegan.checkpoint import latest_checkpoint, read_config, resolve_checkpoint
    from gamegan.config import Config, apply_overrides, preset, with_model_kind
    from gamegan.train import check_resume_config

    stored = out / "config.json"
    latest = latest_checkpoint(out) if resume and out.is_dir() else None
    if resume and stored.exists():
        base = Config.load(stored)
    elif latest is not None:  # config.json lost (a copy, a crash at the start): checkpoints carry it too
        base = read_config(latest)
    elif init_from is not None:
        base = read_config(resolve_checkpoint(init_from))
    else:
        base = preset(preset_name)
    if kind is not None and kind != base.model.kind:
        base = with_model_kind(base, kind)
    config = apply_overrides(base, overrides)
    if resume and stored.exists():
        check_resume_config(out, config)
    return config


def _option_overrides(**options: object) -> list[str]:
    """The given options as `key=value` overrides for `apply_overrides`."""
    return [f"{key}={json.dumps(value)}" for key, value in _given(**options).items()]


@app.command()
def train(
    data: Path = typer.Option(..., "--data", help="Dataset directory (or one .h5 shard)."),
    out: Path = typer.Option(..., "--out", help="Run directory: config, checkpoints, metrics, samples."),
    preset: str = typer.Option("small", help="tiny | small | pacman | pacman-maze | paper (not read with --init-from or --resume)."),
    model: Optional[str] = typer.Option(None, help="gamegan | action-lstm | world-models (default: gamegan)."),
    init_from: Optional[str] = typer.Option(
        None, "--init-from", help="Start from this checkpoint, run or exported model ('shipped': the packaged "
        "Pac-Man model): its config, weights and step, with fresh optimisers."),
    steps: Optional[int] = typer.Option(None, help="Total iterations (default: the preset's)."),
    batch: Optional[int] = typer.Option(None, help="Batch size per process."),
    seq_len: Optional[int] = typer.Option(None, help="Frames per training sequence (T)."),
    device: Optional[str] = typer.Option(None, help="auto | cpu | cuda | mps."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bf16 autocast on CUDA."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its latest checkpoint."),
    set_: List[str] = typer.Option([], "--set", help="Override any config field: section.key=value (repeatable)."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop (with a checkpoint) after this many minutes."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a simulator on recorded episodes; Ctrl-C saves a checkpoint, --resume continues."""
    from gamegan.shipped import model_source
    from gamegan.train import train as run_train

    with user_errors():
        overrides = _option_overrides(**{"train.steps": steps, "train.batch_size": batch,
                                         "train.seq_len": seq_len, "train.device": device, "train.amp": amp})
        source = model_source(init_from) if init_from is not None else None
        config = build_train_config(preset, out, resume, overrides + list(set_), kind=model, init_from=source)
        result = run_train(config, data, out, resume=resume, progress=not quiet,
                           max_seconds=max_minutes * 60 if max_minutes else None, init_from=source)
    state = "interrupted" if result.interrupted else "stopped"
    console.print(f"{state} at step {result.step}: {result.frames_per_s:,.0f} frames/s over {result.seconds:.0f} s; "
                  f"run in {out} (resume with --resume)")
    if result.interrupted:
        raise typer.Exit(130)


@bench_app.command("train")
def bench_train(
    preset: str = typer.Option("small", help="tiny | small | pacman | pacman-maze | paper."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | mps."),
    iters: int = typer.Option(5, help="Timed iterations (median reported)."),
    set_: List[str] = typer.Option([], "--set", help="Override any config field: section.key=value."),
) -> None:
    """Training throughput on synthetic batches: one JSON line."""
    from gamegan.bench import bench_train as run
    from gamegan.config import apply_overrides, preset as get_preset

    with user_errors():
        config = apply_overrides(get_preset(preset), [f"train.device={device}"] + list(set_))
        print(json.dumps({"preset": preset, **run(config, iters=iters)}))


@app.command()
def play(
    run: Optional[Path] = typer.Argument(None, help="Run directory (latest checkpoint) or a .safetensors checkpoint "
                                                    "(default: the Pac-Man model shipped with the package)."),
    data: Optional[Path] = typer.Option(None, help="Start frames from this dataset (default: the real game engine)."),
    real: bool = typer.Option(False, "--real", help="Play the real game in the same client."),
    scale: Optional[int] = typer.Option(None, help="Window upscale factor (default: frame ~512 px)."),
    fps: float = typer.Option(10.0, help="Simulator steps per second."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | mps."),
    seed: int = typer.Option(0, help="Seed of the start frames and the noise."),
    headless: bool = typer.Option(False, "--headless", help="No window: drive with --keys, write --gif."),
    keys: Optional[str] = typer.Option(None, help="Headless: one letter per step, U/D/L/R, N for NOOP."),
    gif: Optional[Path] = typer.Option(None, help="Headless: write the played frames here."),
    view: str = typer.Option("output", help="Headless: output | static | dynamic | masks."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Headless: the real game beside the model."),
    gif_dir: Path = typer.Option(Path("."), help="Where G saves GIFs from the window."),
) -> None:
    """Play a trained simulator with the keyboard (arrows/WASD; H in the window lists every key)."""
    from play.headless import summary_line
    from play.launch import play as run_play

    with user_errors():
        summary = run_play(run, data=data, real=real, scale=scale, fps=fps, headless=headless, keys=keys, gif=gif,
                           device=device, seed=seed, view=view, side_by_side=side_by_side, gif_dir=gif_dir)
    if summary is not None:
        console.print(summary_line(summary))


@bench_app.command("play")
def bench_play(
    preset: str = typer.Option("small", help="Preset (random weights) or a run directory / checkpoint."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | mps."),
    steps: int = typer.Option(200, help="Timed steps."),
    threads: Optional[int] = typer.Option(None, help="torch threads (default: chosen for latency)."),
) -> None:
    """Simulator step latency at batch 1 (p50/p99 ms, steps/s): one JSON line."""
    from play.bench import bench_play as run

    with user_errors():
        print(json.dumps(run(preset, device=device, steps=steps, threads=threads)))


@app.command("eval")
def eval_(
    run: Path = typer.Argument(..., help="Run directory (latest checkpoint) or a .safetensors checkpoint."),
    data: Path = typer.Option(..., "--data", help="Held-out dataset to evaluate on."),
    baseline: List[Path] = typer.Option([], "--baseline", help="Another run to compare (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report directory (default: RUN/eval)."),
    train_data: Optional[Path] = typer.Option(None, help="Training data for the action classifier (default: a split of --data)."),
    episodes: Optional[int] = typer.Option(None, help="Use only the first N episodes."),
    horizons: str = typer.Option("1,5,10,20,40", help="Free-running horizons, comma-separated."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    play: int = typer.Option(0, "--play", help="Also the play measurement: this many sessions against the real game."),
    play_seed: int = typer.Option(2000, help="First real-game seed of the play measurement's sessions."),
) -> None:
    """Measure a simulator (and baselines) on held-out episodes: metrics.json, report.md, plots."""
    from gamegan.evaluation.evaluate import evaluate
    from play.measure import add_play_measurement

    with user_errors():
        with as_usage_error(ValueError):
            steps = tuple(int(h) for h in horizons.split(","))
        out_dir = out if out is not None else (run if run.is_dir() else run.parent.parent) / "eval"
        figures = evaluate(run, data, out_dir, baselines=baseline, episodes=episodes, horizons=steps,
                           progress=not quiet, train_data=train_data, device=device)
        if play > 0:
            add_play_measurement(out_dir, run, sessions=play, seed=play_seed)
    for metric, reason in figures.get("skipped", {}).items():
        console.print(f"skipped {metric}: {reason}")
    console.print(f"wrote {out_dir / 'report.md'}, {out_dir / 'metrics.json'} and plots")


@app.command()
def follow(
    model: Optional[str] = typer.Argument(None, help="Run directory, checkpoint or shipped name (default: the shipped model)."),
    sessions: int = typer.Option(40, help="Sessions against the real game, seeds SEED, SEED+1, ..."),
    steps: int = typer.Option(80, help="Keys per session."),
    seed: int = typer.Option(1000, help="First real-game seed (the recordings use 0 and 999)."),
    checkpoints: Optional[str] = typer.Option(None, metavar="FIRST:LAST",
                                              help="Score each checkpoint of the run MODEL with a step in FIRST..LAST (either may be empty)."),
    strip: Optional[Path] = typer.Option(None, help="Also draw session SEED, simulator | real game per step, as this PNG (red bar: a miss)."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | mps."),
) -> None:
    """The play measurement alone: does Pac-Man follow the keys, do the ghosts stay? A table, then one JSON line."""
    from gamegan.evaluation.follow import format_checkpoint_row, format_report
    from gamegan.media import save_png
    from play.measure import follow_checkpoints, follow_keys, follow_strip

    from gamegan.errors import UsageError

    with user_errors():
        if checkpoints is not None:
            if model is None or not Path(model).is_dir():
                raise UsageError("--checkpoints needs a run directory as MODEL")
            try:
                first, last = (int(x) if x.strip() else None for x in checkpoints.split(":"))
            except ValueError:
                raise UsageError(f"--checkpoints takes FIRST:LAST steps, e.g. 4900:5700, not {checkpoints!r}") from None
            with as_usage_error(ValueError):  # a run without checkpoints in the range
                each = follow_checkpoints(model, first or 0, last, episodes=sessions, steps=steps, seed=seed,
                                          device=device)
            scored = []
            for step, summary in each:
                console.print(format_checkpoint_row(step, summary), highlight=False)
                print(json.dumps({"step": step, **summary}), flush=True)
                scored.append((summary["overall"]["match"], step))
            match, step = max(scored)  # the later checkpoint on a tie
            console.print(f"best by match on seeds {seed}-{seed + sessions - 1}: step {step} ({match:.1%})")
            return
        summary = follow_keys(model, episodes=sessions, steps=steps, seed=seed, device=device).summary()
        console.print(format_report(summary), highlight=False)
        print(json.dumps({"model": model or "shipped", "steps": steps, "seed": seed, **summary}))
        if strip is not None:
            path = save_png(follow_strip(model, seed=seed, steps=steps, device=device), strip, scale=2)
            console.print(f"session {seed}: {path}")


@app.command()
def export(
    run: Path = typer.Argument(..., help="Run directory (latest checkpoint) or a .safetensors checkpoint."),
    out: Path = typer.Option(..., "--out", help="Weights file to write (.safetensors); NAME.config.json goes beside it."),
    dtype: str = typer.Option("fp16", help="fp16 | bf16 | fp32."),
    check_on: Optional[Path] = typer.Option(None, help="Held-out data: also say what the lower precision costs (PSNR, fp32 vs export)."),
) -> None:
    """Write a checkpoint's weights alone (fp16 by default) for sharing: `gamegan play OUT` plays it."""
    from gamegan.evaluation.export_precision import export_precision, format_precision
    from gamegan.shipped import config_path, export_model

    with user_errors():
        path = export_model(run, out, dtype)
        size = path.stat().st_size / 2**20
        console.print(f"wrote {path} ({size:.1f} MiB) and {config_path(path)}")
        if check_on is not None:
            console.print(format_precision(export_precision(run, path, check_on), dtype))


@agent_app.command("train")
def agent_train(
    out: Path = typer.Option(..., "--out", help="Directory of the agent (policy, state to resume, metrics.jsonl)."),
    env: str = typer.Option("dream", help="dream (the simulator --model) | real (the real game)."),
    model: Optional[str] = typer.Option(None, help="Simulator: a run, checkpoint or shipped name (shipped, pacman-maze); "
                                                   "for --env real, the game it was trained on (default: the default game)."),
    steps: int = typer.Option(200_000, help="Environment steps in all."),
    num_envs: int = typer.Option(16, help="Envs stepped together."),
    max_steps: Optional[int] = typer.Option(None, help="Cap each episode at this many steps."),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, "--resume", help="Continue the agent in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a PPO agent on pixels; `gamegan agent eval OUT` scores it in the real game."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from gamegan.agent.ppo import PPOConfig, check_out
    from gamegan.agent.run import train_agent

    config = PPOConfig(env_steps=steps, num_envs=num_envs, seed=seed)
    with user_errors(), as_usage_error(FileExistsError):
        check_out(out, resume)  # before any bar is drawn
    columns = [TextColumn("[bold]agent"), BarColumn(), MofNCompleteColumn(), TextColumn("env steps"),
               TextColumn("return {task.fields[ret]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with user_errors(), as_usage_error(FileExistsError, ValueError), \
            Progress(*columns, console=Console(stderr=True), disable=quiet) as bar:
        task = bar.add_task("agent", total=config.updates * config.batch, ret="—")

        def on_update(row: dict) -> None:
            ret = f"{row['return_mean']:.0f}" if row["return_mean"] is not None else "—"
            bar.update(task, completed=row["env_steps"], ret=ret)

        path = train_agent(env, out, config, model=model, max_steps=max_steps, resume=resume, on_update=on_update)
    console.print(f"wrote {path}; score it with: gamegan agent eval {path}")


@agent_app.command("eval")
def agent_eval(
    agent: str = typer.Argument(..., help="An agent directory from `gamegan agent train`, or `random` (the floor)."),
    env: str = typer.Option("real", help="real (the game it was trained for) | dream (a simulator)."),
    model: Optional[str] = typer.Option(None, help="--env dream: the simulator (default: the one it was trained in; "
                                                  "needed for random)."),
    episodes: int = typer.Option(100, help="Whole episodes to play."),
    seed: int = typer.Option(10_000, help="First env seed (training uses others)."),
    greedy: bool = typer.Option(False, "--greedy", help="The most likely action instead of a sample."),
    gif: Optional[Path] = typer.Option(None, help="Also write the first episode as a GIF."),
) -> None:
    """Score an agent over whole episodes: mean ± sd (and one standard error), then one JSON line."""
    from gamegan.agent.run import evaluate_agent, evaluate_random
    from gamegan.media import save_gif

    with user_errors(), as_usage_error(FileNotFoundError):
        if agent == "random":
            result = evaluate_random(episodes, kind=env, model=model, seed=seed, frames_of=0 if gif else None)
        else:
            result = evaluate_agent(Path(agent), episodes, kind=env, model=model, seed=seed, greedy=greedy,
                                    frames_of=0 if gif else None)
    frames = result.pop("frames", None)
    console.print(f"{agent} in the {result['env']} game: score {result['score_mean']:.1f} ± {result['score_sd']:.1f} "
                  f"(sd; ± {result['score_se']:.1f} se) over {episodes} episodes", highlight=False)
    if gif and frames is not None:
        console.print(f"episode 1: {save_gif(frames, gif, scale=4)}")
    print(json.dumps({k: v for k, v in result.items() if k != "scores"}))


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Where the demo keeps its data, model and GIF."),
    train_seconds: Optional[float] = typer.Option(None, help="Training budget when no model ships (default 120 s)."),
    model: Optional[str] = typer.Option(None, help="A run, checkpoint or shipped name (pacman-maze); default: the shipped one."),
) -> None:
    """Zero-setup demo: play the shipped model, or record, train tiny for two minutes and play it."""
    from play.demo import DemoConfig, run_demo

    cfg = DemoConfig(**_given(train_seconds=train_seconds, model=model))
    with user_errors():
        run_demo(out, console, cfg)


def main() -> None:
    """Entry point for `python -m gamegan_cli` (used under torchrun)."""
    app()


if __name__ == "__main__":
    sys.exit(main())
