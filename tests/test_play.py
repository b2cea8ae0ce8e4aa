"""The play client: sessions, the headless driver, the pygame loop (SDL dummy driver), launch
errors and the latency benchmark, on tiny randomly initialised models (no training needed)."""

from __future__ import annotations

import copy
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pygame
import pytest
import torch

from gamegan.checkpoint import save_weights
from gamegan.config import preset
from gamegan.data import to_model_frames
from gamegan.errors import CheckpointError, UsageError
from gamegan.media import read_gif_frames
from gamegan.model.factory import build_model
from play.bench import bench_play
from play.loading import load_simulator, torch_threads
from gamegan.evaluation.catch import palette_reader
from play.client import Client
from gamegan.evaluation.follow import FollowReport, follow_episode
from play.headless import drive, parse_keys, run_headless, summary_line
from play.launch import open_session, play
from play.session import GUTTER, DataStarts, GameStarts, RealGameSession, SimSession
from recorder.dataset import open_dataset
from recorder.game import Action, Game, GameConfig
from recorder.game.palette import PALETTE

GAME = GameConfig(layout="small", frame_size=32)
UP, DOWN, LEFT, RIGHT, NOOP = (int(a) for a in (Action.UP, Action.DOWN, Action.LEFT, Action.RIGHT, Action.NOOP))


def _save_run(root: Path, memory: bool) -> Path:
    """A run directory with one checkpoint of a randomly initialised tiny model."""
    config = preset("tiny")
    config.game = GAME.to_dict()
    if memory:
        config.model = dataclasses.replace(config.model, memory=True, renderer="disentangling", n_components=2,
                                           memory_size=9, memory_dim=32)
    torch.manual_seed(0)
    save_weights(root / "checkpoints" / "step_0000001.safetensors", build_model(config.model), config, step=1)
    return root


@pytest.fixture(autouse=True)
def play_thread_count():
    """Each test runs with the thread count `gamegan play` uses (restored afterwards)."""
    with torch_threads(None):
        yield


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny preset as is: no memory, one component."""
    return _save_run(tmp_path_factory.mktemp("plain"), memory=False)


@pytest.fixture(scope="module")
def memory_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny with memory and the disentangling renderer (K = 2): static/dynamic views, swaps."""
    return _save_run(tmp_path_factory.mktemp("memory"), memory=True)


# -- sessions and the headless driver -----------------------------------------------------------


def test_different_keys_give_different_frames_and_same_keys_the_same(memory_run: Path) -> None:
    def frames(keys: str) -> list[np.ndarray]:
        return drive(open_session(memory_run, seed=3), parse_keys(keys))[0]

    ups, lefts, ups_again = frames("UUUUU"), frames("LLLLL"), frames("UUUUU")
    assert np.array_equal(ups[0], lefts[0])  # the same start
    assert all(not np.array_equal(a, b) for a, b in zip(ups[1:], lefts[1:]))
    assert all(np.array_equal(a, b) for a, b in zip(ups, ups_again))  # seeded noise: reproducible


def test_headless_gif_has_the_start_and_one_frame_per_step(memory_run: Path, tmp_path: Path) -> None:
    session = open_session(memory_run, seed=0)
    summary = run_headless(session, "uuLL rdN", tmp_path / "out.gif", scale=3)
    frames = read_gif_frames(tmp_path / "out.gif")
    assert summary["steps"] == 7 and summary["keys"] == "UULLRDN"
    assert summary["gif_frames"] == len(frames) == 8
    assert frames[0].shape == (96, 96, 3)
    assert np.array_equal(frames[0][::3, ::3], session.start.frames[-1])  # the real start frame comes first
    assert session.actions == [UP, UP, LEFT, LEFT, RIGHT, DOWN, NOOP]
    assert 0 < summary["p50_ms"] <= summary["max_ms"]


def test_key_letters_are_checked() -> None:
    assert parse_keys("udlrn") == [UP, DOWN, LEFT, RIGHT, NOOP]
    with pytest.raises(ValueError, match=r"'X' at position 2"):
        parse_keys("UUX")


