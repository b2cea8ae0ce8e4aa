"""The recorder's game as a gymnasium environment: pixels in, one of the game's actions out.

Observation: the frame, uint8 (S, S, 3). Action: Discrete(5), named in `metadata["action_names"]`
(NOOP UP DOWN LEFT RIGHT). Reward: the score gained by the step (pellets, power pellets,
frightened ghosts eaten). Terminated when a ghost catches Pac-Man or the board is cleared;
truncated when the game's `max_steps` run out first. `reset(seed=)` seeds the game.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recorder.game import ACTION_NAMES, GameConfig
from recorder.game.engine import Game


class PacManEnv(gym.Env):
    """`gamegan/PacMan-v0`; keyword arguments are `GameConfig` fields (mode, layout, n_ghosts,
    frame_size, max_steps, ...), e.g. `gym.make("gamegan/PacMan-v0", mode="maze", n_ghosts=0)`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "action_names": list(ACTION_NAMES)}

    def __init__(self, render_mode: str | None = None, **game: Any):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.game_config = GameConfig(**game)
        s = self.game_config.frame_size
        self.observation_space = spaces.Box(0, 255, (s, s, 3), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._game: Game | None = None
        self._frame: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if self._game is None or seed is not None:
            # The game's own seed from gymnasium's generator, so reset(seed=s) is reproducible.
            self._game = Game(self.game_config, seed=int(self.np_random.integers(2**31)))
        self._frame, state = self._game.reset()
        return self._frame, self._info(state)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._game is None:
            raise RuntimeError("call reset() before step()")
        before = self._game.state
        self._frame, state, done = self._game.step(int(action))
        caught = state.lives < before.lives
        cleared = not state.pellets.any() and not state.power_pellets.any()
        terminated = bool(caught or cleared)
        info = {**self._info(state), "caught": bool(caught), "cleared": bool(cleared)}
        return self._frame, float(state.score - before.score), terminated, bool(done and not terminated), info

    def render(self) -> np.ndarray | None:
        return None if self.render_mode is None or self._frame is None else self._frame.copy()

    @staticmethod
    def _info(state: Any) -> dict:
        return {"score": int(state.score), "step": int(state.step)}
