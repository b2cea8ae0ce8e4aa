"""Rendering: palette separability, sprites per size, what a frame contains, import hygiene."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from recorder.game import FRAME_SIZES, PALETTE, Action, Game, GameConfig
from recorder.game.render import ghost_sprites, pacman_sprites

REQUIRED_KEYS = {"floor", "wall", "pellet", "power_pellet", "pacman", "ghost_0", "ghost_1", "ghost_2",
                 "ghost_3", "frightened"}


def test_palette_is_distinct_and_far_apart():
    assert REQUIRED_KEYS <= set(PALETTE)
    colours = [np.array(c, dtype=float) for c in PALETTE.values()]
    assert all(len(c) == 3 and 0 <= c.min() and c.max() <= 255 for c in colours)
    assert min(np.linalg.norm(a - b) for a, b in itertools.combinations(colours, 2)) >= 100


def _configs(size: int) -> list[GameConfig]:
    out = [GameConfig(layout="small", frame_size=size, n_ghosts=4),
           GameConfig(layout="classic", frame_size=size, n_ghosts=4),
           GameConfig(mode="maze", frame_size=size, n_ghosts=4)]
    return out


def _stage(game: Game) -> None:
    """White-box: put all four ghosts in view, none frightened, and a power pellet in view."""
    state = game.state
    visible = [tuple(c) for c in np.argwhere(~game.walls)
               if game.cell_to_pixel_box(c) is not None and tuple(c) != tuple(state.pacman)]
    empty = [c for c in visible if not (state.pellets[c] or state.power_pellets[c])]
    free = (empty + [c for c in visible if state.pellets[c]])[:4]  # ghosts go here
    cols = game.grid_shape[1]
    for i in range(4):
        game._ghosts.cells[i] = free[i][0] * cols + free[i][1]
        game._ghosts.frightened[i] = False
    if not any(state.power_pellets[c] for c in visible if c not in free[:4]):
        spot = next(c for c in visible if state.pellets[c] and c not in free[:4])
        game._pellets[spot], game._power[spot] = False, True
        game._renderer.new_world(game._walls, game._pellets, game._power)


@pytest.mark.parametrize("size", FRAME_SIZES)
def test_every_entity_is_found_by_colour(size):
    for cfg in _configs(size):
        game = Game(cfg, seed=size)
        game.reset()
        game.step(Action.RIGHT)
        game.step(Action.LEFT)
        _stage(game)
        calm = game.render()
        present = {k for k, c in PALETTE.items() if (calm == c).all(-1).any()}
        assert present == set(PALETTE) - {"frightened"}, (cfg.mode, cfg.layout, set(PALETTE) - present)
        game._ghosts.frightened[3] = True
        frame = game.render()
        state = game.state
        present = {k for k, c in PALETTE.items() if (frame == c).all(-1).any()}
        assert present == set(PALETTE) - {"ghost_3"}, (cfg.mode, cfg.layout, set(PALETTE) - present)
        # every pixel is exactly one palette colour
        colours = np.array(list(PALETTE.values()), dtype=np.uint8)
        assert (frame[:, :, None, :] == colours).all(-1).any(-1).all()
        # and each sprite sits in its cell
        boxes = {"pacman": state.pacman, **{f"ghost_{i}": state.ghosts[i] for i in range(3)},
                 "frightened": state.ghosts[3]}
        for key, cell in boxes.items():
            y0, x0, y1, x1 = game.cell_to_pixel_box(cell)
            assert (frame[y0:y1, x0:x1] == PALETTE[key]).all(-1).any(), (cfg.mode, cfg.layout, key)


@pytest.mark.parametrize("size", FRAME_SIZES)
def test_heading_changes_pacman_and_ghosts_look_different(size):
    for cfg in _configs(size):
        game = Game(cfg, seed=0)
        game.reset()
        cs = game.cell_to_pixel_box(game.state.pacman)[2] - game.cell_to_pixel_box(game.state.pacman)[0]
        sprites = pacman_sprites(cs)
        headings = [sprites[a].tobytes() for a in (Action.UP, Action.DOWN, Action.LEFT, Action.RIGHT)]
        assert len(set(headings)) == 4
        assert ghost_sprites(cs).tobytes() not in headings
        # through the game: after a move the drawn Pac-Man is the sprite for that heading
        y0, x0, y1, x1 = game.cell_to_pixel_box(game.state.pacman)
        drawn = {}
        for a in (Action.UP, Action.DOWN, Action.LEFT, Action.RIGHT):
            game._heading = int(a)  # white-box: face each way without moving
            drawn[a] = (game.render()[y0:y1, x0:x1] == PALETTE["pacman"]).all(-1)
            assert np.array_equal(drawn[a], sprites[a])
        a = next(a for a in (Action.RIGHT, Action.UP, Action.DOWN) if game.can_move(game.state.pacman, a))
        frame, state, _ = game.step(a)
        y0, x0, y1, x1 = game.cell_to_pixel_box(state.pacman)
        assert state.heading == a
        assert np.array_equal((frame[y0:y1, x0:x1] == PALETTE["pacman"]).all(-1), sprites[a])


def test_classic_layout_is_centred_with_padding():
    game = Game(GameConfig(layout="classic", frame_size=84), seed=0)
    frame, _ = game.reset()
    y0, x0, _, _ = game.cell_to_pixel_box((0, 0))
    y1, x1 = game.cell_to_pixel_box((14, 14))[2:]
    assert abs(y0 - (84 - y1)) <= 1 and abs(x0 - (84 - x1)) <= 1  # padding on both sides
    assert y0 > 0 and (frame[:y0] == PALETTE["floor"]).all()


def test_frames_are_fresh_arrays():
    game = Game(GameConfig(), seed=0)
    frame, _ = game.reset()
    frame[:] = 0
    assert game.render().any()
    frame2, _, _ = game.step(Action.LEFT)
    assert frame2 is not game.render()


def test_engine_imports_neither_pygame_nor_torch():
    code = ("import sys, recorder.game, recorder.agents, recorder.keys; "
            "bad = [m for m in ('pygame', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
