"""The gymnasium environments: the API checker, seeding, rewards and episode ends."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

import gamegan.envs  # noqa: F401  (registers the envs)
from gamegan.envs import PacManEnv


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
