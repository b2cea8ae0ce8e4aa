"""The gymnasium environments, real and dreamed: the API checker, seeding, rewards and episode
ends read off frames, and a batch of dreams against single ones."""

from __future__ import annotations

import gymnasium as gym
import torch
import numpy as np
from gymnasium.utils.env_checker import check_env

import gamegan.envs  # noqa: F401  (registers the envs)
from gamegan.envs import DreamBatch, PacManDreamEnv, PacManEnv
from gamegan.envs.rewards import agreement_with_game
from recorder.game import GameConfig


def test_the_real_game_passes_gymnasiums_checker():
    env = gym.make("gamegan/PacMan-v0", frame_size=32, layout="small", render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    assert env.observation_space.shape == (32, 32, 3) and env.action_space.n == 5
    assert env.unwrapped.metadata["action_names"] == ["NOOP", "UP", "DOWN", "LEFT", "RIGHT"]


def test_a_seed_replays_the_same_episode_and_rewards_are_the_score_gained():
    env = PacManEnv(layout="small", frame_size=32)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 5, 60)

    def play(seed: int) -> tuple[list[np.ndarray], list[float], list[int]]:
        frames, rewards, scores = [env.reset(seed=seed)[0]], [], []
        for a in actions:
            frame, reward, terminated, truncated, info = env.step(int(a))
            frames.append(frame), rewards.append(reward), scores.append(info["score"])
            if terminated or truncated:
                break
        return frames, rewards, scores

    first, again, other = play(3), play(3), play(4)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0])) and first[1] == again[1]
    assert not all(np.array_equal(a, b) for a, b in zip(first[0], other[0]))
    assert np.cumsum(first[1]).tolist() == first[2] and max(first[1]) > 0  # pellets were eaten


def test_a_catch_terminates_and_the_step_limit_truncates():
    env = PacManEnv(mode="maze", n_ghosts=0, frame_size=32, max_steps=5)
    env.reset(seed=0)
    ends = [env.step(0)[2:4] for _ in range(5)]
    assert ends[:-1] == [(False, False)] * 4 and ends[-1] == (False, True)  # no ghosts: only the limit
    env = PacManEnv(layout="small", frame_size=32, n_ghosts=4, ghost_speed=1.0, max_steps=400)
    for seed in range(20):
        env.reset(seed=seed)
        for _ in range(400):
            _, _, terminated, truncated, info = env.step(0)  # stand still: a chaser comes
            if terminated or truncated:
                break
        if terminated:
            assert info["caught"] and not info["cleared"]
            return
    raise AssertionError("no ghost caught a Pac-Man standing still in 20 episodes")


# --- the dream --------------------------------------------------------------------------------



def test_rewards_and_ends_read_off_the_real_games_frames_are_the_games():
    classic = agreement_with_game(GameConfig(), 12, "random")  # 2 ghosts: every episode ends in a catch
    assert classic["reward_agreement"] >= 0.99 and classic["ends"] == classic["ends_read"] == 12
    greedy = agreement_with_game(GameConfig(), 4, "greedy")  # power pellets, frightened ghosts eaten
    assert greedy["reward_agreement"] >= 0.98 and greedy["ends"] == greedy["ends_read"] == 4
    assert greedy["reward_read"] >= 0.95 * greedy["reward_gained"] > 0
    maze = agreement_with_game(GameConfig(mode="maze", n_ghosts=0, max_steps=150), 3, "random")
    assert maze["reward_agreement"] == 1.0 and maze["ends"] == 0  # the scrolling view: found by its shift
    assert maze["reward_gained"] > 0


def test_the_dream_passes_gymnasiums_checker_and_a_seed_replays_it():
    env = gym.make("gamegan/PacManDream-v0", model="shipped", render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    assert env.observation_space.shape == (64, 64, 3) and env.action_space.n == 5
    actions = np.random.default_rng(1).integers(0, 5, 12)

    def play(seed: int) -> list[np.ndarray]:
        frames = [env.reset(seed=seed)[0]]
        frames += [env.step(int(a))[0] for a in actions]
        return frames

    first, again, other = play(5), play(5), play(6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_a_batch_of_dreams_is_single_dreams_stepped_alike_and_resets_each_env_on_its_own():
    n, steps = 3, 7
    envs = gym.make_vec("gamegan/PacManDream-v0", num_envs=n, vectorization_mode="vector_entry_point",
                        model="shipped", max_steps=4)
    actions = np.random.default_rng(2).integers(0, 5, (steps, n))
    obs, _ = envs.reset(seed=10)
    batched, ends = [obs], []
    for a in actions:
        obs, reward, terminated, truncated, info = envs.step(a)
        batched.append(obs), ends.append(terminated | truncated)
    assert ends[3].all() and not ends[4].any()  # truncated at 4 steps, started over on the next step
    for i in range(n):
        single = PacManDreamEnv(model="shipped", max_steps=4)
        frames = [single.reset(seed=10 + i)[0]]
        for t, a in enumerate(actions[:, i]):
            frame, _, terminated, truncated, _ = single.step(int(a))
            frames.append(frame)
            if terminated or truncated:
                frames += [single.reset()[0]]  # the vector env's next step is the new start
                break
        for t in range(len(frames)):
            diff = np.abs(frames[t].astype(int) - batched[t][i].astype(int)).max()
            assert diff <= 2, (i, t, diff)  # batched convolutions round differently, nothing more


def test_a_dream_batch_resets_some_sessions_and_leaves_the_others_alone():
    batch = DreamBatch("shipped", 2)
    batch.reset([0, 1], [3, 4])
    batch.step(np.array([1, 2]))
    h = batch.state.h.clone()
    batch.reset([1], [9])
    assert torch.equal(batch.state.h[0], h[0]) and not torch.equal(batch.state.h[1], h[1])
    assert batch.steps.tolist() == [1, 0]
