"""The game rules: `Game` steps one episode at a time and renders it; `GameState` is a snapshot.

Rules (DESIGN.md section 3): an action moves Pac-Man one cell at once unless a wall is in
the way (NOOP stays). Then ghosts move. Touching a frightened ghost eats it (it goes home);
touching any other ghost, including swapping cells with it, ends the episode. The episode
also ends when every pellet is eaten or after `max_steps` steps.

Everything random comes from one `np.random.Generator` per episode, seeded by
`(seed, episode index)`: the same seed and the same actions give the same frames, and any
episode can be replayed on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from recorder.game.config import ACTION_DELTAS, N_ACTIONS, GameConfig
from recorder.game.ghosts import Ghosts
from recorder.game.layouts import LAYOUTS, Level, generate_maze, layout_names, layout_shape, parse_layout
from recorder.game.render import Renderer


@dataclass
class GameState:
    """A snapshot of one moment of an episode; arrays are copies, safe to keep."""

    pacman: np.ndarray  # int16 (2,) (row, col) in the full grid
    heading: int  # Action Pac-Man last moved in (the mouth points there)
    ghosts: np.ndarray  # int16 (G, 2)
    frightened: np.ndarray  # bool (G,)
    pellets: np.ndarray  # bool (R, C)
    power_pellets: np.ndarray  # bool (R, C)
    score: int
    done: bool
    lives: int
    step: int
    view_origin: np.ndarray | None  # int16 (2,) top-left cell of the view (maze mode), else None
    layout: int | None = None  # which of the config's layouts is played, when it names several

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fields stored under `state/` in a recording, with their on-disk dtypes."""
        out = {
            "pacman": self.pacman.astype(np.int16),
            "ghosts": self.ghosts.astype(np.int16),
            "frightened": self.frightened.astype(bool),
            "pellets": self.pellets.astype(bool),
            "power_pellets": self.power_pellets.astype(bool),
            "score": np.asarray(self.score, dtype=np.int32),
            "done": np.asarray(self.done, dtype=bool),
        }
        if self.view_origin is not None:
            out["view_origin"] = self.view_origin.astype(np.int16)
        if self.layout is not None:
            out["layout"] = np.asarray(self.layout, dtype=np.int8)
        return out


@lru_cache(maxsize=None)
def _classic_level(name: str) -> Level:
    """A parsed classic layout, shared by every game (its arrays are never written to)."""
    level = parse_layout(LAYOUTS[name])
    for a in (level.walls, level.pellets, level.power_pellets):
        a.flags.writeable = False
    return level


