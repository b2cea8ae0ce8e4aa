"""Ghost behaviour: cheap integer logic, one greedy turn per step, seeded randomness.

As in the arcade game, a ghost never reverses unless it is at a dead end, and at each cell
picks the open direction whose next cell is closest (straight-line) to its target. The
behaviours differ only in the target:

- `chaser`: Pac-Man's cell;
- `ambusher`: four cells ahead of Pac-Man along his heading;
- `wanderer`: no target, a random turn at every junction;
- `shy`: Pac-Man while more than six cells away, otherwise its corner (bottom left).

Every ghost also moves only with probability `speed` per step (half that when frightened),
takes a random turn with probability `noise`, and wanders randomly while frightened. Where
the layout has a pen door, a ghost that (re)spawns first walks to the door, as in the arcade
(greedy targeting alone would keep it circling inside the pen).
Cells are flat indices (`row * cols + col`) into the grid.
"""

from __future__ import annotations

from typing import Callable

from recorder.game.config import ACTION_DELTAS, OPPOSITE

# Arcade tie-break order when two directions are equally good: up, left, down, right.
_TURN_ORDER = (1, 3, 2, 4)


class Ghosts:
    """Positions, headings and frightened flags of the ghosts of one episode."""

    def __init__(self, behaviours: tuple[str, ...], homes: list[int], cols: int, rows: int,
                 walls: list[bool], speed: float, noise: float, door: int | None = None):
        self.behaviours = behaviours
        self.homes = homes
        self.cells = list(homes)
        self.dirs = [0] * len(homes)  # last direction moved, 0 = none yet
        self.frightened = [False] * len(homes)
        self.door = door
        self.leaving = [door is not None] * len(homes)  # still on the way out of the pen
        self.cols, self.rows = cols, rows
        self.walls = walls  # flat; the grid border is all wall, so cell +- 1 / cols stays inside
        self.deltas = (0, -cols, cols, -1, 1)
        self._moves: dict[int, list[tuple[int, int]]] = {}  # cell -> open (direction, cell), lazily
        self.speed, self.noise = speed, noise
        self.corner = ((rows - 1) * cols)  # bottom-left, the shy ghost's retreat

    def frighten(self) -> None:
        """Power pellet: every ghost becomes edible and turns around."""
        for i in range(len(self.cells)):
            self.frightened[i] = True
            self.dirs[i] = OPPOSITE[self.dirs[i]]

    def calm(self) -> None:
        for i in range(len(self.cells)):
            self.frightened[i] = False

    def send_home(self, i: int) -> None:
        """An eaten ghost reappears at its start cell, no longer frightened."""
        self.cells[i] = self.homes[i]
        self.dirs[i] = 0
        self.frightened[i] = False
        self.leaving[i] = self.door is not None

    def _open_moves(self, cell: int) -> list[tuple[int, int]]:
        """The (direction, next cell) pairs from `cell` that do not bump into a wall."""
        return [(a, cell + self.deltas[a]) for a in _TURN_ORDER if not self.walls[cell + self.deltas[a]]]

    def _target(self, i: int, pac: int, heading: int) -> tuple[int, int] | None:
        behaviour = self.behaviours[i]
        pr, pc = divmod(pac, self.cols)
        if behaviour == "chaser":
            return pr, pc
        if behaviour == "ambusher":
            dr, dc = ACTION_DELTAS[heading]
            return pr + 4 * dr, pc + 4 * dc
        if behaviour == "shy":
            gr, gc = divmod(self.cells[i], self.cols)
            if (gr - pr) ** 2 + (gc - pc) ** 2 > 36:
                return pr, pc
            return divmod(self.corner, self.cols)
        return None  # wanderer

    def move(self, pac: int, heading: int, rand: Callable[[], float]) -> None:
        """Advance every ghost by at most one cell."""
        cols = self.cols
        for i, cell in enumerate(self.cells):
            scared = self.frightened[i]
            if rand() >= (self.speed * 0.5 if scared else self.speed):
                continue
            opts = self._moves.get(cell)
            if opts is None:
                opts = self._moves[cell] = self._open_moves(cell)
            if not opts:
                continue
            back = OPPOSITE[self.dirs[i]]
            if len(opts) > 1 and self.dirs[i]:
                opts = [o for o in opts if o[0] != back]
            if self.leaving[i]:
                target = divmod(self.door, cols)
            else:
                target = None if scared or rand() < self.noise else self._target(i, pac, heading)
            if target is None or len(opts) == 1:
                choice = opts[int(rand() * len(opts))] if len(opts) > 1 else opts[0]
            else:
                tr, tc = target
                best = None
                for opt in opts:
                    r, c = divmod(opt[1], cols)
                    d = (r - tr) ** 2 + (c - tc) ** 2
                    if best is None or d < best:
                        best, choice = d, opt
            self.dirs[i], self.cells[i] = choice
            if choice[1] == self.door:
                self.leaving[i] = False
