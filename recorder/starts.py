"""Starts from the game engine: a few real frames to warm a simulator up on, and the game
positioned at the last one, the same for the same seed (play, evaluation and environments)."""

from __future__ import annotations

import numpy as np

from recorder.agents import make_agent
from recorder.game import Game, GameConfig


def engine_start(config: GameConfig, seed: int, warmup: int, agent: str = "random",
                 max_tries: int = 50) -> tuple[np.ndarray, np.ndarray, Game]:
    """Frames uint8 (warmup, H, W, 3) of a `Game` seeded with `seed` played for `warmup - 1`
    steps by the recorder's `agent` (seeded alike, so starts differ), the actions int64
    (warmup - 1,) between them, and the game, still running, at the last frame. An episode that
    ends during those steps is skipped for the game's next one, `max_tries` times; ValueError after."""
    if warmup < 1:
        raise ValueError(f"warmup must be >= 1 frame, got {warmup}")
    game = Game(config, seed=seed)
    for _ in range(max_tries):
        frame, _ = game.reset()
        player = make_agent(agent, seed=seed)
        player.reset(game, np.random.default_rng([seed, game.episode]))
        frames, actions, done = [frame], [], False
        while len(frames) < warmup and not done:
            actions.append(int(player.act(game)))
            frame, _, done = game.step(actions[-1])
            frames.append(frame)
        if not done:
            return np.stack(frames), np.asarray(actions, dtype=np.int64), game
    raise ValueError(f"the game ends within {warmup} steps in {max_tries} episodes; lower the warm-up")
