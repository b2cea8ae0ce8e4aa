"""When a learned simulator's ghosts catch its Pac-Man.

The real game ends when a ghost reaches Pac-Man. A simulator has no such state to end on, but
what it draws says it, in one of two ways: the frame the game itself ends on, a ghost under
Pac-Man in his cell (`gamegan.evaluation.sprites.Entities.ghost_under_pacman`), or Pac-Man vanishing on
the step a ghost reaches him. `CatchWatch` reads either off the frames, so a play session can
end its game as the real one would, and `gamegan.evaluation.follow` can tell a catch by the simulator's own
ghosts from a Pac-Man it simply lost.
"""

from __future__ import annotations

import numpy as np

from gamegan.evaluation.sprites import LOST, CellGeometry, PaletteReader
from recorder.game import Game
from recorder.game.palette import PALETTE


def palette_reader(game: Game) -> PaletteReader:
    """A reader for frames of `game`'s configuration (the recorder's palette)."""
    return PaletteReader(PALETTE, CellGeometry.from_game(game.config.to_dict()))


def neighbourhood(cells: np.ndarray) -> np.ndarray:
    """Cells that are set in `cells` (R x C) or next to one, diagonals included."""
    padded = np.pad(cells, 1)
    rows, cols = cells.shape
    out = np.zeros_like(cells)
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy:dy + rows, dx:dx + cols]
    return out


class CatchWatch:
    """Follows one simulated game frame by frame: `caught` turns on when a frame draws a ghost
    under Pac-Man, as the real game's last frame does, or when he vanishes on a step that draws
    a ghost in or next to the cell he was last drawn in. It stays on while the ghost stays on
    him or he stays away. A Pac-Man that vanishes with no ghost at hand is lost, not caught.

    A frame with more ghost cells than `max_ghost_cells` catches nobody: it is not drawn like a
    game (an untrained model's noise reads as ghosts in most cells). `for_game` allows two
    cells a ghost, for one drawn between cells."""

    def __init__(self, max_ghost_cells: int) -> None:
        self.max_ghost_cells = max_ghost_cells
        self.caught = False
        self._pacman: np.ndarray | None = None  # his cell one frame back; None when not drawn

    def update(self, pacman: np.ndarray, ghosts: np.ndarray, ghost_under_pacman: bool = False) -> bool:
        """Take the next frame's reading: Pac-Man's view cell (row, col; `LOST` when not drawn),
        its ghost cells (R x C bool) and whether a dangerous ghost is drawn under him. True when
        he was caught on this frame."""
        vanished = pacman[0] == LOST
        like_a_game = ghosts.sum() <= self.max_ghost_cells
        if vanished:  # only on the step he goes: a ghost that turns up later did not take him
            hit = self._pacman is not None and like_a_game and bool(neighbourhood(ghosts)[tuple(self._pacman)])
        else:
            hit = like_a_game and bool(ghost_under_pacman)
        newly = hit and not self.caught
        self.caught = hit or (vanished and self.caught)
        self._pacman = None if vanished else np.asarray(pacman)
        return newly

    def read(self, reader: PaletteReader, frame: np.ndarray) -> bool:
        """`update` with `reader`'s reading of one uint8 (H, W, 3) frame."""
        seen = reader.read(frame[None])
        return self.update(seen.pacman[0], seen.ghosts[0], bool(seen.ghost_under_pacman[0]))

    @classmethod
    def for_game(cls, game: Game) -> "CatchWatch":
        """A watch for frames of `game`'s configuration."""
        return cls(max_ghost_cells=2 * game.config.n_ghosts)
