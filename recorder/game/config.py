"""The action set and the game's configuration dataclass.

Action ids are fixed (DESIGN.md section 3) because recordings store them as small integers;
everything else that shapes an episode lives in `GameConfig`, which is JSON-serialisable so
that a recording can describe the game that produced it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from recorder.game.layouts import LAYOUTS, layout_names, layout_shape


class Action(IntEnum):
    """The five actions, with the ids stored in recordings."""

    NOOP = 0
    UP = 1
    DOWN = 2
    LEFT = 3
    RIGHT = 4


ACTION_NAMES: tuple[str, ...] = tuple(a.name for a in Action)
N_ACTIONS: int = len(ACTION_NAMES)
FRAME_SIZES: tuple[int, ...] = (32, 64, 84, 128)

# (d_row, d_col) per action id; NOOP does not move.
ACTION_DELTAS: tuple[tuple[int, int], ...] = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
OPPOSITE: tuple[int, ...] = (0, 2, 1, 4, 3)

GHOST_BEHAVIOURS: tuple[str, ...] = ("chaser", "ambusher", "wanderer", "shy")
MODES: tuple[str, ...] = ("classic", "maze")


@dataclass
class GameConfig:
    """Everything that defines the game an episode is played in (not the seed)."""

    mode: str = "classic"
    """`classic` (a fixed layout seen whole) or `maze` (a new random maze, egocentric view)."""
    layout: str = "classic"
    """Classic mode: the name of a layout in `LAYOUTS`, or several of one shape joined by "+"
    ("classic+pillars"): each episode then plays one of them, drawn from its seed."""
    n_ghosts: int = 2
    """Number of ghosts, 2 to 4 (0 is allowed in maze mode: the paper's Pac-Man-Maze has none);
    ghost i uses `ghost_behaviours[i]`."""
    frame_size: int = 64
    """Square frame side in pixels, one of `FRAME_SIZES`."""
    max_steps: int = 400
    """The episode ends after this many steps."""
    frightened_steps: int = 30
    """How long ghosts stay frightened (edible) after a power pellet."""
    maze_cells: int = 31
    """Maze mode: side of the maze in cells (odd, larger than the view)."""
    view_cells: int = 15
    """Maze mode: cells visible across the egocentric view (odd, so Pac-Man is centred)."""
    maze_loops: float = 0.15
    """Maze mode: fraction of the remaining inner walls knocked out to make loops."""
    maze_power_pellets: int = 6
    """Maze mode: how many power pellets are scattered in the maze."""
    ghost_behaviours: tuple[str, ...] = GHOST_BEHAVIOURS
    """Behaviour per ghost slot: `chaser`, `ambusher`, `wanderer` or `shy`."""
    ghost_speed: float = 0.75
    """Probability that a (non-frightened) ghost moves in a step; frightened ghosts move at half."""
    ghost_noise: float = 0.15
    """Probability that a ghost takes a random allowed turn instead of its behaviour's choice."""
    pellet_score: int = 10
    """Points for a pellet."""
    power_score: int = 50
    """Points for a power pellet."""
    ghost_score: int = 200
    """Points for eating a frightened ghost."""

    def __post_init__(self) -> None:
        self.ghost_behaviours = tuple(self.ghost_behaviours)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError with a message a user can act on if any field is out of range."""
        def bad(msg: str) -> None:
            raise ValueError(f"GameConfig: {msg}")

        if self.mode not in MODES:
            bad(f"mode must be one of {MODES}, got {self.mode!r}")
        if not (2 <= int(self.n_ghosts) <= 4 or (self.mode == "maze" and self.n_ghosts == 0)):
            bad(f"n_ghosts must be between 2 and 4 (or 0 in maze mode), got {self.n_ghosts}")
        if self.frame_size not in FRAME_SIZES:
            bad(f"frame_size must be one of {FRAME_SIZES}, got {self.frame_size}")
        if self.max_steps < 1:
            bad(f"max_steps must be >= 1, got {self.max_steps}")
        if self.frightened_steps < 0:
            bad(f"frightened_steps must be >= 0, got {self.frightened_steps}")
        if len(self.ghost_behaviours) < self.n_ghosts:
            bad(f"ghost_behaviours names {len(self.ghost_behaviours)} ghosts, need {self.n_ghosts}")
        unknown = [b for b in self.ghost_behaviours if b not in GHOST_BEHAVIOURS]
        if unknown:
            bad(f"unknown ghost behaviour(s) {unknown}; choose from {GHOST_BEHAVIOURS}")
        if not (0.0 <= self.ghost_speed <= 1.0 and 0.0 <= self.ghost_noise <= 1.0):
            bad("ghost_speed and ghost_noise are probabilities in [0, 1]")
        if self.mode == "classic":
            names = layout_names(self.layout)
            unknown = [n for n in names if n not in LAYOUTS]
            if unknown:
                bad(f"unknown layout {', '.join(map(repr, unknown))}; choose from {sorted(LAYOUTS)} "
                    "(or several of one shape joined by '+')")
            if len({layout_shape(n) for n in names}) > 1 or len(set(names)) < len(names):
                bad(f"the layouts of {self.layout!r} must differ and share one shape, "
                    f"got {[layout_shape(n) for n in names]}")
            rows, cols = layout_shape(self.layout)
            if self.frame_size // max(rows, cols) < 2:
                bad(f"layout {self.layout!r} ({rows}x{cols}) is too large for {self.frame_size} px frames")
        else:
            if self.view_cells < 5 or self.view_cells % 2 == 0:
                bad(f"view_cells must be odd and >= 5, got {self.view_cells}")
            if self.maze_cells % 2 == 0 or self.maze_cells <= self.view_cells:
                bad(f"maze_cells must be odd and larger than view_cells ({self.view_cells}), got {self.maze_cells}")
            if self.frame_size // self.view_cells < 2:
                bad(f"view_cells={self.view_cells} is too many for {self.frame_size} px frames (cells < 2 px)")
            if not 0.0 <= self.maze_loops <= 1.0:
                bad(f"maze_loops must be in [0, 1], got {self.maze_loops}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["ghost_behaviours"] = list(self.ghost_behaviours)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GameConfig:
        """Inverse of `to_dict`; unknown keys are an error (they usually mean a typo or a newer file)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"GameConfig: unknown field(s) {unknown}; known: {sorted(names)}")
        return cls(**d)


__all__ = [
    "Action",
    "ACTION_NAMES",
    "N_ACTIONS",
    "FRAME_SIZES",
    "ACTION_DELTAS",
    "OPPOSITE",
    "GHOST_BEHAVIOURS",
    "GameConfig",
]
