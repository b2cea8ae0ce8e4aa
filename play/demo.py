"""`gamegan demo`: the zero-setup tour behind `make demo`.

With a model shipped in the package (`gamegan/assets/`), it plays that model at once. Until
one ships, it records a small dataset with the bot, trains the `tiny` preset for a couple of
minutes (with a progress bar), and plays the result. With a display it opens the window;
without one it plays a scripted key sequence headless and writes a GIF, saying where.
Everything it makes goes under one folder and is reused on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from gamegan.checkpoint import latest_checkpoint
from gamegan.config import apply_overrides, preset
from gamegan.progress import episode_progress
from gamegan.shipped import model_source, shipped_model
from gamegan.train import train
from play.headless import parse_keys, summary_line
from play.launch import open_session, play
from recorder.display import has_display
from recorder.dataset import list_shards
from recorder.game import GameConfig
from recorder.record import RecordConfig, record

DEMO_KEYS = "LLLLLLUUUURRRRRRRRDDDDDDLLLLNNNNUUUURRRR"
"""A headless walk that turns through every direction and pauses (N) once."""


@dataclass
class DemoConfig:
    """How much the fallback demo records and trains."""

    episodes: int = 60
    """Bot episodes to record (32 px, small layout)."""
    train_seconds: float = 120.0
    """Wall-clock budget for training `tiny` when no model ships."""
    seed: int = 0
    """Seed of the recording and of the start frames."""
    model: str | None = None
    """What to play: a run, a checkpoint or a shipped model's short name (`pacman-maze`); None
    plays the default shipped model (or, without one, trains the fallback)."""


def _train_fallback(out: Path, cfg: DemoConfig, console: Console) -> Path:
    data, run = out / "data", out / "run"
    if not (data.is_dir() and list_shards(data)):
        console.print(f"no model ships with this install yet: recording {cfg.episodes} bot episodes into {data}")
        game = GameConfig(layout="small", frame_size=32, max_steps=200)
        with episode_progress(cfg.episodes, "recording", console) as advance:
            record(RecordConfig(out=data, episodes=cfg.episodes, seed=cfg.seed, game=game), on_progress=advance)
    if latest_checkpoint(run) is None:
        console.print(f"training the tiny preset for {cfg.train_seconds:.0f} s into {run} (Ctrl-C stops early and keeps it)")
        config = apply_overrides(preset("tiny"), ["train.steps=100000", "train.ckpt_every=200", "train.sample_every=200"])
        train(config, data, run, max_seconds=cfg.train_seconds)
    else:
        console.print(f"reusing the model trained earlier in {run} (delete it to train again)")
    return run


def _lively_seed(model: Path, keys: str, tries: int = 20) -> int:
    """The first start seed whose real game survives the scripted walk, so the side-by-side
    GIF shows both halves moving (some starts put a ghost next to Pac-Man). Only the real
    game is stepped: the model is loaded once and never run here."""
    starts = open_session(model).starts
    for seed in range(tries):
        game = starts.start(seed).game
        if game is None:
            return seed
        if not any(game.step(action)[2] for action in parse_keys(keys)):
            return seed
    return 0


def run_demo(out: Path, console: Console, cfg: DemoConfig | None = None, window: bool | None = None) -> Path:
    """Play the shipped model (or a freshly trained tiny one); returns the GIF path or the model path."""
    cfg = cfg or DemoConfig()
    out = Path(out)
    model = model_source(cfg.model) if cfg.model else shipped_model() or _train_fallback(out, cfg, console)
    window = has_display() if window is None else window
    if window:
        console.print(f"playing {model}: arrows/WASD move, H shows every key, Esc quits")
        play(model, seed=cfg.seed)
        return model
    gif = out / "demo.gif"
    seed = _lively_seed(model, DEMO_KEYS)
    summary = play(model, headless=True, keys=DEMO_KEYS, gif=gif, seed=seed, side_by_side=True)
    console.print(summary_line(summary))
    console.print(f"no display here, so the demo played headless: see {gif} (model left, real game right); "
                  f"on a desktop, `gamegan play {model}` opens the window")
    return gif
