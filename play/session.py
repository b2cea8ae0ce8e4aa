"""Play sessions: a learned simulator (or the real game) driven one action at a time.

This is the env-like wrapper the pygame client, the headless driver and the latency benchmark
share; it knows nothing about pygame. A session gives uint8 (H, W, 3) frames:

    session = SimSession(generator, GameStarts(game_config, warmup=4), seed=0)
    frame = session.step(Action.LEFT)          # one simulator step, batch 1
    session.view("static")                     # GameGAN's static component
    session.real_frame                         # the real game after the same actions

Where start frames come from is a `StartSource`: `GameStarts` plays a few steps of a seeded
`recorder.game.Game`; `DataStarts` cuts a window out of a recording. Either way the real game
is positioned at the last start frame (a recording is replayed from its seed and actions), so
it can be stepped alongside the simulator with the same actions for the side-by-side view.
`RealGameSession` plays the real game through the same interface (`--real`).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.errors import UsageError
from gamegan.evaluation.swap import swap_static
from gamegan.evaluation.catch import CatchWatch, palette_reader
from recorder.starts import engine_start
from recorder.dataset import Dataset, DatasetError, open_dataset
from recorder.game import Game, GameConfig
from recorder.game.layouts import layout_names

VIEWS: tuple[str, ...] = ("output", "static", "dynamic", "masks")
"""Every view a session may offer; `session.views` lists those its model has."""

MASK_COLOURS = np.array(
    [[60, 90, 200], [250, 210, 40], [230, 70, 70], [70, 200, 90], [200, 90, 220], [90, 220, 220]],
    dtype=np.float32,
)
"""Colour of component k in the masks view (component 0, the static one, is blue)."""

GUTTER = 1
"""Pixels (before scaling) between the simulator and the real game in the side-by-side image."""


# -- where start frames come from --------------------------------------------------------------


@dataclass
class Start:
    """Real frames to warm the simulator up with, and the real game positioned at the last one."""

    frames: np.ndarray  # (T0, H, W, 3) uint8
    actions: np.ndarray  # (T0 - 1,) int64: actions[t] turns frames[t] into frames[t + 1]
    game: Game | None  # the real game showing frames[-1], or None when it cannot be rebuilt
    label: str  # where the start came from, for the HUD


class StartSource(Protocol):
    """Gives a start for a seed; the same seed gives the same start."""

    frame_size: int
    game_config: GameConfig | None

    def start(self, seed: int) -> Start: ...


class GameStarts:
    """Starts from the real game engine (`recorder.starts.engine_start`): a `Game` seeded with
    the session seed, played for `warmup - 1` steps by the recorder's random agent (seeded
    alike) so starts differ; the real game returned is always still running."""

    def __init__(self, config: GameConfig, warmup: int = 4, agent: str = "random", max_tries: int = 50):
        if warmup < 1:
            raise ValueError(f"warmup must be >= 1 frame, got {warmup}")  # said at construction, not at the first start
        self.game_config, self.warmup, self.agent, self.max_tries = config, warmup, agent, max_tries
        self.frame_size = config.frame_size

    def start(self, seed: int) -> Start:
        try:
            frames, actions, game = engine_start(self.game_config, seed, self.warmup, self.agent, self.max_tries)
        except ValueError as err:
            raise UsageError(str(err)) from None
        return Start(frames, actions, game, f"game seed {seed} episode {game.episode}")


class DataStarts:
    """Starts cut from a recording: a random window of `warmup` frames (seeded), from an
    episode that goes on after it. The real game is rebuilt by replaying the episode's seed
    and recorded actions; if the replay does not reproduce the recorded frame (a recording
    from another game version) the start has no real game."""

    def __init__(self, data: str | Path | Dataset, warmup: int = 4):
        if warmup < 1:
            raise ValueError(f"warmup must be >= 1 frame, got {warmup}")
        self.data = data if isinstance(data, Dataset) else open_dataset(data)
        self.warmup = warmup
        self.frame_size = int(self.data.meta.frame_shape[0])
        try:
            self.game_config = GameConfig.from_dict(self.data.meta.game) if self.data.meta.game else None
        except (TypeError, ValueError):
            self.game_config = None  # recorded by another game version: play without the real game
        self.episodes = np.flatnonzero(self.data.episode_lengths > warmup)
        if len(self.episodes) == 0:
            raise DatasetError(f"{self.data.path}: no episode is longer than the {warmup}-frame warm-up")

    def start(self, seed: int) -> Start:
        rng = np.random.default_rng(seed)
        i = int(rng.choice(self.episodes))
        length = int(self.data.episode_lengths[i])
        first = int(rng.integers(0, length - self.warmup))  # the window's last frame is not the episode's last
        last = first + self.warmup - 1
        frames = self.data.frames(i, first, last + 1)
        recorded = self.data.actions(i).astype(np.int64)
        game = self._replay(self.data.episode_info(i)["seed"], recorded[:last], frames[-1])
        return Start(frames, recorded[first:last], game, f"data episode {i} frame {first}")

    def _replay(self, seed: int, actions: np.ndarray, expected: np.ndarray) -> Game | None:
        if self.game_config is None:
            return None
        game = Game(self.game_config, seed=seed)
        frame, _ = game.reset()
        for a in actions:
            frame, _, done = game.step(int(a))
            if done:
                return None
        return game if np.array_equal(frame, expected) else None


# -- sessions ------------------------------------------------------------------------------------


class Session(Protocol):
    """What the client and the headless driver need from a session."""

    frame_size: int
    views: tuple[str, ...]
    can_swap: bool
    last_step_ms: float
    actions: list[int]
    label: str
    done: bool

    @property
    def frame(self) -> np.ndarray: ...
    @property
    def real_frame(self) -> np.ndarray | None: ...
    @property
    def real_done(self) -> bool: ...
    def reset(self, seed: int | None = None) -> np.ndarray: ...
    def step(self, action: int) -> np.ndarray: ...
    def view(self, name: str) -> np.ndarray: ...
    def sibling(self, seed: int) -> "Session": ...
    def swap_partner(self, seed: int) -> tuple["Session", int]: ...
    def swap_static(self, other: "Session") -> None: ...



class SimSession:
    """A learned simulator at batch 1, warmed up on a start and stepped by actions.

    The model runs under `torch.inference_mode()`, set up by the generator's `for_play` (hard
    memory attention, so position does not blur over long sessions). Noise z comes from a generator seeded
    by the session seed: the same seed and the same actions give the same frames.
    `last_step_ms` is the wall time of the last simulator step, including fetching its frame.
    """

    can_swap: bool

    def __init__(self, simulator: nn.Module, starts: StartSource, *, seed: int = 0,
                 device: torch.device | str = "cpu"):
        self.sim = simulator.for_play() if hasattr(simulator, "for_play") else simulator.eval()
        config = simulator.config
        self.frame_size, self.n_actions, self._z_dim = config.frame_size, config.n_actions, config.z_dim
        if starts.frame_size != self.frame_size:
            raise UsageError(f"the model draws {self.frame_size} px frames but the starts are "
                             f"{starts.frame_size} px: use data recorded at the model's frame size")
        self.starts = starts
        self.device = torch.device(device)
        self._warmup_takes_z = "z" in inspect.signature(simulator.warmup).parameters
        self.views = VIEWS if config.n_components >= 2 else VIEWS[:1]
        self.can_swap = bool(config.memory)
        self._next_seed = seed
        self.reset(seed)

    # -- lifecycle --------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> np.ndarray:
        """A new start (the next seed unless one is given): warm the simulator up on its frames."""
        self.seed = self._next_seed if seed is None else int(seed)
        self._next_seed = self.seed + 1
        self.start = self.starts.start(self.seed)
        self.label = self.start.label
        self._noise = torch.Generator().manual_seed(self.seed)
        frames = to_model_frames(self.start.frames)[None].to(self.device)  # (1, T0, 3, H, W)
        actions = torch.as_tensor(self.start.actions, dtype=torch.long)[None].to(self.device)  # (1, T0-1)
        with torch.inference_mode():
            noise = {"z": self._z(frames.shape[1] - 1)} if self._warmup_takes_z else {}
            self.state = self.sim.warmup(frames, actions, **noise)
            self._frame = self.start.frames[-1].copy()
            self._rendered = self._render_state()  # views of the start: the model's take on it
        self._game = self.start.game
        self._real = self._game.render() if self._game is not None else None
        self._real_done = False
        # The game ends when the simulator's own ghosts catch its Pac-Man, as the real one does;
        # read off its frames, which needs the real game's layout (not there for recordings).
        self._catch = None
        if self._game is not None and self._game.config.n_ghosts > 0:  # without ghosts nothing can catch him
            watch, reader = CatchWatch.for_game(self._game), palette_reader(self._game)
            watch.read(reader, self._frame)  # where Pac-Man starts
            self._catch = watch, reader
        self.done = False
        self.actions: list[int] = []
        self.last_step_ms = 0.0
        return self._frame

    def sibling(self, seed: int) -> SimSession:
        """Another session on the same simulator and start source, started at `seed`."""
        return SimSession(self.sim, self.starts, seed=seed, device=self.device)

    def swap_partner(self, seed: int, tries: int = 50) -> tuple[SimSession, int]:
        """A sibling to swap the static world with, and its seed: in a game of several layouts
        the first from `seed` on whose start plays another layout than ours (so the swap shows
        another maze), else the one at `seed`."""
        ours = _layout_of(self.start)
        if ours is not None:
            for s in range(seed, seed + tries):
                if _layout_of(self.starts.start(s)) not in (None, ours):
                    return self.sibling(s), s
        return self.sibling(seed), seed

    def step(self, action: int) -> np.ndarray:
        """Apply one action id: the simulator's next frame, uint8 (H, W, 3); the real game
        (when there is one and it is still running) takes the same action. Once the simulator's
        ghosts have caught Pac-Man (`done`) the game is over: the frame stays as it is."""
        a = _check_action(action, self.n_actions)
        if self.done:
            return self._frame
        act = torch.tensor([a], device=self.device)
        z = self._z(None)
        with torch.inference_mode():
            t0 = time.perf_counter()
            frame, self.state, extras = self.sim.step(self.state, act, z)  # (1, 3, H, W)
            self._frame = to_uint8_frames(frame[0])
            self.last_step_ms = (time.perf_counter() - t0) * 1e3
        self._rendered = (extras.get("components"), extras.get("masks"))
        if self._game is not None and not self._real_done:
            self._real, _, self._real_done = self._game.step(a)
        if self._catch is not None:
            watch, reader = self._catch
            watch.read(reader, self._frame)
            self.done = watch.caught
        self.actions.append(a)
        return self._frame

    # -- GameGAN's component swap -----------------------------------------------------------

    def swap_static(self, other: SimSession) -> None:
        """Take `other`'s memory (the static world it has drawn) and keep our own dynamics and
        position in it: the static component becomes the other start's, read at our attention.
        The current frame is redrawn at once so the swap shows without waiting for a step."""
        if self.state.memory is None or other.state.memory is None:
            raise UsageError("this model has no memory module: there is no static component to swap")
        with torch.inference_mode():
            self.state, drawn = swap_static(self.sim, self.state, other.state)
            self._frame = to_uint8_frames(self.state.frame[0])
            self._rendered = (drawn.components, drawn.masks)

    # -- what there is to look at -----------------------------------------------------------

    @property
    def frame(self) -> np.ndarray:
        """The current frame, uint8 (H, W, 3): the last real start frame, then predictions."""
        return self._frame

    @property
    def real_frame(self) -> np.ndarray | None:
        """The real game after the same actions, uint8 (H, W, 3); None without a real game."""
        return self._real

    @property
    def real_done(self) -> bool:
        """Whether the real game's episode has ended (its frame then stays as it was)."""
        return self._real_done

    def view(self, name: str) -> np.ndarray:
        """One of `views` as uint8 (H, W, 3).

        output: the frame; static: component 0's RGB (drawn from memory); dynamic: the other
        components' RGB where their masks win (black elsewhere); masks: each component's mask
        in its `MASK_COLOURS` colour.
        """
        if name not in self.views:
            raise ValueError(f"unknown view {name!r}; this model has {', '.join(self.views)}")
        components, masks = self._rendered
        if name == "output" or components is None:
            return self._frame
        with torch.inference_mode():
            rgb = (components[0].float() + 1) / 2  # (K, 3, H, W) in [0, 1]
            if name == "static":
                image = rgb[0]
            elif name == "dynamic":
                image = (masks[0, 1:] * rgb[1:]).sum(0)  # (3, H, W)
            else:
                colours = torch.from_numpy(MASK_COLOURS[np.arange(len(rgb)) % len(MASK_COLOURS)] / 255)
                image = torch.einsum("khw,kc->chw", masks[0, :, 0].float().cpu(), colours.float())
            return to_uint8_frames(image * 2 - 1)

    # -- internals ----------------------------------------------------------------------------

    def _z(self, n: int | None) -> torch.Tensor:
        """Noise for one step (1, Z) or n warm-up steps (1, n, Z), from the session's generator."""
        shape = (1, self._z_dim) if n is None else (1, n, self._z_dim)
        return torch.randn(shape, generator=self._noise).to(self.device)

    def _draw(self):
        """Render the current state (frame, components, masks), or None when the simulator has
        no `renderer` to call outside a step."""
        renderer = getattr(self.sim, "renderer", None)
        if renderer is None or self.state.h is None:
            return None
        return renderer(self.state.h, self.state.read)

    def _render_state(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        drawn = self._draw()
        return (None, None) if drawn is None else (drawn.components, drawn.masks)


class RealGameSession:
    """The recorder's game through the same interface (`gamegan play --real`): the frame is the
    game's own; the episode ends when Pac-Man is caught or the board is cleared (reset restarts)."""

    views: tuple[str, ...] = VIEWS[:1]
    can_swap = False

    def __init__(self, config: GameConfig, *, seed: int = 0):
        self.game_config = config
        self.frame_size = config.frame_size
        self._next_seed = seed
        self.reset(seed)

    def reset(self, seed: int | None = None) -> np.ndarray:
        self.seed = self._next_seed if seed is None else int(seed)
        self._next_seed = self.seed + 1
        self.game = Game(self.game_config, seed=self.seed)
        self._frame, _ = self.game.reset()
        self.label = f"real game seed {self.seed}"
        self.done = False
        self.actions: list[int] = []
        self.last_step_ms = 0.0
        return self._frame

    def step(self, action: int) -> np.ndarray:
        """One game step; once the episode is over the frame stays until `reset`."""
        a = _check_action(action, 5)
        if not self.done:
            t0 = time.perf_counter()
            self._frame, _, self.done = self.game.step(a)
            self.last_step_ms = (time.perf_counter() - t0) * 1e3
        self.actions.append(a)
        return self._frame

    @property
    def frame(self) -> np.ndarray:
        return self._frame

    @property
    def real_frame(self) -> None:
        return None  # this is the real game; there is nothing to show beside it

    @property
    def real_done(self) -> bool:
        return self.done

    def view(self, name: str) -> np.ndarray:
        if name != "output":
            raise ValueError(f"the real game has only the output view, not {name!r}")
        return self._frame

    def sibling(self, seed: int) -> RealGameSession:
        return RealGameSession(self.game_config, seed=seed)

    def swap_partner(self, seed: int) -> tuple[RealGameSession, int]:
        raise UsageError("the real game has no learned components to swap")

    def swap_static(self, other: object) -> None:
        raise UsageError("the real game has no learned components to swap")


def compose(session: Session, view: str = "output", side_by_side: bool = False) -> np.ndarray:
    """What the client shows (without its text): the chosen view, and with `side_by_side` the
    real game to its right after a `GUTTER`-pixel grey gap. uint8 (H, W or 2W + GUTTER, 3)."""
    left = session.view(view)
    real = session.real_frame
    if not side_by_side or real is None:
        return left
    gap = np.full((left.shape[0], GUTTER, 3), 128, dtype=np.uint8)
    return np.concatenate([left, gap, real], axis=1)


def _check_action(action: int, n_actions: int) -> int:
    a = int(action)
    if a != action or not 0 <= a < n_actions:
        raise ValueError(f"invalid action {action!r}: expected an integer in [0, {n_actions - 1}]")
    return a


def _layout_of(start: Start) -> int | None:
    """Which layout of a several-layout game a start plays; None for a one-layout game, a maze
    or a start without its game."""
    game = start.game
    if game is None or game.config.mode != "classic" or len(layout_names(game.config.layout)) < 2:
        return None
    return game.layout_index
