"""gamegan.evaluation.follow: the key-following measure scores a perfect simulator 100 % and a blank one 0 %."""

from __future__ import annotations

import numpy as np
import pytest

from gamegan.checkpoint import save_weights
from gamegan.config import preset
from gamegan.model.factory import build_model
from gamegan.evaluation.follow import (KINDS, STRIP_BAR, STRIP_MATCH, STRIP_MISS, STRIP_NO_KEY, STUCK_STEPS,
                                      FollowReport, _ratio_se, _score, follow_episode, format_checkpoint_row,
                                      format_report, palette_reader)
from play.measure import follow_checkpoints, follow_keys, follow_strip
from gamegan.evaluation.sprites import LOST
from gamegan.evaluation.catch import CatchWatch
from play.session import GUTTER
from recorder.game import GameConfig
from follow_fakes import (VANISH, BlankSession, BlueSession, CaughtSession, FrozenSession, TwinSession,
                          VanishingSession)


def drive(session_type: type, episodes: int = 6, steps: int = 30) -> dict:
    report = FollowReport()
    for seed in range(episodes):
        session = session_type(seed)
        follow_episode(session, palette_reader(session.start.game), report, steps, seed)
    return report.summary()


def test_a_perfect_simulator_matches_every_step_of_every_kind() -> None:
    summary = drive(TwinSession)
    assert summary["episodes"] == 6
    for kind in KINDS:  # the keyboard player produces all three kinds in 6 x 30 steps
        assert summary["by_kind"][kind]["n"] > 0
        assert summary["by_kind"][kind]["match"] == 1.0 and summary["by_kind"][kind]["lost"] == 0.0
    assert summary["overall"]["ghosts_shown"] == 1.0 and summary["overall"]["ghosts_near"] == 1.0
    assert summary["by_horizon"]["11-20"]["ghosts_plausible"] == 1.0  # past STUCK_STEPS: real ghosts never stick
    assert summary["overall"]["frightened_shown"] == 1.0  # the player eats a power pellet in these sessions
    assert summary["overall"]["frightened_false"] == 0.0
    assert "frightened ghosts drawn on 100% of the steps where the real game shows them and on 0% of the others" in (
        format_report(summary))
    assert summary["clean_episodes"] == 1.0 and summary["first_miss_median"] is None
    assert summary["steps_per_episode"] == pytest.approx(summary["overall"]["n"] / 6, abs=0.05)
    # A twin's ghosts catch Pac-Man only when the real ones do, which ends the scoring before a
    # frame without him.
    assert summary["overall"]["caught"] == 0.0
    assert summary["catches_per_100_steps"]["simulator"] == 0.0 < summary["catches_per_100_steps"]["real"]
    assert summary["overall"]["n"] == sum(r["n"] for r in summary["by_kind"].values())
    assert summary["overall"]["n"] == sum(r["n"] for r in summary["by_horizon"].values())


def test_standard_errors_treat_sessions_as_the_unit() -> None:
    # Sessions (1 of 2) and (3 of 4): ratio 4/6, residuals -1/3 and 1/3, so sqrt(2 * 2/9) / 6.
    assert _ratio_se([(1, 2), (3, 4)]) == pytest.approx(1 / 9, abs=1e-3)
    assert _ratio_se([(1, 2), (2, 4), (0, 0)]) == 0.0  # the same rate twice; a session without any adds nothing
    assert _ratio_se([(1, 2), (0, 0)]) is None and _ratio_se([]) is None
    report = FollowReport()
    for seed in range(4):
        session = FrozenSession(seed)
        follow_episode(session, palette_reader(session.start.game), report, 30, seed)
    summary = report.summary()
    assert len(report.per_episode) == 4 and sum(e["all"].n for e in report.per_episode) == summary["overall"]["n"]
    # Frozen ghosts count as plausible until they have stood STUCK_STEPS, and sessions last unlike.
    assert summary["overall"]["ghosts_plausible_se"] > 0.05
    perfect = drive(TwinSession)
    assert perfect["overall"]["match_se"] == 0.0 and perfect["by_horizon"]["1-5"]["ghosts_plausible_se"] == 0.0
    assert " ±0.0% " in format_report(perfect)