def test_reset_and_swap_change_the_static_component(memory_run: Path) -> None:
    session = open_session(memory_run, seed=0)
    first = session.view("static").copy()
    session.reset()  # the next seed: another start
    assert session.seed == 1 and not np.array_equal(session.view("static"), first)
    session.reset(seed=0)
    assert np.array_equal(session.view("static"), first)  # the same start again

    session.step(LEFT)
    before, dynamic = session.view("static").copy(), session.view("dynamic").copy()
    other = session.sibling(seed=5)
    session.swap_static(other)
    assert torch.equal(session.state.memory, other.state.memory)
    assert not np.array_equal(session.view("static"), before)
    assert session.state.memory is not other.state.memory  # a copy: the other start is untouched
    frame = session.step(LEFT)  # play goes on in the swapped world
    assert frame.shape == (32, 32, 3) and dynamic.shape == (32, 32, 3)


def test_a_swap_in_a_game_of_two_layouts_takes_the_static_world_of_the_other_layout() -> None:
    config = preset("tiny").model
    config = dataclasses.replace(config, frame_size=64, memory=True, renderer="disentangling", n_components=2,
                                 memory_size=9, memory_dim=32)
    sim, _, _ = load_simulator(config)
    session = SimSession(sim, GameStarts(GameConfig(layout="classic+pillars"), warmup=2), seed=0)
    ours = session.start.game.layout_index
    other, seed = session.swap_partner(1)
    assert other.start.game.layout_index != ours and seed >= 1 and other.seed == seed
    session.swap_static(other)
    assert torch.equal(session.state.memory, other.state.memory)
    one = SimSession(sim, GameStarts(GameConfig(), warmup=2), seed=0)
    assert one.swap_partner(7)[1] == 7  # one layout: the next start, as before


def test_views_of_a_model_without_components(plain_run: Path, memory_run: Path) -> None:
    plain, with_memory = open_session(plain_run), open_session(memory_run)
    assert plain.views == ("output",) and with_memory.views == ("output", "static", "dynamic", "masks")
    with pytest.raises(UsageError, match="no memory"):
        plain.swap_static(plain.sibling(1))
    masks = with_memory.view("masks").reshape(-1, 3).astype(int)
    # every pixel is a blend of the two component colours (blue static, yellow dynamic)
    blue, yellow = np.array([60, 90, 200]), np.array([250, 210, 40])
    w = (masks[:, 0] - blue[0]) / (yellow[0] - blue[0])
    assert np.abs(blue + w[:, None] * (yellow - blue) - masks).max() <= 2


def test_side_by_side_real_half_is_the_recorders_game(plain_run: Path) -> None:
    session = open_session(plain_run, seed=4)
    actions = [LEFT, LEFT, UP, RIGHT, DOWN, NOOP, RIGHT, RIGHT]
    images, _ = drive(session, actions, side_by_side=True)

    game = Game(GAME, seed=4)
    frame, _ = game.reset()
    for a in session.start.actions:
        frame, _, _ = game.step(int(a))
    assert np.array_equal(frame, session.start.frames[-1])
    real_halves = [image[:, 32 + GUTTER:] for image in images]
    assert np.array_equal(real_halves[0], frame)
    for a, half in zip(actions, real_halves[1:]):
        if not game.done:
            frame, _, _ = game.step(a)
        assert np.array_equal(half, frame)
    assert all(image.shape == (32, 65, 3) for image in images)
    assert not np.array_equal(images[-1][:, :32], real_halves[-1])  # the left half is the model's


class ScriptedSimulator:
    """Runs the real simulator (for its state) but shows the real game's next frame, with
    Pac-Man painted over in a ghost colour on step `catch_at`: the simulator's ghost catches him.
    With no `catch_at` it is a perfect simulator: its ghosts catch him when the real ones do."""

    def __init__(self, sim, game: Game, catch_at: int | None):
        self.sim, self.game, self.catch_at, self.steps = sim, game, catch_at, 0
        self.config, self.warmup = sim.config, sim.warmup

    def eval(self):
        return self

    def step(self, state, action, z):
        _, state, extras = self.sim.step(state, action, z)
        frame = self.game.step(int(action[0]))[0].copy()
        self.steps += 1
        if self.catch_at is not None and self.steps >= self.catch_at:
            pacman = (frame == PALETTE["pacman"]).all(-1)
            frame[pacman] = PALETTE["ghost_0"] if self.steps == self.catch_at else PALETTE["floor"]
        return to_model_frames(frame)[None], state, extras


def test_the_simulated_game_ends_when_its_own_ghost_catches_pacman(plain_run: Path) -> None:
    session = open_session(plain_run, seed=4)
    session.sim = ScriptedSimulator(session.sim, copy.deepcopy(session.start.game), catch_at=3)
    for _ in range(2):
        session.step(LEFT)
        assert not session.done
    caught = session.step(LEFT)
    assert session.done
    assert np.array_equal(session.step(RIGHT), caught) and session.sim.steps == 3  # the game is over
    session.reset(4)
    assert not session.done


