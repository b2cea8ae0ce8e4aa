"""`gamegan play`: what the CLI calls. Turns arguments into a session, then a window or a
headless run. Every problem a user can fix is a `UsageError`/`CheckpointError`/`DatasetError`
with one line that says what to do.
"""

from __future__ import annotations

from pathlib import Path

from gamegan.checkpoint import read_config, resolve_checkpoint
from gamegan.errors import UsageError
from gamegan.shipped import NO_SHIPPED_MODEL, model_source, shipped_model
from gamegan.run_game import fallback_game_config, game_config_of, start_warmup
from play.loading import load_simulator, torch_threads
from play.headless import parse_keys, run_headless
from play.session import VIEWS, DataStarts, GameStarts, RealGameSession, Session, SimSession
from recorder.dataset import open_dataset
from recorder.display import has_display, no_display_reason
from recorder.game import GameConfig

NO_MODEL = f"{NO_SHIPPED_MODEL}; pass a run directory or checkpoint (or --real to play the real game)"


def open_session(path: Path | str | None, data: Path | str | None = None, real: bool = False, device: str = "cpu",
                 seed: int = 0, warmup: int | None = None) -> Session:
    """The session `gamegan play` drives.

    `real`: the recorder's game (the data's game config, else the run's, else the default
    game). Otherwise the run's (or checkpoint's) simulator, warmed up on `warmup` real
    frames (default: the run's first training warm-up) from `data` or from the game engine.
    """
    from gamegan.train import resolve_device

    if real:
        if data is not None:
            with open_dataset(data) as dataset:
                meta = dataset.meta
            game = GameConfig.from_dict(meta.game) if meta.game else fallback_game_config(meta.frame_shape[0])
        elif path is not None:
            game = game_config_of(read_config(resolve_checkpoint(Path(path))))
        else:
            game = GameConfig()
        return RealGameSession(game, seed=seed)
    path = model_source(path) if path is not None else shipped_model()
    if path is None:
        raise UsageError(NO_MODEL)
    dev = resolve_device(device)
    sim, config, _ = load_simulator(Path(path), dev)
    warmup = warmup or start_warmup(config)
    starts = DataStarts(data, warmup) if data is not None else GameStarts(game_config_of(config), warmup)
    return SimSession(sim, starts, seed=seed, device=dev)


def play(path_or_none: Path | str | None, data: Path | str | None = None, real: bool = False,
         scale: int | None = None, fps: float = 10.0, headless: bool = False, keys: str | None = None,
         gif: Path | str | None = None, device: str = "cpu", *, seed: int = 0, view: str = "output",
         side_by_side: bool = False, gif_dir: Path | str = ".") -> dict | None:
    """Play a run or checkpoint (None: the shipped model; `real`: the real game) in a window,
    or `headless` with `keys`.

    Headless returns the summary of `run_headless` (and writes `gif` if given); the window
    returns None when closed (GIFs recorded with G go to `gif_dir`). Raises UsageError for
    impossible requests, before anything heavy is loaded: no display without `--headless`,
    `--headless` without `--keys`, bad key letters, no model.
    """
    if fps <= 0:
        raise UsageError(f"--fps must be > 0, got {fps}")
    if scale is not None and scale < 1:
        raise UsageError(f"--scale must be >= 1, got {scale}")
    if view not in VIEWS:
        raise UsageError(f"--view must be one of {', '.join(VIEWS)}, got {view!r}")
    if headless:
        if keys is None:
            raise UsageError("--headless needs --keys, one letter per step (U, D, L, R; N = no move): --keys UULLN")
        try:
            if not parse_keys(keys):
                raise ValueError("--keys: no key letters given (one per step: U, D, L, R; N = no move)")
        except ValueError as err:
            raise UsageError(str(err)) from None
    elif keys is not None or gif is not None:
        raise UsageError("--keys and --gif are for headless runs: add --headless (in the window, G records a GIF)")
    elif not has_display():
        raise UsageError(f"no display to open a window on ({no_display_reason()}): "
                         "use --headless --keys SEQUENCE --gif OUT.gif")
    if path_or_none is None and not real:
        path_or_none = shipped_model()
        if path_or_none is None:
            raise UsageError(NO_MODEL)
    with torch_threads(None):
        session = open_session(path_or_none, data, real, device, seed)
        if headless:
            if view not in session.views:
                raise UsageError(f"--view {view}: this model has only {', '.join(session.views)}")
            return run_headless(session, keys, gif, fps=fps, scale=min(scale or 4, 8), view=view,
                                side_by_side=side_by_side)
        from play.client import Client

        Client(session, scale=scale, fps=fps, gif_dir=gif_dir).run()
        return None
