"""Reward and termination read off a simulator's own frames, for the dream environments.

A learned simulator has no score or lives to step on; what it draws says both. `FrameRewards`
reads each pair of consecutive frames with the palette reader that evaluation uses
(`gamegan.evaluation.sprites`), batched over environments:

- **reward**: Pac-Man moved into the cell the key points at (his cell after the step, in the
  coordinates of the frame before it, is that cell; in maze mode, where the view follows him,
  the view's shift is found from the walls), and the frame before showed a pellet (pellet
  score) or a power pellet (power score) there, or a frightened ghost (ghost score: he eats
  it);
- **termination**: `CatchWatch` sees a ghost catch him, or no pellet of either kind is drawn
  any more (classic mode, where the view is the whole board).

Why read, not learn: any model of this game gets it with no training, the rule is the game's
own, and on the real game's frames it agrees with the game's reward and termination
(`agreement_with_game` measures it; docs/environments.md has the figures). A user's own game
supplies its own reader with the same two methods.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from gamegan.evaluation.catch import CatchWatch, palette_reader
from gamegan.evaluation.sprites import LOST, Entities
from recorder.agents import make_agent
from recorder.game import Game, GameConfig
from recorder.game.config import ACTION_DELTAS


class FrameRewards:
    """Reward and termination of `n` simulated games of `config`, read from their frames.

    `reset(i, frame)` starts game i at `frame`; `step(frames, actions)` takes every game's next
    frame (uint8 (n, H, W, 3)) and the actions that led to it, and returns rewards float (n,)
    and terminations bool (n,)."""

    def __init__(self, config: GameConfig, n: int):
        self._game = Game(config, seed=0)  # for its geometry only
        self.config, self.n = config, n
        self.reader = palette_reader(self._game)
        self._watch = [CatchWatch.for_game(self._game) for _ in range(n)]
        self._maze = config.mode != "classic"
        self._last: Entities | None = None  # every game's reading of its current frame

    def reset(self, indices: np.ndarray | list[int], frames: np.ndarray) -> None:
        """Games `indices` start over at `frames` (uint8 (len(indices), H, W, 3))."""
        idx = list(indices)
        fresh = self.reader.read(frames)  # only the games that start over are read again
        if self._last is None:
            self._last = Entities(**{f.name: np.zeros((self.n, *getattr(fresh, f.name).shape[1:]),
                                                      dtype=getattr(fresh, f.name).dtype) for f in fields(Entities)})
        for f in fields(Entities):
            getattr(self._last, f.name)[idx] = getattr(fresh, f.name)
        for j, i in enumerate(idx):
            self._watch[i] = CatchWatch.for_game(self._game)
            if self.config.n_ghosts:  # where Pac-Man starts
                self._watch[i].update(fresh.pacman[j], fresh.ghosts[j], bool(fresh.ghost_under_pacman[j]))

    def step(self, frames: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._last is None:
            raise RuntimeError("reset() every game before step()")
        before, after = self._last, self.reader.read(frames)
        cfg = self.config
        rewards = np.zeros(self.n, dtype=np.float32)
        terminated = np.zeros(self.n, dtype=bool)
        rows, cols = before.walls.shape[1:]
        for i in range(self.n):
            moved, now = self._where(before, after, i, int(actions[i]))
            if now is not None and 0 <= now[0] < rows and 0 <= now[1] < cols:
                r, c = now
                if moved:
                    rewards[i] = cfg.pellet_score * before.pellets[i, r, c] + cfg.power_score * before.power[i, r, c]
                # A frightened ghost he touches is sent home, calm: one fewer drawn, and it was in
                # his cell or next to it (it may have stepped into him).
                near = int(neighbourhood_count(before.frightened[i], r, c))
                gone = int(before.frightened[i].sum()) - int(after.frightened[i].sum())
                rewards[i] += cfg.ghost_score * max(0, min(near, gone))
            if cfg.n_ghosts:
                terminated[i] = self._watch[i].update(after.pacman[i], after.ghosts[i],
                                                      bool(after.ghost_under_pacman[i]))
            if not self._maze and not (after.pellets[i].any() or after.power[i].any()):
                terminated[i] = True  # the board is cleared
        self._last = after
        return rewards, terminated

    def _where(self, before: Entities, after: Entities, i: int, action: int) -> tuple[bool, tuple[int, int] | None]:
        """Whether Pac-Man moved into the cell the key points at, and his cell after the step
        in the coordinates of the frame before it (None when he is not drawn in either)."""
        if before.pacman[i, 0] == LOST or after.pacman[i, 0] == LOST:
            return False, None
        dy, dx = ACTION_DELTAS[action]
        shift = (dy, dx) if self._maze and (dy, dx) != (0, 0) and _view_moved(before.walls[i], after.walls[i], dy, dx) \
            else (0, 0)
        now = (int(after.pacman[i, 0]) + shift[0], int(after.pacman[i, 1]) + shift[1])
        target = (int(before.pacman[i, 0]) + dy, int(before.pacman[i, 1]) + dx)
        return (dy, dx) != (0, 0) and now == target, now


def neighbourhood_count(cells: np.ndarray, r: int, c: int) -> int:
    """How many of `cells` (R x C bool) are set at (r, c) or next to it (diagonals included)."""
    return int(cells[max(0, r - 1):r + 2, max(0, c - 1):c + 2].sum())


def _view_moved(walls_before: np.ndarray, walls_after: np.ndarray, dy: int, dx: int) -> bool:
    """Whether the walls after a step match the walls before seen from one cell (dy, dx) on
    better than where they were: the egocentric view followed Pac-Man."""
    rows, cols = walls_before.shape
    after = walls_after[max(0, -dy):rows - max(0, dy), max(0, -dx):cols - max(0, dx)]
    moved = walls_before[max(0, dy):rows - max(0, -dy), max(0, dx):cols - max(0, -dx)]  # before[r + dy, c + dx]
    stayed = walls_before[max(0, -dy):rows - max(0, dy), max(0, -dx):cols - max(0, dx)]
    return (after == moved).mean() > (after == stayed).mean()


def agreement_with_game(config: GameConfig, episodes: int, agent: str = "random", seed: int = 0) -> dict:
    """`FrameRewards` on the real game's own frames, `episodes` episodes of `agent` from game
    seed `seed` on: the share of steps whose reward read matches the score gained, the reward
    read and gained in all, and the episodes that ended (catch or cleared board) against
    those whose end was read on that step."""
    steps = agree = ends = ends_read = 0
    gained = read = 0.0
    for e in range(seed, seed + episodes):
        game = Game(config, seed=e)
        frame, _ = game.reset()
        player = make_agent(agent, seed=e)
        player.reset(game, np.random.default_rng(e))
        rewards = FrameRewards(config, 1)
        rewards.reset([0], frame[None])
        done = False
        while not done:
            action, before = int(player.act(game)), game.state
            frame, state, done = game.step(action)
            reward, terminated = rewards.step(frame[None], np.array([action]))
            ended = state.lives < before.lives or not (state.pellets.any() or state.power_pellets.any())
            steps, agree = steps + 1, agree + int(reward[0] == state.score - before.score)
            gained, read = gained + state.score - before.score, read + float(reward[0])
            ends, ends_read = ends + int(ended), ends_read + int(ended and terminated[0])
    return {"steps": steps, "reward_agreement": agree / steps, "reward_gained": gained, "reward_read": read,
            "ends": ends, "ends_read": ends_read}
