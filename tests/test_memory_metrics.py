"""The measurements that say whether the memory does work: come-back-home, pixel sources,
controllability (delta-PSNR), and the static-component swap, each on fakes whose answer is known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recorder.game import Game, GameConfig
from recorder.game.config import OPPOSITE
from recorder.game.palette import PALETTE

from gamegan.evaluation import come_back_home as home
from gamegan.evaluation import swap
from gamegan.evaluation.controllability import Controllability, controlled_psnr
from gamegan.data import to_model_frames
from gamegan.evaluation.evaluate import EvalModel, EvalSettings, evaluate_models
from gamegan.evaluation.inverse_dynamics import InverseDynamicsConfig
from gamegan.media import read_gif_frames
from gamegan.model.memory import Memory
from gamegan.model.renderer import Rendered
from gamegan.model.types import Rollout, SimState
from gamegan.evaluation.pixel_sources import PixelSources, blend_weights
from gamegan.evaluation.sprites import CellGeometry, PaletteReader
from play.session import GameStarts, SimSession
from recorder.record import RecordConfig, record

MAZE = GameConfig(mode="maze", frame_size=32, n_ghosts=0, max_steps=200)
WALL, FLOOR = np.array(PALETTE["wall"], np.uint8), np.array(PALETTE["floor"], np.uint8)


def _reader(config: GameConfig) -> PaletteReader:
    return PaletteReader(PALETTE, CellGeometry.from_game(config.to_dict()))


class _RealGame(torch.nn.Module):
    """The real game as a simulator: row b replays game seed `seeds[b]` from its reset. With
    `forget`, every wall leaves the frame once Pac-Man has moved (an empty maze)."""

    def __init__(self, config: GameConfig, seeds: list[int], forget: bool = False):
        super().__init__()
        self.config, self.seeds, self.forget = config, seeds, forget

    def _draw(self, frames: list[np.ndarray], moved: bool) -> torch.Tensor:
        out = np.stack(frames)
        if self.forget and moved:
            out = out.copy()
            out[(out == WALL).all(-1)] = FLOOR
        return to_model_frames(out)

    def warmup(self, frames, actions, z=None):
        self.games = [Game(self.config, seed=s) for s in self.seeds]
        for g in self.games:
            g.reset()
        for t in range(actions.shape[1]):
            for g, a in zip(self.games, actions[:, t].tolist()):
                g.step(a)
        return SimState(frame=self._draw([g.render() for g in self.games], moved=False))

    def step(self, state, action, z=None):
        frame = self._draw([g.step(a)[0] for g, a in zip(self.games, action.tolist())], moved=True)
        return frame, SimState(frame=frame), {}

    def rollout(self, frames, actions, warmup, z=None):
        state = self.warmup(frames[:, :warmup], actions[:, :warmup - 1])
        out = [f for f in frames[:, 1:warmup].unbind(1)]
        for t in range(warmup - 1, actions.shape[1]):
            frame, state, _ = self.step(state, actions[:, t])
            out.append(frame)
        return Rollout(frames=torch.stack(out, 1))


# --- come-back-home ----------------------------------------------------------------------------

def test_walks_move_every_step_never_straight_back_and_return_home():
    for k in (3, 8):
        walks = home.home_walks(MAZE, k, starts=3, context=3, seed=10)
        assert len(walks) == 3
        for w in walks:
            game = Game(MAZE, seed=w.seed)
            game.reset()
            for a in w.actions:
                game.step(int(a))
            start, cells = game.pacman_cell, []
            for a in w.walk:
                game.step(int(a))
                cells.append(game.pacman_cell)
            away = w.walk[:k]
            assert len(w.walk) == 2 * k and all(a != b for a, b in zip([start, *cells], cells))  # each move moves
            assert all(b != OPPOSITE[a] for a, b in zip(away[:-1], away[1:]))  # never straight back
            assert cells[-1] == start and np.array_equal(game.render(), w.home)
            assert not np.array_equal(w.away, w.home)  # the view did move


def test_attention_scores_count_walks_home_and_moves_the_memory_missed():
    # Two walks of k = 2 (5 attended cells each): one that moves every step and comes home,
    # one that misses its second move and so ends a cell away from where it started.
    cells = np.array([[[5, 5], [5, 6], [5, 7], [5, 6], [5, 5]],
                      [[5, 5], [4, 5], [4, 5], [5, 5], [6, 5]]])
    scores = home.attention_scores(cells)
    assert scores["attention_home"].tolist() == [1.0, 0.0]
    assert scores["moves_held"].tolist() == [0.0, 0.25]


def test_a_model_with_memory_reports_the_cells_its_attention_walks():
    from gamegan.model.generator import Generator
    from tests.test_generator import small_config

    torch.manual_seed(0)
    model = Generator(small_config(frame_size=32, memory_read="window", memory_window=5, memory_size=15)).for_play()
    walks = home.home_walks(MAZE, 3, starts=2, context=3, seed=0)
    drawn, cells = home.simulate_walks(model, walks)
    assert drawn.shape == (2, 6, 32, 32, 3) and cells.shape == (2, 7, 2)
    # Warm-up took 2 steps from the empty memory's centre cell; each step moves one kernel offset at most.
    assert (np.abs(cells[:, 0] - model.memory.size // 2).sum(-1) <= 4).all()
    assert (np.abs(np.diff(cells, axis=1)).sum(-1) <= 2).all()  # one kernel step at most per move


def test_come_back_home_is_perfect_for_the_real_game_and_worse_for_one_that_forgets():
    walks = home.home_walks(MAZE, 6, starts=4, context=3, seed=0)
    seeds = [w.seed for w in walks]
    reader, homes = _reader(MAZE), np.stack([w.home for w in walks])
    drawn, cells = home.simulate_walks(_RealGame(MAZE, seeds), walks)
    assert cells is None  # no memory, no attention
    assert drawn.shape == (4, 12, 32, 32, 3) and np.array_equal(drawn, np.stack([w.real for w in walks]))
    perfect = home.home_scores(reader, drawn[:, -1], homes)
    forgot = home.home_scores(reader, home.simulate_walks(_RealGame(MAZE, seeds, forget=True), walks)[0][:, -1], homes)
    strip = home.walk_strip(walks[0], drawn[0])
    assert strip.shape == (13, 32, 66, 3) and np.array_equal(strip[0, :, :32], walks[0].frames[-1])
    assert (perfect["wall_agreement"] == 1.0).all() and (perfect["psnr"] == 100.0).all()
    assert forgot["wall_agreement"].max() < 0.9 and forgot["psnr"].max() < 30
    summary = home.summarize(forgot, prefix="away_")
    assert summary["walks"] == 4 and summary["away_wall_error"] == pytest.approx(1 - forgot["wall_agreement"].mean())


def test_come_back_home_in_its_own_maze_walks_open_cells_and_is_perfect_only_for_a_simulator_that_remembers():
    k = 6
    walks = home.home_walks(MAZE, k, starts=4, context=3, seed=0)
    seeds, reader = [w.seed for w in walks], _reader(MAZE)
    starts = np.stack([w.frames[-1] for w in walks])
    drawn, cells, taken = home.simulate_own_walks(_RealGame(MAZE, seeds), walks, k, reader, seed=1)
    assert cells is None and drawn.shape == (4, 2 * k, 32, 32, 3) and taken.shape == (4, 2 * k)
    for w, actions in zip(walks, taken):  # planned on the real game's own frames: every move moves
        game = Game(MAZE, seed=w.seed)
        game.reset()
        for a in w.actions:
            game.step(int(a))
        start, cells_walked = game.pacman_cell, []
        for a in actions:
            game.step(int(a))
            cells_walked.append(game.pacman_cell)
        assert all(a != b for a, b in zip([start, *cells_walked], cells_walked)) and cells_walked[-1] == start
        assert list(actions[k:]) == [OPPOSITE[int(a)] for a in reversed(actions[:k])]
    perfect = home.home_scores(reader, drawn[:, -1], starts)
    assert (perfect["wall_agreement"] == 1.0).all() and (home.moved_share(reader, drawn[:, k - 1], starts) > 0.1).all()
    forgot, _, _ = home.simulate_own_walks(_RealGame(MAZE, seeds, forget=True), walks, k, reader, seed=1)
    assert home.home_scores(reader, forgot[:, -1], starts)["wall_agreement"].max() < 0.9
    frozen, _, _ = home.simulate_own_walks(_Frozen(), walks, k, reader, seed=1)  # home without having left
    assert (home.home_scores(reader, frozen[:, -1], starts)["wall_agreement"] == 1.0).all()
    assert (home.moved_share(reader, frozen[:, k - 1], starts) == 0).all()


class _Frozen(torch.nn.Module):
    """Never moves its view: comes home to the right walls without having left."""

    def warmup(self, frames, actions, z=None):
        return SimState(frame=frames[:, -1])

    def step(self, state, action, z=None):
        return state.frame, state, {}

    def rollout(self, frames, actions, warmup, z=None):
        return Rollout(frames=frames[:, warmup - 1:warmup].expand(-1, frames.shape[1] - 1, -1, -1, -1).clone())


def test_a_frozen_view_comes_home_but_fails_away_in_the_evaluation_report(tmp_path):
    data = tmp_path / "maze"
    record(RecordConfig(out=data, episodes=2, seed=3, game=GameConfig(mode="maze", frame_size=32, n_ghosts=0,
                                                                      max_steps=40)))
    settings = EvalSettings(horizons=(1, 2), episodes=2, plots=True, strips=0, diversity_windows=0,
                            home_ks=(3, 6), home_starts=4, control_horizons=(2,), control_windows=4,
                            inverse_dynamics=InverseDynamicsConfig(steps=2, channels=8))
    figures = evaluate_models([EvalModel("frozen", _Frozen())], data, tmp_path / "out", settings, progress=False)
    frozen, reference = figures["models"]["frozen"]["come_back_home"], figures["come_back_home_reference"]
    for k in ("3", "6"):
        assert frozen[k]["walks"] == 4 and frozen[k]["wall_agreement"] == 1.0
        assert frozen[k]["away_wall_agreement"] < 0.9  # it never left
        assert frozen[k]["own_wall_agreement"] == 1.0 and frozen[k]["own_moved"] == 0.0  # in its own maze too
        assert reference[k]["wall_agreement"] < 1.0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Come back home (maze)" in report and "random frame of the episode" in report
    assert "### In its own maze" in report and "moved k=6" in report
    assert "(come_back_home.png)" in report and "(come_back_home.gif)" in report
    gif = read_gif_frames(tmp_path / "out" / "come_back_home.gif")
    assert len(gif) == 1 + 2 * 6  # the start, then every move of the k = 6 walk
    # an action-blind model: delta-PSNR exactly 0
    control = figures["models"]["frozen"]["controllability"]["at"]["2"]
    assert control["delta_psnr"] == 0.0 and control["windows"] > 0


class _ForgetsWhenHard(_Frozen):
    """A frozen view that claims a memory: with hard attention (as in play) it draws an empty maze."""

    config = SimpleNamespace(memory=True)

    def __init__(self):
        super().__init__()
        self.hard_memory = False

    def step(self, state, action, z=None):
        return (torch.full_like(state.frame, -1.0) if self.hard_memory else state.frame), state, {}


def test_a_model_with_memory_is_scored_again_with_the_hard_attention_of_play(tmp_path):
    data = tmp_path / "maze"
    record(RecordConfig(out=data, episodes=2, seed=3, game=GameConfig(mode="maze", frame_size=32, n_ghosts=0,
                                                                      max_steps=40)))
    settings = EvalSettings(horizons=(1,), episodes=2, plots=False, strips=0, diversity_windows=0,
                            home_ks=(3,), home_starts=3, swap_pairs=0, control_windows=0,
                            inverse_dynamics=InverseDynamicsConfig(steps=2, channels=8))
    sim = _ForgetsWhenHard()
    from gamegan.model.generator import Generator
    from tests.test_generator import small_config

    torch.manual_seed(0)
    gen = Generator(small_config(frame_size=32, memory_read="window", memory_window=5, memory_size=15))
    figures = evaluate_models([EvalModel("m", sim), EvalModel("frozen", _Frozen()), EvalModel("gen", gen)],
                              data, tmp_path / "out", settings, progress=False)
    for row in ("come_back_home", "come_back_home_played"):  # a real memory: where its attention went, too
        walked = figures["models"]["gen"][row]["3"]
        assert 0 <= walked["attention_home"] <= 1 and 0 <= walked["moves_held"] <= 1
    m = figures["models"]["m"]
    assert m["come_back_home"]["3"]["wall_agreement"] == 1.0
    assert m["come_back_home_played"]["3"]["wall_agreement"] < 0.9  # the hard run really was hard
    assert "come_back_home_played" not in figures["models"]["frozen"]  # no memory, no second run
    assert sim.hard_memory is False  # restored after scoring
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| m, as played |" in report and "Wall-cell error of m, as played ÷" in report
    assert "attention home k=3" in report and "| gen, as played |" in report


# --- controllability -----------------------------------------------------------------------------

def _real_windows(config: GameConfig, seeds: list[int], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames (B, T, 3, H, W) and actions (B, T-1) of the real game driven by random moves."""
    frames, actions = [], []
    for s in seeds:
        game, rng = Game(config, seed=s), np.random.default_rng(s)
        f = [game.reset()[0]]
        acts = [int(rng.integers(1, 5)) for _ in range(length - 1)]
        f += [game.step(a)[0] for a in acts]
        frames.append(np.stack(f))
        actions.append(acts)
    return to_model_frames(np.stack(frames)), torch.tensor(actions)


