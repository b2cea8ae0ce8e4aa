"""The pygame play client: a window onto a session, keyboard in, frames out.

The simulation runs at a fixed rate (`fps` steps per second) that does not depend on the
render loop, which redraws at `render_fps` (>= 30) so keys, the HUD and messages stay
responsive even when the simulator is slow. At most one simulator step is taken per redraw:
a simulator slower than `fps` plays slower instead of bursting to catch up.

Keys are in `play.keymap`; what each command does is in `Client.command`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from gamegan.errors import UsageError
from gamegan.media import save_gif
from play.hud import Hud
from play.keymap import COMMAND_KEYS, MOVE_KEYS
from play.session import Session, compose

OFFSCREEN_DRIVERS = ("dummy", "offscreen")
"""SDL video drivers that draw nowhere: fine when asked for (tests), an error when fallen back to."""

MAX_GIF_FRAMES = 3000
"""A GIF recording stops (and is saved) after this many steps (5 minutes at 10 steps/s)."""


def default_scale(frame_size: int, target: int = 512) -> int:
    """The integer scale that makes a frame about `target` pixels wide."""
    return max(1, round(target / frame_size))


def fit_scale(width: int, height: int, scale: int, extra_height: int, screen: tuple[int, int] | None) -> int:
    """The largest integer scale <= `scale` (and >= 1) at which a width x height image, plus
    `extra_height` px of HUD, fits in 95 % of the screen's width and 90 % of its height (room
    for the window's frame and a task bar); `scale` itself when the screen size is unknown."""
    if not screen or min(screen) <= 0:
        return scale
    fits_w = int(screen[0] * 0.95) // width
    fits_h = (int(screen[1] * 0.90) - extra_height) // height
    return max(1, min(scale, fits_w, fits_h))