def test_a_perfect_simulators_game_ends_where_the_real_one_does(plain_run: Path) -> None:
    # The real game's last frame draws Pac-Man over the ghost that caught him; a simulator that
    # draws that frame has caught him, though he never vanishes.
    report = FollowReport()
    for seed in range(6):
        session = open_session(plain_run, seed=seed)
        session.sim = ScriptedSimulator(session.sim, copy.deepcopy(session.start.game), catch_at=None)
        follow_episode(session, palette_reader(session.start.game), report, steps=60, seed=seed)
        assert session.done == (session.start.game.state.lives == 0)  # one life: lost to a catch
    summary = report.summary()
    assert summary["overall"]["match"] == 1.0
    assert summary["catches_per_100_steps"]["simulator"] == summary["catches_per_100_steps"]["real"] > 0


def test_headless_play_says_when_the_simulators_ghosts_end_the_game(plain_run: Path, tmp_path: Path) -> None:
    session = open_session(plain_run, seed=4)
    session.sim = ScriptedSimulator(session.sim, copy.deepcopy(session.start.game), catch_at=3)
    summary = run_headless(session, "LLLLLL", tmp_path / "caught.gif")
    frames = read_gif_frames(tmp_path / "caught.gif")
    assert summary["game_over_at"] == 3 and summary["gif_frames"] == 7
    assert len(frames) == 4  # the start and steps 1-3: the frames of the over game are the same, merged into one
    assert "game over at step 3" in summary_line(summary)
    assert run_headless(open_session(plain_run, seed=4), "LLL")["game_over_at"] is None


def test_data_starts_replay_the_recording(tiny_recording: Path) -> None:
    starts = DataStarts(tiny_recording, warmup=3)
    start = starts.start(seed=2)
    episode, first = (int(x) for x in start.label.split()[2::2])
    with open_dataset(tiny_recording) as data:
        frames, actions = data.frames(episode), data.actions(episode)
    assert np.array_equal(start.frames, frames[first:first + 3])
    assert np.array_equal(start.actions, actions[first:first + 2])
    game, t = start.game, first + 2
    assert np.array_equal(game.render(), frames[t])  # the real game stands where the window ends
    while t + 1 < len(frames):
        frame, _, _ = game.step(int(actions[t]))
        t += 1
        assert np.array_equal(frame, frames[t])


def test_real_game_session_plays_the_game() -> None:
    session, game = RealGameSession(GAME, seed=9), Game(GAME, seed=9)
    assert np.array_equal(session.frame, game.reset()[0])
    for a in [LEFT, LEFT, UP, UP, RIGHT] * 8:
        if game.done:
            break
        assert np.array_equal(session.step(a), game.step(a)[0])
    with pytest.raises(UsageError):
        session.swap_static(session)


# -- the pygame client under SDL's dummy driver -------------------------------------------------


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


class FakeClock:
    """Advances by one simulation period per read: every redraw is due a step."""

    def __init__(self, period: float):
        self.t, self.period = 0.0, period

    def __call__(self) -> float:
        self.t += self.period
        return self.t


def _client(session, tmp_path: Path) -> Client:
    return Client(session, scale=4, fps=10, render_fps=0, gif_dir=tmp_path, time_fn=FakeClock(0.1))


def _press(*keys: int, release: bool = True) -> None:
    for key in keys:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key))
        if release:
            pygame.event.post(pygame.event.Event(pygame.KEYUP, key=key))


def test_client_keys_move_pause_cycle_and_quit(memory_run: Path, tmp_path: Path) -> None:
    session = open_session(memory_run, seed=0)
    client = _client(session, tmp_path)
    client.open()
    try:
        moves = {pygame.K_UP: UP, pygame.K_DOWN: DOWN, pygame.K_LEFT: LEFT, pygame.K_RIGHT: RIGHT,
                 pygame.K_w: UP, pygame.K_s: DOWN, pygame.K_a: LEFT, pygame.K_d: RIGHT}
        for key, action in moves.items():
            _press(key, release=False)
            client.frame()
            client.frame()  # still held: still moving
            _press(key)  # (a second down, then up)
            client.frame()  # pressed and released since the last step: the tap still counts
            client.frame()  # nothing pressed: NOOP
            assert session.actions[-4:] == [action, action, action, NOOP], pygame.key.name(key)

        _press(pygame.K_p)
        n = len(session.actions)
        for _ in range(3):
            client.frame()
        assert client.paused and len(session.actions) == n
        _press(pygame.K_n)
        client.frame()
        assert len(session.actions) == n + 1
        _press(pygame.K_p)
        client.frame()
        assert not client.paused and len(session.actions) == n + 2

        seen = []
        for _ in range(4):
            _press(pygame.K_c)
            client.frame()
            seen.append(client.view)
            assert np.array_equal(client._image(), session.view(client.view))
        assert seen == ["static", "dynamic", "masks", "output"]

        _press(pygame.K_ESCAPE)
        client.frame()
        assert client.quit
    finally:
        client.close()