def test_delta_psnr_is_zero_for_an_action_blind_model_and_positive_for_the_real_game():
    seeds = list(range(6))
    frames, actions = _real_windows(MAZE, seeds, 10)
    blind, real = Controllability(), Controllability()
    for sim, acc in ((_Frozen(), blind), (_RealGame(MAZE, seeds), real)):
        rec, rnd = controlled_psnr(sim, frames, actions, 2, 5, noise_seed=0, generator=torch.Generator().manual_seed(1))
        acc.add(rec, rnd)
    assert blind.summary((4, 8))["at"]["8"]["delta_psnr"] == 0.0
    at = real.summary((4, 8))["at"]
    assert at["8"]["psnr_recorded"] == 100.0 and at["8"]["delta_psnr"] > 10 and at["8"]["windows"] == 6


# --- pixel sources -------------------------------------------------------------------------------

def test_pixel_source_weights_sum_to_one_and_an_all_static_renderer_scores_static_one():
    b, t, k, s = 2, 3, 3, 8
    masks = torch.softmax(torch.randn(b, t, k, 1, s, s), dim=2) * 0.7
    copy = torch.full((b, t, 1, s, s), 0.3)
    weights = blend_weights(Rollout(frames=torch.zeros(b, t, 3, s, s), masks=masks, copy=copy))
    assert weights.shape == (b, t, k + 1, s, s)
    torch.testing.assert_close(weights.sum(2), torch.ones(b, t, s, s))

    all_static = torch.zeros(b, t, 2, 1, s, s)
    all_static[:, :, 0] = 1.0
    sources = PixelSources(["static", "dynamic 1"], class_names=["floor", "wall"])
    labels = np.zeros((b * t, s, s), dtype=np.int64)
    labels[:, :2] = 1  # two rows of wall
    sources.add(blend_weights(Rollout(frames=torch.zeros(b, t, 3, s, s), masks=all_static)).flatten(0, 1), labels)
    summary = sources.summary()
    assert summary["won"] == {"static": 1.0, "dynamic 1": 0.0} and summary["mean_weight"]["static"] == 1.0
    assert summary["by_class"]["wall"] == {"pixels": b * t * 2 * s, "won": {"static": 1.0, "dynamic 1": 0.0}}


