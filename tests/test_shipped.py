"""The model shipped in gamegan/assets, and the export that makes such a file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from gamegan.checkpoint import load_model, read_config, save_weights
from gamegan.config import Config, preset
from gamegan.errors import UsageError
from gamegan.model.factory import build_model
from gamegan.shipped import config_path, export_model, shipped_model
from play.headless import drive, parse_keys
from play.launch import open_session
from play.loading import torch_threads
from recorder.game import GameConfig

MAX_SHIPPED_BYTES = 16 * 2**20


@pytest.fixture(scope="module")
def shipped() -> Path:
    path = shipped_model()
    assert path is not None, "gamegan/assets/pacman-small.safetensors is missing from the package"
    return path


def test_the_shipped_model_fits_the_budget_and_its_config_matches(shipped: Path) -> None:
    sidecar = config_path(shipped)
    assert shipped.stat().st_size + sidecar.stat().st_size <= MAX_SHIPPED_BYTES
    config = read_config(shipped)
    # Read through Config, as play reads it: fields added since the export take their defaults.
    assert Config.load(sidecar) == config
    assert config.model.kind == "gamegan" and config.model.frame_size == 64
    assert config.game, "the shipped model must name its game so play needs no dataset"


def test_the_shipped_model_loads_steps_and_answers_the_keys(shipped: Path) -> None:
    with torch_threads(None):
        session = open_session(None, seed=1)  # no path: the shipped model, starts from the game engine
        assert session.frame.shape == (64, 64, 3)

        def frames(keys: str) -> list[np.ndarray]:
            return drive(open_session(None, seed=1), parse_keys(keys))[0]

        lefts, rights = frames("LLLLLL"), frames("RRRRRR")
    assert np.array_equal(lefts[0], rights[0])  # the same start
    assert not np.array_equal(lefts[-1], rights[-1])
    # Each step draws a new frame; the maze's blue walls stay on screen.
    for frame in lefts[1:]:
        blue = (frame[..., 2] > 120) & (frame[..., 0] < 100)
        assert blue.mean() > 0.1


def _tiny_checkpoint(path: Path) -> Path:
    config = preset("tiny")
    config.game = GameConfig(layout="small", frame_size=32).to_dict()
    torch.manual_seed(0)
    save_weights(path, build_model(config.model), config, step=7)
    return path


def test_export_writes_fp16_weights_that_play_like_the_original(tmp_path: Path) -> None:
    source = _tiny_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000007.safetensors")
    out = export_model(tmp_path / "run", tmp_path / "shared" / "mine.safetensors")
    with safe_open(str(out), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys() if f.get_tensor(k).is_floating_point()} == {torch.float16}
    assert out.stat().st_size < 0.6 * source.stat().st_size
    assert json.loads(config_path(out).read_text()) == json.loads(read_config(source).to_json())
    original, _, step = load_model(source)
    exported, _, exported_step = load_model(out)
    assert exported_step == step == 7
    frames = torch.rand(1, 3, 3, 32, 32) * 2 - 1
    actions = torch.tensor([[1, 2]])
    z = torch.zeros(1, 2, 8)
    a = original.simulator.rollout(frames, actions, warmup=2, z=z).frames
    b = exported.simulator.rollout(frames, actions, warmup=2, z=z).frames
    assert torch.allclose(a, b, atol=0.02)


def test_export_refuses_bad_arguments(tmp_path: Path) -> None:
    source = _tiny_checkpoint(tmp_path / "model.safetensors")
    with pytest.raises(UsageError, match="fp16"):
        export_model(source, tmp_path / "out.safetensors", dtype="int8")
    with pytest.raises(UsageError, match=".safetensors"):
        export_model(source, tmp_path / "out.pt")



def test_short_names_find_shipped_models_and_paths_win(tmp_path, monkeypatch) -> None:
    from gamegan.errors import UsageError
    from gamegan.shipped import model_source

    assert model_source("shipped") == model_source("pacman-small") == shipped_model()
    assert model_source(tmp_path / "run") == tmp_path / "run"  # any other name is a path
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pacman-maze").mkdir()
    assert model_source("pacman-maze") == Path("pacman-maze")  # a path that exists is taken as one
    (tmp_path / "pacman-maze").rmdir()
    if shipped_model("pacman-maze") is None:
        with pytest.raises(UsageError, match="no shipped model 'pacman-maze'"):
            model_source("pacman-maze")


def test_the_maze_model_ships_draws_its_walls_from_memory_and_a_swap_brings_the_other_maze() -> None:
    from gamegan.evaluation import swap
    from gamegan.evaluation.catch import palette_reader
    from recorder.game import Game

    path = shipped_model("pacman-maze")
    assert path is not None, "gamegan/assets/pacman-maze.safetensors is missing from the package"
    assert path.stat().st_size + config_path(path).stat().st_size <= MAX_SHIPPED_BYTES
    model, config, _ = load_model(path)
    assert config.model.memory and config.model.memory_read == "window" and config.game["mode"] == "maze"
    game = GameConfig.from_dict(config.game)
    pairs = swap.swap_pairs(game, 3, 4, seed=1_000_000)
    with torch_threads(None):
        swapped, unswapped = swap.simulate_swaps(model.simulator, pairs)
    reader = palette_reader(Game(game, seed=0))
    theirs, own = swap.swap_scores(reader, swapped, pairs), swap.swap_scores(reader, unswapped, pairs)
    # B's memory draws B's walls far better than A's own memory does (2026-12-04: 0.83 vs 0.60).
    assert theirs[:, 1:].mean() > own[:, 1:].mean() + 0.1