class Game:
    """One game instance: call `reset()` to start an episode, then `step(action)` until done."""

    def __init__(self, config: GameConfig, seed: int):
        config.validate()
        self.config = config
        self.seed = int(seed)
        self.episode = -1  # index of the current episode; reset() increments it
        self._started = False
        self.layout_index = 0  # which of the config's layouts this episode plays
        self._mixed_layouts = config.mode == "classic" and len(layout_names(config.layout)) > 1
        if config.mode == "classic":
            rows, cols = layout_shape(config.layout)
            self._renderer = Renderer(config.frame_size, (rows, cols), margin=0)
        else:
            v = config.view_cells
            self._renderer = Renderer(config.frame_size, (v, v), margin=v // 2)

    # ---------------------------------------------------------------- episode lifecycle
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, GameState]:
        """Start the next episode (a new random maze in maze mode); returns (frame, state).

        Passing `seed` restarts the episode sequence from that seed.
        """
        if seed is not None:
            self.seed, self.episode = int(seed), -1
        self.episode += 1
        rng = np.random.default_rng([self.seed, self.episode])
        level = self._level(rng)
        cfg = self.config
        self._walls = level.walls
        self._rows, self._cols = level.walls.shape
        # Flat cell indices: the border is all wall, so a move from a floor cell stays inside.
        self._walls_flat = level.walls.ravel().tolist()
        self._deltas = (0, -self._cols, self._cols, -1, 1)
        self._pellets = level.pellets.copy()
        self._power = level.power_pellets.copy()
        self._pellets_flat = self._pellets.reshape(-1)
        self._power_flat = self._power.reshape(-1)
        self._remaining = int(self._pellets.sum() + self._power.sum())
        self._pac = level.pacman_start[0] * self._cols + level.pacman_start[1]
        self._heading = 3  # LEFT, as in the arcade
        flat = lambda cell: cell[0] * self._cols + cell[1]  # noqa: E731
        homes = [flat(level.ghost_starts[i % len(level.ghost_starts)]) for i in range(cfg.n_ghosts)]
        door = None if level.ghost_exit is None else flat(level.ghost_exit)
        self._ghosts = Ghosts(cfg.ghost_behaviours[:cfg.n_ghosts], homes, self._cols, self._rows,
                              self._walls_flat, cfg.ghost_speed, cfg.ghost_noise, door=door)
        self._fright_left = 0
        self._score = 0
        self._done = False
        self._lives = 1
        self._step = 0
        self._rng = rng
        self._rand_buf: list[float] = []
        self._rand_i = 0
        self._renderer.new_world(self._walls, self._pellets, self._power)
        self._started = True
        return self.render(), self.state

    def _level(self, rng: np.random.Generator) -> Level:
        cfg = self.config
        if cfg.mode == "classic":
            names = layout_names(cfg.layout)
            # One layout draws nothing, so its episodes stay what they were before layouts could mix.
            self.layout_index = int(rng.integers(len(names))) if len(names) > 1 else 0
            return _classic_level(names[self.layout_index])
        return generate_maze(cfg.maze_cells, cfg.maze_loops, cfg.maze_power_pellets, cfg.n_ghosts, rng)

    def _rand(self) -> float:
        """Next uniform [0, 1) draw; drawn from the episode generator in blocks (it is faster)."""
        i = self._rand_i
        if i >= len(self._rand_buf):
            self._rand_buf = self._rng.random(1024).tolist()
            i = 0
        self._rand_i = i + 1
        return self._rand_buf[i]

    def step(self, action: int) -> tuple[np.ndarray, GameState, bool]:
        """Apply one action; returns (next frame, state, done)."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode is over; call reset() to start a new one")
        a = int(action)
        if a != action or not 0 <= a < N_ACTIONS:
            raise ValueError(f"invalid action {action!r}: expected an integer in [0, {N_ACTIONS - 1}]")
        cfg = self.config
        pac = self._pac + self._deltas[a]
        if self._walls_flat[pac]:
            pac = self._pac
        elif a:
            self._heading = a
        self._pac = pac
        if self._pellets_flat[pac]:
            self._pellets_flat[pac] = False
            self._eat(pac, cfg.pellet_score)
        elif self._power_flat[pac]:
            self._power_flat[pac] = False
            self._eat(pac, cfg.power_score)
            if cfg.frightened_steps > 0:
                self._ghosts.frighten()
                self._fright_left = cfg.frightened_steps
        caught = self._collide()
        if not caught:
            self._ghosts.move(pac, self._heading, self._rand)
            caught = self._collide()
        if self._fright_left:
            self._fright_left -= 1
            if not self._fright_left:
                self._ghosts.calm()
        self._step += 1
        if caught:
            self._lives -= 1
        self._done = caught or self._remaining == 0 or self._step >= cfg.max_steps
        return self.render(), self.state, self._done

    def _eat(self, cell: int, points: int) -> None:
        self._score += points
        self._remaining -= 1
        self._renderer.clear_cell(divmod(cell, self._cols))

    def _collide(self) -> bool:
        """Resolve Pac-Man sharing a cell with ghosts; True when a dangerous ghost caught him.

        Checked after Pac-Man moves (which covers swapping cells with a ghost, since the
        ghost is still in the cell he moved into) and again after the ghosts move.
        """
        ghosts = self._ghosts
        caught = False
        for i, cell in enumerate(ghosts.cells):
            if cell == self._pac:
                if ghosts.frightened[i]:
                    self._score += self.config.ghost_score
                    ghosts.send_home(i)
                else:
                    caught = True
        return caught

    # ---------------------------------------------------------------- views of the game
    def _origin(self) -> tuple[int, int]:
        if self.config.mode == "classic":
            return 0, 0
        h = self.config.view_cells // 2
        r, c = divmod(self._pac, self._cols)
        return r - h, c - h

    def render(self) -> np.ndarray:
        """The current frame, uint8 (S, S, 3)."""
        cols = self._cols
        ghosts = self._ghosts
        return self._renderer.frame(self._origin(), divmod(self._pac, cols), self._heading,
                                    [divmod(g, cols) for g in ghosts.cells], ghosts.frightened)

    @property
    def state(self) -> GameState:
        """A snapshot of the current state (copies)."""
        cols = self._cols
        ghosts = self._ghosts
        origin = None if self.config.mode == "classic" else np.array(self._origin(), dtype=np.int16)
        return GameState(
            pacman=np.array(divmod(self._pac, cols), dtype=np.int16),
            heading=self._heading,
            ghosts=np.array([divmod(g, cols) for g in ghosts.cells], dtype=np.int16).reshape(-1, 2),  # (G, 2), G may be 0
            frightened=np.array(ghosts.frightened, dtype=bool),
            pellets=self._pellets.copy(),
            power_pellets=self._power.copy(),
            score=self._score,
            done=self._done,
            lives=self._lives,
            step=self._step,
            view_origin=origin,
            layout=self.layout_index if self._mixed_layouts else None,
        )

    @property
    def walls(self) -> np.ndarray:
        """Wall grid of the current episode, bool (R, C) (read-only)."""
        view = self._walls.view()
        view.flags.writeable = False
        return view

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self._rows, self._cols

    def can_move(self, cell, action: int) -> bool:
        """Whether `action` from `cell` (row, col) is free of walls (NOOP always is)."""
        r, c = int(cell[0]), int(cell[1])
        if not (0 <= r < self._rows and 0 <= c < self._cols) or self._walls[r, c]:
            return False
        dr, dc = ACTION_DELTAS[int(action)]
        r, c = r + dr, c + dc
        return 0 <= r < self._rows and 0 <= c < self._cols and not self._walls[r, c]

    def cell_to_pixel_box(self, cell) -> tuple[int, int, int, int] | None:
        """Pixel box (y0, x0, y1, x1), end-exclusive, where `cell` is drawn in the current
        frame; None when the cell is outside the view."""
        return self._renderer.cell_box(self._origin(), cell)

    # Cheap accessors for bots (no array copies).
    @property
    def pacman_cell(self) -> tuple[int, int]:
        return divmod(self._pac, self._cols)

    @property
    def ghost_cells(self) -> list[tuple[int, int]]:
        return [divmod(g, self._cols) for g in self._ghosts.cells]

    @property
    def ghost_frightened(self) -> list[bool]:
        return list(self._ghosts.frightened)

    @property
    def pellet_grid(self) -> np.ndarray:
        """Pellets and power pellets still on the board, bool (R, C) (a fresh array)."""
        return self._pellets | self._power

    @property
    def done(self) -> bool:
        return self._done