# --- the swap of the static component -------------------------------------------------------------

class _ViewMemory(torch.nn.Module):
    """A simulator whose memory holds the start view and whose static component draws it:
    a swap must make it draw the other session's walls."""

    def __init__(self, config: GameConfig):
        super().__init__()
        self.config = SimpleNamespace(frame_size=config.frame_size, n_actions=5, z_dim=2, n_components=2, memory=True)
        self.renderer = self._render

    def _render(self, h, read):
        static = read.reshape(-1, 3, self.config.frame_size, self.config.frame_size)
        components = torch.stack([static, -torch.ones_like(static)], 1)
        masks = torch.stack([torch.ones_like(static[:, :1]), torch.zeros_like(static[:, :1])], 1)
        return Rendered(static, components, masks)

    read_memory = staticmethod(Memory.read)

    def warmup(self, frames, actions, z=None):
        memory, alpha = frames[:, -1].reshape(frames.shape[0], 1, -1), torch.ones(frames.shape[0], 1, 1)
        return SimState(frame=frames[:, -1], h=torch.zeros(frames.shape[0], 1), memory=memory, alpha=alpha,
                        read=Memory.read(memory, alpha))

    def step(self, state, action, z=None):
        drawn = self._render(state.h, state.read)
        state.frame = drawn.frame
        return drawn.frame, state, {"components": drawn.components, "masks": drawn.masks}


