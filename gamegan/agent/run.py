"""What `gamegan agent train|eval` do: build the envs an agent learns in (the dream of a
simulator, or the real game of the same configuration), train it, and score it in the real
game over whole episodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
import torch

import gamegan.envs  # noqa: F401  (registers the envs)
from gamegan.agent.policy import FrameStack, load_policy
from gamegan.agent.ppo import PPOConfig, train_ppo
from gamegan.checkpoint import read_config, resolve_checkpoint
from gamegan.errors import UsageError
from gamegan.run_game import game_config_of
from gamegan.shipped import model_source
from recorder.game import GameConfig

ENV_KINDS = ("dream", "real")


def game_of_model(model: str | Path) -> GameConfig:
    """The real game a simulator was trained on."""
    return game_config_of(read_config(resolve_checkpoint(model_source(model))))


def env_spec(kind: str, *, model: str | Path | None = None, game: GameConfig | None = None,
             max_steps: int | None = None) -> tuple[str, dict]:
    """The gymnasium id and keyword arguments of a `kind` env: 'dream' (the simulator `model`)
    or 'real' (the game `game`, else `model`'s game, else the default one); `max_steps` caps
    its episodes."""
    if kind == "dream":
        if model is None:
            raise UsageError("--env dream needs --model (a run, checkpoint or shipped name)")
        return "gamegan/PacManDream-v0", {"model": str(model), "max_steps": max_steps}
    if kind == "real":
        config = game or (game_of_model(model) if model is not None else GameConfig())
        return "gamegan/PacMan-v0", config.to_dict() | ({"max_steps": max_steps} if max_steps else {})
    raise UsageError(f"--env must be one of {', '.join(ENV_KINDS)}, got {kind!r}")


def make_envs(kind: str, num_envs: int, **spec) -> gym.vector.VectorEnv:
    """`num_envs` envs of `kind` (see `env_spec`): the dream batched in one forward pass, the
    real game stepped one after another."""
    env_id, kwargs = env_spec(kind, **spec)
    mode = "vector_entry_point" if kind == "dream" else "sync"
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def make_env(kind: str, **spec) -> gym.Env:
    """One env of `kind` (see `env_spec`)."""
    env_id, kwargs = env_spec(kind, **spec)
    return gym.make(env_id, **kwargs)


def train_agent(kind: str, out: Path, config: PPOConfig, *, model: str | Path | None = None,
                max_steps: int | None = None, resume: bool = False,
                on_update: Callable[[dict], None] | None = None) -> Path:
    """Train a PPO agent in `kind` envs (see `make_envs`); its metadata names the env and the
    real game it stands for, which `evaluate_agent` plays by default."""
    game = game_of_model(model) if model is not None else GameConfig()
    envs = make_envs(kind, config.num_envs, model=model, game=game, max_steps=max_steps)
    meta = {"env": kind, "model": str(model) if model is not None else None, "game": game.to_dict()}
    try:
        return train_ppo(envs, config, out, meta, resume=resume, on_update=on_update)
    finally:
        envs.close()


def evaluate_agent(agent: Path, episodes: int = 100, *, kind: str = "real", model: str | Path | None = None,
                   seed: int = 10_000, greedy: bool = False, frames_of: int | None = None) -> dict:
    """Play `episodes` whole episodes with the agent in a `kind` env (default: the real game it
    was trained for; 'dream' with `model`, default the simulator it was trained in) from env
    seed `seed` on. Returns the scores with their mean, standard deviation and standard error,
    the mean episode length, and, with `frames_of=i`, episode i's frames (uint8 (T, S, S, 3))."""
    policy, meta = load_policy(agent)
    game = GameConfig.from_dict(meta["game"]) if meta.get("game") else GameConfig()
    env = make_env(kind, model=model or meta.get("model"), game=game)
    scores, lengths, frames = play_episodes(
        env, lambda stack: int(policy.act(torch.from_numpy(stack.frames), greedy=greedy)[0]),
        policy.config.frame_stack, episodes, seed, frames_of)
    out = {"agent": str(agent), "env": kind, "trained_in": meta.get("env"), "env_steps_trained": meta.get("env_steps"),
           "episodes": episodes, "seed": seed, "greedy": greedy, "length_mean": float(np.mean(lengths)),
           **score_summary(scores)}
    if frames is not None:
        out["frames"] = frames
    return out


def evaluate_random(episodes: int = 100, *, kind: str = "real", model: str | Path | None = None,
                    game: GameConfig | None = None, seed: int = 10_000, frames_of: int | None = None) -> dict:
    """The floor of the agent table: uniform random actions in a `kind` env (the real game, or
    the dream of `model`), scored as `evaluate_agent` scores an agent."""
    rng = np.random.default_rng(seed)
    env = make_env(kind, model=model, game=game)
    scores, lengths, frames = play_episodes(env, lambda _stack: int(rng.integers(env.action_space.n)), 1, episodes,
                                            seed, frames_of)
    out = {"agent": "random", "env": kind, "model": str(model) if kind == "dream" else None, "episodes": episodes,
           "seed": seed, "length_mean": float(np.mean(lengths)), **score_summary(scores)}
    if frames is not None:
        out["frames"] = frames
    return out


def play_episodes(env: gym.Env, choose: Callable[[FrameStack], int], frame_stack: int, episodes: int, seed: int,
                  frames_of: int | None = None) -> tuple[list[float], list[int], np.ndarray | None]:
    """Whole episodes of `env` from env seed `seed` on, each action `choose(last frames)`:
    the scores, the lengths and (for episode `frames_of`) its frames. Closes `env`."""
    scores, lengths, frames = [], [], None
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        stack, total, steps, done = FrameStack(frame_stack, obs[None]), 0.0, 0, False
        record = [obs] if frames_of == e else None
        while not done:
            obs, reward, terminated, truncated, _ = env.step(choose(stack))
            stack.push(obs[None])
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
            if record is not None:
                record.append(obs)
        scores.append(total)
        lengths.append(steps)
        if record is not None:
            frames = np.stack(record)
    env.close()
    return scores, lengths, frames


def score_summary(scores: list[float]) -> dict:
    """Mean, standard deviation and standard error of episode scores, and the scores."""
    a = np.asarray(scores, dtype=np.float64)
    sd = float(a.std(ddof=1)) if len(a) > 1 else 0.0
    return {"score_mean": float(a.mean()), "score_sd": sd, "score_se": sd / float(np.sqrt(len(a))), "scores": scores}
