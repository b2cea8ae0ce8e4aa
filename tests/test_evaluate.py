"""Evaluation: sprite finders against recorded state, metrics that can fail, report files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from recorder.dataset import open_dataset
from recorder.agents import RandomAgent
from recorder.game import Game, GameConfig
from recorder.game.palette import PALETTE
from recorder.game.layouts import LAYOUTS, parse_layout
from recorder.record import RecordConfig, record

from gamegan.evaluation.evaluate import EvalModel, EvalSettings, RecordedFrames, evaluate, evaluate_models
from gamegan.evaluation.inverse_dynamics import InverseDynamicsConfig, cache_path, fit_inverse_dynamics
from gamegan.evaluation.image_quality import psnr, ssim
from gamegan.model.types import Rollout
from gamegan.evaluation.sprites import LOST, CellGeometry, PaletteReader, state_view

FAST_ID = InverseDynamicsConfig(steps=60, channels=16, lr=3e-3, val_fraction=0.25)


def _record(out: Path, game: GameConfig, episodes: int = 2) -> Path:
    record(RecordConfig(out=out, episodes=episodes, seed=3, game=game))
    return out


def _read_back(path: Path) -> tuple[PaletteReader, CellGeometry, dict, np.ndarray]:
    """Reader built from the dataset's own attributes, plus episode 0's state and frames."""
    with open_dataset(path) as ds:
        geometry = CellGeometry.from_game(ds.meta.game)
        reader = PaletteReader(ds.meta.palette, geometry)
        names = ("pacman", "ghosts", "frightened", "pellets", "power_pellets", "view_origin")
        state = {n: ds.state(0, n) for n in names if n in ds.state_fields}
        return reader, geometry, state, ds.frames(0)


@pytest.fixture(scope="module")
def eval_data(tiny_recording: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tiny recording: the classifier cache written beside it stays here."""
    out = tmp_path_factory.mktemp("eval") / "data"
    shutil.copytree(tiny_recording, out)
    return out


# --- sprite finders ---------------------------------------------------------------------------

@pytest.mark.parametrize("size,layout", [(32, "small"), (64, "classic")])
def test_finders_recover_recorded_state_in_classic_frames(tmp_path, size, layout):
    path = _record(tmp_path / "d", GameConfig(layout=layout, frame_size=size, max_steps=80, n_ghosts=3))
    reader, geometry, state, frames = _read_back(path)
    found, truth = reader.read(frames), state_view(geometry, state)
    np.testing.assert_array_equal(found.pacman, state["pacman"])  # classic: view cells are grid cells
    assert (found.pacman != LOST).all()
    visible = ~truth["covered"]
    assert truth["pellets"].any() and not (found.pellets ^ truth["pellets"])[visible].any()
    assert truth["power"].any() and not (found.power ^ truth["power"])[visible].any()
    np.testing.assert_array_equal(found.ghost_count, truth["ghosts"].sum(axis=(1, 2)))
    assert found.ghost_count.max() >= 2
    np.testing.assert_array_equal(found.solid_ghosts, found.ghosts)  # the game draws each in one colour
    edible = np.where(state["frightened"][..., None], state["ghosts"], -100)  # off the grid unless frightened
    shows_edible = state_view(geometry, {"pacman": state["pacman"], "ghosts": edible})["ghosts"].any(axis=(1, 2))
    assert shows_edible.any() or layout == "small"  # the small game's episode ends before a power pellet
    np.testing.assert_array_equal(found.frightened.any(axis=(1, 2)), shows_edible)
    np.testing.assert_array_equal(found.walls[0], parse_layout(LAYOUTS[layout]).walls)


def test_finders_place_cells_in_the_moving_maze_view(tmp_path):
    path = _record(tmp_path / "m", GameConfig(mode="maze", frame_size=32, max_steps=60))
    reader, geometry, state, frames = _read_back(path)
    found, truth = reader.read(frames), state_view(geometry, state)
    centre = geometry.rows // 2
    assert (found.pacman == centre).all() and (truth["pacman"] == centre).all()  # egocentric view
    visible = ~truth["covered"]
    assert not (found.pellets ^ truth["pellets"])[visible].any()
    np.testing.assert_array_equal(found.ghost_count, truth["ghosts"].sum(axis=(1, 2)))


