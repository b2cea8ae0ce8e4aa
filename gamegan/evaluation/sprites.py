"""Read a frame the way the game state describes it: Pac-Man, ghosts, pellets and walls per cell.

Every entity class of the game has its own palette colour (recorder/game/palette.py), and
each dataset stores that palette in its attributes. A frame, real or generated, sharp or
blurred, is read by giving every pixel its nearest palette colour and counting each class's
pixels per grid cell; a cell holds an entity when at least `min_fraction` of that entity's
sprite area (at this cell size) has its colour. The grid geometry (cell side, padding, view
size) comes from the game's own renderer, built from the game config the dataset carries.

`state_view` turns the recorded `state/*` arrays into the same per-cell picture, so the two
can be compared cell by cell: that is how evaluation scores a generated frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from recorder.game.geometry import CellGeometry
from recorder.game.render import ghost_sprites, pacman_sprites, pellet_sprites, wall_tiles

LOST = -1
"""Row and column of Pac-Man when no cell holds enough Pac-Man-coloured pixels."""


@dataclass
class Entities:
    """What a batch of N frames shows, per view cell (rows R, cols C)."""

    pacman: np.ndarray  # int (N, 2) view cell, LOST where none
    ghosts: np.ndarray  # bool (N, R, C) cells holding a ghost (not counting Pac-Man's cell)
    solid_ghosts: np.ndarray  # bool (N, R, C) ghost cells whose sprite is one ghost colour, not a blend
    frightened: np.ndarray  # bool (N, R, C) ghost cells drawn in the frightened (edible) colour
    ghost_under_pacman: np.ndarray  # bool (N,) Pac-Man's cell also shows a dangerous ghost: he is caught
    pellets: np.ndarray  # bool (N, R, C)
    power: np.ndarray  # bool (N, R, C) power pellets
    walls: np.ndarray  # bool (N, R, C)

    @property
    def ghost_count(self) -> np.ndarray:
        """Visible ghost cells per frame, int (N,)."""
        return self.ghosts.sum(axis=(1, 2))


class PaletteReader:
    """Finds entities in frames by nearest palette colour; see the module docstring.

    `palette` maps class names to RGB (the dataset's `palette` attribute); it must name at
    least `floor`, `wall` and `pacman`. Ghost classes are `ghost_*` and `frightened`.
    """

    def __init__(self, palette: Mapping[str, Sequence[int]], geometry: CellGeometry, min_fraction: float = 0.5):
        missing = {"floor", "wall", "pacman"} - set(palette)
        if missing:
            raise ValueError(f"the palette has no {', '.join(sorted(missing))} colour")
        self.geometry, self.min_fraction = geometry, min_fraction
        self.names = list(palette)
        self.colours = np.array([palette[n] for n in self.names], dtype=np.float32)  # (K, 3)
        index = {n: i for i, n in enumerate(self.names)}
        self._pacman = index["pacman"]
        self._wall = index["wall"]
        self._pellet = index.get("pellet")
        self._power = index.get("power_pellet")
        self._ghosts = [i for n, i in index.items() if n.startswith("ghost_") or n == "frightened"]
        self._frightened = index.get("frightened")
        self._dangerous = [i for n, i in index.items() if n.startswith("ghost_")]
        cs = geometry.cell
        # Smallest area each sprite can have at this cell size (Pac-Man's varies with heading).
        areas = {
            "pacman": int(pacman_sprites(cs)[1:].sum(axis=(1, 2)).min()),
            "ghost": int(ghost_sprites(cs).sum()),
            "pellet": int(pellet_sprites(cs)[0].sum()),
            "power": int(pellet_sprites(cs)[1].sum()),
            "wall": int(wall_tiles(cs)[0].sum()),  # an isolated wall cell: the inset block
        }
        self.thresholds = {k: max(1, math.ceil(min_fraction * a)) for k, a in areas.items()}
        # The game draws Pac-Man over a ghost in his cell, which happens only on the frame a
        # ghost catches him; what shows of the ghost around him is all there is to read. The
        # whole of it is asked for, not `min_fraction`: a smear of ghost colour trailing into
        # his cell from a neighbour leaves a few pixels, a ghost under him leaves this many.
        peeking = ghost_sprites(cs) & ~pacman_sprites(cs)[1:]
        self.thresholds["ghost_under_pacman"] = max(1, int(peeking.sum(axis=(1, 2)).min()))

    def labels(self, frames: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Nearest palette class of every pixel: uint8 (N, H, W, 3) -> int (N, H, W)."""
        frames = np.asarray(frames)
        out = np.empty(frames.shape[:-1], dtype=np.int64)
        c = self.colours
        c2 = (c * c).sum(-1)  # (K,)
        for a in range(0, len(frames), chunk):
            x = frames[a:a + chunk].astype(np.float32)  # (n, H, W, 3)
            # ||x - c||^2 up to the per-pixel constant ||x||^2, which does not change the argmin.
            out[a:a + chunk] = (c2 - 2.0 * x @ c.T).argmin(-1)
        return out

    def cell_counts(self, frames: np.ndarray) -> np.ndarray:
        """Pixels of each class per view cell: int (N, R, C, K)."""
        g = self.geometry
        lab = self.labels(frames)[:, g.pad_y:g.pad_y + g.rows * g.cell, g.pad_x:g.pad_x + g.cols * g.cell]
        n = lab.shape[0]
        cells = lab.reshape(n, g.rows, g.cell, g.cols, g.cell).transpose(0, 1, 3, 2, 4).reshape(n, g.rows, g.cols, -1)
        return np.stack([(cells == k).sum(-1) for k in range(len(self.names))], axis=-1)

    def read(self, frames: np.ndarray) -> Entities:
        """Entities of a batch of uint8 (N, H, W, 3) frames."""
        counts = self.cell_counts(frames)  # (N, R, C, K)
        n, rows, cols, _ = counts.shape
        t = self.thresholds
        pac = counts[..., self._pacman].reshape(n, -1)  # (N, R*C)
        best = pac.argmax(-1)
        found = pac[np.arange(n), best] >= t["pacman"]
        pacman = np.stack(np.divmod(best, cols), axis=-1)
        pacman[~found] = LOST
        pac_cell = counts[..., self._pacman] >= t["pacman"]
        ghost_px = counts[..., self._ghosts].sum(-1)
        # Pac-Man is drawn over a ghost he shares a cell with; neither side counts that ghost.
        ghosts = (ghost_px >= t["ghost"]) & ~pac_cell
        # A drawn ghost has one body colour; a generator unsure which ghost goes where paints a
        # patchwork of them, which passes the summed test above but not this one.
        solid = ghosts & (counts[..., self._ghosts].max(-1, initial=0) >= t["ghost"])
        none = np.zeros((n, rows, cols), dtype=bool)
        pellets = counts[..., self._pellet] >= t["pellet"] if self._pellet is not None else none
        power = counts[..., self._power] >= t["power"] if self._power is not None else none
        walls = counts[..., self._wall] >= t["wall"]
        frightened = ghosts & (counts[..., self._frightened] >= t["ghost"]) if self._frightened is not None else none
        # A frightened ghost under him is one he eats, not one that catches him: not counted.
        # (Where he is LOST the index picks the last cell, which `found` then masks out.)
        under = counts[np.arange(n), pacman[:, 0], pacman[:, 1]][:, self._dangerous].sum(-1)
        ghost_under = found & (under >= t["ghost_under_pacman"])
        return Entities(pacman=pacman, ghosts=ghosts, solid_ghosts=solid, frightened=frightened,
                        ghost_under_pacman=ghost_under, pellets=pellets, power=power, walls=walls)


def state_view(geometry: CellGeometry, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What recorded state says N frames show, in view cells, from whichever of `pacman`,
    `ghosts`, `pellets`, `power_pellets` (and `view_origin`, needed in maze mode) are given.

    Returns the keys it could fill: 'pacman' int (N, 2); 'ghosts' bool (N, R, C) (distinct
    ghost cells in view, Pac-Man's cell excluded); 'pellets' and 'power' bool (N, R, C);
    'covered' bool (N, R, C), cells under a sprite, whose pellets a frame cannot show.
    """
    g = geometry
    first = next(iter(state.values()))
    n = len(first)
    if g.mode == "classic":
        origin = np.zeros((n, 2), dtype=np.int64)
    elif "view_origin" in state:
        origin = np.asarray(state["view_origin"], dtype=np.int64)
    else:
        return {}
    out: dict[str, np.ndarray] = {}
    covered = np.zeros((n, g.rows, g.cols), dtype=bool)
    idx = np.arange(n)
    if "pacman" in state:
        pac = np.asarray(state["pacman"], dtype=np.int64) - origin  # (N, 2)
        out["pacman"] = pac
        inside = _inside(pac, g)
        covered[idx[inside], pac[inside, 0], pac[inside, 1]] = True
    if "ghosts" in state:
        cells = np.asarray(state["ghosts"], dtype=np.int64) - origin[:, None]  # (N, G, 2)
        ghosts = np.zeros((n, g.rows, g.cols), dtype=bool)
        for j in range(cells.shape[1]):
            inside = _inside(cells[:, j], g)
            ghosts[idx[inside], cells[inside, j, 0], cells[inside, j, 1]] = True
        covered |= ghosts
        if "pacman" in out:
            pac = out["pacman"]
            inside = _inside(pac, g)
            ghosts[idx[inside], pac[inside, 0], pac[inside, 1]] = False
        out["ghosts"] = ghosts
    for key, name in (("pellets", "pellets"), ("power_pellets", "power")):
        if key in state:
            out[name] = _window(np.asarray(state[key], dtype=bool), origin, g)
    out["covered"] = covered
    return out


def _inside(cells: np.ndarray, g: CellGeometry) -> np.ndarray:
    return (cells[:, 0] >= 0) & (cells[:, 0] < g.rows) & (cells[:, 1] >= 0) & (cells[:, 1] < g.cols)


def _window(grid: np.ndarray, origin: np.ndarray, g: CellGeometry) -> np.ndarray:
    """The view's window of a per-cell grid (N, R_grid, C_grid); cells outside the grid are False."""
    if g.mode == "classic":
        return grid[:, :g.rows, :g.cols]
    m = g.margin
    padded = np.pad(grid, ((0, 0), (m, m), (m, m)))
    rows = (origin[:, 0, None] + m + np.arange(g.rows))[:, :, None]  # (N, R, 1)
    cols = (origin[:, 1, None] + m + np.arange(g.cols))[:, None, :]  # (N, 1, C)
    return padded[np.arange(len(grid))[:, None, None], rows, cols]
