"""The PPO agent (gamegan/agent): advantages, the frame stack, that it learns a trivial task,
and `gamegan agent train|eval` end to end at tiny size."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from typer.testing import CliRunner

from gamegan.agent.policy import FrameStack, Policy, PolicyConfig, load_policy
from gamegan.agent.ppo import PPOConfig, _gae, train_ppo
from gamegan_cli import app


def test_advantages_do_not_bootstrap_across_an_episode_end():
    rewards = torch.tensor([[1.0], [1.0], [0.0]])
    values = torch.tensor([[0.5], [0.5], [9.0]])
    ends = torch.tensor([[0.0], [1.0], [0.0]])  # the episode ends at step 1
    adv = _gae(rewards, values, ends, next_value=torch.tensor([7.0]), gamma=0.9, lam=1.0)
    assert torch.allclose(adv[1], torch.tensor([0.5]))  # r - V, nothing of step 2's 9.0
    assert torch.allclose(adv[0], torch.tensor([1.0 + 0.9 * 1.0 - 0.5]))  # r0 + g r1 - V0
    assert torch.allclose(adv[2], torch.tensor([0.0 + 0.9 * 7.0 - 9.0]))


def test_a_frame_stack_starts_an_env_over_with_its_first_frame():
    first = np.arange(2)[:, None, None, None] * np.ones((2, 4, 4, 3), np.uint8)
    stack = FrameStack(3, first)
    assert stack.frames.shape == (2, 3, 4, 4, 3) and (stack.frames[1] == 1).all()
    nxt = first + 5
    out = stack.push(nxt, fresh=np.array([False, True]))
    assert (out[0, :2] == 0).all() and (out[0, 2] == 5).all()  # env 0 slides on
    assert (out[1] == 6).all()  # env 1 started over: all of it is its new first frame


class _PressOne(VectorEnv):
    """Reward 1 for action 1, else 0; a grey 36-px screen; episodes of 8 steps, NEXT_STEP autoreset."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.single_observation_space = spaces.Box(0, 255, (36, 36, 3), np.uint8)
        self.single_action_space = spaces.Discrete(3)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.t = np.zeros(num_envs, int)
        self.pending = np.zeros(num_envs, bool)

    def reset(self, *, seed=None, options=None):
        self.t[:] = 0
        self.pending[:] = False
        return np.full((self.num_envs, 36, 36, 3), 128, np.uint8), {}

    def step(self, actions):
        reward = np.where(self.pending, 0.0, (np.asarray(actions) == 1).astype(float))
        self.t = np.where(self.pending, 0, self.t + 1)
        done = (self.t >= 8) & ~self.pending
        self.pending = done
        return np.full((self.num_envs, 36, 36, 3), 128, np.uint8), reward, done, np.zeros_like(done), {}


def test_ppo_learns_to_press_the_rewarded_button(tmp_path):
    config = PPOConfig(env_steps=8 * 32 * 12, num_envs=8, rollout=32, lr=1e-3, reward_scale=1.0, entropy=0.0,
                       save_every=100)
    policy_config = PolicyConfig(frame_size=36, n_actions=3, frame_stack=1, channels=4, hidden=16)
    rows = []
    train_ppo(_PressOne(8), config, tmp_path / "a", {"env": "test"}, policy_config=policy_config, on_update=rows.append)
    policy, meta = load_policy(tmp_path / "a")
    grey = torch.full((1, 1, 36, 36, 3), 128, dtype=torch.uint8)
    assert policy(grey)[0].probs[0, 1] > 0.8 > Policy(policy_config)(grey)[0].probs[0, 1]
    assert meta["env"] == "test" and meta["env_steps"] == config.updates * config.batch
    assert rows[-1]["return_mean"] > rows[0]["return_mean"]  # 8 presses an episode at best
    assert len((tmp_path / "a" / "metrics.jsonl").read_text().splitlines()) == config.updates


def test_agent_train_then_eval_in_the_real_game_and_resume(tmp_path):
    runner = CliRunner()
    out = tmp_path / "agent"
    args = ["agent", "train", "--out", str(out), "--env", "real", "--steps", "256", "--num-envs", "2", "--quiet",
            "--max-steps", "40"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, args)
    assert again.exit_code != 0 and "--resume" in again.output  # never overwrites an agent
    result = runner.invoke(app, args[:7] + ["512"] + args[8:] + ["--resume"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "policy.json").read_text())["env_steps"] == 512
    result = runner.invoke(app, ["agent", "eval", str(out), "--episodes", "2", "--gif", str(tmp_path / "a.gif")],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    row = json.loads(result.output.strip().splitlines()[-1])
    assert row["episodes"] == 2 and row["trained_in"] == "real" and row["score_mean"] >= 0
    assert (tmp_path / "a.gif").is_file()
    dream = runner.invoke(app, ["agent", "eval", str(out), "--env", "dream", "--model", "shipped", "--episodes", "1"],
                          catch_exceptions=False)
    assert dream.exit_code == 0 and '"env": "dream"' in dream.output


def test_the_random_floor_plays_the_env_it_is_asked_for(tmp_path):
    runner = CliRunner()
    real = runner.invoke(app, ["agent", "eval", "random", "--episodes", "2"], catch_exceptions=False)
    assert real.exit_code == 0 and json.loads(real.output.strip().splitlines()[-1])["env"] == "real"
    args = ["agent", "eval", "random", "--env", "dream", "--model", "shipped", "--episodes", "1",
            "--gif", str(tmp_path / "r.gif")]
    dream = runner.invoke(app, args, catch_exceptions=False)
    row = json.loads(dream.output.strip().splitlines()[-1])
    assert dream.exit_code == 0 and row["env"] == "dream" and row["model"] == "shipped" and row["length_mean"] >= 1
    assert (tmp_path / "r.gif").is_file()
    alone = runner.invoke(app, ["agent", "eval", "random", "--env", "dream"])
    assert alone.exit_code != 0 and "--model" in alone.output  # a dream of what?
