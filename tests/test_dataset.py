"""The HDF5 shard format: round trips, atomic writes, and clear errors on bad files."""

from __future__ import annotations

import multiprocessing
import pickle
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.dataset import (
    CODECS,
    FORMAT_VERSION,
    SHARD_GLOB,
    DatasetError,
    DatasetMeta,
    Episode,
    ShardWriter,
    catches,
    fright_onsets,
    list_shards,
    open_dataset,
    shard_name,
    summarize,
    validate,
)

ACTION_NAMES = ["NOOP", "UP", "DOWN", "LEFT", "RIGHT"]
SHAPE = (8, 8, 3)


def make_meta(shape=SHAPE, action_names=ACTION_NAMES, mode="classic") -> DatasetMeta:
    return DatasetMeta(shape, len(action_names), action_names, {"mode": mode, "layout": "tiny"},
                       {"wall": [33, 33, 222]}, created_with="gamegan test")


def make_episode(rng: np.random.Generator, length: int, shape=SHAPE, n_actions=5, state=True,
                 seed=0, agent="greedy", score=0) -> Episode:
    frames = rng.integers(0, 256, size=(length, *shape), dtype=np.uint8)
    actions = rng.integers(0, n_actions, size=length).astype(np.int8)
    actions[-1] = -1
    fields = {}
    if state:
        fields = {
            "pacman": rng.integers(0, 10, size=(length, 2)).astype(np.int16),
            "ghosts": rng.integers(0, 10, size=(length, 3, 2)).astype(np.int16),
            "pellets": rng.random((length, 4, 5)) < 0.5,
        }
    return Episode(frames, actions, fields, seed=seed, agent=agent, score=score)


def write_shard(path: Path, episodes: list[Episode], meta: DatasetMeta | None = None, **kw) -> Path:
    with ShardWriter(path, meta or make_meta(episodes[0].frames.shape[1:]), **kw) as writer:
        for episode in episodes:
            writer.add(episode)
    return path


def assert_same_episode(got: Episode, want: Episode) -> None:
    np.testing.assert_array_equal(got.frames, want.frames)
    np.testing.assert_array_equal(got.actions, want.actions)
    assert got.actions.dtype == np.int8 and got.frames.dtype == np.uint8
    assert sorted(got.state) == sorted(want.state)
    for name, values in want.state.items():
        np.testing.assert_array_equal(got.state[name], values)
        assert got.state[name].dtype == values.dtype
    assert (got.seed, got.agent, got.score) == (want.seed, want.agent, want.score)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def two_shards(tmp_path, rng):
    """A directory of two shards; returns (dir, episodes in global order)."""
    first = [make_episode(rng, n, seed=i, agent=a, score=10 * i)
             for i, (n, a) in enumerate([(5, "greedy"), (1, "random"), (7, "greedy")])]
    second = [make_episode(rng, n, seed=100 + i, agent="human", score=i) for i, n in enumerate([3, 4])]
    # Written out of name order: readers order shards by name, not by creation.
    write_shard(tmp_path / "shard-s0-w01-e0000000.h5", second)
    write_shard(tmp_path / "shard-s0-w00-e0000000.h5", first)
    return tmp_path, first + second


def test_round_trip_over_shards(two_shards):
    directory, episodes = two_shards
    with open_dataset(directory) as ds:
        assert len(ds) == ds.n_episodes == 5
        assert ds.n_frames == 20
        assert [p.name for p in ds.shards] == ["shard-s0-w00-e0000000.h5", "shard-s0-w01-e0000000.h5"]
        np.testing.assert_array_equal(ds.episode_lengths, [5, 1, 7, 3, 4])
        assert ds.state_fields == ["ghosts", "pacman", "pellets"]
        assert ds.meta == make_meta()
        for i, want in enumerate(episodes):
            assert_same_episode(ds.episode(i), want)
        assert ds.episode(4, with_state=False).state == {}
        assert ds.episode_info(3) == {"seed": 100, "agent": "human", "score": 0, "length": 3,
                                      "shard": str(ds.shards[1]), "index_in_shard": 0}


