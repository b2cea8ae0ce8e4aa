"""One smoke test per CLI command, in process, each checking what the command promised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gamegan_cli import app
from gamegan.media import read_gif_frames
from recorder.dataset import open_dataset

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def tiny_run(tiny_recording: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "tiny"
    invoke("train", "--data", tiny_recording, "--out", run, "--preset", "tiny", "--steps", "3", "--quiet",
           "--set", "train.sample_every=3")
    return run


def test_record_then_inspect_writes_the_episode_as_a_gif(tmp_path):
    out = tmp_path / "d"
    invoke("record", "--out", out, "--episodes", "2", "--layout", "small", "--size", "32", "--max-steps", "30")
    summary = json.loads(invoke("inspect", out, "--json"))
    assert summary["episodes"] == 2 and summary["frame_shape"] == [32, 32, 3]
    invoke("inspect", out, "--gif", tmp_path / "ep.gif", "--episode", "1", "--scale", "2")
    with open_dataset(out) as data:
        length = int(data.episode_lengths[1])
    frames = read_gif_frames(tmp_path / "ep.gif")
    assert frames[0].shape == (64, 64, 3)
    assert 1 < len(frames) <= length  # Pillow merges identical consecutive frames


def test_train_writes_a_complete_run_directory(tiny_run):
    assert (tiny_run / "config.json").exists()
    assert (tiny_run / "checkpoints" / "step_0000003.safetensors").exists()
    assert (tiny_run / "samples" / "step_0000003.png").exists()
    assert (tiny_run / "samples" / "step_0000003.gif").exists()
    assert json.loads((tiny_run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 3


def test_play_headless_writes_one_frame_per_step(tiny_run, tmp_path):
    out = invoke("play", tiny_run, "--headless", "--keys", "RRDDLLUUNN", "--gif", tmp_path / "p.gif")
    assert "10 steps" in out
    assert len(read_gif_frames(tmp_path / "p.gif")) == 11  # start frame + one per step


def test_eval_writes_metrics_report_and_plots(tiny_run, tiny_recording, tmp_path):
    invoke("eval", tiny_run, "--data", tiny_recording, "--out", tmp_path / "rep", "--horizons", "1,5", "--quiet",
           "--device", "cpu")
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics
    assert "|" in (tmp_path / "rep" / "report.md").read_text()  # a markdown table
    assert list((tmp_path / "rep").glob("*.png"))


@pytest.mark.parametrize("args, key", [
    (["bench", "train", "--preset", "tiny", "--iters", "1"], "frames_per_s"),
    (["bench", "play", "--preset", "tiny", "--steps", "5"], "p50_ms"),
])
def test_bench_commands_print_one_json_line(args, key):
    line = invoke(*args).strip().splitlines()[-1]
    assert json.loads(line)[key] > 0


def test_demo_without_a_display_trains_plays_headless_and_reuses_its_model(tmp_path, monkeypatch):
    from rich.console import Console

    from play import demo

    monkeypatch.setattr(demo, "shipped_model", lambda: None)  # exercise the fallback even once a model ships
    # A display variable but SDL's dummy driver (containers, CI): no one could see a window,
    # so the demo must write its GIF rather than wait for keys forever.
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    console = Console(record=True, width=200)
    cfg = demo.DemoConfig(episodes=3, train_seconds=3)
    gif = demo.run_demo(tmp_path, console, cfg)
    assert len(read_gif_frames(gif)) == len(demo.DEMO_KEYS) + 1
    assert (tmp_path / "run" / "checkpoints").is_dir()
    demo.run_demo(tmp_path, console, cfg, window=False)
    assert "reusing the model" in console.export_text()


def test_export_writes_a_shareable_model_that_plays(tiny_run, tmp_path):
    out = tmp_path / "mine.safetensors"
    text = invoke("export", tiny_run, "--out", out)
    assert "mine.config.json" in text and (tmp_path / "mine.config.json").is_file()
    invoke("play", out, "--headless", "--keys", "LR", "--gif", tmp_path / "p.gif")
    assert len(read_gif_frames(tmp_path / "p.gif")) >= 2


def test_export_check_on_data_says_what_fp16_costs(tiny_run, tiny_recording, tmp_path):
    from gamegan.evaluation.export_precision import export_precision

    text = invoke("export", tiny_run, "--out", tmp_path / "m16.safetensors", "--check-on", tiny_recording)
    assert "teacher-forced" in text and "largest pixel difference" in text
    same = export_precision(tiny_run, tiny_run, tiny_recording, episodes=2, length=8, warmup=2)
    assert same["max_pixel_diff"] == 0 and same["reference_free"] == same["exported_free"]
    invoke("export", tiny_run, "--out", tmp_path / "m32.safetensors", "--dtype", "fp32")
    fp32 = export_precision(tiny_run, tmp_path / "m32.safetensors", tiny_recording, episodes=2, length=8, warmup=2)
    assert fp32["max_pixel_diff"] == 0  # an fp32 export is the run's own weights
    fp16 = export_precision(tiny_run, tmp_path / "m16.safetensors", tiny_recording, episodes=2, length=8, warmup=2)
    assert fp16["windows"] == same["windows"] > 0 and fp16["max_pixel_diff"] > 0  # fp16 does round something


def test_resume_without_config_json_takes_the_config_its_checkpoints_carry(tmp_path):
    from gamegan.checkpoint import save_weights
    from gamegan_cli import build_train_config
    from gamegan.config import preset
    from gamegan.model.factory import build_model

    config = preset("tiny")
    config.model.hidden_dim = 48  # not the default preset's
    save_weights(tmp_path / "checkpoints" / "step_0000005.safetensors", build_model(config.model), config, step=5)
    resumed = build_train_config("small", tmp_path, resume=True, overrides=[])
    assert resumed.model.hidden_dim == 48 and resumed.model.frame_size == 32


def test_eval_with_play_adds_the_play_measurement_to_the_same_report(tiny_run, tiny_recording, tmp_path):
    out = tmp_path / "eval"
    invoke("eval", tiny_run, "--data", tiny_recording, "--out", out, "--episodes", "2", "--horizons", "1,2",
           "--quiet", "--play", "2", "--play-seed", "7")
    figures = json.loads((out / "metrics.json").read_text())
    assert figures["play"]["sessions"] == 2 and figures["play"]["seed"] == 7
    assert 0 <= figures["play"]["overall"]["match"] <= 1 and "teacher_forced" in figures["models"]["gamegan (tiny)"]
    report = (out / "report.md").read_text()
    assert "## Play measurement" in report and "seeds 7-8" in report and "plausible ghost cells" in report
    assert figures["ghost_losses"]["episodes"] == 2


def test_follow_scores_a_model_and_sweeps_a_runs_checkpoints(tiny_run, tmp_path):
    text = invoke("follow", tiny_run, "--sessions", "2", "--steps", "4", "--seed", "3", "--strip", tmp_path / "s.png")
    summary = json.loads(next(line for line in text.splitlines() if line.startswith("{")))
    assert summary["episodes"] == 2 and summary["seed"] == 3 and (tmp_path / "s.png").is_file()
    text = invoke("follow", tiny_run, "--sessions", "1", "--steps", "3", "--checkpoints", ":")
    assert "best by match on seeds 1000-1000: step 3" in text
    bad = runner.invoke(app, ["follow", str(tiny_run), "--checkpoints", "a:b"])
    assert bad.exit_code != 0 and "FIRST:LAST" in bad.output
    none = runner.invoke(app, ["follow", str(tiny_run), "--checkpoints", "100:"])
    assert none.exit_code != 0 and "no checkpoints with a step in 100.." in none.output
