"""The learned simulator as a gymnasium environment: an agent plays the dream, not the game.

`gamegan/PacManDream-v0` has the spaces of `gamegan/PacMan-v0`. `reset` warms the simulator up
on a start of the real game engine (as `gamegan play` does: a few frames of a seeded game
played by the random agent); from then on every frame is the model's own, and so are reward
and termination, read off those frames by `FrameRewards` (the real game is never consulted).
An episode is truncated when the real game's `max_steps` would have run out (or at `max_steps`).

`DreamBatch` steps many such sessions in one batched forward pass; `PacManDreamVectorEnv`
(gymnasium's `vector_entry_point`) is that batch with per-env autoreset, and
`PacManDreamEnv` is a batch of one. Each env has its own seeds: the start of each of its
episodes and its noise z come from generators seeded by its `reset(seed=)`, so env i of a
batch reset with seed s plays what a single env reset with seed s + i plays under the same
actions (up to float rounding of batched convolutions).

    envs = gym.make_vec("gamegan/PacManDream-v0", num_envs=64, vectorization_mode="vector_entry_point",
                        model="shipped")
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path
from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from gamegan.checkpoint import load_model
from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.envs.rewards import FrameRewards
from gamegan.model.types import SimState
from gamegan.run_game import game_config_of, start_warmup
from gamegan.shipped import model_source
from gamegan.train import resolve_device
from recorder.game import ACTION_NAMES
from recorder.starts import engine_start


class DreamBatch:
    """`n` sessions of one learned simulator, stepped together (batch n, inference mode).

    `model`: a run directory, checkpoint, exported weights or shipped name ("shipped",
    "pacman-maze"). `warmup`: real frames each session starts from (default: the run's first
    training warm-up, as in play). `max_steps`: steps an episode may last before it is
    truncated (default: what the real game's `max_steps` leaves after the warm-up)."""

    def __init__(self, model: str | Path = "shipped", n: int = 1, *, device: str = "cpu", warmup: int | None = None,
                 max_steps: int | None = None):
        self.device = resolve_device(device)
        loaded, config, _ = load_model(model_source(model), self.device)
        sim = loaded.simulator
        self.sim = sim.for_play() if hasattr(sim, "for_play") else sim.eval()
        self.n, self.config = n, config
        self.game = game_config_of(config)
        self.warmup = warmup or start_warmup(config)
        self.max_steps = max_steps or self.game.max_steps - (self.warmup - 1)
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        self.z_dim = config.model.z_dim
        self._warmup_takes_z = "z" in inspect.signature(self.sim.warmup).parameters
        self.rewards = FrameRewards(self.game, n)
        self.state: SimState | None = None
        self.frames = np.zeros((n, self.game.frame_size, self.game.frame_size, 3), dtype=np.uint8)
        self.steps = np.zeros(n, dtype=np.int64)  # steps since each session's start
        self._noise: list[torch.Generator] = [torch.Generator() for _ in range(n)]

    def reset(self, indices: Sequence[int], seeds: Sequence[int]) -> np.ndarray:
        """Sessions `indices` start over from real-engine starts `seeds`; their first frames,
        uint8 (len(indices), H, W, 3)."""
        idx = list(indices)
        starts = [engine_start(self.game, int(s), self.warmup) for s in seeds]
        for i, s in zip(idx, seeds):
            self._noise[i].manual_seed(int(s))
        frames = to_model_frames(np.stack([f for f, _, _ in starts])).to(self.device)  # (k, T0, 3, H, W)
        actions = torch.from_numpy(np.stack([a for _, a, _ in starts])).to(self.device)  # (k, T0 - 1)
        with torch.inference_mode():
            noise = {"z": self._z(idx, frames.shape[1] - 1)} if self._warmup_takes_z else {}
            fresh = self.sim.warmup(frames, actions, **noise)
        self.state = _splice(self.state, fresh, idx, self.n)
        self.frames[idx] = np.stack([f[-1] for f, _, _ in starts])
        self.steps[idx] = 0
        self.rewards.reset(idx, self.frames[idx])
        return self.frames[idx].copy()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every session takes its action: frames uint8 (n, H, W, 3), rewards float32 (n,),
        terminated and truncated bool (n,)."""
        if self.state is None:
            raise RuntimeError("reset() every session before step()")
        act = torch.as_tensor(np.asarray(actions, dtype=np.int64), device=self.device)
        with torch.inference_mode():
            frame, self.state, _ = self.sim.step(self.state, act, self._z(range(self.n), None))
        self.frames = to_uint8_frames(frame)
        rewards, terminated = self.rewards.step(self.frames, np.asarray(actions))
        self.steps += 1
        truncated = (self.steps >= self.max_steps) & ~terminated
        return self.frames.copy(), rewards, terminated, truncated

    def _z(self, indices: Sequence[int], steps: int | None) -> torch.Tensor:
        """Noise for sessions `indices`, each from its own generator: (k, Z) or (k, steps, Z)."""
        shape = (self.z_dim,) if steps is None else (steps, self.z_dim)
        return torch.stack([torch.randn(shape, generator=self._noise[i]) for i in indices]).to(self.device)


def _splice(state: SimState | None, fresh: SimState, indices: list[int], n: int) -> SimState:
    """`state` (batch n) with rows `indices` replaced by `fresh`'s rows (a state made from
    `fresh` when there is none yet; rows not reset yet stay zero until they are)."""
    if state is None:
        state = SimState(frame=fresh.frame.new_zeros((n, *fresh.frame.shape[1:])))
    for name in (f.name for f in fields(SimState) if f.name != "extra"):
        new = getattr(fresh, name)
        if new is None:
            continue
        old = getattr(state, name)
        if old is None:
            old = new.new_zeros((n, *new.shape[1:]))
        old = old.clone()
        old[indices] = new
        setattr(state, name, old)
    for key, new in fresh.extra.items():
        old = state.extra.get(key)
        old = new.new_zeros((n, *new.shape[1:])) if old is None else old.clone()
        old[indices] = new
        state.extra[key] = old
    return state


def _seeds(seed: int | Sequence[int], n: int) -> list[int]:
    """Per-env seeds of a reset: seed + i for an int (gymnasium's convention), else the list."""
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(n)]
    if len(seed) != n:
        raise ValueError(f"{len(seed)} seeds for {n} envs")
    return [int(s) for s in seed]


