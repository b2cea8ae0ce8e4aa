"""Rules of the game (recorder/game): property tests over random seeds and action sequences."""

from __future__ import annotations

import json
from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.game import (ACTION_NAMES, FRAME_SIZES, LAYOUTS, N_ACTIONS, PALETTE, Action, Game,
                           GameConfig, GameState)
from recorder.game.config import ACTION_DELTAS
from recorder.game.layouts import parse_layout

CONFIGS = {
    "classic": GameConfig(),
    "two_layouts": GameConfig(layout="classic+pillars", n_ghosts=3),
    "small": GameConfig(layout="small", frame_size=32, n_ghosts=4),
    "maze": GameConfig(mode="maze", n_ghosts=3),
    "maze_small_view": GameConfig(mode="maze", maze_cells=15, view_cells=9, frame_size=32, n_ghosts=4),
}

actions_st = st.lists(st.integers(0, N_ACTIONS - 1), min_size=1, max_size=80)
seed_st = st.integers(0, 2**31 - 1)
fast = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def play(game: Game, actions):
    """Yield (action, state before, frame after, state after) until the episode ends."""
    frame, before = game.reset()
    for a in actions:
        frame, after, done = game.step(a)
        yield a, before, frame, after
        before = after
        if done:
            return


# ---------------------------------------------------------------- constants and config
def test_action_constants():
    assert ACTION_NAMES == ("NOOP", "UP", "DOWN", "LEFT", "RIGHT") and N_ACTIONS == 5
    assert [int(a) for a in Action] == [0, 1, 2, 3, 4]
    assert FRAME_SIZES == (32, 64, 84, 128)
    assert {"small", "classic"} <= set(LAYOUTS)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_ghosts": 1}, "n_ghosts"), ({"n_ghosts": 5}, "n_ghosts"), ({"n_ghosts": 0}, "n_ghosts"),
    ({"frame_size": 50}, "frame_size"),
    ({"layout": "nope"}, "layout"), ({"mode": "arcade"}, "mode"),
    ({"layout": "classic+small"}, "share one shape"), ({"layout": "classic+classic"}, "must differ"),
    ({"mode": "maze", "maze_cells": 30}, "maze_cells"), ({"mode": "maze", "maze_cells": 13}, "maze_cells"),
    ({"mode": "maze", "view_cells": 14}, "view_cells"), ({"ghost_behaviours": ("chaser", "dancer")}, "behaviour"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GameConfig(**kwargs)


def test_config_json_round_trip():
    cfg = GameConfig(mode="maze", n_ghosts=4, frame_size=84)
    again = GameConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    with pytest.raises(ValueError, match="unknown field"):
        GameConfig.from_dict({"n_ghost": 3})


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_is_one_connected_maze_of_one_cell_corridors_without_dead_ends(name):
    level = parse_layout(LAYOUTS[name])
    free = ~level.walls
    pen = set(level.ghost_starts)
    rows, cols = free.shape
    steps = ((1, 0), (-1, 0), (0, 1), (0, -1))
    for r, c in zip(*np.nonzero(free)):
        if (r, c) not in pen:  # ghosts may start in a nook
            assert sum(free[r + dr, c + dc] for dr, dc in steps) >= 2, (name, r, c)
    assert not any(free[r:r + 2, c:c + 2].all() for r in range(rows - 1) for c in range(cols - 1)), name
    seen, todo = {level.pacman_start}, [level.pacman_start]
    while todo:
        r, c = todo.pop()
        for dr, dc in steps:
            if free[r + dr, c + dc] and (r + dr, c + dc) not in seen:
                seen.add((r + dr, c + dc))
                todo.append((r + dr, c + dc))
    assert len(seen) == free.sum(), name


def test_a_two_layout_game_plays_each_by_the_episode_seed_and_records_which():
    config = GameConfig(layout="classic+pillars")
    game, again = Game(config, seed=4), Game(config, seed=4)
    walls = {0: parse_layout(LAYOUTS["classic"]).walls, 1: parse_layout(LAYOUTS["pillars"]).walls}
    played = []
    for _ in range(12):
        (frame, state), (frame2, _) = game.reset(), again.reset()
        assert np.array_equal(frame, frame2)  # the same seed, the same episodes
        assert np.array_equal(game.walls, walls[state.layout])
        assert state.to_arrays()["layout"] == state.layout
        played.append(state.layout)
    assert set(played) == {0, 1}
    one = Game(GameConfig(), seed=4).reset()[1]
    assert one.layout is None and "layout" not in one.to_arrays()  # one layout: recordings as before


def test_layouts_fit_their_frame_sizes():
    small = Game(GameConfig(layout="small", frame_size=32), seed=0)
    small.reset()
    y0, x0, y1, x1 = small.cell_to_pixel_box((1, 1))
    assert y1 - y0 >= 3 and x1 - x0 >= 3
    classic = Game(GameConfig(frame_size=64), seed=0)
    classic.reset()
    y0, x0, y1, x1 = classic.cell_to_pixel_box((1, 1))
    assert y1 - y0 >= 4


# ---------------------------------------------------------------- invariants
@pytest.mark.parametrize("name", list(CONFIGS))
@fast
@given(seed=seed_st, actions=actions_st)
def test_rule_invariants(name, seed, actions):
    """Nobody in a wall; pellets never reappear; score never falls; each action does what it says."""
    game = Game(CONFIGS[name], seed=seed)
    walls = None
    for a, before, frame, after in play(game, actions):
        walls = game.walls
        assert frame.dtype == np.uint8 and frame.shape == (game.config.frame_size,) * 2 + (3,)
        assert not walls[tuple(after.pacman)]
        assert not walls[after.ghosts[:, 0], after.ghosts[:, 1]].any()
        assert not (after.pellets & ~before.pellets).any()
        assert not (after.power_pellets & ~before.power_pellets).any()
        assert after.score >= before.score
        assert after.step == before.step + 1
        dr, dc = ACTION_DELTAS[a]
        target = (before.pacman[0] + dr, before.pacman[1] + dc)
        expected = before.pacman if walls[target] else np.array(target)
        assert tuple(after.pacman) == tuple(expected), ACTION_NAMES[a]
        assert game.can_move(before.pacman, a) == (not walls[target])
        if tuple(expected) != tuple(before.pacman):
            assert after.heading == a
        # whatever Pac-Man walks onto is eaten
        assert not after.pellets[tuple(after.pacman)] and not after.power_pellets[tuple(after.pacman)]


@pytest.mark.parametrize("name", list(CONFIGS))
@settings(max_examples=15, deadline=None)
@given(seed=seed_st, actions=actions_st)
def test_same_seed_same_actions_same_game(name, seed, actions):
    runs = []
    for _ in range(2):
        game = Game(CONFIGS[name], seed=seed)
        runs.append([(frame, after.to_arrays()) for _, _, frame, after in play(game, actions)])
    for (f1, s1), (f2, s2) in zip(*runs, strict=True):
        assert np.array_equal(f1, f2)
        assert s1.keys() == s2.keys() and all(np.array_equal(s1[k], s2[k]) for k in s1)


def test_reset_replays_an_episode_from_its_seed():
    game = Game(CONFIGS["maze"], seed=7)
    game.reset()
    f2, s2 = game.reset()  # episode 1
    again = Game(CONFIGS["maze"], seed=7)
    again.reset()
    g2, t2 = again.reset()
    assert np.array_equal(f2, g2)
    f0, _ = again.reset(seed=7)  # restart the sequence
    first, _ = Game(CONFIGS["maze"], seed=7).reset()
    assert np.array_equal(f0, first)


def test_state_arrays_schema():
    for name, maze in (("classic", False), ("maze", True)):
        game = Game(CONFIGS[name], seed=0)
        _, state = game.reset()
        arrays = state.to_arrays()
        expected = {"pacman", "ghosts", "frightened", "pellets", "power_pellets", "score", "done"}
        assert set(arrays) == expected | ({"view_origin"} if maze else set())
        g, (r, c) = game.config.n_ghosts, game.grid_shape
        assert arrays["pacman"].dtype == np.int16 and arrays["pacman"].shape == (2,)
        assert arrays["ghosts"].dtype == np.int16 and arrays["ghosts"].shape == (g, 2)
        assert arrays["frightened"].dtype == bool and arrays["frightened"].shape == (g,)
        assert arrays["pellets"].shape == arrays["power_pellets"].shape == (r, c)
        assert arrays["score"].dtype == np.int32 and arrays["score"].shape == ()
        assert arrays["done"].dtype == bool and arrays["done"].shape == ()
        if maze:
            assert arrays["view_origin"].dtype == np.int16 and arrays["view_origin"].shape == (2,)
        else:
            assert state.view_origin is None


def test_state_is_a_snapshot():
    game = Game(GameConfig(), seed=0)
    _, state = game.reset()
    pellets = state.pellets.copy()
    for a in (3, 3, 4, 4, 1):
        if game.step(a)[2]:
            break
    assert np.array_equal(state.pellets, pellets) and state.step == 0


def test_invalid_actions_and_lifecycle():
    game = Game(GameConfig(), seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        game.step(0)
    game.reset()
    for bad in (5, -1, 2.5):
        with pytest.raises(ValueError, match="invalid action"):
            game.step(bad)
    game.step(np.int64(Action.LEFT))
    done = False
    while not done:
        done = game.step(Action.NOOP)[2]
    with pytest.raises(RuntimeError, match="reset"):
        game.step(0)
    assert game.state.step <= game.config.max_steps


# ---------------------------------------------------------------- ghosts, pellets, endings
def _place_ghost(game: Game, i: int, cell) -> None:
    """Test helper: put ghost i on a cell (white-box; the rules then run unchanged)."""
    game._ghosts.cells[i] = int(cell[0]) * game.grid_shape[1] + int(cell[1])


def _open_neighbour(game: Game):
    pac = game.state.pacman
    for a in (1, 2, 3, 4):
        if game.can_move(pac, a):
            dr, dc = ACTION_DELTAS[a]
            return a, (pac[0] + dr, pac[1] + dc)
    raise AssertionError("Pac-Man is walled in")


def test_touching_a_ghost_ends_the_episode():
    game = Game(GameConfig(ghost_speed=0.0), seed=0)
    game.reset()
    a, cell = _open_neighbour(game)
    _place_ghost(game, 0, cell)
    _, state, done = game.step(a)
    assert done and state.done and state.lives == 0


def test_power_pellet_frightens_and_frightened_ghosts_are_eaten():
    cfg = GameConfig(ghost_speed=0.0, frightened_steps=5)
    game = Game(cfg, seed=0)
    _, start = game.reset()
    # walk to the nearest power pellet along a BFS path
    path = _path(game.walls, tuple(start.pacman), tuple(np.argwhere(start.power_pellets)[0]))
    for a in path:
        _, state, done = game.step(a)
        assert not done
    assert state.frightened.all()
    frame = game.render()
    assert (frame == PALETTE["frightened"]).all(-1).any()
    a, cell = _open_neighbour(game)
    _place_ghost(game, 1, cell)
    score = state.score
    _, state, done = game.step(a)
    assert not done and state.score >= score + cfg.ghost_score
    assert tuple(state.ghosts[1]) == tuple(start.ghosts[1]) and not state.frightened[1]
    for _ in range(cfg.frightened_steps):
        _, state, _ = game.step(Action.NOOP)
    assert not state.frightened.any()


def test_eating_every_pellet_ends_the_episode():
    game = Game(GameConfig(layout="small", ghost_speed=0.0, frame_size=32), seed=0)
    game.reset()
    a, cell = _open_neighbour(game)
    # white-box: leave a single pellet, next to Pac-Man
    game._pellets[:] = False
    game._power[:] = False
    game._pellets[cell] = True
    game._remaining = 1
    _, state, done = game.step(a)
    assert done and state.lives == 1 and not state.pellets.any()


def test_max_steps_ends_the_episode():
    game = Game(GameConfig(max_steps=3, ghost_speed=0.0), seed=0)
    game.reset()
    dones = [game.step(Action.NOOP)[2] for _ in range(3)]
    assert dones == [False, False, True]


def _path(walls: np.ndarray, start, goal) -> list[int]:
    """Actions of a shortest path from start to goal (test helper)."""
    parent = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            break
        for a in (1, 2, 3, 4):
            nxt = (cell[0] + ACTION_DELTAS[a][0], cell[1] + ACTION_DELTAS[a][1])
            if not walls[nxt] and nxt not in parent:
                parent[nxt] = (cell, a)
                queue.append(nxt)
    actions = []
    while parent[goal] is not None:
        goal, a = parent[goal]
        actions.append(a)
    return actions[::-1]


# ---------------------------------------------------------------- maze mode
def _connected(walls: np.ndarray) -> bool:
    floor = np.argwhere(~walls)
    start = tuple(floor[0])
    seen = {start}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for dr, dc in ACTION_DELTAS[1:]:
            n = (r + dr, c + dc)
            if not walls[n] and n not in seen:
                seen.add(n)
                queue.append(n)
    return len(seen) == len(floor)


@settings(max_examples=20, deadline=None)
@given(seed=seed_st)
def test_maze_is_connected_larger_than_view_with_loops_and_new_per_reset(seed):
    cfg = CONFIGS["maze"]
    game = Game(cfg, seed=seed)
    game.reset()
    first = game.walls.copy()
    assert first.shape == (cfg.maze_cells, cfg.maze_cells) and cfg.maze_cells > cfg.view_cells
    assert first[0].all() and first[-1].all() and first[:, 0].all() and first[:, -1].all()
    assert _connected(first)
    # loops: a spanning tree over the floor cells has (floor - 1) edges; a maze with loops has more
    floor = ~first
    edges = (floor[1:] & floor[:-1]).sum() + (floor[:, 1:] & floor[:, :-1]).sum()
    assert edges > floor.sum() - 1
    # corridors one cell wide: no 2x2 block of floor
    assert not (floor[1:, 1:] & floor[:-1, 1:] & floor[1:, :-1] & floor[:-1, :-1]).any()
    game.reset()
    assert not np.array_equal(first, game.walls)


@settings(max_examples=20, deadline=None)
@given(seed=seed_st, actions=actions_st)
def test_maze_view_is_egocentric(seed, actions):
    cfg = CONFIGS["maze"]
    game = Game(cfg, seed=seed)
    h = cfg.view_cells // 2
    _, state = game.reset()
    centre = game.cell_to_pixel_box(state.pacman)
    for _, _, frame, after in play(game, actions):
        assert tuple(after.view_origin) == tuple(after.pacman - h)
        assert game.cell_to_pixel_box(after.pacman) == centre
        y0, x0, y1, x1 = centre
        assert (frame[y0:y1, x0:x1] == PALETTE["pacman"]).all(-1).any()


def test_maze_outside_cells_draw_as_wall():
    """Walk to the maze's corner; the cells beyond the border are drawn as solid wall."""
    cfg = GameConfig(mode="maze", ghost_speed=0.0, n_ghosts=2)
    for seed in range(20):
        game = Game(cfg, seed=seed)
        _, state = game.reset()
        path = _path(game.walls, tuple(state.pacman), (1, 1))
        if any(tuple(g) in _cells_on(path, tuple(state.pacman)) for g in state.ghosts):
            continue
        for a in path:
            frame, state, done = game.step(a)
        assert tuple(state.pacman) == (1, 1) and tuple(state.view_origin) == (1 - 7, 1 - 7)
        for cell in ((-1, -1), (-6, 8), (5, -3)):  # outside the maze, inside the view
            y0, x0, y1, x1 = game.cell_to_pixel_box(cell)
            assert (frame[y0:y1, x0:x1] == PALETTE["wall"]).all()
        assert game.cell_to_pixel_box((-7, 0)) is None and game.cell_to_pixel_box((0, 9)) is None
        return
    pytest.fail("no seed gave a ghost-free path to the corner")


def _cells_on(path, start):
    cells = {start}
    r, c = start
    for a in path:
        r, c = r + ACTION_DELTAS[a][0], c + ACTION_DELTAS[a][1]
        cells.add((r, c))
    return cells


def test_game_state_type():
    _, state = Game(GameConfig(), seed=0).reset()
    assert isinstance(state, GameState) and state.heading == Action.LEFT and state.lives == 1


def test_ghosts_leave_the_pen_and_the_chaser_hunts():
    """Ghosts walk out through the pen door; a noiseless chaser catches a Pac-Man who stands still."""
    cfg = GameConfig(n_ghosts=4, ghost_speed=1.0, ghost_noise=0.0)
    game = Game(cfg, seed=0)
    game.reset()
    left = [False] * 4
    for t in range(60):
        _, state, done = game.step(Action.NOOP)
        for i, (r, c) in enumerate(state.ghosts):
            left[i] |= not (5 <= r <= 7 and 6 <= c <= 8)  # the pen of the classic layout
        if done:
            break
    assert all(left) and done and state.lives == 0 and t < 40
