"""Numpy rendering: sprites rasterised once per cell size, a cached background, cheap blits.

Per episode the walls and pellets are drawn once into a "world image". Eating a pellet
repaints one cell of it. A frame is a copy of the world image (classic mode) or of the
window around Pac-Man (maze mode), with Pac-Man and the ghosts blitted on top as boolean
masks in their palette colours. No anti-aliasing: every pixel is exactly one palette colour.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from recorder.game.config import Action
from recorder.game.palette import PALETTE

_SS = 8  # supersampling factor used to rasterise sprites

# Angle (radians, image coordinates with y down) that the mouth opens toward, per heading.
_MOUTH_ANGLE = {Action.UP: -np.pi / 2, Action.DOWN: np.pi / 2, Action.LEFT: np.pi, Action.RIGHT: 0.0}


def _subpixel_grid(cs: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample coordinates (y, x) in cell units [0, 1), shape (cs*_SS, cs*_SS)."""
    t = (np.arange(cs * _SS) + 0.5) / (cs * _SS)
    return np.meshgrid(t, t, indexing="ij")


def _coverage(inside: np.ndarray, cs: int) -> np.ndarray:
    """Fraction of each pixel's subsamples that are inside, shape (cs, cs)."""
    return inside.reshape(cs, _SS, cs, _SS).mean(axis=(1, 3))


@lru_cache(maxsize=None)
def pacman_sprites(cs: int) -> np.ndarray:
    """Pac-Man masks indexed by heading action id, bool (5, cs, cs); a disc with a mouth cut."""
    y, x = _subpixel_grid(cs)
    dy, dx = y - 0.5, x - 0.5
    disc = dy**2 + dx**2 <= 0.47**2
    out = np.zeros((5, cs, cs), dtype=bool)
    for action, angle in _MOUTH_ANGLE.items():
        diff = np.angle(np.exp(1j * (np.arctan2(dy, dx) - angle)))
        mouth = (np.abs(diff) < np.radians(48)) & (dy**2 + dx**2 > 0.01)
        if cs > 4:
            out[action] = _coverage(disc & ~mouth, cs) >= 0.5
        else:  # too few pixels for a wedge
            out[action] = _small_pacman(cs, action)
    out[Action.NOOP] = out[Action.LEFT]
    return out


def _small_pacman(cs: int, action: int) -> np.ndarray:
    """2-4 px Pac-Man, drawn by hand: at 4 px a "C" open toward the heading; at 3 px a block
    with the edge pixel on the heading side cleared; at 2 px a different corner per heading."""
    if cs == 4:
        right = np.array([[0, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0]], dtype=bool)
        return {Action.RIGHT: right, Action.LEFT: right[:, ::-1], Action.DOWN: right.T,
                Action.UP: right.T[::-1]}[action].copy()
    mask = np.ones((cs, cs), dtype=bool)
    if cs == 3:
        r, c = {Action.UP: (0, 1), Action.DOWN: (2, 1), Action.LEFT: (1, 0), Action.RIGHT: (1, 2)}[action]
    else:
        r, c = {Action.UP: (0, 1), Action.DOWN: (1, 0), Action.LEFT: (0, 0), Action.RIGHT: (1, 1)}[action]
    mask[r, c] = False
    return mask


@lru_cache(maxsize=None)
def ghost_sprites(cs: int) -> np.ndarray:
    """Ghost mask, bool (cs, cs): a dome on a body with a notched skirt, with eye holes at >= 6 px."""
    y, x = _subpixel_grid(cs)
    dome = ((y - 0.45) ** 2 + (x - 0.5) ** 2 <= 0.45**2) & (y < 0.45)
    body = (y >= 0.45) & (np.abs(x - 0.5) <= 0.45)
    notch = (y > 0.84) & ((np.abs(x - 1 / 3) < 1 / 12) | (np.abs(x - 2 / 3) < 1 / 12))
    inside = (dome | body) & ~notch
    if cs >= 6:
        for ex in (0.32, 0.68):
            inside &= ~((np.abs(y - 0.4) < 0.11) & (np.abs(x - ex) < 0.09))
    mask = _coverage(inside, cs) >= 0.5
    if cs == 4:  # two legs
        mask[3] = [True, False, False, True]
    if cs == 3:  # a dome and two legs
        mask = np.array([[0, 1, 0], [1, 1, 1], [1, 0, 1]], dtype=bool)
    if cs == 2:  # a full block (every 2 px Pac-Man misses a corner)
        mask = np.ones((2, 2), dtype=bool)
    return mask


