"""Training windows: split, alignment of frames and actions, wrong actions, lazy vs in-memory."""

import pickle

import h5py
import numpy as np
import pytest
import torch

from recorder.dataset import DatasetError, Episode, open_dataset
from recorder.game.palette import PALETTE
from gamegan.config import ConfigError
from gamegan.data import (EVENT_POSITIONS, SequenceData, load_splits, split_episodes, to_model_frames,
                          to_uint8_frames)
from gamegan.evaluation.sprites import CellGeometry
from test_dataset import write_shard


def test_split_is_deterministic_disjoint_and_complete():
    train, val = split_episodes(40, 0.1)
    train2, val2 = split_episodes(40, 0.1)
    np.testing.assert_array_equal(train, train2)
    np.testing.assert_array_equal(val, val2)
    assert len(val) == 4 and not set(train) & set(val)
    assert sorted(set(train) | set(val)) == list(range(40))


def test_pixel_conversion_round_trips():
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8)
    x = to_model_frames(frames)
    assert x.shape == (2, 3, 3, 8, 8) and x.min() >= -1 and x.max() <= 1
    np.testing.assert_array_equal(to_uint8_frames(x), frames)


def test_windows_align_frames_with_their_actions(tiny_recording):
    data = SequenceData(tiny_recording, seq_len=6)
    batch = data.sample(np.random.default_rng(0), 16)
    assert batch.frames.shape == (16, 6, 3, 32, 32)
    assert batch.actions.shape == batch.wrong_actions.shape == (16, 5)
    assert (batch.actions >= 0).all() and (batch.actions < 5).all()  # never the -1 end marker
    assert (batch.wrong_actions != batch.actions).all()
    # Each sampled window must be a real slice of some episode: find it and compare actions.
    with open_dataset(tiny_recording) as ds:
        episodes = [(ds.frames(i), ds.actions(i)) for i in range(ds.n_episodes)]
    for b in range(4):
        window = to_uint8_frames(batch.frames[b])
        found = False
        for frames, actions in episodes:
            for s in range(len(frames) - 5):
                if np.array_equal(frames[s:s + 6], window):
                    found = np.array_equal(actions[s:s + 5], batch.actions[b].numpy())
                    break
            if found:
                break
        assert found


def test_lazy_and_in_memory_modes_sample_the_same_windows(tiny_recording):
    memory = SequenceData(tiny_recording, seq_len=5, in_memory=True)
    lazy = SequenceData(tiny_recording, seq_len=5, in_memory=False)
    a = memory.sample(np.random.default_rng(3), 8)
    b = lazy.sample(np.random.default_rng(3), 8)
    assert torch.equal(a.frames, b.frames) and torch.equal(a.actions, b.actions)
    clone = pickle.loads(pickle.dumps(lazy))  # what a DataLoader worker receives
    assert torch.equal(clone.sample(np.random.default_rng(3), 8).frames, a.frames)


def test_load_splits_holds_out_whole_episodes(tiny_recording):
    train, val = load_splits(tiny_recording, seq_len=4, val_fraction=0.25)
    assert val is not None
    assert not set(train.episodes) & set(val.episodes)


def test_worker_processes_stream_valid_batches_from_lazy_data(tiny_recording):
    from gamegan.data import batch_stream

    data = SequenceData(tiny_recording, seq_len=5, in_memory=False)
    stream = batch_stream(data, 3, np.random.default_rng(0), num_workers=2, seed=1)
    first, second = next(stream), next(stream)
    assert first.frames.shape == (3, 5, 3, 32, 32) and first.actions.shape == (3, 4)
    assert (first.wrong_actions != first.actions).all()
    assert not torch.equal(first.frames, second.frames)