def test_a_swap_between_two_maze_sessions_draws_the_other_sessions_walls():
    starts, reader = GameStarts(MAZE, warmup=2), _reader(MAZE)
    sim = _ViewMemory(MAZE)
    ours, theirs = SimSession(sim, starts, seed=0), SimSession(sim, starts, seed=1)
    walls = lambda s: reader.read(s.frame[None]).walls[0]  # noqa: E731
    before, other = walls(ours), walls(theirs)
    assert (before != other).mean() > 0.1  # two different mazes
    ours.swap_static(theirs)
    assert np.array_equal(walls(ours), other)
    ours.step(1)
    assert np.array_equal(walls(ours), other) and np.array_equal(walls(theirs), other)  # play goes on in it


class _WorldMemory(torch.nn.Module):
    """Its memory names a real game (by seed) and it draws that game: a swap hands it the other
    world, and walking on steps the other game, as a GameGAN whose world is all in memory would."""

    def __init__(self, config: GameConfig, seeds: list[list[int]]):
        super().__init__()
        self.config, self.seeds, self.games = config, iter(seeds), {}

    def read_memory(self, memory, alpha):
        return memory[:, :, 0]

    def renderer(self, h, read):
        frame = to_model_frames(np.stack([self.games[int(s)].render() for s in read[:, 0]]))
        return Rendered(frame, frame[:, None], torch.ones_like(frame[:, None, :1]))

    def warmup(self, frames, actions, z=None):
        seeds = next(self.seeds)
        for s, a in zip(seeds, actions[:, 0].tolist()):
            self.games[s] = Game(self.config, seed=s)
            self.games[s].reset()
            self.games[s].step(a)
        memory = torch.tensor(seeds, dtype=torch.float32)[:, None, None]
        return SimState(frame=frames[:, -1], memory=memory, alpha=torch.ones(len(seeds), 1, 1), read=memory[:, :, 0])

    def step(self, state, action, z=None):
        for s, a in zip(state.read[:, 0].tolist(), action.tolist()):
            self.games[int(s)].step(a)
        state.frame = self.renderer(None, state.read).frame
        return state.frame, state, {}


