"""Play without a window: a key sequence in, a GIF and a summary out (tests, CI, servers).

`run_headless(session, "UULLN...", gif)` takes one step per letter (`play.keymap.HEADLESS_LETTERS`:
U, D, L, R, N for NOOP; case-insensitive; spaces are ignored), through the same `Session`
the client drives, and writes a GIF of what the client would show without its text: the
start frame first, then one frame per step (so `len(keys) + 1` frames). GIF encoders merge
a frame identical to the one before into it (shown for twice as long), so the GIF's timing
always covers every step, and its frame count is one per step whenever frames change.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from gamegan.media import save_gif
from play.keymap import HEADLESS_LETTERS
from play.session import Session, compose


def parse_keys(keys: str) -> list[int]:
    """Key letters -> action ids; ValueError naming the first letter that is not one."""
    actions = []
    for i, letter in enumerate(keys):
        if letter.isspace():
            continue
        action = HEADLESS_LETTERS.get(letter.upper())
        if action is None:
            letters = ", ".join(HEADLESS_LETTERS)
            raise ValueError(f"--keys: {letter!r} at position {i} is not a key letter (use {letters}; N = no move)")
        actions.append(action)
    return actions


def drive(session: Session, actions: list[int], view: str = "output",
          side_by_side: bool = False) -> tuple[list[np.ndarray], list[float]]:
    """Step `session` through `actions`. Returns the composed images, start first
    (len(actions) + 1 of them), and the simulator's ms for each step it ran (none after its
    game is over: the image then stays)."""
    images, ms = [compose(session, view, side_by_side)], []
    for action in actions:
        ran = not session.done
        session.step(action)
        if ran:
            ms.append(session.last_step_ms)
        images.append(compose(session, view, side_by_side))
    return images, ms


def run_headless(session: Session, keys: str, gif: Path | str | None = None, *, fps: float = 10.0, scale: int = 4,
                 view: str = "output", side_by_side: bool = False) -> dict:
    """Play `keys` (one letter per step) from the session's current start; write `gif` if given.

    Returns a JSON-ready summary: steps, keys, mean/p50/max simulator ms per step, the start's
    label, the step on which the game ended (`done`: for a simulator, its ghosts caught Pac-Man;
    None if it goes on), whether the real game was shown beside, and the GIF's path and frame
    count.
    """
    actions = parse_keys(keys)
    if not actions:
        raise ValueError("--keys: no key letters given (e.g. --keys UUDDLLRRN)")
    if view not in session.views:
        raise ValueError(f"unknown view {view!r}; this session has {', '.join(session.views)}")
    images, ms = drive(session, actions, view, side_by_side)
    summary = {
        "steps": len(actions),
        "keys": "".join(k.upper() for k in keys if not k.isspace()),
        "start": session.label,
        "mean_ms": round(statistics.fmean(ms), 3),
        "p50_ms": round(statistics.median(ms), 3),
        "max_ms": round(max(ms), 3),
        "game_over_at": len(ms) if session.done else None,
        "side_by_side": bool(side_by_side and session.real_frame is not None),
        "view": view,
        "gif": None,
        "gif_frames": 0,
    }
    if gif is not None:
        summary["gif"] = str(save_gif(images, gif, fps=fps, scale=scale))
        summary["gif_frames"] = len(images)
    return summary


def summary_line(summary: dict) -> str:
    """One human line for a headless summary (the CLI prints it)."""
    line = (f"played {summary['steps']} steps from {summary['start']}: simulator {summary['mean_ms']:.2f} ms/step "
            f"(p50 {summary['p50_ms']:.2f}, max {summary['max_ms']:.2f})")
    if summary.get("game_over_at"):
        line += f"; game over at step {summary['game_over_at']} (the frame stays)"
    if summary.get("gif"):
        line += f"; wrote {summary['gif']} ({summary['gif_frames']} frames: start + one per step)"
    return line
