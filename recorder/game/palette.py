"""The colours of every entity class, exported as data.

Each entity class has its own colour and no other sprite uses it, so evaluation can find
Pac-Man, a ghost or a pellet in a (generated) frame by colour alone. The colours are at
least 100 apart (Euclidean, RGB 0-255) from one another so that a blurry generated frame
can still be classified by nearest colour.
"""

from __future__ import annotations

PALETTE: dict[str, tuple[int, int, int]] = {
    "floor": (0, 0, 0),
    "wall": (33, 33, 180),
    "pellet": (255, 190, 150),
    "power_pellet": (255, 255, 255),
    "pacman": (255, 255, 0),
    "ghost_0": (255, 0, 0),  # chaser (red)
    "ghost_1": (255, 110, 255),  # ambusher (pink)
    "ghost_2": (0, 255, 255),  # wanderer (cyan)
    "ghost_3": (255, 140, 0),  # shy (orange)
    "frightened": (110, 110, 255),
}
"""Entity class -> RGB. Ghost slot i is drawn in `ghost_i` unless it is frightened."""


def min_palette_distance() -> float:
    """Smallest Euclidean distance between two palette colours (a separability check)."""
    cols = list(PALETTE.values())
    return min(
        sum((a - b) ** 2 for a, b in zip(c1, c2)) ** 0.5
        for i, c1 in enumerate(cols)
        for c2 in cols[i + 1:]
    )
