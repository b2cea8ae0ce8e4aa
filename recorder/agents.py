"""Who plays the game while it is recorded: bots and a human at the keyboard.

- `greedy`: walks to the nearest pellet (BFS), steps away from nearby dangerous ghosts,
  and takes ε-random actions (NOOP and wall bumps included) so the data covers every action.
- `random`: keeps a random direction for a random number of steps, sometimes NOOP.
- `mix` (the recording default): greedy with random spells, and it makes sure every one of
  the five actions appears early in each episode.
- `human`: a pygame window; arrows or WASD, nothing pressed is NOOP, Esc quits.

Agents draw randomness only from the generator given to `reset`, so a recording is
reproducible from its seeds. pygame is imported only by the human agent.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Protocol

import numpy as np

from recorder.game import N_ACTIONS, Game
from recorder.keys import KEY_ACTIONS, QUIT_KEYS

AGENT_NAMES: tuple[str, ...] = ("mix", "greedy", "random", "human")


class Agent(Protocol):
    """Chooses one action id per step; `reset` is called at the start of every episode."""

    name: str

    def reset(self, game: Game, rng: np.random.Generator) -> None: ...

    def act(self, game: Game) -> int: ...


class _Uniform:
    """Uniform [0, 1) draws from a generator, fetched in blocks (scalar draws are slow)."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.buf, self.i = rng, [], 0

    def __call__(self) -> float:
        if self.i >= len(self.buf):
            self.buf, self.i = self.rng.random(512).tolist(), 0
        self.i += 1
        return self.buf[self.i - 1]

    def below(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        return int(self() * n)


def _default_rng(rng: np.random.Generator | None, seed: int | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng(seed)


class _Grid:
    """Flat-index view of the current episode's walls, for cheap neighbour lookups."""

    def __init__(self, game: Game):
        self.rows, self.cols = game.grid_shape
        self.walls = game.walls.ravel().tolist()
        self.deltas = (0, -self.cols, self.cols, -1, 1)  # per action id; the border is all wall

    def flat(self, cell) -> int:
        return int(cell[0]) * self.cols + int(cell[1])

    def step(self, cell: int, action: int) -> int:
        nxt = cell + self.deltas[action]
        return cell if self.walls[nxt] else nxt

    def distances(self, start: int, depth: int) -> dict[int, int]:
        """BFS distances from `start`, up to `depth` steps."""
        dist = {start: 0}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            d = dist[cell] + 1
            if d > depth:
                continue
            for delta in self.deltas[1:]:
                nxt = cell + delta
                if not self.walls[nxt] and nxt not in dist:
                    dist[nxt] = d
                    queue.append(nxt)
        return dist


class GreedyAgent:
    """Nearest pellet by BFS, ghost avoidance within `avoid_radius`, ε-random actions.

    The path is replanned only when it runs out, when Pac-Man is not where the plan expects
    (after a random or evasive move) or every `replan_every` steps, which keeps it cheap.
    """

    name = "greedy"

    def __init__(self, epsilon: float = 0.08, avoid_radius: int = 3, replan_every: int = 8,
                 seed: int | None = None):
        self.epsilon, self.avoid_radius, self.replan_every = epsilon, avoid_radius, replan_every
        self.seed = seed

    def reset(self, game: Game, rng: np.random.Generator | None = None) -> None:
        self._u = _Uniform(_default_rng(rng, self.seed))
        self._grid = _Grid(game)
        self._path: list[int] = []  # actions still to take
        self._expect = -1  # cell Pac-Man should be in when the next path action is taken
        self._age = 0
        self._danger_key: tuple | None = None
        self._danger_maps: list[dict[int, int]] = []

    def act(self, game: Game) -> int:
        if self._u() < self.epsilon:
            self._path = []
            return self._u.below(N_ACTIONS)
        grid = self._grid
        pac = grid.flat(game.pacman_cell)
        danger = self._nearby_ghosts(game, pac)
        if danger:
            self._path = []
            return self._flee(pac, danger)
        if not self._path or pac != self._expect or self._age >= self.replan_every:
            self._plan(game, pac)
        if not self._path:
            return self._u.below(N_ACTIONS)
        action = self._path.pop(0)
        self._expect = grid.step(pac, action)
        self._age += 1
        return action

    def _nearby_ghosts(self, game: Game, pac: int) -> list[dict[int, int]]:
        """BFS distance maps of the dangerous ghosts within `avoid_radius` (memoised per position)."""
        ghosts, scared = game.ghost_cells, game.ghost_frightened
        key = (pac, tuple(ghosts), tuple(scared))
        if key == self._danger_key:
            return self._danger_maps
        r, c = divmod(pac, self._grid.cols)
        out = []
        for (gr, gc), fright in zip(ghosts, scared):
            if not fright and abs(gr - r) + abs(gc - c) <= self.avoid_radius:
                dist = self._grid.distances(gr * self._grid.cols + gc, self.avoid_radius + 1)
                if dist.get(pac, self.avoid_radius + 1) <= self.avoid_radius:
                    out.append(dist)
        self._danger_key, self._danger_maps = key, out
        return out

    def _flee(self, pac: int, danger: list[dict[int, int]]) -> int:
        """The move (or NOOP) that keeps the nearest dangerous ghost farthest away."""
        far = self.avoid_radius + 2
        best, best_score = [], -1
        for action in range(N_ACTIONS):
            nxt = self._grid.step(pac, action)
            if action and nxt == pac:
                continue
            score = min(d.get(nxt, far) for d in danger)
            if score > best_score:
                best, best_score = [action], score
            elif score == best_score:
                best.append(action)
        return best[self._u.below(len(best))]

    def _plan(self, game: Game, pac: int) -> None:
        """BFS from Pac-Man to the nearest pellet; store the actions that lead there."""
        grid = self._grid
        food = game.pellet_grid.ravel().tolist()
        parent = {pac: (-1, 0)}
        queue = deque([pac])
        goal = -1
        while queue:
            cell = queue.popleft()
            if food[cell]:
                goal = cell
                break
            for action in (1, 2, 3, 4):
                nxt = cell + grid.deltas[action]
                if not grid.walls[nxt] and nxt not in parent:
                    parent[nxt] = (cell, action)
                    queue.append(nxt)
        path = []
        while goal >= 0 and goal != pac:
            goal, action = parent[goal]
            path.append(action)
        self._path = path[::-1]
        self._expect = pac
        self._age = 0


class RandomAgent:
    """Persistent random directions: holds each choice for `min_hold`..`max_hold` steps.

    A new choice is NOOP with probability `noop_prob`; otherwise a direction, usually one
    that is open (so Pac-Man travels) and sometimes any (so he bumps into walls).
    """

    name = "random"

    def __init__(self, min_hold: int = 2, max_hold: int = 12, noop_prob: float = 0.1,
                 open_prob: float = 0.8, seed: int | None = None):
        self.min_hold, self.max_hold = min_hold, max_hold
        self.noop_prob, self.open_prob = noop_prob, open_prob
        self.seed = seed

    def reset(self, game: Game, rng: np.random.Generator | None = None) -> None:
        self._u = _Uniform(_default_rng(rng, self.seed))
        self._grid = _Grid(game)
        self._action, self._hold = 0, 0

    def act(self, game: Game) -> int:
        if self._hold <= 0:
            self._action = self._choose(self._grid.flat(game.pacman_cell))
            self._hold = self.min_hold + self._u.below(self.max_hold - self.min_hold + 1)
        self._hold -= 1
        return self._action

    def _choose(self, pac: int) -> int:
        u = self._u
        if u() < self.noop_prob:
            return 0
        options = [a for a in (1, 2, 3, 4) if self._grid.step(pac, a) != pac]
        if options and u() < self.open_prob:
            return options[u.below(len(options))]
        return 1 + u.below(4)


class MixAgent:
    """The recording default: greedy play with random spells, covering all five actions.

    Each step a random spell (a `RandomAgent` run of `spell_min`..`spell_max` steps) starts
    with probability `spell_prob`. From step `cover_from` on, any action not yet taken this
    episode is taken as soon as no ghost is near (at once from step `cover_by`), so every
    episode of 40 steps or more contains every action id.
    """

    name = "mix"

    def __init__(self, spell_prob: float = 0.03, spell_min: int = 4, spell_max: int = 16,
                 cover_from: int = 20, cover_by: int = 33, seed: int | None = None):
        self.spell_prob, self.spell_min, self.spell_max = spell_prob, spell_min, spell_max
        self.cover_from, self.cover_by = cover_from, cover_by
        self.seed = seed
        self.greedy = GreedyAgent(seed=seed)
        self.random = RandomAgent(seed=seed)

    def reset(self, game: Game, rng: np.random.Generator | None = None) -> None:
        rng = _default_rng(rng, self.seed)
        self._u = _Uniform(rng)
        self.greedy.reset(game, rng)
        self.random.reset(game, rng)
        self._spell = 0
        self._t = 0
        self._missing = list(range(N_ACTIONS))

    def act(self, game: Game) -> int:
        self._t += 1
        action = self._cover(game)
        if action is None:
            if self._spell <= 0 and self._u() < self.spell_prob:
                self._spell = self.spell_min + self._u.below(self.spell_max - self.spell_min + 1)
            if self._spell > 0:
                self._spell -= 1
                action = self.random.act(game)
                if self._danger(game):  # a spell is exploration, not suicide
                    action = self.greedy.act(game)
            else:
                action = self.greedy.act(game)
        if self._missing and action in self._missing:
            self._missing.remove(action)
        return action

    def _cover(self, game: Game) -> int | None:
        """An action this episode has not seen yet, when it is time to force one."""
        if not self._missing or self._t < self.cover_from:
            return None
        if self._t < self.cover_by and self._danger(game):
            return None
        return self._missing[self._u.below(len(self._missing))]

    def _danger(self, game: Game) -> bool:
        """Whether a dangerous ghost is within the greedy agent's avoidance radius."""
        greedy = self.greedy
        return bool(greedy._nearby_ghosts(game, greedy._grid.flat(game.pacman_cell)))


class HumanAgent:
    """A person at the keyboard: the game in a pygame window, scaled up, stepping at `fps`.

    Arrows or WASD move (the most recently pressed key that is still held wins, and a key
    tapped between two frames still counts); nothing pressed is NOOP. Esc or closing the
    window sets `quit_requested`; from then on `act` returns NOOP, and the caller ends the
    episode and the session. `fps=0` steps as fast as the caller asks (tests).
    """

    name = "human"

    def __init__(self, scale: int = 8, fps: float = 10.0, caption: str = "gamegan: you play"):
        self.scale, self.fps, self.caption = scale, fps, caption
        self.quit_requested = False
        self._screen = None
        self._held: list[int] = []  # movement key codes held, oldest first

    def reset(self, game: Game, rng: np.random.Generator | None = None) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame  # lazily: importing agents must not need a display

        self._pg = pygame
        size = game.config.frame_size * self.scale
        if self._screen is None or self._screen.get_size() != (size, size):
            pygame.display.init()
            self._screen = pygame.display.set_mode((size, size))
            pygame.display.set_caption(self.caption)
            self._clock = pygame.time.Clock()
            self._codes = {pygame.key.key_code(n): a for n, a in KEY_ACTIONS.items()}
            self._quit_codes = {pygame.key.key_code(n) for n in QUIT_KEYS}
        self._held = []

    def act(self, game: Game) -> int:
        tapped = self._poll()
        self._show(game.render())
        if self.fps:
            self._clock.tick(self.fps)
        if self.quit_requested:
            return 0
        if self._held:
            return self._codes[self._held[-1]]
        return self._codes[tapped[-1]] if tapped else 0

    def _poll(self) -> list[int]:
        """Drain pygame's event queue; returns movement keys pressed (even if already released)."""
        pg = self._pg
        tapped = []
        for event in pg.event.get():
            if event.type == pg.QUIT:
                self.quit_requested = True
            elif event.type == pg.KEYDOWN:
                if event.key in self._quit_codes:
                    self.quit_requested = True
                elif event.key in self._codes:
                    if event.key in self._held:
                        self._held.remove(event.key)
                    self._held.append(event.key)
                    tapped.append(event.key)
            elif event.type == pg.KEYUP and event.key in self._held:
                self._held.remove(event.key)
        return tapped

    def _show(self, frame: np.ndarray) -> None:
        pg = self._pg
        surface = pg.surfarray.make_surface(frame.swapaxes(0, 1))
        pg.transform.scale(surface, self._screen.get_size(), self._screen)
        pg.display.flip()

    def close(self) -> None:
        """Close the window."""
        if self._screen is not None:
            self._pg.display.quit()
            self._screen = None


def make_agent(name: str = "mix", seed: int | None = None, **kwargs) -> Agent:
    """Build an agent by name (`AGENT_NAMES`); keyword arguments go to its constructor."""
    if name == "mix":
        return MixAgent(seed=seed, **kwargs)
    if name == "greedy":
        return GreedyAgent(seed=seed, **kwargs)
    if name == "random":
        return RandomAgent(seed=seed, **kwargs)
    if name == "human":
        return HumanAgent(**kwargs)
    raise ValueError(f"unknown agent {name!r}; choose from {', '.join(AGENT_NAMES)}")
