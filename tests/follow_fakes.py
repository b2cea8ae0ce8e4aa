"""Fake sessions for the key-following measures (`gamegan.evaluation.follow`, `gamegan.evaluation.ghost_losses`): a real game
as the "simulator", changed in one known way."""

from __future__ import annotations

import copy

import numpy as np

from play.session import GameStarts
from recorder.game import GameConfig
from recorder.game.palette import PALETTE


class TwinSession:
    """A perfect simulator: a second copy of the real game, stepped with the same keys."""

    done = False  # its ghosts catch Pac-Man only when the real ones do, which ends the episode

    def __init__(self, seed: int):
        self.start = GameStarts(GameConfig(), warmup=4).start(seed)
        self.twin = copy.deepcopy(self.start.game)

    def step(self, action: int) -> np.ndarray:
        self.start.game.step(action)
        return self.twin.step(action)[0]


class FrozenSession(TwinSession):
    """A simulator that never changes its frame (shows Pac-Man where he started)."""

    def step(self, action: int) -> np.ndarray:
        self.start.game.step(action)
        return self.start.frames[-1]


class BlankSession(TwinSession):
    def step(self, action: int) -> np.ndarray:
        self.start.game.step(action)
        return np.zeros_like(self.start.frames[-1])


class BlueSession(TwinSession):
    """A perfect twin except that it always paints its ghosts frightened blue."""

    def step(self, action: int) -> np.ndarray:
        frame = super().step(action).copy()
        for name, colour in PALETTE.items():
            if name.startswith("ghost_"):
                frame[(frame == colour).all(-1)] = PALETTE["frightened"]
        return frame


VANISH = 5


class VanishingSession(TwinSession):
    """A twin whose Pac-Man, and ghosts, vanish from step `VANISH` on; `CaughtSession`'s Pac-Man
    is drawn over by a ghost there, and its game ends (`done`), as a SimSession's does when its
    ghosts catch him."""

    steps = 0
    ghost_over_pacman = False

    def step(self, action: int) -> np.ndarray:
        frame, self.steps = super().step(action).copy(), self.steps + 1
        pacman = (frame == PALETTE["pacman"]).all(-1)
        if self.steps == VANISH and self.ghost_over_pacman:
            frame[pacman] = PALETTE["ghost_0"]
            self.done = True
        elif self.steps >= VANISH:
            frame[pacman] = PALETTE["floor"]
            if not self.ghost_over_pacman:
                for name, colour in PALETTE.items():
                    if name.startswith("ghost_") or name == "frightened":
                        frame[(frame == colour).all(-1)] = PALETTE["floor"]
        return frame


class CaughtSession(VanishingSession):
    ghost_over_pacman = True