def test_a_ghost_painted_in_two_ghost_colours_is_shown_but_not_solid(tiny_recording):
    reader, geometry, _, frames = _read_back(tiny_recording)
    found = reader.read(frames)
    t, row, col = np.argwhere(found.ghosts)[0]
    frame = frames[t].copy()
    ys, xs = geometry.cell_slices(row, col)
    cell = frame[ys, xs]  # a view: edits land in `frame`
    body = cell[cell.shape[0] // 2, cell.shape[1] // 2].copy()  # the ghost's colour at its centre
    others = [np.array(c, np.uint8) for name, c in PALETTE.items()
              if name.startswith("ghost_") and tuple(c) != tuple(body)]
    is_body = (cell == body).all(-1)
    for k, colour in enumerate(others[:2], start=1):  # stripes in three ghost colours, a third each
        stripe = is_body.copy()
        stripe[:, [x for x in range(cell.shape[1]) if x % 3 != k]] = False
        cell[stripe] = colour
    patched = reader.read(frame[None])
    assert patched.ghosts[0, row, col] and not patched.solid_ghosts[0, row, col]
    assert found.solid_ghosts[t, row, col]


def test_only_the_frame_a_ghost_catches_pacman_on_reads_as_a_ghost_under_him():
    config = GameConfig()
    reader = PaletteReader(PALETTE, CellGeometry.from_game(config.to_dict()))
    game, agent, catches = Game(config, seed=0), RandomAgent(seed=0), 0
    for episode in range(8):
        frames = [game.reset()[0]]
        agent.reset(game, np.random.default_rng(episode))
        while not game.done:
            frames.append(game.step(agent.act(game))[0])
        under = reader.read(np.stack(frames)).ghost_under_pacman
        caught = game.state.lives == 0
        assert not under[:-1].any() and under[-1] == caught
        if caught:
            catches += 1
            last = frames[-1].copy()
            for name, colour in PALETTE.items():  # a frightened ghost is eaten, it catches nobody
                if name.startswith("ghost_"):
                    last[(last == colour).all(-1)] = PALETTE["frightened"]
            assert not reader.read(last[None]).ghost_under_pacman[0]
    assert catches > 0


def test_nearest_colour_tolerates_noise_and_blank_frames_are_lost(tiny_recording):
    reader, _, state, frames = _read_back(tiny_recording)
    noisy = np.clip(frames.astype(int) + np.random.default_rng(0).normal(0, 25, frames.shape), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(reader.read(noisy).pacman, state["pacman"])
    blank = reader.read(np.zeros_like(frames[:3]))
    assert (blank.pacman == LOST).all() and not blank.ghosts.any() and not blank.pellets.any()


# --- metrics that must be able to fail --------------------------------------------------------

class _Blank(torch.nn.Module):
    """A "model" that draws black (floor-coloured) frames."""

    def rollout(self, frames, actions, warmup, z=None):
        return Rollout(frames=-torch.ones_like(frames[:, 1:]))


class _Lagging(torch.nn.Module):
    """A "model" that predicts each frame as the real frame before it (one step late)."""

    def rollout(self, frames, actions, warmup, z=None):
        return Rollout(frames=frames[:, :-1].clone())


def test_image_scores_are_perfect_only_for_identical_frames():
    x = torch.rand(2, 3, 3, 32, 32) * 2 - 1
    assert torch.all(psnr(x, x) == 100.0) and torch.allclose(ssim(x, x), torch.ones(2, 3))
    noise = torch.randn_like(x)
    y, z = (x + 0.2 * noise).clamp(-1, 1), (x + 0.8 * noise).clamp(-1, 1)
    assert torch.all(psnr(y, x) < 30) and torch.all(psnr(z, x) < psnr(y, x))
    assert torch.all(ssim(z, x) < ssim(y, x)) and torch.all(ssim(y, x) < 0.99)
    mse = ((y - x) / 2).pow(2).mean(dim=(-3, -2, -1))
    torch.testing.assert_close(psnr(y, x), -10 * torch.log10(mse))
    # Flat images: only the luminance term is left, (2ab + C1) / (a^2 + b^2 + C1) on [0, 1].
    a, b = torch.full((1, 3, 16, 16), -0.5), torch.full((1, 3, 16, 16), 0.5)  # 0.25 and 0.75
    expected = (2 * 0.25 * 0.75 + 1e-4) / (0.25**2 + 0.75**2 + 1e-4)
    torch.testing.assert_close(ssim(a, b), torch.tensor([expected]), atol=1e-6, rtol=0)


def test_replayed_frames_score_perfectly_and_blank_frames_lose_pacman(eval_data, tmp_path):
    settings = EvalSettings(horizons=(1, 3, 6), episodes=4, inverse_dynamics=FAST_ID, plots=False)
    models = [EvalModel("replay", RecordedFrames()), EvalModel("blank", _Blank())]
    out = evaluate_models(models, eval_data, tmp_path, settings, progress=False, reference=False)["models"]
    replay, blank = out["replay"], out["blank"]
    assert replay["teacher_forced"]["psnr"] == 100.0 and replay["teacher_forced"]["ssim"] > 0.999
    fr = replay["free_running"]
    assert all(v == 0.0 for v in fr["position_error"]["at"].values())
    assert all(v == 0.0 for v in fr["lost"]["at"].values())
    assert fr["ghost_count_agreement"]["all"] == 1.0 and fr["pellet_accuracy"]["all"] == 1.0
    assert fr["psnr"]["count"][0] > 0 and fr["psnr"]["count"][0] >= fr["psnr"]["count"][-1]
    fb = blank["free_running"]
    assert all(v == 1.0 for v in fb["lost"]["at"].values())
    assert all(v is None for v in fb["position_error"]["at"].values())
    assert fb["psnr"]["all"] < 15 and blank["teacher_forced"]["ssim"] < 0.5
    assert fb["pellet_iou"]["all"] < 0.05
    # The classifier reads real transitions well and blank ones no better than a constant guess.
    acc_replay, acc_blank = replay["action_faithfulness"]["accuracy"], blank["action_faithfulness"]["accuracy"]
    counts = np.array(blank["action_faithfulness"]["confusion"]).sum(axis=1)
    assert acc_replay > 0.6 and acc_replay > acc_blank
    assert acc_blank <= counts.max() / counts.sum() + 1e-9
    assert blank["diversity"]["ghost_cells"] == 0.0 and blank["diversity"]["wall_cells"] == 0.0


def test_position_error_measures_how_far_pacman_really_is(eval_data, tmp_path):
    """A one-step-late model is off by exactly Pac-Man's last move: context 1, horizon 1
    windows (s, s+1) for even s, so the expected error is computable from the state alone."""
    settings = EvalSettings(horizons=(1,), context=1, episodes=5, inverse_dynamics=FAST_ID, plots=False)
    out = evaluate_models([EvalModel("late", _Lagging())], eval_data, tmp_path, settings, progress=False,
                          reference=False)["models"]["late"]["free_running"]
    moves = []
    with open_dataset(eval_data) as ds:
        for e in range(5):
            pac = ds.state(e, "pacman").astype(float)
            moves += [np.linalg.norm(pac[t] - pac[t - 1]) for t in range(1, len(pac), 2)]
    assert 0 < np.mean(moves) < 1
    assert out["position_error"]["at"]["1"] == pytest.approx(np.mean(moves))
    assert out["position_exact"]["all"] == pytest.approx(np.mean(np.array(moves) == 0))
    assert out["lost"]["all"] == 0.0


def test_metrics_without_state_are_skipped_with_a_reason(eval_data, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for shard in sorted(eval_data.glob("shard-*.h5"))[:1]:
        shutil.copy(shard, bare / shard.name)
        with h5py.File(bare / shard.name, "a") as f:
            del f["state"]
    settings = EvalSettings(horizons=(1, 2), episodes=2, plots=False,
                            inverse_dynamics=InverseDynamicsConfig(steps=2, channels=8))
    figures = evaluate_models([], bare, tmp_path / "out", settings, progress=False)
    assert set(figures["skipped"]) >= {"position_error", "ghost_count", "pellets", "come_back_home"}
    assert "state/pacman" in figures["skipped"]["position_error"]
    free = figures["models"]["recorded"]["free_running"]
    assert "position_error" not in free and free["psnr"]["all"] == 100.0
    assert "Skipped" in (tmp_path / "out" / "report.md").read_text()


# --- action faithfulness classifier -----------------------------------------------------------

def test_inverse_dynamics_learns_real_actions_and_is_cached(eval_data):
    model, info = fit_inverse_dynamics(eval_data, FAST_ID)
    confusion = np.array(info["heldout_confusion"])
    majority = confusion.sum(axis=1).max() / confusion.sum()
    assert info["heldout_pairs"] > 50 and info["heldout_accuracy"] > max(0.6, majority + 0.2)
    assert cache_path(eval_data).is_file()
    again, info2 = fit_inverse_dynamics(eval_data, FAST_ID)
    assert info2["from_cache"] and info2["heldout_accuracy"] == info["heldout_accuracy"]
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)
    other = InverseDynamicsConfig(**{**FAST_ID.__dict__, "steps": 3})
    assert not fit_inverse_dynamics(eval_data, other, use_cache=False)[1]["from_cache"]


# --- the whole command on a trained run -------------------------------------------------------

def test_evaluate_a_trained_run_writes_metrics_report_and_plots(eval_data, tmp_path):
    from gamegan.config import preset
    from gamegan.train import train

    config = preset("tiny")
    config.model.kind = "action-lstm"
    config.train.steps, config.train.device, config.train.seq_len = 2, "cpu", 6
    run = tmp_path / "run"
    train(config, eval_data, run, progress=False)
    out = tmp_path / "eval"
    settings = EvalSettings(inverse_dynamics=FAST_ID, strips=1, diversity_windows=2)
    figures = evaluate(run, eval_data, out, episodes=2, horizons=(1, 5, 10), progress=False, device="cpu",
                       settings=settings)
    name = "action-lstm (run)"
    stored = json.loads((out / "metrics.json").read_text())
    assert stored == json.loads(json.dumps(figures)) and set(stored["models"]) == {"recorded", name}
    assert stored["settings"]["horizons"] == [1, 5, 10] and stored["data"]["episodes_used"] == 2
    assert stored["models"][name]["info"]["step"] == 2
    assert len(stored["models"][name]["free_running"]["psnr"]["by_horizon"]) == 10
    report = (out / "report.md").read_text()
    assert f"| {name} |" in report and "**2 episodes**" in report and "h=10" in report
    for png in ("psnr_by_horizon.png", "position_error_by_horizon.png", "action_confusion.png", "rollout_0.png"):
        assert f"({png})" in report
        with Image.open(out / png) as image:
            assert image.size[0] > 100 and image.size[1] > 50
