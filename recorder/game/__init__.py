"""The Pac-Man-like game the recorder plays: rules, layouts and mazes, ghosts, rendering.

Numpy only (no pygame, no torch), deterministic for a given seed:

    from recorder.game import Game, GameConfig
    game = Game(GameConfig(mode="classic", frame_size=64), seed=0)
    frame, state = game.reset()
    frame, state, done = game.step(Action.LEFT)
"""

from recorder.game.config import ACTION_NAMES, FRAME_SIZES, N_ACTIONS, Action, GameConfig
from recorder.game.engine import Game, GameState
from recorder.game.layouts import LAYOUTS
from recorder.game.palette import PALETTE

__all__ = [
    "Action",
    "ACTION_NAMES",
    "N_ACTIONS",
    "FRAME_SIZES",
    "GameConfig",
    "GameState",
    "Game",
    "PALETTE",
    "LAYOUTS",
]