def test_frozen_and_blank_simulators_are_caught() -> None:
    frozen, blank = drive(FrozenSession), drive(BlankSession)
    assert frozen["by_kind"]["move"]["match"] < 0.2 and frozen["overall"]["lost"] == 0.0
    assert frozen["overall"]["ghosts_near"] < 0.5  # its ghosts stay where they started
    late = frozen["by_horizon"]["11-20"]  # ... so once STUCK_STEPS have passed they are drawn but not plausible
    assert late["ghosts_shown"] >= 0.9 and late["ghosts_plausible"] < 0.2
    assert frozen["by_horizon"]["1-5"]["ghosts_plausible"] == frozen["by_horizon"]["1-5"]["ghosts_shown"]
    assert frozen["overall"]["frightened_shown"] == 0.0  # its ghosts keep their colours after a power pellet
    assert blank["overall"]["match"] == 0.0 and blank["overall"]["lost"] == 1.0
    assert blank["overall"]["ghosts_shown"] == 0.0
    assert blank["first_miss_median"] == 1.0 and blank["clean_episodes"] == 0.0
    assert "in the others: step 1.0" in format_report(blank)


def test_a_catch_by_the_simulators_own_ghost_ends_its_game_and_vanishing_does_not() -> None:
    vanished, caught = drive(VanishingSession, steps=12), drive(CaughtSession, steps=12)
    assert vanished["by_horizon"]["1-5"]["lost"] == pytest.approx(0.2)  # step 5 of 1-5, in every episode
    assert vanished["by_horizon"]["6-10"]["lost"] == 1.0 and vanished["overall"]["caught"] == 0.0
    assert vanished["catches_per_100_steps"]["simulator"] == 0.0
    # Caught at step 5, which ends each of the 6 sessions: 6 catches in 30 steps.
    assert caught["steps_per_episode"] == 5.0 and "6-10" not in caught["by_horizon"]
    assert caught["overall"]["caught"] == caught["overall"]["lost"] == pytest.approx(0.2)
    assert caught["catches_per_100_steps"]["simulator"] == pytest.approx(20.0)
    assert "ghosts caught Pac-Man 20.00 times per 100 steps in the simulator" in format_report(caught)
    assert drive(BlankSession)["overall"]["caught"] == 0.0  # it never ends its game


def test_catch_watch_needs_a_ghost_at_hand_on_the_step_he_vanishes() -> None:
    ghosts = np.zeros((5, 5), bool)
    watch = CatchWatch(max_ghost_cells=2)
    assert not watch.update(np.array([2, 2]), ghosts)
    ghosts[3, 3] = True  # diagonal to his last cell
    assert watch.update(np.array([LOST, LOST]), ghosts) and watch.caught
    assert not watch.update(np.array([LOST, LOST]), ghosts) and watch.caught  # still caught, not again
    assert not watch.update(np.array([2, 1]), ghosts) and not watch.caught  # drawn again
    far = np.zeros((5, 5), bool)
    far[0, 4] = True
    assert not watch.update(np.array([LOST, LOST]), far) and not watch.caught
    assert not watch.update(np.array([LOST, LOST]), ghosts)  # a ghost arriving after he vanished is too late
    assert not watch.update(np.array([2, 2]), ghosts)
    assert not watch.update(np.array([LOST, LOST]), np.ones((5, 5), bool))  # noise: ghosts everywhere


def test_catch_watch_takes_a_ghost_drawn_under_pacman_as_a_catch() -> None:
    ghosts, here = np.zeros((5, 5), bool), np.array([2, 2])
    watch = CatchWatch(max_ghost_cells=2)
    assert watch.update(here, ghosts, ghost_under_pacman=True) and watch.caught
    assert not watch.update(here, ghosts, ghost_under_pacman=True) and watch.caught  # the same catch
    assert not watch.update(np.array([LOST, LOST]), ghosts) and watch.caught  # then he goes: still the same one
    assert not watch.update(here, ghosts) and not watch.caught
    assert not watch.update(here, np.ones((5, 5), bool), ghost_under_pacman=True)  # noise catches nobody


def test_ghosts_painted_blue_at_random_score_as_false_frightened() -> None:
    blue = drive(BlueSession)["overall"]
    assert blue["frightened_shown"] == 1.0 and blue["frightened_false"] > 0.9  # not 0.0, as for the twin
    assert blue["match"] == 1.0 and blue["ghosts_plausible"] == 1.0  # still one colour each, and moving


