"""A game of the user's own, written by the example in docs/data-format.md with plain h5py:
it inspects, trains and evaluates, and the doc shows exactly the script that is tested."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from recorder.dataset import DatasetError, open_dataset, summarize, validate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "write_your_own_game.py"


@pytest.fixture(scope="module")
def dot_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("own") / "dot"
    subprocess.run([sys.executable, str(EXAMPLE), str(out)], check=True, capture_output=True)
    return out


def test_the_data_format_doc_shows_the_tested_example_whole():
    doc = (ROOT / "docs" / "data-format.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert EXAMPLE.read_text() in blocks
    assert len(EXAMPLE.read_text().splitlines()) < 40


def test_a_recording_written_by_another_program_inspects_trains_and_evaluates(dot_data, tmp_path):
    from gamegan.config import preset
    from gamegan.evaluation.evaluate import EvalSettings, evaluate
    from gamegan.evaluation.inverse_dynamics import InverseDynamicsConfig
    from gamegan.train import train

    assert validate(dot_data)["episodes"] == 20
    summary = summarize(dot_data)
    assert summary["score"]["max"] == 7.5 and summary["action_histogram"].keys() == {"stay", "left", "right", "jump"}
    with open_dataset(dot_data) as ds:
        assert ds.meta.n_actions == 4 and ds.meta.action_names == ["stay", "left", "right", "jump"]
    config = preset("tiny")
    config.train.steps, config.train.device, config.train.seq_len = 2, "cpu", 6
    train(config, dot_data, tmp_path / "run", progress=False)
    settings = EvalSettings(horizons=(1, 2), episodes=2, plots=False, diversity_windows=0,
                            inverse_dynamics=InverseDynamicsConfig(steps=2, channels=8))
    figures = evaluate(tmp_path / "run", dot_data, tmp_path / "eval", episodes=2, horizons=(1, 2), progress=False,
                       device="cpu", settings=settings)
    assert figures["models"]["gamegan (run)"]["teacher_forced"]["psnr"] > 0
    assert "come_back_home" in figures["skipped"]  # no palette to read walls by


def test_a_float_score_is_kept_and_float_frames_are_refused(dot_data, tmp_path):
    with open_dataset(dot_data) as ds:
        assert isinstance(ds.episode_info(0)["score"], float)
    bad = tmp_path / "bad"
    bad.mkdir()
    with h5py.File(dot_data / "shard-00000.h5") as src, h5py.File(bad / "shard-00000.h5", "w") as dst:
        for key in src:
            src.copy(key, dst)
        dst.attrs.update(src.attrs)
        del dst["frames"]
        dst["frames"] = src["frames"][()].astype(np.float32)
    with pytest.raises(DatasetError, match=r"frames has dtype float32, expected uint8"):
        validate(bad)