def test_slices_read_the_right_frames(two_shards):
    directory, episodes = two_shards
    with open_dataset(directory) as ds:
        np.testing.assert_array_equal(ds.frames(2, 2, 5), episodes[2].frames[2:5])
        np.testing.assert_array_equal(ds.frames(2, -3), episodes[2].frames[-3:])
        np.testing.assert_array_equal(ds.frames(-1), episodes[4].frames)
        assert ds.frames(2, 5, 2).shape == (0, *SHAPE)
        np.testing.assert_array_equal(ds.state(4, "ghosts", 1, 3), episodes[4].state["ghosts"][1:3])
        with pytest.raises(IndexError):
            ds.frames(5)
        with pytest.raises(KeyError, match="score"):
            ds.state(0, "score")


def test_single_shard_path_reads_only_that_file(two_shards):
    directory, episodes = two_shards
    with open_dataset(directory / "shard-s0-w01-e0000000.h5") as ds:
        assert ds.n_episodes == 2
        assert_same_episode(ds.episode(1), episodes[4])


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_every_codec_round_trips(tmp_path, rng, codec):
    episode = make_episode(rng, 20)
    write_shard(tmp_path / "shard-0.h5", [episode], codec=codec, chunk_frames=3)
    with open_dataset(tmp_path) as ds:
        assert_same_episode(ds.episode(0), episode)
    assert validate(tmp_path, deep=True)["frames"] == 20


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 20), min_size=1, max_size=6), chunk=st.integers(1, 8),
       codec=st.sampled_from(sorted(CODECS)), seed=st.integers(0, 2**16))
def test_any_episode_lengths_round_trip_across_chunk_boundaries(lengths, chunk, codec, seed):
    rng = np.random.default_rng(seed)
    episodes = [make_episode(rng, n, seed=i, score=n) for i, n in enumerate(lengths)]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_shard(Path(tmp) / "shard-0.h5", episodes, codec=codec, chunk_frames=chunk)
        validate(path, deep=True)
        with open_dataset(path) as ds:
            np.testing.assert_array_equal(ds.episode_lengths, lengths)
            for i, want in enumerate(episodes):
                assert_same_episode(ds.episode(i), want)
                start = int(rng.integers(0, len(want)))
                np.testing.assert_array_equal(ds.frames(i, start, start + 3), want.frames[start:start + 3])


def test_state_fields_are_those_in_every_shard(tmp_path, rng):
    write_shard(tmp_path / "shard-a.h5", [make_episode(rng, 3)])
    write_shard(tmp_path / "shard-b.h5", [make_episode(rng, 3, state=False)])
    with open_dataset(tmp_path) as ds:
        assert ds.state_fields == []
        assert ds.episode(0).state == {}


def test_writer_rejects_bad_episodes_without_writing_them(tmp_path, rng):
    path = tmp_path / "shard-0.h5"
    good = make_episode(rng, 4)
    no_end_marker = make_episode(rng, 4)
    no_end_marker.actions[-1] = 2
    bad_action = make_episode(rng, 4)
    bad_action.actions[1] = 5
    wrong_size = make_episode(rng, 4, shape=(9, 8, 3))
    float_frames = make_episode(rng, 4)
    float_frames.frames = float_frames.frames.astype(np.float32)
    short_state = make_episode(rng, 4)
    short_state.state["pacman"] = short_state.state["pacman"][:3]
    other_fields = make_episode(rng, 4, state=False)
    with ShardWriter(path, make_meta()) as writer:
        writer.add(good)
        for bad in (no_end_marker, bad_action, wrong_size, float_frames, short_state, other_fields):
            with pytest.raises(ValueError, match="shard-0.h5"):
                writer.add(bad)
        assert (writer.n_episodes, writer.n_frames) == (1, 4)
    validate(path, deep=True)
    with open_dataset(path) as ds:
        assert ds.n_frames == 4
        assert_same_episode(ds.episode(0), good)


def test_temp_file_is_invisible_until_close(tmp_path, rng):
    final = tmp_path / shard_name(7, 3, 120)
    writer = ShardWriter(final, make_meta())
    writer.add(make_episode(rng, 5))
    names = [p.name for p in tmp_path.iterdir()]
    assert names == [".shard-s7-w03-e0000120.h5.tmp"]
    assert list_shards(tmp_path) == []
    with pytest.raises(DatasetError, match="no shard"):
        open_dataset(tmp_path)
    assert writer.close() == final
    assert [p.name for p in tmp_path.iterdir()] == [final.name]
    assert open_dataset(tmp_path).n_frames == 5


def test_abort_and_empty_close_leave_nothing(tmp_path, rng):
    writer = ShardWriter(tmp_path / "shard-0.h5", make_meta())
    writer.add(make_episode(rng, 5))
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    assert ShardWriter(tmp_path / "shard-1.h5", make_meta()).close() is None
    assert list(tmp_path.iterdir()) == []


