"""Where the game's grid cells lie in a frame, from its config: what the renderer draws where.

Evaluation reads frames cell by cell with it, and the dataset derives per-pixel masks (the
cell Pac-Man is in) from recorded state with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from recorder.game.config import GameConfig
from recorder.game.layouts import layout_shape
from recorder.game.render import Renderer


@dataclass(frozen=True)
class CellGeometry:
    """Where grid cells lie in a frame: the view is `rows` x `cols` cells of `cell` px, offset
    by (pad_y, pad_x); in maze mode the grid is surrounded by `margin` cells of wall."""

    frame_size: int
    cell: int
    pad_y: int
    pad_x: int
    rows: int
    cols: int
    mode: str
    margin: int

    @classmethod
    def from_game(cls, game: Mapping) -> "CellGeometry":
        """Geometry of the game a dataset recorded (its `game` attribute); ValueError when the
        config is not one of this repository's games."""
        cfg = GameConfig.from_dict(dict(game))
        if cfg.mode == "classic":
            view, margin = layout_shape(cfg.layout), 0
        else:
            view, margin = (cfg.view_cells, cfg.view_cells), cfg.view_cells // 2
        r = Renderer(cfg.frame_size, view, margin)  # the game's own layout of cells in the frame
        return cls(cfg.frame_size, r.cs, r.pad_y, r.pad_x, r.view_rows, r.view_cols, cfg.mode, margin)

    def cell_slices(self, row: int, col: int) -> tuple[slice, slice]:
        """Pixel rows and columns of view cell (row, col)."""
        y, x = self.pad_y + row * self.cell, self.pad_x + col * self.cell
        return slice(y, y + self.cell), slice(x, x + self.cell)

    def pixels(self, cells: np.ndarray) -> np.ndarray:
        """Cell maps (..., rows, cols) -> pixel masks (..., S, S): each cell's pixels take its value."""
        out = np.zeros((*cells.shape[:-2], self.frame_size, self.frame_size), dtype=bool)
        out[..., self.pad_y:self.pad_y + self.rows * self.cell, self.pad_x:self.pad_x + self.cols * self.cell] = (
            cells.repeat(self.cell, axis=-2).repeat(self.cell, axis=-1))
        return out