class PacManDreamVectorEnv(VectorEnv):
    """`num_envs` dream sessions in one batch, autoreset on the step after an episode ends
    (gymnasium's NEXT_STEP mode: that step returns the new start, reward 0, and ignores the
    action). Keyword arguments as `DreamBatch`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "action_names": list(ACTION_NAMES),
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, model: str | Path = "shipped", device: str = "cpu",
                 warmup: int | None = None, max_steps: int | None = None, render_mode: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.batch = DreamBatch(model, num_envs, device=device, warmup=warmup, max_steps=max_steps)
        self.num_envs, self.render_mode = num_envs, render_mode
        s = self.batch.game.frame_size
        self.single_observation_space = spaces.Box(0, 255, (s, s, 3), dtype=np.uint8)
        self.single_action_space = spaces.Discrete(len(ACTION_NAMES))
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._starts = [np.random.default_rng() for _ in range(num_envs)]  # each env's episode seeds
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._scores = np.zeros(num_envs, dtype=np.float64)

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._starts = [np.random.default_rng(s) for s in _seeds(seed, self.num_envs)]
        obs = self.batch.reset(range(self.num_envs), [self._next_start(i) for i in range(self.num_envs)])
        self._needs_reset[:] = False
        self._scores[:] = 0
        return obs, self._info()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.num_envs,) or not ((actions >= 0) & (actions < len(ACTION_NAMES))).all():
            raise ValueError(f"expected {self.num_envs} actions in [0, {len(ACTION_NAMES) - 1}], got {actions!r}")
        restart = np.flatnonzero(self._needs_reset)
        obs, rewards, terminated, truncated = self.batch.step(np.where(self._needs_reset, 0, actions))
        if len(restart):
            obs[restart] = self.batch.reset(restart, [self._next_start(i) for i in restart])
            rewards[restart], terminated[restart], truncated[restart] = 0.0, False, False
            self._scores[restart] = 0
        self._scores += rewards
        self._needs_reset = terminated | truncated
        return obs, rewards, terminated, truncated, self._info()

    def render(self) -> np.ndarray | None:
        return None if self.render_mode is None else self.batch.frames.copy()

    def _next_start(self, i: int) -> int:
        return int(self._starts[i].integers(2**31))

    def _info(self) -> dict:
        return {"score": self._scores.copy(), "step": self.batch.steps.copy()}


class PacManDreamEnv(gym.Env):
    """`gamegan/PacManDream-v0`: one dream session. Keyword arguments as `DreamBatch`
    (model, device, warmup, max_steps), e.g. `gym.make("gamegan/PacManDream-v0", model="pacman-maze")`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "action_names": list(ACTION_NAMES)}

    def __init__(self, model: str | Path = "shipped", device: str = "cpu", warmup: int | None = None,
                 max_steps: int | None = None, render_mode: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.batch = DreamBatch(model, 1, device=device, warmup=warmup, max_steps=max_steps)
        s = self.batch.game.frame_size
        self.observation_space = spaces.Box(0, 255, (s, s, 3), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._started = False
        self._score = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None or not self._started:
            # Episode seeds from the reset seed alone, as each env of the vector env draws them.
            self._starts = np.random.default_rng(seed if seed is not None else int(self.np_random.integers(2**31)))
        self._started = True
        self._score = 0.0
        obs = self.batch.reset([0], [int(self._starts.integers(2**31))])[0]
        return obs, {"score": 0.0, "step": int(self.batch.steps[0])}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        obs, rewards, terminated, truncated = self.batch.step(np.array([int(action)]))
        self._score += float(rewards[0])
        info = {"score": self._score, "step": int(self.batch.steps[0])}
        return obs[0], float(rewards[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        return None if self.render_mode is None else self.batch.frames[0].copy()