def test_client_side_by_side_swap_reset_help_and_gif(memory_run: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    session = open_session(memory_run, seed=0)
    client = _client(session, tmp_path)
    client.open()
    try:
        client.frame()
        assert client._screen.get_size()[0] == 32 * 4
        _press(pygame.K_v)
        client.frame()
        assert client.side_by_side and client._screen.get_size()[0] == (2 * 32 + GUTTER) * 4

        static = session.view("static").copy()
        _press(pygame.K_x)
        client.frame()
        assert not np.array_equal(session.view("static"), static)

        plain = pygame.surfarray.array3d(client._screen).copy()
        _press(pygame.K_h)
        client.frame()
        assert client.show_help and pygame.surfarray.array3d(client._screen).mean() < plain.mean()

        _press(pygame.K_r)
        client.frame()
        assert session.seed == 1 and len(session.actions) == 1

        _press(pygame.K_g)
        for _ in range(3):
            client.frame()
        _press(pygame.K_v)  # back to one picture while recording
        client.frame()
        _press(pygame.K_g)
        client.frame()
    finally:
        client.close()
    (gif,) = client.saved_gifs
    frames = read_gif_frames(gif)
    assert len(frames) == 5 and all(f.shape == (32 * 4, (2 * 32 + GUTTER) * 4, 3) for f in frames)
    assert frames[-1][:, 33 * 4:].max() == 0  # the single-picture frame, padded with black
    assert f"saved {gif}" in capsys.readouterr().out


def test_client_run_is_bounded_and_esc_ends_it(memory_run: Path, tmp_path: Path) -> None:
    session = open_session(memory_run, seed=0)
    summary = _client(session, tmp_path).run(max_frames=5)
    assert summary["frames"] == 5 and summary["steps"] == 5 and summary["mean_ms"] > 0

    client = _client(session, tmp_path)
    pygame.display.init()  # events can be queued once the video system is up
    _press(pygame.K_LEFT, pygame.K_ESCAPE)
    summary = client.run(max_frames=50)
    assert summary["frames"] == 1 and session.actions[-1] == LEFT


def test_the_window_scale_shrinks_to_fit_the_screen() -> None:
    from play.client import fit_scale

    # 64 px side by side is 136 px wide: at scale 10 that is 1360 px, too wide for 1280
    assert fit_scale(136, 64, 10, 40, (1280, 800)) == 8  # 1088 <= 1216 and 552 <= 720
    assert fit_scale(64, 64, 8, 40, (1280, 800)) == 8  # fits: unchanged
    assert fit_scale(136, 64, 10, 40, (100, 100)) == 1  # never below 1
    assert fit_scale(136, 64, 10, 40, None) == 10  # screen size unknown


@pytest.mark.skipif(sys.platform != "linux", reason="SDL falls back to its offscreen driver only without X11/Wayland")
def test_client_refuses_an_invisible_window(plain_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    client = Client(open_session(plain_run), render_fps=0)
    with pytest.raises(UsageError) as err:
        client.open()
    assert "--headless" in _one_line(err)


# -- launch: what the CLI calls -----------------------------------------------------------------


def test_play_headless_writes_the_gif(plain_run: Path, tiny_recording: Path, tmp_path: Path) -> None:
    summary = play(plain_run, headless=True, keys="LLN", gif=tmp_path / "p.gif", side_by_side=True)
    assert summary["steps"] == 3 and summary["side_by_side"] and summary["start"].startswith("game seed 0")
    frames = read_gif_frames(tmp_path / "p.gif")
    assert len(frames) == 4 and frames[0].shape == (32 * 4, (2 * 32 + GUTTER) * 4, 3)
    from_data = play(plain_run, data=tiny_recording, headless=True, keys="UD", seed=1, side_by_side=True)
    assert from_data["start"].startswith("data episode") and from_data["side_by_side"]
    real = play(None, real=True, headless=True, keys="LLN")
    assert real["steps"] == 3 and real["gif"] is None and real["start"] == "real game seed 0"


def test_play_bad_checkpoints_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        play(tmp_path / "missing", headless=True, keys="N")
    assert "missing" in _one_line(err)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError) as err:
        play(tmp_path / "empty", headless=True, keys="N")
    assert "no checkpoints" in _one_line(err)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as err:
        play(bad, headless=True, keys="N")
    assert "bad.safetensors" in _one_line(err)


def test_play_usage_errors(plain_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("play.launch.shipped_model", lambda: None)  # an install without the asset
    with pytest.raises(UsageError) as err:
        play(None, headless=True, keys="N")
    assert "no shipped model" in _one_line(err)
    with pytest.raises(UsageError) as err:
        play(plain_run, headless=True)
    assert "--keys" in _one_line(err)
    with pytest.raises(UsageError) as err:
        play(plain_run, headless=True, keys="UUQ")
    assert "'Q'" in _one_line(err)
    with pytest.raises(UsageError) as err:
        play(plain_run, headless=True, keys="  ")
    assert "no key letters" in _one_line(err)
    with pytest.raises(UsageError) as err:
        play(plain_run, keys="UU")
    assert "--headless" in _one_line(err)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(UsageError) as err:
        play(plain_run)
    assert "--headless" in _one_line(err)
    # SDL's dummy driver (containers, CI) would open a window nobody sees and wait for keys forever
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    with pytest.raises(UsageError) as err:
        play(plain_run)
    assert "SDL_VIDEODRIVER=dummy" in _one_line(err) and "--headless" in _one_line(err)


def test_session_rejects_starts_of_another_frame_size(plain_run: Path) -> None:
    from play.session import GameStarts

    sim = open_session(plain_run).sim
    with pytest.raises(UsageError, match="32 px"):
        SimSession(sim, GameStarts(GameConfig(frame_size=64)))


def test_bench_play_reports_latency() -> None:
    result = bench_play("tiny", steps=6, warmup_steps=2, threads=1)
    assert result["steps"] == 6 and result["threads"] == 1 and result["frame_size"] == 32
    assert 0 < result["min_ms"] <= result["p50_ms"] <= result["p99_ms"]
    assert result["steps_per_s"] == pytest.approx(1e3 / result["mean_ms"], rel=0.01)


def test_bench_play_starts_a_new_game_when_the_simulator_catches_pacman(monkeypatch: pytest.MonkeyPatch) -> None:
    def caught_every_step(watch, *reading) -> bool:
        watch.caught = True
        return True

    monkeypatch.setattr("gamegan.evaluation.catch.CatchWatch.update", caught_every_step)
    stepped = []
    real_step = SimSession.step

    def counting_step(session, action):
        frame = real_step(session, action)
        stepped.append(session.last_step_ms)
        return frame

    monkeypatch.setattr(SimSession, "step", counting_step)
    bench_play("tiny", steps=6, warmup_steps=2, threads=1)
    assert len(set(stepped)) == len(stepped) == 8  # every step ran the model (a stale time would repeat)


def test_a_game_without_ghosts_is_never_over_by_a_catch(memory_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from play.session import GameStarts

    sim = open_session(memory_run).sim
    monkeypatch.setattr("gamegan.evaluation.catch.CatchWatch.update", lambda *a, **k: True)  # every step "a catch"
    session = SimSession(sim, GameStarts(GameConfig(mode="maze", n_ghosts=0, frame_size=32), warmup=2))
    for _ in range(5):
        session.step(LEFT)
    assert not session.done and len(session.actions) == 5


@pytest.mark.parametrize("kind", ["action-lstm", "world-models"])
def test_a_baseline_from_a_memory_preset_offers_no_swap_and_no_component_views(kind: str) -> None:
    # The maze preset says memory=true and two components; a baseline built from it has neither,
    # and play (like eval, which read the same flag and asked it for a swap) must see that.
    config = dataclasses.replace(preset("pacman-maze").model, kind=kind, frame_size=32, hidden_dim=32,
                                 embed_dim=16, encoder_channels=8, z_dim=4)
    assert config.memory and config.n_components == 2
    sim = build_model(config).simulator
    session = SimSession(sim, GameStarts(GameConfig(mode="maze", frame_size=32, n_ghosts=0), warmup=2))
    assert not session.can_swap and session.views == ("output",)