def test_agent_masks_mark_the_cell_holding_pacman_in_every_frame(tiny_recording):
    memory = SequenceData(tiny_recording, seq_len=5, agent=True)
    batch = memory.sample(np.random.default_rng(0), 8)
    cell = CellGeometry.from_game(memory.meta.game).cell
    assert batch.agent.shape == (8, 5, 1, 32, 32) and batch.agent.dtype == torch.bool
    assert (batch.agent.sum(dim=(2, 3, 4)) == cell**2).all()  # one whole cell per frame
    is_pacman = torch.from_numpy((to_uint8_frames(batch.frames) == PALETTE["pacman"]).all(-1))  # (B, T, H, W)
    assert is_pacman.sum() > 8 * 5 and not (is_pacman & ~batch.agent[:, :, 0]).any()  # every yellow pixel is in his cell
    lazy = SequenceData(tiny_recording, seq_len=5, agent=True, in_memory=False)
    assert torch.equal(lazy.sample(np.random.default_rng(0), 8).agent, batch.agent)
    assert SequenceData(tiny_recording, seq_len=5).sample(np.random.default_rng(0), 8).agent is None


def test_agent_masks_without_recorded_pacman_cells_are_a_dataset_error(tiny_recording, tmp_path):
    for shard in tiny_recording.glob("*.h5"):
        (tmp_path / shard.name).write_bytes(shard.read_bytes())
        with h5py.File(tmp_path / shard.name, "a") as f:
            del f["state/pacman"]
    assert SequenceData(tmp_path, seq_len=5).sample(np.random.default_rng(0), 2).agent is None
    with pytest.raises(DatasetError, match="no 'agent' mask"):
        SequenceData(tmp_path, seq_len=5, agent=True)


def _numbered_episodes(path, frightened_from: list[int | None], length: int = 30,
                       caught: tuple[bool, ...] = ()) -> None:
    """Episodes whose frame t is filled with the value 100 * episode + t (so a window says where
    it starts), two ghosts, ghost 1 frightened from the given frame on (None: never); ghost 0
    steps onto Pac-Man on the last frame of the episodes `caught` marks."""
    episodes = []
    for e, onset in enumerate(frightened_from):
        pacman = np.ones((length, 2), dtype=np.int16)
        ghosts = np.full((length, 2, 2), 5, dtype=np.int16)
        if e < len(caught) and caught[e]:
            ghosts[-1, 0] = pacman[-1]
        frames = np.broadcast_to((100 * e + np.arange(length, dtype=np.uint8))[:, None, None, None],
                                 (length, 8, 8, 3)).copy()
        scared = np.zeros((length, 2), dtype=bool)
        if onset is not None:
            scared[onset:, 1] = True
        actions = np.ones(length, dtype=np.int8)
        actions[-1] = -1
        episodes.append(Episode(frames, actions, state={"frightened": scared, "pacman": pacman, "ghosts": ghosts}))
    write_shard(path / "shard-00000.h5", episodes)


def test_event_windows_put_the_ghosts_turning_blue_early_in_that_share_of_windows(tmp_path):
    _numbered_episodes(tmp_path, [None, 20])  # only episode 1 has an onset, at frame 20
    data = SequenceData(tmp_path, seq_len=10, event_shares={"fright_onset": 0.5})
    for seed in range(5):
        firsts = to_uint8_frames(data.sample(np.random.default_rng(seed), 8).frames)[:, 0, 0, 0, 0].astype(int)
        onsets_at = [20 - (f - 100) for f in firsts[:4]]  # where frame 20 of episode 1 falls in the window
        assert all(f >= 100 for f in firsts[:4]) and all(p in EVENT_POSITIONS for p in onsets_at)
    plain = SequenceData(tmp_path, seq_len=10)  # uniform windows: the rest of the batch, and the default
    first = to_uint8_frames(plain.sample(np.random.default_rng(0), 64).frames)[:, 0, 0, 0, 0].astype(int)
    assert (first < 100).any() and len(set(first)) > 10


def test_an_event_that_ends_the_episode_puts_a_ghost_catching_pacman_last_in_that_share_of_windows(tmp_path):
    _numbered_episodes(tmp_path, [None, 20, None], caught=(False, False, True))  # episode 2 ends caught
    data = SequenceData(tmp_path, seq_len=10, event_shares={"fright_onset": 0.25, "catch": 0.5})
    for seed in range(5):
        firsts = to_uint8_frames(data.sample(np.random.default_rng(seed), 8).frames)[:, 0, 0, 0, 0].astype(int)
        assert all(100 <= f < 120 for f in firsts[:2])  # the fright share first: episode 1
        assert all(f == 200 + 30 - 10 for f in firsts[2:6])  # then the caught episode's last 10 frames