@lru_cache(maxsize=None)
def pellet_sprites(cs: int) -> tuple[np.ndarray, np.ndarray]:
    """(pellet, power pellet) masks, bool (cs, cs): a small centred dot and a big round one."""
    def dot(side: int) -> np.ndarray:
        m = np.zeros((cs, cs), dtype=bool)
        lo = (cs - side) // 2
        m[lo:lo + side, lo:lo + side] = True
        return m

    pellet = dot(max(1, round(cs / 4)))
    if cs >= 6:
        y, x = _subpixel_grid(cs)
        power = _coverage((y - 0.5) ** 2 + (x - 0.5) ** 2 <= 0.33**2, cs) >= 0.5
    else:
        power = dot(max(2, cs - 2))
    return pellet, power


@lru_cache(maxsize=None)
def wall_tiles(cs: int) -> np.ndarray:
    """Wall masks for every 8-neighbour configuration, bool (256, cs, cs).

    Bits: 1 N, 2 S, 4 W, 8 E, 16 NW, 32 NE, 64 SW, 128 SE (set when that neighbour is wall).
    Walls are drawn inset by cs//4 px from floor cells, so a wall region reads as a solid
    rounded block, as in the arcade maze.
    """
    m = cs // 4
    tiles = np.zeros((256, cs, cs), dtype=bool)
    for code in range(256):
        t = tiles[code]
        t[m:cs - m, m:cs - m] = True
        n, s, w, e = code & 1, code & 2, code & 4, code & 8
        if n:
            t[:m, m:cs - m] = True
        if s:
            t[cs - m:, m:cs - m] = True
        if w:
            t[m:cs - m, :m] = True
        if e:
            t[m:cs - m, cs - m:] = True
        if n and w and code & 16:
            t[:m, :m] = True
        if n and e and code & 32:
            t[:m, cs - m:] = True
        if s and w and code & 64:
            t[cs - m:, :m] = True
        if s and e and code & 128:
            t[cs - m:, cs - m:] = True
    return tiles


# Palette order of the colour-index images the world is drawn with.
_WORLD_COLOURS = ("floor", "wall", "pellet", "power_pellet")
_FLOOR_TILE, _PELLET_TILE, _POWER_TILE = 256, 257, 258


@lru_cache(maxsize=None)
def world_tiles(cs: int) -> np.ndarray:
    """Colour-index tiles, uint8 (259, cs, cs): 0-255 walls by neighbour code, then an empty
    floor cell, a pellet cell and a power-pellet cell (indices into `_WORLD_COLOURS`)."""
    pellet, power = pellet_sprites(cs)
    tiles = np.zeros((259, cs, cs), dtype=np.uint8)
    tiles[:256] = wall_tiles(cs)  # 1 = wall
    tiles[_PELLET_TILE][pellet] = 2
    tiles[_POWER_TILE][power] = 3
    return tiles


def draw_world(walls: np.ndarray, pellets: np.ndarray, power: np.ndarray, cs: int) -> np.ndarray:
    """RGB image (R*cs, C*cs, 3) of walls, floor and pellets; cells outside the grid count as wall."""
    p = np.pad(walls, 1, constant_values=True).astype(np.int16)
    code = (p[:-2, 1:-1] + p[2:, 1:-1] * 2 + p[1:-1, :-2] * 4 + p[1:-1, 2:] * 8
            + p[:-2, :-2] * 16 + p[:-2, 2:] * 32 + p[2:, :-2] * 64 + p[2:, 2:] * 128)
    code[~walls] = _FLOOR_TILE
    code[pellets] = _PELLET_TILE
    code[power] = _POWER_TILE
    rows, cols = walls.shape
    index = world_tiles(cs)[code].transpose(0, 2, 1, 3).reshape(rows * cs, cols * cs)
    lut = np.array([PALETTE[k] for k in _WORLD_COLOURS], dtype=np.uint8)
    return lut[index]


