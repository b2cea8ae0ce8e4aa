"""PPO on pixels (clipped surrogate, GAE, one network for policy and value), in the manner of
CleanRL's single-file PPO: the whole algorithm in `train_ppo`, its settings in `PPOConfig`.

Any gymnasium vector env with uint8 (S, S, 3) observations, `Discrete` actions and NEXT_STEP
autoreset serves (the dream's vector env, or the real game under `SyncVectorEnv`). With
NEXT_STEP an env that ended returns its new start on the following step and ignores that
step's action; such steps are left out of the loss, and an episode's last step bootstraps
nothing. Truncation is treated like termination (no bootstrap), as CleanRL does.

The run directory holds the latest policy (`policy.safetensors`, `policy.json`), the
optimizer and counters (`state.pt`, for `resume`), and `metrics.jsonl`, one line per update.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import nn

from gamegan.agent.policy import FrameStack, Policy, PolicyConfig, load_policy, save_policy

STATE_FILE, METRICS_FILE = "state.pt", "metrics.jsonl"


@dataclass
class PPOConfig:
    env_steps: int = 200_000
    """Environment steps in all (over every env)."""
    num_envs: int = 16
    rollout: int = 128
    """Steps per env between updates."""
    lr: float = 2.5e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    minibatches: int = 4
    epochs: int = 4
    clip: float = 0.1
    entropy: float = 0.01
    value: float = 0.5
    max_grad_norm: float = 0.5
    reward_scale: float = 0.1
    """Rewards are multiplied by this before learning (a pellet is worth 10 points)."""
    seed: int = 0
    save_every: int = 10
    """Updates between saves of the policy and the state to resume from."""

    @property
    def batch(self) -> int:
        return self.num_envs * self.rollout

    @property
    def updates(self) -> int:
        return max(1, self.env_steps // self.batch)


def train_ppo(envs: VectorEnv, config: PPOConfig, out: Path, meta: dict, *, policy_config: PolicyConfig | None = None,
              resume: bool = False, on_update: Callable[[dict], None] | None = None) -> Path:
    """Train a policy on `envs` (`config.num_envs` of them) and save it under `out` (with
    `meta`: what it was trained on). Returns the policy's directory."""
    out = Path(out)
    torch.manual_seed(config.seed)
    n, s = config.num_envs, config.rollout
    if envs.num_envs != n:
        raise ValueError(f"the vector env has {envs.num_envs} envs, the config {n}")
    obs_shape = envs.single_observation_space.shape
    pc = policy_config or PolicyConfig(frame_size=obs_shape[0], n_actions=int(envs.single_action_space.n))
    policy = Policy(pc)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr, eps=1e-5)
    start, env_steps, episodes_done = 0, 0, 0
    if resume and (out / STATE_FILE).is_file():
        policy, _ = load_policy(out)
        optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr, eps=1e-5)
        state = torch.load(out / STATE_FILE, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        start, env_steps, episodes_done = state["update"], state["env_steps"], state["episodes"]
        torch.set_rng_state(state["torch_rng"])
    else:
        check_out(out, resume)
    out.mkdir(parents=True, exist_ok=True)

    k = pc.frame_stack
    obs_buf = np.zeros((s, n, k, *obs_shape), dtype=np.uint8)
    actions = torch.zeros(s, n, dtype=torch.long)
    logprobs, rewards, values = torch.zeros(s, n), torch.zeros(s, n), torch.zeros(s, n)
    ends, valid = torch.zeros(s, n), torch.zeros(s, n)
    obs, _ = envs.reset(seed=config.seed + 1000 * start)
    stack = FrameStack(k, obs)
    restarting = np.zeros(n, dtype=bool)  # envs whose next step is an autoreset
    returns_seen: list[float] = []
    episode_return = np.zeros(n)
    t0 = time.perf_counter()
    for update in range(start, config.updates):
        if config.anneal_lr:
            for g in optimizer.param_groups:
                g["lr"] = config.lr * (1.0 - update / config.updates)
        for t in range(s):
            obs_buf[t] = stack.frames
            valid[t] = torch.from_numpy(~restarting).float()
            with torch.no_grad():
                dist, value = policy(torch.from_numpy(stack.frames))
                action = dist.sample()
            actions[t], logprobs[t], values[t] = action, dist.log_prob(action), value
            obs, reward, terminated, truncated, info = envs.step(action.numpy())
            done = terminated | truncated
            rewards[t] = torch.from_numpy(np.asarray(reward, dtype=np.float32)) * config.reward_scale
            ends[t] = torch.from_numpy(done).float()
            episode_return += np.where(restarting, 0.0, reward)
            for i in np.flatnonzero(done & ~restarting):
                returns_seen.append(float(episode_return[i]))
                episode_return[i] = 0.0
            stack.push(obs, fresh=restarting)
            restarting = done & ~restarting
        env_steps += n * s
        with torch.no_grad():
            _, next_value = policy(torch.from_numpy(stack.frames))
        advantages = _gae(rewards, values, ends, next_value, config.gamma, config.gae_lambda)
        returns = advantages + values
        stats = _update(policy, optimizer, config, obs_buf, actions, logprobs, advantages, returns, valid)
        episodes_done += len(returns_seen)
        row = {"update": update + 1, "env_steps": env_steps, "episodes": episodes_done,
               "return_mean": float(np.mean(returns_seen)) if returns_seen else None,
               "env_steps_per_s": round(n * s * (update + 1 - start) / (time.perf_counter() - t0), 1), **stats}
        returns_seen = []
        with open(out / METRICS_FILE, "a") as f:
            f.write(json.dumps(row) + "\n")
        if on_update:
            on_update(row)
        if (update + 1) % config.save_every == 0 or update + 1 == config.updates:
            _save(out, policy, optimizer, config, meta, update + 1, env_steps, episodes_done)
    if start >= config.updates:  # resumed a finished run: nothing to add
        _save(out, policy, optimizer, config, meta, start, env_steps, episodes_done)
    return out


def check_out(out: Path, resume: bool) -> None:
    """Refuse to start a new agent where one is (FileExistsError): it would be overwritten."""
    if not resume and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already holds an agent; --resume continues it, or choose another --out")


def _gae(rewards: torch.Tensor, values: torch.Tensor, ends: torch.Tensor, next_value: torch.Tensor,
         gamma: float, lam: float) -> torch.Tensor:
    """Generalised advantage estimates (steps, envs); an episode's last step bootstraps nothing."""
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        following = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        carry = 1.0 - ends[t]
        delta = rewards[t] + gamma * following * carry - values[t]
        last = delta + gamma * lam * carry * last
        advantages[t] = last
    return advantages


def _update(policy: Policy, optimizer: torch.optim.Optimizer, config: PPOConfig, obs: np.ndarray,
            actions: torch.Tensor, logprobs: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
            valid: torch.Tensor) -> dict:
    """`config.epochs` passes of clipped PPO over the rollout in minibatches; loss statistics."""
    flat_obs = torch.from_numpy(obs.reshape(-1, *obs.shape[2:]))
    flat = [x.reshape(-1) for x in (actions, logprobs, advantages, returns, valid)]
    keep = torch.nonzero(flat[-1]).squeeze(-1)  # autoreset steps are not transitions
    size = max(1, len(keep) // config.minibatches)
    stats: dict[str, list[float]] = {"loss/policy": [], "loss/value": [], "entropy": [], "approx_kl": []}
    for _ in range(config.epochs):
        order = keep[torch.randperm(len(keep))]
        for a in range(0, len(order), size):
            idx = order[a:a + size]
            act, old_logp, adv, ret, _ = (x[idx] for x in flat)
            adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(idx) > 1 else adv
            dist, value = policy(flat_obs[idx])
            logp = dist.log_prob(act)
            ratio = (logp - old_logp).exp()
            policy_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - config.clip, 1 + config.clip)).mean()
            value_loss = 0.5 * (value - ret).pow(2).mean()
            entropy = dist.entropy().mean()
            loss = policy_loss + config.value * value_loss - config.entropy * entropy
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                stats["approx_kl"].append(float(((ratio - 1) - (logp - old_logp)).mean()))
            stats["loss/policy"].append(policy_loss.item())
            stats["loss/value"].append(value_loss.item())
            stats["entropy"].append(entropy.item())
    return {k: round(float(np.mean(v)), 5) for k, v in stats.items()}


def _save(out: Path, policy: Policy, optimizer: torch.optim.Optimizer, config: PPOConfig, meta: dict,
          update: int, env_steps: int, episodes: int) -> None:
    save_policy(out, policy, {**meta, "ppo": asdict(config), "update": update, "env_steps": env_steps})
    tmp = out / (STATE_FILE + ".tmp")
    torch.save({"optimizer": optimizer.state_dict(), "update": update, "env_steps": env_steps,
                "episodes": episodes, "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(out / STATE_FILE)