def test_fright_share_without_an_onset_to_sample_is_a_dataset_error(tmp_path):
    _numbered_episodes(tmp_path, [None, 1])  # frightened from frame 1: too early for position 2..8
    with pytest.raises(DatasetError, match="event 'fright_onset'"):
        SequenceData(tmp_path, seq_len=10, event_shares={"fright_onset": 0.25})
    with pytest.raises(ConfigError, match="event_windows"):
        SequenceData(tmp_path, seq_len=10, event_shares={"fright_onset": 1.5})
    with pytest.raises(ConfigError, match="together at most 1"):
        SequenceData(tmp_path, seq_len=10, event_shares={"fright_onset": 0.5, "catch": 0.75})
    with pytest.raises(DatasetError, match="event 'catch'"):
        SequenceData(tmp_path, seq_len=10, event_shares={"catch": 0.25})  # no episode here was caught
    train, _ = load_splits(tmp_path, seq_len=10, val_fraction=0.0)  # off by default: no error
    assert train.sample(np.random.default_rng(0), 2).frames.shape == (2, 10, 3, 8, 8)


def test_a_recordings_own_events_are_sampled_by_name(tmp_path):
    _numbered_episodes(tmp_path, [None, None])
    with h5py.File(tmp_path / "shard-00000.h5", "a") as f:
        jump = np.zeros(60, dtype=bool)
        jump[30 + 15] = True  # episode 1, frame 15
        f["events/jump"] = jump
    with open_dataset(tmp_path) as ds:
        assert "jump" in ds.event_names and ds.event_frames(1, "jump").tolist() == [15]
        assert ds.event_frames(0, "jump").tolist() == []
    data = SequenceData(tmp_path, seq_len=10, event_shares={"jump": 0.5})
    batch = data.sample(np.random.default_rng(0), 4)
    firsts = to_uint8_frames(batch.frames)[:, 0, 0, 0, 0].astype(int)
    assert all(f >= 100 and 15 - (f - 100) in EVENT_POSITIONS for f in firsts[:2])  # episode 1, the jump 2-8 in
    with pytest.raises(DatasetError, match="no event 'dance'"):
        SequenceData(tmp_path, seq_len=10, event_shares={"dance": 0.5})
    with h5py.File(tmp_path / "shard-00000.h5", "a") as f:
        del f["events/jump"]
        f["events/jump"] = np.zeros(60, dtype=np.int8)
    with pytest.raises(DatasetError, match="events/jump must be bool"):
        open_dataset(tmp_path)


def test_configs_of_older_versions_read_their_event_shares():
    from gamegan.config import Config

    old = Config.from_dict({"train": {"fright_windows": 0.15, "catch_windows": 0.0}})
    assert old.train.event_windows == {"fright_onset": 0.15}


def test_a_recordings_own_agent_mask_is_what_batches_carry(tmp_path):
    _numbered_episodes(tmp_path, [None, None])
    mask = np.zeros((60, 8, 8), dtype=bool)
    mask[:, 2:4, 5:7] = True
    mask[30:, 0, 0] = True  # episode 1 differs
    with h5py.File(tmp_path / "shard-00000.h5", "a") as f:
        del f["state/pacman"]  # no state to derive it from: the stored mask is all there is
        f["masks/agent"] = mask
    data = SequenceData(tmp_path, seq_len=5, agent=True)
    batch = data.sample(np.random.default_rng(0), 6)
    firsts = to_uint8_frames(batch.frames)[:, 0, 0, 0, 0].astype(int)
    for row, first in zip(batch.agent[:, :, 0].numpy(), firsts):
        episode, start = divmod(first, 100)
        assert np.array_equal(row, mask[30 * episode + start:30 * episode + start + 5])