def test_follow_keys_on_the_shipped_model(one_thread: None) -> None:
    report = follow_keys(None, episodes=2, steps=8, seed=5)
    summary = report.summary()
    assert summary["episodes"] == 2 and 0 < summary["overall"]["n"] <= 16
    assert len(report.first_miss) == len(report.played) == 2 and sum(report.played) == summary["overall"]["n"]
    assert all(m is None or 1 <= m <= p for m, p in zip(report.first_miss, report.played))


def test_on_step_sees_every_scored_step() -> None:
    for session_type, match in ((TwinSession, True), (BlankSession, False)):
        session, report, seen = session_type(3), FollowReport(), []
        follow_episode(session, palette_reader(session.start.game), report, 12, 3,
                       on_step=lambda action, score, _: seen.append(score.match))
        assert len(seen) == report.overall.n > 0 and set(seen) == {match}


def test_follow_strip_tiles_simulator_and_real_game_per_step(one_thread: None) -> None:
    image = follow_strip(None, seed=5, steps=8, per_row=4)  # the shipped model
    tile_h, tile_w = 64 + STRIP_BAR, 64 + GUTTER + 64
    assert image.shape == (2 * tile_h + 4, 4 * tile_w + 3 * 4, 3)
    bar = image[64:tile_h, :tile_w]  # the first step's: one colour across the tile
    assert any((bar == colour).all() for colour in (STRIP_MATCH, STRIP_NO_KEY, STRIP_MISS))


def test_ghosts_next_to_the_real_ones_count_as_near() -> None:
    real = np.zeros((5, 5), dtype=bool)
    real[2, 2] = real[0, 4] = True
    shown = np.zeros((5, 5), dtype=bool)
    shown[3, 3] = True  # diagonal neighbour of (2, 2); far from (0, 4)
    score = _score(np.array([1, 1]), shown, shown, np.zeros((5, 5), int), np.array([1, 1]), real,
                   frightened_real=False, frightened_drawn=False)
    assert (score.ghosts_real, score.ghosts_shown, score.ghosts_near) == (2, 1, 1) and score.match


def test_a_ghost_is_plausible_unless_patchwork_or_stuck_away_from_real_ones() -> None:
    real = np.zeros((6, 6), dtype=bool)
    real[0, 0] = True
    shown = np.zeros((6, 6), dtype=bool)
    shown[0, 1] = shown[3, 3] = shown[5, 5] = True
    solid = shown.copy()
    solid[5, 5] = False  # a patchwork of ghost colours
    held = np.zeros((6, 6), dtype=int)
    held[0, 1] = held[3, 3] = STUCK_STEPS  # long in place: (0, 1) beside a real ghost, (3, 3) alone
    pacman = np.array([2, 0])
    score = _score(pacman, shown, solid, held, pacman, real, frightened_real=False, frightened_drawn=False)
    assert (score.ghosts_shown, score.ghosts_plausible) == (3, 1)  # only (0, 1)
    held[3, 3] = STUCK_STEPS - 1
    assert _score(pacman, shown, solid, held, pacman, real, frightened_real=False,
                  frightened_drawn=False).ghosts_plausible == 2


def test_follow_checkpoints_scores_each_checkpoint_in_the_range(tmp_path, one_thread: None) -> None:
    config = preset("tiny")
    config.game = GameConfig(layout="small", frame_size=32).to_dict()
    model = build_model(config.model)
    for step in (1, 5, 9):
        save_weights(tmp_path / "checkpoints" / f"step_{step:07d}.safetensors", model, config, step=step)
    rows = list(follow_checkpoints(tmp_path, first=2, last=9, episodes=2, steps=3, seed=4))
    assert [step for step, _ in rows] == [5, 9]
    for step, summary in rows:
        assert summary["episodes"] == 2 and 0 < summary["overall"]["n"] <= 6
        assert format_checkpoint_row(step, summary).startswith(f"step {step:>7}  match ")
    assert rows[0][1] == rows[1][1]  # the same weights, seeds and keys
    with pytest.raises(ValueError, match=r"no checkpoints with a step in 10\.\."):
        follow_checkpoints(tmp_path, first=10)


def test_a_session_without_a_real_game_is_refused() -> None:
    session = TwinSession(0)
    session.start.game = None
    with pytest.raises(ValueError, match="no real game"):
        follow_episode(session, palette_reader(TwinSession(0).start.game), FollowReport(), 5, 0)
