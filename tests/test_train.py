"""Training: it learns, resumes exactly, survives NaN and signals, runs data-parallel, fails clearly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from cli_helpers import cli, cli_env
from gamegan.checkpoint import latest_checkpoint, list_checkpoints, load_train_state
from gamegan.config import apply_overrides
from gamegan.data import SequenceData
from gamegan.model.factory import build_model
from gamegan.run_log import read_metrics
from gamegan.train import train, warmup_at
from train_helpers import tiny


@torch.no_grad()
def teacher_forced_mse(model: torch.nn.Module, data: SequenceData) -> float:
    import numpy as np

    batch = data.sample(np.random.default_rng(123), 16)
    torch.manual_seed(0)
    rollout = model.simulator.rollout(batch.frames, batch.actions, warmup=batch.frames.shape[1] - 1)
    return float(((rollout.frames - batch.frames[:, 1:]) ** 2).mean())


def test_warmup_decays_linearly_to_the_floor():
    config = tiny("train.warmup_start=6", "train.warmup_floor=2", "train.warmup_decay_steps=100", "train.seq_len=8")
    assert [warmup_at(s, config) for s in (0, 50, 100, 1000)] == [6, 4, 2, 2]


def test_tiny_preset_learns_to_reconstruct(tiny_recording, tmp_path):
    config = tiny("train.steps=150", "train.ckpt_every=1000")
    data = SequenceData(tiny_recording, config.train.seq_len)
    torch.manual_seed(config.train.seed)
    start = teacher_forced_mse(build_model(apply_overrides(config, ["model.frame_size=32"]).model).eval(), data)
    result = train(config, tiny_recording, tmp_path / "run", progress=False)
    end = teacher_forced_mse(result.model.eval(), data)
    assert end < 0.5 * start, (start, end)
    lines = read_metrics(tmp_path / "run")
    assert lines[-1]["step"] == 150 and "loss/G/total" in lines[-1] and "loss/D/total" in lines[-1]


def test_resume_equals_training_straight_through(tiny_recording, tmp_path):
    config = tiny("train.steps=6", "train.ckpt_every=3")
    straight = train(config, tiny_recording, tmp_path / "straight", progress=False)
    half = apply_overrides(config, ["train.steps=3"])
    train(half, tiny_recording, tmp_path / "resumed", progress=False)
    resumed = train(config, tiny_recording, tmp_path / "resumed", resume=True, progress=False)
    assert resumed.step == straight.step == 6
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    steps = [line["step"] for line in read_metrics(tmp_path / "resumed") if "loss/G/total" in line]
    assert steps == list(range(1, 7))  # one history, no duplicated lines


def test_training_loads_pacman_cells_when_the_loss_keeps_his_weight(tiny_recording, tmp_path):
    # Without the cells in its batches the generator loss would raise on the first step.
    config = tiny("train.steps=2", "loss.recon_horizon_decay=0.5", "loss.recon_horizon_keep_agent=true")
    assert train(config, tiny_recording, tmp_path / "run", progress=False).step == 2


def test_resume_takes_a_new_learning_rate_from_the_config(tiny_recording, tmp_path):
    train(tiny("train.steps=1"), tiny_recording, tmp_path / "run", progress=False)
    train(tiny("train.steps=2", "train.lr=1e-5"), tiny_recording, tmp_path / "run", resume=True, progress=False)
    saved = load_train_state(latest_checkpoint(tmp_path / "run"))["optimizers"]
    assert {group["lr"] for opt in saved.values() for group in opt["param_groups"]} == {1e-5}


def test_a_second_run_into_the_same_directory_needs_resume(tiny_recording, tmp_path):
    from gamegan.errors import UsageError

    train(tiny("train.steps=1"), tiny_recording, tmp_path / "run", progress=False)
    with pytest.raises(UsageError, match="--resume"):
        train(tiny("train.steps=1"), tiny_recording, tmp_path / "run", progress=False)


def test_init_from_exported_weights_starts_a_new_run_at_their_step(tiny_recording, tmp_path):
    from gamegan.checkpoint import load_model
    from gamegan.shipped import export_model

    train(tiny("train.steps=2", "train.ema_decay=0.9"), tiny_recording, tmp_path / "source", progress=False)
    shared = export_model(tmp_path / "source", tmp_path / "shared" / "mine.safetensors")  # fp16, averaged weights
    exported, _, _ = load_model(shared)
    # lr 0: whatever the run does, its weights stay the ones it started from.
    config = tiny("train.steps=4", "train.lr=0", "train.ema_decay=0.9")
    result = train(config, tiny_recording, tmp_path / "tuned", progress=False, init_from=shared)
    assert result.step == 4
    tuned = dict(result.model.named_parameters())  # buffers left out: spectral norm's power iteration moves them
    for name, param in exported.named_parameters():
        assert torch.equal(param, tuned[name]), name
    lines = read_metrics(tmp_path / "tuned")
    assert lines[0] == {"step": 2, "event": "initialised_from", "source": str(shared)}
    assert [line["step"] for line in lines[1:]] == [3, 4]
    assert load_train_state(latest_checkpoint(tmp_path / "tuned"))["step"] == 4


def test_init_from_a_run_keeps_its_average_and_a_crashed_start_resumes_its_own(tiny_recording, tmp_path):
    config = tiny("train.steps=3", "train.ema_decay=0.9")
    source = train(config, tiny_recording, tmp_path / "source", progress=False)
    run = tmp_path / "tuned"
    # lr 0 keeps the raw weights; the average taken over unchanged weights moves toward them, so
    # it starts from the source's average only if the run took it over.
    tuned = train(tiny("train.steps=4", "train.ema_decay=0.9", "train.lr=0"), tiny_recording, run,
                  progress=False, init_from=tmp_path / "source")
    raw = source.model.state_dict()
    for name, tensor in source.ema.tensors().items():
        expected = 0.9 * tensor + 0.1 * raw[name.removeprefix("ema.")] if tensor.is_floating_point() else tensor
        assert torch.allclose(tuned.ema.tensors()[name], expected, atol=1e-6), name
    # The same call with resume continues the run's own checkpoints, not the source again.
    again = train(tiny("train.steps=6", "train.ema_decay=0.9"), tiny_recording, run, progress=False, resume=True,
                  init_from=tmp_path / "source")
    assert again.step == 6
    assert [line["step"] for line in read_metrics(run) if "event" in line] == [3]


def test_init_from_refuses_another_model_and_a_spent_step_budget(tiny_recording, tmp_path):
    from gamegan.errors import CheckpointError, UsageError

    train(tiny("train.steps=2"), tiny_recording, tmp_path / "source", progress=False)
    with pytest.raises(UsageError, match="step 2.*--steps"):
        train(tiny("train.steps=2"), tiny_recording, tmp_path / "a", progress=False, init_from=tmp_path / "source")
    with pytest.raises(CheckpointError, match="hidden_dim"):
        train(tiny("train.steps=4", "model.hidden_dim=48"), tiny_recording, tmp_path / "b", progress=False,
              init_from=tmp_path / "source")


def test_train_cli_init_from_takes_the_source_config(tiny_recording, tmp_path):
    source = tmp_path / "source"
    first = subprocess.run(cli("train", "--data", str(tiny_recording), "--out", str(source), "--preset", "tiny",
                               "--steps", "1", "--device", "cpu", "--quiet", "--set", "loss.recon=0.5"),
                           env=cli_env(), capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    tuned = subprocess.run(cli("train", "--data", str(tiny_recording), "--out", str(tmp_path / "tuned"),
                               "--init-from", str(source), "--steps", "2", "--quiet"),
                           env=cli_env(), capture_output=True, text=True)
    assert tuned.returncode == 0, tuned.stderr
    stored = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert stored["loss"]["recon"] == 0.5  # the source's, not the small preset's
    assert stored["model"] == json.loads((source / "config.json").read_text())["model"]
    missing = subprocess.run(cli("train", "--data", str(tiny_recording), "--out", str(tmp_path / "c"),
                                 "--init-from", str(tmp_path / "none"), "--quiet"), env=cli_env(), capture_output=True,
                             text=True)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr and "none" in missing.stderr


def test_nonfinite_loss_skips_updates_and_restores(tiny_recording, tmp_path):
    config = tiny("train.steps=4", "loss.recon=NaN")
    torch.manual_seed(config.train.seed)
    result = train(config, tiny_recording, tmp_path / "run", progress=False)
    assert result.nonfinite_steps == 4
    events = [line.get("event") for line in read_metrics(tmp_path / "run")]
    assert events.count("nonfinite_loss_skipped") == 4 and "restored_last_good_state" in events
    torch.manual_seed(config.train.seed)
    initial = dict(build_model(config.model).named_parameters())
    for name, param in result.model.named_parameters():  # no update was ever applied
        assert torch.equal(param.detach(), initial[name].detach()), name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, data: str, run_dir: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = train(tiny("train.steps=3", "train.batch_size=2"), Path(data), Path(run_dir), progress=False)
    torch.save({k: v.clone() for k, v in result.model.state_dict().items()}, f"{out}/rank{rank}.pt")


def test_ddp_two_gloo_processes_keep_identical_parameters(tiny_recording, tmp_path):
    port = _free_port()
    mp.start_processes(_ddp_worker, args=(2, port, str(tiny_recording), str(tmp_path / "run"), str(tmp_path)),
                       nprocs=2, join=True, start_method="spawn")
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert latest_checkpoint(tmp_path / "run").name == "step_0000003.safetensors"


def test_sigint_saves_a_checkpoint_and_resume_continues(tiny_recording, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(cli("train", "--data", str(tiny_recording), "--out", str(run), "--preset", "tiny",
                                 "--steps", "100000", "--device", "cpu", "--quiet", "--set", "train.log_every=1"),
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    saved = load_train_state(latest_checkpoint(run))["step"]
    assert saved >= 1
    result = subprocess.run(cli("train", "--data", str(tiny_recording), "--out", str(run), "--resume",
                                 "--steps", str(saved + 2), "--quiet"), env=cli_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert load_train_state(latest_checkpoint(run))["step"] == saved + 2


@pytest.mark.parametrize("extra, message", [
    (["--set", "loss.nonsense=1"], "unknown config key"),
    (["--preset", "giant"], "unknown preset"),
    (["--set", "train.ema_decay=1.5"], "ema_decay"),
    (["--set", 'train.event_windows={"fright_onset": 1.5}'], "event_windows"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--set", "bogus=1"], "cuda"),
])
def test_train_cli_rejects_bad_options_in_one_line(tiny_recording, tmp_path, extra, message):
    result = subprocess.run(cli("train", "--data", str(tiny_recording), "--out", str(tmp_path / "r"), "--quiet", *extra),
                            env=cli_env(), capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr.lower()


def test_resume_with_another_model_or_a_corrupt_state_is_one_line(tiny_recording, tmp_path):
    run = tmp_path / "run"
    train(tiny("train.steps=1"), tiny_recording, run, progress=False)
    changed = subprocess.run(cli("train", "--data", str(tiny_recording), "--out", str(run), "--resume", "--steps", "2",
                                  "--set", "model.hidden_dim=48", "--quiet"), env=cli_env(), capture_output=True, text=True)
    assert changed.returncode == 1 and "hidden_dim" in changed.stderr and "Traceback" not in changed.stderr
    state = list_checkpoints(run)[-1].with_name("step_0000001.state.pt")
    state.write_bytes(b"not a torch file")
    corrupt = subprocess.run(cli("train", "--data", str(tiny_recording), "--out", str(run), "--resume", "--steps", "2",
                                  "--quiet"), env=cli_env(), capture_output=True, text=True)
    assert corrupt.returncode == 1 and "corrupt" in corrupt.stderr and "Traceback" not in corrupt.stderr


def test_missing_data_is_one_line(tmp_path):
    result = subprocess.run(cli("train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r"), "--quiet"),
                            env=cli_env(), capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert json.dumps(str(tmp_path / "none"))[1:-1] in result.stderr


SCHEDULE = '[{"from": 3, "set": {"train.lr": 0.002, "loss.recon": 0.5, "train.seq_len": 6}}]'


def test_a_schedule_trains_as_stopping_and_resuming_with_its_values_would(tiny_recording, tmp_path):
    config = tiny("train.steps=6", "train.ckpt_every=100", f"train.schedule={SCHEDULE}")
    staged = train(config, tiny_recording, tmp_path / "staged", progress=False)
    by_hand = tiny("train.steps=3", "train.ckpt_every=100")
    train(by_hand, tiny_recording, tmp_path / "hand", progress=False)
    later = apply_overrides(by_hand, ["train.steps=6", "train.lr=0.002", "loss.recon=0.5", "train.seq_len=6"])
    resumed = train(later, tiny_recording, tmp_path / "hand", resume=True, progress=False)
    assert staged.step == resumed.step == 6
    for (name, a), b in zip(staged.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    saved = load_train_state(latest_checkpoint(tmp_path / "staged"))["optimizers"]
    assert {group["lr"] for opt in saved.values() for group in opt["param_groups"]} == {0.002}
    stored = json.loads((tmp_path / "staged" / "config.json").read_text())["train"]
    assert stored["schedule"] == json.loads(SCHEDULE) and stored["lr"] == config.train.lr  # the recipe, not a stage
    steps = [line["step"] for line in read_metrics(tmp_path / "staged") if "loss/G/total" in line]
    assert steps == list(range(1, 7))


def test_resume_and_init_from_go_on_with_the_schedule(tiny_recording, tmp_path):
    config = tiny("train.steps=5", "train.ckpt_every=1", f"train.schedule={SCHEDULE}")
    train(apply_overrides(config, ["train.steps=4"]), tiny_recording, tmp_path / "run", progress=False)
    assert train(config, tiny_recording, tmp_path / "run", resume=True, progress=False).step == 5
    saved = load_train_state(latest_checkpoint(tmp_path / "run"))["optimizers"]
    assert {group["lr"] for opt in saved.values() for group in opt["param_groups"]} == {0.002}
    more = apply_overrides(config, ["train.steps=7"])
    train(more, tiny_recording, tmp_path / "more", progress=False, init_from=tmp_path / "run")
    saved = load_train_state(latest_checkpoint(tmp_path / "more"))["optimizers"]
    assert {group["lr"] for opt in saved.values() for group in opt["param_groups"]} == {0.002}


@pytest.mark.parametrize("entry, message", [
    ('[{"from": 3, "set": {"model.hidden_dim": 8}}]', "cannot change mid-run"),
    ('[{"from": 3, "set": {"train.steps": 8}}]', "cannot change mid-run"),
    ('[{"from": 0, "set": {"train.lr": 0.1}}]', "'from' must be a step"),
    ('[{"from": 3, "set": {"train.lr": "fast"}}]', "expected a number"),
    ('[{"from": 3, "set": {"loss.nope": 1}}]', "unknown config key"),
    ('[{"at": 3}]', "expected"),
])
def test_bad_schedules_are_refused_with_the_entry_named(entry, message):
    from gamegan.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        tiny(f"train.schedule={entry}")


@pytest.mark.parametrize("overrides", [
    [],
    ["model.memory=true", "model.renderer=disentangling", "model.n_components=2", "model.memory_size=9",
     "model.memory_dim=16"],
    ["model.memory=true", "model.renderer=disentangling", "model.n_components=2", "model.memory_read=window",
     "model.memory_window=5", "model.memory_size=9", "model.memory_dim=16"],
    ["model.kind=action-lstm"],
    ["model.kind=world-models"],
], ids=["gamegan", "gamegan+memory", "gamegan+window", "action-lstm", "world-models"])
def test_bf16_autocast_trains_every_model_on_the_cpu_as_fp32_does(overrides, monkeypatch):
    # The CUDA path's autocast, run on the CPU: a dtype error in it must not reach a GPU user first.
    import contextlib

    import gamegan.train as training
    from gamegan.bench import synthetic_batch
    from gamegan.distributed import DistInfo
    from gamegan.model.types import StepContext

    config = tiny(*overrides)
    device = torch.device("cpu")

    def losses(autocast: bool) -> list[float]:
        monkeypatch.setattr(training, "_autocast", lambda d, amp: torch.autocast("cpu", dtype=torch.bfloat16)
                            if autocast else contextlib.nullcontext())
        torch.manual_seed(0)
        model = build_model(config.model)
        phases = model.phases(config.loss)
        opts = {p.name: torch.optim.Adam(p.module.parameters(), lr=1e-4) for p in phases}
        batch, out = synthetic_batch(config, device), []
        for step in range(3):
            torch.manual_seed(step)
            ctx = StepContext(step=step, warmup=2)
            for phase in phases:
                logs = training.run_phase(phase, opts[phase.name], phases, batch, ctx, config, device, DistInfo())
                assert logs is not None, (phase.name, step)
                out.append(logs[f"loss/{phase.name}/total"])
        return out

    fp32, bf16 = losses(False), losses(True)
    assert all(np.isfinite(bf16))
    assert bf16[0] == pytest.approx(fp32[0], rel=0.1, abs=0.5)  # the same batch and weights: the first loss agrees
