"""gamegan.evaluation.ghost_losses: lasting losses of plausible ghosts, put down to what came just before."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gamegan.evaluation.catch import palette_reader
from gamegan.evaluation.ghost_losses import (LASTING, GhostStep, classify_losses, count_groups, format_ghost_losses,
                                            session_steps)
from play.measure import ghost_losses
from follow_fakes import VANISH, TwinSession, VanishingSession


def ghosts(plausible: int = 2, groups: int = 2, *, shown: int | None = None, solid: int | None = None,
           real: int = 2, frightened: bool = False, touches_pacman: bool = False) -> GhostStep:
    shown = plausible if shown is None else shown
    return GhostStep(shown=shown, solid=shown if solid is None else solid, plausible=plausible, real=real,
                     frightened=frightened, groups=groups, touches_pacman=touches_pacman)


def steady(n: int, plausible: int = 2, groups: int = 2, **kwargs) -> list[GhostStep]:
    return [ghosts(plausible, groups, **kwargs) for _ in range(n)]


def test_count_groups_joins_touching_cells_diagonals_included() -> None:
    grid = np.zeros((6, 6), bool)
    assert count_groups(grid) == 0
    grid[0, 0] = grid[1, 1] = True  # diagonal: one ghost drawn across two cells
    grid[4, 4] = True
    assert count_groups(grid) == 2
    grid[2, 2] = grid[3, 3] = True  # now a chain reaches the far one
    assert count_groups(grid) == 1 and grid.sum() == 5  # the input is left as it was


def test_a_lasting_drop_is_classified_by_the_steps_before_it() -> None:
    merged = steady(6) + steady(LASTING + 2, plausible=1, groups=1)
    assert classify_losses(merged) == [(7, "merge", 1)]
    touching = steady(6) + steady(LASTING + 2, plausible=0, groups=0)
    touching[5] = ghosts(2, groups=1, touches_pacman=True)
    assert classify_losses(touching) == [(7, "pacman", 2)]  # before the merge it also shows
    frightened = [replace(step, frightened=i >= 4) for i, step in enumerate(touching)]  # turned blue at step 5
    assert classify_losses(frightened) == [(7, "fright", 2)]
    always = [replace(step, frightened=True) for step in touching]  # blue all along: no onset to blame
    assert classify_losses(always) == [(7, "pacman", 2)]
    # With no cause in sight, by what the lost cells look like: still one colour, several, gone.
    assert classify_losses(steady(6) + steady(LASTING + 2, plausible=1, shown=2)) == [(7, "stopped", 1)]
    assert classify_losses(steady(6) + steady(LASTING + 2, plausible=1, shown=2, solid=1)) == [(7, "blended", 1)]
    vanished = steady(6) + steady(LASTING + 2, plausible=0, groups=0)  # fewer groups, but none left: no merge
    assert classify_losses(vanished) == [(7, "faded", 2)]


def test_drops_that_do_not_last_or_follow_the_real_game_are_not_losses() -> None:
    flicker = steady(6) + steady(2, plausible=1) + steady(LASTING + 2)
    assert classify_losses(flicker) == []
    real_gone = steady(6) + steady(8, plausible=1, groups=1, real=1)
    assert classify_losses(real_gone) == []  # a real ghost went under Pac-Man: one fewer to draw
    assert classify_losses(steady(6) + steady(LASTING - 1, plausible=1)) == []  # too near the end to tell


def test_a_perfect_twin_loses_no_ghost_and_a_vanishing_one_loses_them_where_they_go() -> None:
    for seed in (0, 1, 3):  # sessions the real ghosts do not end within 2 * LASTING steps
        twin = TwinSession(seed)
        log = session_steps(twin, palette_reader(twin.start.game), 20, seed)
        assert len(log) > 2 * LASTING and classify_losses(log) == []
        assert all(step.groups >= 1 for step in log)  # its ghosts are always drawn
        vanishing = VanishingSession(seed)
        log = session_steps(vanishing, palette_reader(vanishing.start.game), 20, seed)
        assert [(step, cells) for step, _, cells in classify_losses(log)] == [(VANISH, log[VANISH - 2].plausible)]
        assert log[VANISH - 1].groups == 0 and not log[VANISH - 1].touches_pacman  # nothing left to touch


def test_ghost_losses_on_the_shipped_model(one_thread: None) -> None:
    summary = ghost_losses(None, episodes=2, steps=16, seed=2000).summary()
    assert summary["episodes"] == 2 and summary["start_cells"] > 0  # it draws its ghosts at first
    assert summary["lost_cells"] == sum(row["cells"] for row in summary["by_kind"].values())
    steps = [step for where in summary["where"].values() for _, step in where]
    assert all(2 <= step <= 16 - LASTING + 1 for step in steps)
    assert f"{summary['lost_cells']} were lost" in format_ghost_losses(summary)