def _coloured(mask: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RGB tile, 3-channel mask) of a sprite mask drawn in one colour."""
    mask3 = np.repeat(mask[..., None], 3, axis=-1)
    return np.where(mask3, colour, 0).astype(np.uint8), mask3


class Renderer:
    """Draws frames for one game: fixed frame size, view size in cells, and sprite set.

    `view_shape` is (rows, cols) of cells visible in the frame; the grid area is centred in
    the square frame and the rest is floor-coloured padding.
    """

    def __init__(self, frame_size: int, view_shape: tuple[int, int], margin: int):
        self.size = frame_size
        self.view_rows, self.view_cols = view_shape
        self.cs = cs = frame_size // max(view_shape)
        self.pad_y = (frame_size - self.view_rows * cs) // 2
        self.pad_x = (frame_size - self.view_cols * cs) // 2
        self.margin = margin  # wall cells drawn around the grid (maze mode: half the view)
        self.colours = {k: np.array(v, dtype=np.uint8) for k, v in PALETTE.items()}
        # Sprites as (RGB tile, 3-channel mask) pairs: np.copyto(..., where=mask) is the cheapest blit.
        self.pacman = [_coloured(m, self.colours["pacman"]) for m in pacman_sprites(cs)]
        ghost = ghost_sprites(cs)
        self.ghosts = [_coloured(ghost, self.colours[f"ghost_{i}"]) for i in range(4)]
        self.frightened = _coloured(ghost, self.colours["frightened"])
        self.template = np.empty((frame_size, frame_size, 3), dtype=np.uint8)
        self.template[:] = PALETTE["floor"]
        self.world: np.ndarray | None = None

    def new_world(self, walls: np.ndarray, pellets: np.ndarray, power: np.ndarray) -> None:
        """Draw the static background (walls + pellets) of a new episode.

        Without a margin (classic mode: the whole grid is the view) the world image is the
        full frame, padding included, so a frame is a single copy of it.
        """
        m, cs = self.margin, self.cs
        if m:
            walls = np.pad(walls, m, constant_values=True)
            pellets = np.pad(pellets, m)
            power = np.pad(power, m)
            self.world = draw_world(walls, pellets, power, cs)
            self.world_y, self.world_x = m * cs, m * cs  # pixel of cell (0, 0) in the world image
        else:
            self.world = self.template.copy()
            h, w = self.view_rows * cs, self.view_cols * cs
            self.world[self.pad_y:self.pad_y + h, self.pad_x:self.pad_x + w] = draw_world(walls, pellets, power, cs)
            self.world_y, self.world_x = self.pad_y, self.pad_x

    def clear_cell(self, cell: tuple[int, int]) -> None:
        """Repaint one floor cell of the world image (a pellet was eaten there)."""
        cs = self.cs
        y, x = self.world_y + cell[0] * cs, self.world_x + cell[1] * cs
        self.world[y:y + cs, x:x + cs] = self.colours["floor"]

    def frame(self, origin: tuple[int, int], pacman: tuple[int, int], heading: int,
              ghosts: list[tuple[int, int]], frightened: list[bool]) -> np.ndarray:
        """Compose one frame; `origin` is the grid cell at the view's top-left."""
        cs = self.cs
        if self.margin:
            frame = self.template.copy()
            y0, x0 = self.world_y + origin[0] * cs, self.world_x + origin[1] * cs
            h, w = self.view_rows * cs, self.view_cols * cs
            frame[self.pad_y:self.pad_y + h, self.pad_x:self.pad_x + w] = self.world[y0:y0 + h, x0:x0 + w]
        else:
            frame = self.world.copy()
        oy, ox = origin
        for i, (g, scared) in enumerate(zip(ghosts, frightened)):
            r, c = g[0] - oy, g[1] - ox
            if 0 <= r < self.view_rows and 0 <= c < self.view_cols:
                y, x = self.pad_y + r * cs, self.pad_x + c * cs
                rgb, mask = self.frightened if scared else self.ghosts[i]
                np.copyto(frame[y:y + cs, x:x + cs], rgb, where=mask)
        y, x = self.pad_y + (pacman[0] - oy) * cs, self.pad_x + (pacman[1] - ox) * cs
        rgb, mask = self.pacman[heading]
        np.copyto(frame[y:y + cs, x:x + cs], rgb, where=mask)  # drawn last: always visible
        return frame

    def cell_box(self, origin: tuple[int, int], cell) -> tuple[int, int, int, int] | None:
        """Pixel box (y0, x0, y1, x1) of a grid cell in the frame, None when outside the view."""
        r, c = int(cell[0]) - origin[0], int(cell[1]) - origin[1]
        if not (0 <= r < self.view_rows and 0 <= c < self.view_cols):
            return None
        y, x = self.pad_y + r * self.cs, self.pad_x + c * self.cs
        return y, x, y + self.cs, x + self.cs