def test_exception_in_with_block_keeps_finished_episodes(tmp_path, rng):
    episode = make_episode(rng, 6)
    with pytest.raises(KeyboardInterrupt):
        with ShardWriter(tmp_path / "shard-0.h5", make_meta()) as writer:
            writer.add(episode)
            raise KeyboardInterrupt
    with open_dataset(tmp_path) as ds:
        assert_same_episode(ds.episode(0), episode)


def test_interrupted_add_leaves_a_valid_shard(tmp_path, rng, monkeypatch):
    """Ctrl-C inside add(), after the frames are written but before the actions."""
    path = tmp_path / "shard-0.h5"
    first = make_episode(rng, 5)
    writer = ShardWriter(path, make_meta())
    writer.add(first)
    real_append = writer._append

    def append_then_interrupt(name, values):
        if name == "actions":
            raise KeyboardInterrupt
        real_append(name, values)

    monkeypatch.setattr(writer, "_append", append_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with writer:
            writer.add(make_episode(rng, 7))
    assert validate(path, deep=True)["frames"] == 5
    with open_dataset(path) as ds:
        assert_same_episode(ds.episode(0), first)


def test_writer_refuses_to_overwrite_a_shard(tmp_path, rng):
    path = write_shard(tmp_path / "shard-0.h5", [make_episode(rng, 2)])
    with pytest.raises(FileExistsError):
        ShardWriter(path, make_meta())


def test_shard_names_match_the_glob_and_sort_by_episode():
    names = [shard_name(3, 1, first) for first in (1000, 20, 300)]
    assert all(Path(n).match(SHARD_GLOB) for n in names)
    assert sorted(names) == [shard_name(3, 1, first) for first in (20, 300, 1000)]


@pytest.mark.parametrize("other, differs", [
    (make_meta(shape=(16, 16, 3)), "frame shape"),
    (make_meta(action_names=ACTION_NAMES[:4]), "actions"),
    (make_meta(mode="maze"), "mode"),
])
def test_disagreeing_shards_name_both_files(tmp_path, rng, other, differs):
    write_shard(tmp_path / "shard-a.h5", [make_episode(rng, 3)])
    episode = make_episode(rng, 3, shape=other.frame_shape, n_actions=other.n_actions)
    write_shard(tmp_path / "shard-b.h5", [episode], meta=other)
    for read in (open_dataset, validate, summarize):
        with pytest.raises(DatasetError) as info:
            read(tmp_path)
        message = str(info.value)
        assert "shard-a.h5" in message and "shard-b.h5" in message and differs in message
        assert "\n" not in message


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no shard"):
        validate(tmp_path)


def test_truncated_shard_is_a_dataset_error(tmp_path, rng):
    path = write_shard(tmp_path / "shard-0.h5", [make_episode(rng, 50, shape=(32, 32, 3))])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for read in (open_dataset, validate, summarize):
        with pytest.raises(DatasetError, match="shard-0.h5"):
            read(tmp_path)


def test_garbage_file_is_a_dataset_error(tmp_path):
    (tmp_path / "shard-00000.h5").write_bytes(b"this is not HDF5 at all" * 100)
    with pytest.raises(DatasetError, match="shard-00000.h5"):
        open_dataset(tmp_path)


def test_unsupported_version_and_foreign_format(tmp_path, rng):
    path = write_shard(tmp_path / "shard-0.h5", [make_episode(rng, 3)])
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(DatasetError, match="format_version 2 is not supported"):
        open_dataset(path)
    with h5py.File(path, "r+") as f:
        f.attrs["format"] = "someone-else"
    with pytest.raises(DatasetError, match="not a gamegan-episodes shard"):
        open_dataset(path)


def test_missing_dataset_is_named(tmp_path, rng):
    path = write_shard(tmp_path / "shard-0.h5", [make_episode(rng, 3)])
    with h5py.File(path, "r+") as f:
        del f["episodes/score"]
    with pytest.raises(DatasetError, match="episodes/score"):
        open_dataset(path)


def test_validate_requires_end_marker_exactly_at_episode_ends(tmp_path, rng):
    path = write_shard(tmp_path / "shard-0.h5", [make_episode(rng, 4), make_episode(rng, 3)])
    assert validate(path) == {"path": str(path), "shards": 1, "episodes": 2, "frames": 7, "deep": False}
    with h5py.File(path, "r+") as f:
        f["actions"][3] = 1  # first episode's end marker overwritten
    with pytest.raises(DatasetError, match="frame 3 ends an episode"):
        validate(path)
    with h5py.File(path, "r+") as f:
        f["actions"][3] = -1
        f["actions"][1] = -1  # an end marker in mid-episode
    with pytest.raises(DatasetError, match="frame 1 has action -1"):
        validate(path)


def test_validate_rejects_episodes_that_do_not_tile(tmp_path, rng):
    path = write_shard(tmp_path / "shard-0.h5", [make_episode(rng, 4), make_episode(rng, 3)])
    with h5py.File(path, "r+") as f:
        f["episodes/start"][1] = 3
    with pytest.raises(DatasetError, match="tile"):
        validate(path)


def test_state_with_wrong_length_is_rejected(tmp_path, rng):
    path = write_shard(tmp_path / "shard-0.h5", [make_episode(rng, 4)])
    with h5py.File(path, "r+") as f:
        f["state/pacman"].resize(3, axis=0)
    with pytest.raises(DatasetError, match="state/pacman"):
        validate(path)


def test_deep_validation_catches_corrupt_frame_data(tmp_path):
    frames = np.zeros((64, *SHAPE), dtype=np.uint8)
    frames[:, 2:4, 2:4] = 255
    actions = np.zeros(64, dtype=np.int8)
    actions[-1] = -1
    path = write_shard(tmp_path / "shard-0.h5", [Episode(frames, actions)], chunk_frames=16)
    with h5py.File(path) as f:
        chunk = f["frames"].id.get_chunk_info(1)
    with open(path, "r+b") as handle:
        handle.seek(chunk.byte_offset)
        handle.write(b"\xff" * chunk.size)
    validate(path)  # structure is intact; only the pixels are broken
    with pytest.raises(DatasetError, match="shard-0.h5"):
        validate(path, deep=True)


def test_a_ghostless_maze_records_reads_and_summarises(tmp_path):
    from recorder.game import GameConfig
    from recorder.record import RecordConfig, record

    record(RecordConfig(out=tmp_path, episodes=2, seed=1,
                        game=GameConfig(mode="maze", n_ghosts=0, frame_size=32, max_steps=20)))
    with open_dataset(tmp_path) as ds:
        ghosts = ds.state(0, "ghosts")
        assert ghosts.shape == (len(ds.actions(0)), 0, 2) and ds.state(1, "view_origin").shape[1] == 2
    summary = summarize(tmp_path)
    assert summary["episodes"] == 2 and summary["catches"] == 0 and summary["mode"] == "maze"


def test_summary_counts(tmp_path):
    shape = (16, 16, 3)
    frames = np.zeros((10, *shape), dtype=np.uint8)
    frames[:, :4] = (33, 33, 222)  # a flat wall band, as in the game
    episodes = [
        Episode(frames[:6], np.array([1, 1, 4, 0, 1, -1], dtype=np.int8), seed=1, agent="greedy", score=30),
        Episode(frames[:4], np.array([3, 3, 2, -1], dtype=np.int8), seed=2, agent="random", score=10),
    ]
    write_shard(tmp_path / "shard-0.h5", episodes[:1])
    write_shard(tmp_path / "shard-1.h5", episodes[1:])
    summary = summarize(tmp_path)
    assert summary["shards"] == 2 and summary["episodes"] == 2 and summary["frames"] == 10
    assert summary["action_histogram"] == {"NOOP": 1, "UP": 3, "DOWN": 1, "LEFT": 2, "RIGHT": 1}
    assert summary["agents"] == {"greedy": 1, "random": 1}
    assert summary["score"] == {"mean": 20.0, "min": 10, "max": 30}
    assert summary["episode_length"] == {"mean": 5.0, "min": 4, "max": 6}
    assert summary["frame_shape"] == [16, 16, 3] and summary["mode"] == "classic"
    assert summary["raw_bytes_per_frame"] == 16 * 16 * 3
    size = sum(p.stat().st_size for p in tmp_path.glob(SHARD_GLOB))
    assert summary["size_on_disk_bytes"] == size
    assert summary["bytes_per_frame"] == pytest.approx(size / 10)
    assert summary["compression_ratio"] == pytest.approx(768 / (size / 10))
    assert summary["state_fields"] == [] and summary["frightened_frames"] is None


def test_summary_counts_frames_with_frightened_ghosts(tmp_path):
    frames = np.zeros((5, 8, 8, 3), dtype=np.uint8)
    frightened = np.array([[0, 0], [1, 1], [0, 1], [0, 0], [0, 0]], dtype=bool)  # 2 of 5 frames, either ghost
    calm_start = np.array([[0, 0], [0, 0], [1, 0], [1, 0], [1, 0]], dtype=bool)
    actions = np.array([1, 1, 1, 1, -1], dtype=np.int8)
    write_shard(tmp_path / "shard-0.h5", [Episode(frames, actions, state={"frightened": f})
                                          for f in (frightened, calm_start, frightened)])
    summary = summarize(tmp_path)
    assert summary["frightened_frames"] == pytest.approx(7 / 15)
    assert summary["fright_onsets"] == 3  # at frames 1, 2 and 1
    np.testing.assert_array_equal(fright_onsets(calm_start), [2])
    np.testing.assert_array_equal(fright_onsets(frightened.any(axis=-1)), [1])
    assert summary["catches"] is None  # no state/pacman or state/ghosts to tell


def test_a_catch_is_a_calm_ghost_in_pacmans_cell_and_the_summary_counts_them(tmp_path):
    pacman = np.array([[1, 1], [1, 2], [1, 3], [1, 3]], dtype=np.int16)
    ghosts = np.array([[[1, 3], [4, 4]], [[1, 2], [4, 4]], [[1, 3], [1, 3]], [[1, 3], [4, 4]]], dtype=np.int16)
    frightened = np.array([[0, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    # frame 0: no one in his cell; 1: a frightened ghost (he eats it); 2: a calm one; 3: a calm one.
    np.testing.assert_array_equal(catches(pacman, ghosts, frightened), [2, 3])
    np.testing.assert_array_equal(catches(pacman, ghosts, np.ones_like(frightened)), [])
    frames, actions = np.zeros((4, 8, 8, 3), dtype=np.uint8), np.array([1, 1, 1, -1], dtype=np.int8)
    state = {"pacman": pacman, "ghosts": ghosts, "frightened": frightened}
    write_shard(tmp_path / "shard-0.h5", [Episode(frames, actions, state=state)] * 2)
    assert summarize(tmp_path)["catches"] == 4


def test_compression_shrinks_flat_colour_frames(tmp_path, rng):
    """Pac-Man-like frames (flat maze, small sprites) take far less than raw bytes."""
    shape = (64, 64, 3)
    background = np.zeros(shape, dtype=np.uint8)
    background[::8, :] = background[:, ::8] = (33, 33, 222)
    frames = np.repeat(background[None], 400, axis=0)
    for t, frame in enumerate(frames):  # a 4x4 sprite walking across
        frame[20:24, (t % 60):(t % 60) + 4] = (255, 255, 0)
    actions = np.full(400, 4, dtype=np.int8)
    actions[-1] = -1
    write_shard(tmp_path / "shard-0.h5", [Episode(frames, actions)])
    summary = summarize(tmp_path)
    assert summary["bytes_per_frame"] < summary["raw_bytes_per_frame"] / 10


def test_reads_stay_right_with_few_open_files(two_shards, monkeypatch):
    monkeypatch.setattr("recorder.dataset.MAX_OPEN_SHARDS", 1)
    directory, episodes = two_shards
    with open_dataset(directory) as ds:
        for i in (0, 3, 1, 4, 2):  # alternate shards, so each read evicts the other file
            assert_same_episode(ds.episode(i), episodes[i])
            assert len(ds._open) == 1


def _checksum_in_child(ds, queue) -> None:
    queue.put(int(ds.frames(1).sum()) + int(ds.actions(2).sum()))


def test_dataset_survives_pickle_and_fork(two_shards):
    directory, episodes = two_shards
    expected = int(episodes[1].frames.sum()) + int(episodes[2].actions.sum())
    ds = open_dataset(directory)
    ds.frames(0)  # parent now holds open h5py handles
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.n_episodes == 5 and clone.shards == ds.shards
    assert_same_episode(clone.episode(3), episodes[3])
    # A DataLoader worker forked after the parent read from the files.
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_checksum_in_child, args=(ds, queue))
    child.start()
    result = queue.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0 and result == expected
    assert_same_episode(ds.episode(1), episodes[1])  # the parent's handles still work
    ds.close()
