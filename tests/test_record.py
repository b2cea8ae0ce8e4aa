"""Recording: determinism across worker counts, append, signal and kill safety, CLI errors."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import cli, cli_env
from recorder.dataset import DatasetError, open_dataset, validate
from recorder.game import GameConfig
from recorder.record import RecordConfig, episode_seeds, record

SMALL = GameConfig(layout="small", frame_size=32, max_steps=40)


def _by_seed(path: Path) -> dict[int, np.ndarray]:
    with open_dataset(path) as data:
        return {data.episode_info(i)["seed"]: data.frames(i) for i in range(data.n_episodes)}


def test_episode_seeds_depend_only_on_base_seed_and_index():
    assert episode_seeds(3, 7) == episode_seeds(3, 7)
    assert episode_seeds(3, 7) != episode_seeds(3, 8)
    assert episode_seeds(3, 7) != episode_seeds(4, 7)


def test_worker_count_does_not_change_the_episodes(tmp_path):
    one = record(RecordConfig(out=tmp_path / "one", episodes=6, workers=1, game=SMALL))
    two = record(RecordConfig(out=tmp_path / "two", episodes=6, workers=2, game=SMALL))
    assert one.episodes == two.episodes == 6
    a, b = _by_seed(tmp_path / "one"), _by_seed(tmp_path / "two")
    assert a.keys() == b.keys()
    for seed in a:
        np.testing.assert_array_equal(a[seed], b[seed])
    names = sorted(p.name for p in (tmp_path / "two").glob("shard-*.h5"))
    assert any("-w00-" in n for n in names) and any("-w01-" in n for n in names)


def test_shards_roll_over_and_validate(tmp_path):
    summary = record(RecordConfig(out=tmp_path / "d", episodes=5, shard_episodes=2, game=SMALL))
    assert len(summary.shards) == 3  # 2 + 2 + 1
    report = validate(tmp_path / "d", deep=True)
    assert report["episodes"] == 5


def test_append_adds_new_episodes_and_refuses_without_flag(tmp_path):
    out = tmp_path / "d"
    record(RecordConfig(out=out, episodes=3, game=SMALL))
    with pytest.raises(DatasetError, match="--append"):
        record(RecordConfig(out=out, episodes=2, game=SMALL))
    record(RecordConfig(out=out, episodes=2, game=SMALL, append=True))
    seeds = _by_seed(out)
    assert len(seeds) == 5  # appended episodes got new indices, hence new seeds
    with pytest.raises(DatasetError, match="cannot append"):
        record(RecordConfig(out=out, episodes=1, append=True, game=GameConfig(layout="small", frame_size=64)))


def _wait_for_shards(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list(out.glob("shard-*.h5"))) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("recorder wrote no shards in time")


def test_sigkill_leaves_a_readable_dataset(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(cli("record", "--out", str(out), "--episodes", "100000", "--shard-episodes", "2",
                                 "--layout", "small", "--size", "32", "--max-steps", "40"),
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_shards(out, 2, proc)
    proc.kill()
    proc.wait()
    report = validate(out, deep=True)
    assert report["episodes"] >= 4
    assert report["episodes"] % 2 == 0  # only whole shards are visible


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finalises_open_shards(tmp_path, workers):
    out = tmp_path / f"term{workers}"
    proc = subprocess.Popen(cli("record", "--out", str(out), "--episodes", "100000", "--shard-episodes", "1000",
                                 "--workers", str(workers), "--layout", "small", "--size", "32", "--max-steps", "40"),
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # huge shards: nothing is final until the signal arrives
    assert not list(out.glob("shard-*.h5"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    with open_dataset(out) as data:
        assert data.n_episodes > 0
        assert len(data.shards) == workers
    reported = int(err.split("interrupted, finished episodes kept:")[1].split("episodes")[0])
    assert reported == validate(out)["episodes"]  # every finished episode was kept
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind


@pytest.mark.parametrize("args, message", [
    (["inspect", "{tmp}/nothing"], "no such"),
    (["inspect", "{tmp}/garbage"], "shard-00000.h5"),
    (["record", "--out", "{tmp}/x", "--agent", "nobody", "--episodes", "1"], "nobody"),
    (["record", "--out", "{tmp}/x", "--ghosts", "9", "--episodes", "1"], "ghost"),
])
def test_cli_errors_are_one_line_without_traceback(tmp_path, args, message):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "shard-00000.h5").write_bytes(b"this is not hdf5" * 100)
    result = subprocess.run(cli(*[a.format(tmp=tmp_path) for a in args]), env=cli_env(), capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message.lower() in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_human_agent_without_a_display_is_refused(monkeypatch, tmp_path):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="no display"):
        RecordConfig(out=tmp_path / "h", agent="human", episodes=1)


def test_record_into_a_dataset_refuses_before_drawing_any_progress(tmp_path):
    record(RecordConfig(out=tmp_path / "d", episodes=1, seed=0, game=GameConfig(layout="small", frame_size=32,
                                                                               max_steps=5)))
    result = subprocess.run(cli("record", "--out", str(tmp_path / "d"), "--episodes", "50"), env=cli_env(),
                            capture_output=True, text=True)
    assert result.returncode == 1 and "already holds 1 shard(s)" in result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stdout + result.stderr


def test_an_engine_start_is_the_same_for_a_seed_and_its_game_runs_on():
    from recorder.starts import engine_start

    config = GameConfig(layout="small", frame_size=32)
    frames, actions, game = engine_start(config, 7, warmup=4)
    again, again_actions, _ = engine_start(config, 7, warmup=4)
    assert frames.shape == (4, 32, 32, 3) and actions.shape == (3,) and not game.done
    assert np.array_equal(frames, again) and np.array_equal(actions, again_actions)
    assert np.array_equal(game.render(), frames[-1])
    with pytest.raises(ValueError, match="ends within"):
        engine_start(GameConfig(layout="small", frame_size=32, max_steps=2), 7, warmup=4, max_tries=2)