class Client:
    """The play window. `run()` until Esc (or `max_frames` redraws, for tests).

    `time_fn` is the clock the fixed-rate simulation reads once per redraw (tests pass a fake
    one to get exactly one step per redraw); `render_fps=0` redraws without waiting.
    """

    def __init__(self, session: Session, *, scale: int | None = None, fps: float = 10.0, render_fps: float = 30.0,
                 gif_dir: Path | str = ".", gif_scale: int = 4, time_fn: Callable[[], float] = time.perf_counter,
                 caption: str = "gamegan play"):
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.session = session
        self.scale = scale or default_scale(session.frame_size)
        self.fps = fps
        self.render_fps = max(render_fps, fps) if render_fps else 0  # at least one redraw per step
        self.gif_dir, self.gif_scale = Path(gif_dir), gif_scale
        self.time, self.caption = time_fn, caption
        self.view_index, self.side_by_side = 0, False
        self.paused = self.quit = self.show_help = False
        self.recording: list[np.ndarray] | None = None
        self.saved_gifs: list[Path] = []
        self.steps = self.frames = 0
        self._sim_ms: list[float] = []
        self._next_step = 0.0
        self._pending_step = False
        self._held: list[int] = []  # movement keys held down, most recent last
        self._tapped: list[int] = []  # movement keys pressed since the last step
        self._swap_seed = 10_000
        self._step_times: list[float] = []  # when recent steps happened, for steps/s

    # -- the loop -------------------------------------------------------------------------------

    def run(self, max_frames: int | None = None) -> dict:
        """Open the window and play until Esc or `max_frames` redraws; returns a summary."""
        self.open()
        try:
            while not self.quit and (max_frames is None or self.frames < max_frames):
                self.frame()
        finally:
            self.close()
        ms = self._sim_ms
        return {"frames": self.frames, "steps": self.steps, "gifs": [str(p) for p in self.saved_gifs],
                "mean_ms": round(float(np.mean(ms)), 3) if ms else None}

    def frame(self) -> None:
        """One pass of the loop: read input, take the simulator step if one is due, redraw."""
        self._poll()
        now = self.time()
        if self.paused:
            self._next_step = now
            if self._pending_step:
                self._step()
        elif now >= self._next_step:
            self._step()
            self._next_step = max(self._next_step + 1 / self.fps, now)  # never schedule a burst
        self._pending_step = False
        self._draw(now)
        self.frames += 1
        self._clock.tick(self.render_fps)

    @property
    def view(self) -> str:
        return self.session.views[self.view_index % len(self.session.views)]

    def action(self) -> int:
        """The action for the next step: the most recently pressed key still held, else a key
        tapped since the last step, else NOOP."""
        key = self._held[-1] if self._held else (self._tapped[-1] if self._tapped else None)
        return 0 if key is None else self._move_codes[key]

    # -- input ------------------------------------------------------------------------------------

    def _poll(self) -> None:
        pg = self._pg
        for event in pg.event.get():
            if event.type == pg.QUIT:
                self.quit = True
            elif event.type == pg.KEYDOWN:
                if event.key in self._move_codes:
                    if event.key in self._held:
                        self._held.remove(event.key)
                    self._held.append(event.key)
                    self._tapped.append(event.key)
                elif event.key in self._command_codes:
                    self.command(self._command_codes[event.key])
            elif event.type == pg.KEYUP and event.key in self._held:
                self._held.remove(event.key)

    def command(self, name: str) -> None:
        """Carry out a command from `COMMAND_KEYS` (reset, pause, step, view, swap, side, gif, help, quit)."""
        now, s = self.time(), self.session
        if name == "quit":
            self.quit = True
        elif name == "pause":
            self.paused = not self.paused
        elif name == "step":
            self._pending_step = self.paused
        elif name == "help":
            self.show_help = not self.show_help
        elif name == "reset":
            s.reset()
            self._hud.say(f"new start: {s.label}", now)
        elif name == "view":
            self.view_index = (self.view_index + 1) % len(s.views)
            self._hud.say(f"view: {self.view}" if len(s.views) > 1 else "this model draws one component only", now)
        elif name == "swap":
            self._swap(now)
        elif name == "side":
            if s.real_frame is None:
                self._hud.say("no real game to show beside this", now)
            else:
                self.side_by_side = not self.side_by_side
                self._resize()
        elif name == "gif":
            if self.recording is None:
                self.recording = [self._image()]
                self._hud.say("recording a GIF (G stops)", now)
            else:
                self._save_gif()
        else:
            raise ValueError(f"unknown command {name!r}")

    def _swap(self, now: float) -> None:
        s = self.session
        if not s.can_swap:
            self._hud.say("no memory module: nothing to swap", now)
            return
        other, self._swap_seed = s.swap_partner(self._swap_seed + 1)
        s.swap_static(other)
        self._hud.say(f"static component from {other.label}", now)

    # -- simulation -------------------------------------------------------------------------------

    def _step(self) -> None:
        self.session.step(self.action())
        self._tapped.clear()
        self.steps += 1
        self._sim_ms.append(self.session.last_step_ms)
        self._step_times = self._step_times[-20:] + [self.time()]
        if self.recording is not None:
            self.recording.append(self._image())
            if len(self.recording) >= MAX_GIF_FRAMES:
                self._save_gif()

    def _image(self) -> np.ndarray:
        return compose(self.session, self.view, self.side_by_side)

    def _save_gif(self) -> None:
        frames, self.recording = self.recording or [], None
        path = self.gif_dir / f"play-{time.strftime('%Y%m%d-%H%M%S')}.gif"
        n = 1
        while path.exists() or path in self.saved_gifs:
            path, n = self.gif_dir / f"play-{time.strftime('%Y%m%d-%H%M%S')}-{n}.gif", n + 1
        save_gif(_same_size(frames), path, fps=self.fps, scale=self.gif_scale)
        self.saved_gifs.append(path)
        message = f"saved {path} ({len(frames)} frames)"
        print(message, flush=True)
        self._hud.say(message, self.time(), seconds=5.0)

    # -- drawing ----------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the window; a UsageError naming --headless when there is no display to open it on."""
        import pygame

        self._pg = pygame
        self._hud = Hud()
        self._screen = None
        hint = "use --headless --keys SEQUENCE --gif OUT.gif"
        # Centre the window each time it is sized: SDL otherwise keeps a resized window's top-left
        # where it was, and the side-by-side view (V) would run off the right of the screen.
        os.environ.setdefault("SDL_VIDEO_CENTERED", "1")
        try:
            pygame.display.init()
            driver = pygame.display.get_driver()
            if driver in OFFSCREEN_DRIVERS and os.environ.get("SDL_VIDEODRIVER", "").lower() not in OFFSCREEN_DRIVERS:
                pygame.display.quit()  # SDL fell back to drawing nowhere: the window would be invisible
                raise UsageError(f"cannot open a window (SDL found no display and fell back to '{driver}'): {hint}")
            self._resize()
        except pygame.error as err:
            pygame.display.quit()
            raise UsageError(f"cannot open a window ({err}): {hint}") from None
        self._move_codes = {pygame.key.key_code(n): a for n, a in MOVE_KEYS.items()}
        self._command_codes = {pygame.key.key_code(n): c for n, c in COMMAND_KEYS.items()}
        self._clock = pygame.time.Clock()
        pygame.display.set_caption(self.caption)
        self._next_step = self.time() + 1 / self.fps  # the start frame is shown for one step too

    def close(self) -> None:
        """Save a GIF still being recorded, then close the window."""
        if self.recording is not None:
            self._save_gif()
        self._pg.display.quit()

    def _shown_scale(self, w: int, h: int) -> int:
        """`scale`, lowered so the window fits the screen (side by side doubles its width)."""
        desktop = getattr(self._pg.display, "get_desktop_sizes", lambda: [])()
        return fit_scale(w, h, self.scale, self._hud.strip_height, desktop[0] if desktop else None)

    def _resize(self) -> None:
        if not hasattr(self, "_pg"):
            return
        h, w = self._image().shape[:2]
        s = self._shown_scale(w, h)
        size = (w * s, h * s + self._hud.strip_height)
        if self._screen is None or self._screen.get_size() != size:
            self._screen = self._pg.display.set_mode(size)

    def _draw(self, now: float) -> None:
        pg, screen = self._pg, self._screen
        image = self._image()
        h, w = image.shape[:2]
        s = self._shown_scale(w, h)
        if (w * s, h * s + self._hud.strip_height) != screen.get_size():
            self._resize()
            screen = self._screen
        surface = pg.surfarray.make_surface(image.swapaxes(0, 1))
        screen.blit(pg.transform.scale(surface, (w * s, h * s)), (0, 0))
        self._hud.draw_strip(screen, h * s, self._status(), self._flags(), now)
        if self.show_help:
            self._hud.draw_help(screen, h * s)
        pg.display.flip()

    def _status(self) -> list[str]:
        s = self.session
        times = self._step_times
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        first = f"sim {s.last_step_ms:5.1f} ms/step   {self._clock.get_fps():4.0f} fps   {rate:4.1f} steps/s"
        second = s.label + ("   |   left: simulator, right: real game" if self.side_by_side else "")
        if s.done:
            second = "game over: R restarts   " + second
        elif self.side_by_side and s.real_done:
            second = "real game over   " + second
        return [first, second]

    def _flags(self) -> str:
        flags = [f"view: {self.view}"]
        if self.paused:
            flags.append("PAUSED (N steps)")
        if self.recording is not None:
            flags.append(f"REC {len(self.recording)}")
        flags.append("H: help")
        return "   ".join(flags)


def _same_size(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Pad frames with black to the largest (a recording may toggle side-by-side midway)."""
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    return [np.pad(f, ((0, h - f.shape[0]), (0, w - f.shape[1]), (0, 0))) for f in frames]