def test_a_swap_draws_the_other_world_and_walks_on_in_it():
    pairs = swap.swap_pairs(MAZE, 6, 3, seed=20)
    assert len(pairs) == 3 and all(p.walk.shape == (6,) and p.real.shape == (7, 32, 32, 3) for p in pairs)
    sim = _WorldMemory(MAZE, [[p.seeds[0] for p in pairs], [p.seeds[1] for p in pairs]])
    swapped, unswapped = swap.simulate_swaps(sim, pairs)
    reader = _reader(MAZE)
    assert (swap.swap_scores(reader, swapped, pairs) == 1.0).all()  # B's walls, all the way
    own = swap.swap_scores(reader, unswapped, pairs)
    assert own.shape == (3, 7) and own.mean() < 0.9  # A's maze is another maze
    with pytest.raises(ValueError, match="no static component"):
        swap.swap_static(sim, SimState(frame=swapped[:, 0]), SimState(frame=swapped[:, 0]))


# --- the game's rules where they happen ------------------------------------------------------------

class _Oracle(torch.nn.Module):
    """Predicts the recorded future itself (it is handed whole windows)."""

    def rollout(self, frames, actions, warmup, z=None):
        return Rollout(frames=frames[:, 1:].clone())


class _OneLate(torch.nn.Module):
    """Predicts each frame as the recorded one before it."""

    def rollout(self, frames, actions, warmup, z=None):
        return Rollout(frames=frames[:, :-1].clone())


def test_fright_onsets_and_catches_are_drawn_by_a_model_that_knows_the_future_and_missed_one_frame_late(tmp_path):
    data = tmp_path / "classic"
    record(RecordConfig(out=data, episodes=30, seed=5, game=GameConfig(layout="small", frame_size=32, n_ghosts=4,
                                                                       max_steps=300)))
    settings = EvalSettings(horizons=(1, 2), plots=False, diversity_windows=0, control_windows=0, event_windows=8,
                            inverse_dynamics=InverseDynamicsConfig(steps=2, channels=8))
    models = [EvalModel("oracle", _Oracle()), EvalModel("one late", _OneLate())]
    figures = evaluate_models(models, data, tmp_path / "out", settings, progress=False)
    assert "fright_onset" not in figures["skipped"] and "catches" not in figures["skipped"], figures["skipped"]
    oracle, late = figures["models"]["oracle"], figures["models"]["one late"]
    k = oracle["fright_onset"]["onset_frame"] - 1
    assert oracle["fright_onset"]["onset/teacher"][k] == oracle["fright_onset"]["onset/free"][k] == 1.0
    assert late["fright_onset"]["onset/teacher"][k] == 0.0 and min(late["fright_onset"]["during/teacher"]) == 1.0
    assert oracle["catches"]["teacher"] == oracle["catches"]["recorded"] and oracle["catches"]["teacher"]["caught"] > 0.5
    assert late["catches"]["teacher"]["caught"] < oracle["catches"]["teacher"]["caught"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Fright onset" in report and "## Catches" in report
