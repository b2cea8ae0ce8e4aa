"""The agent's network: pixels in, a distribution over actions and a value out, and how it is
saved (safetensors weights + a JSON of its config and what it was trained on).

An actor-critic convolutional network in the shape of the DQN/PPO Atari networks, scaled to
64-px frames: `frame_stack` frames are stacked on the channel axis so that the direction a
ghost moves is visible.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.distributions import Categorical

POLICY_FILE, POLICY_META = "policy.safetensors", "policy.json"


@dataclass
class PolicyConfig:
    frame_size: int = 64
    """Side of the square RGB observation."""
    n_actions: int = 5
    frame_stack: int = 2
    """Observations stacked on the channel axis (the current one last)."""
    channels: int = 32
    hidden: int = 256


def _init(layer: nn.Module, gain: float = float(np.sqrt(2))) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class Policy(nn.Module):
    """Actor-critic on stacked uint8 frames (B, frame_stack, S, S, 3)."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.config = c = config
        self.body = nn.Sequential(
            _init(nn.Conv2d(3 * c.frame_stack, c.channels, 8, stride=4)), nn.ReLU(),
            _init(nn.Conv2d(c.channels, 2 * c.channels, 4, stride=2)), nn.ReLU(),
            _init(nn.Conv2d(2 * c.channels, 2 * c.channels, 3, stride=1)), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.body(torch.zeros(1, 3 * c.frame_stack, c.frame_size, c.frame_size)).shape[1]
        self.trunk = nn.Sequential(_init(nn.Linear(flat, c.hidden)), nn.ReLU())
        self.actor = _init(nn.Linear(c.hidden, c.n_actions), gain=0.01)  # near-uniform at the start
        self.critic = _init(nn.Linear(c.hidden, 1), gain=1.0)

    def _features(self, obs: Tensor) -> Tensor:
        b = obs.shape[0]
        x = obs.permute(0, 1, 4, 2, 3).reshape(b, -1, obs.shape[2], obs.shape[3]).float() / 255.0
        return self.trunk(self.body(x))

    def forward(self, obs: Tensor) -> tuple[Categorical, Tensor]:
        """The action distribution and the value (B,) of stacked uint8 observations."""
        h = self._features(obs)
        return Categorical(logits=self.actor(h)), self.critic(h).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: Tensor, greedy: bool = False) -> Tensor:
        """Actions (B,) for stacked observations: sampled, or the most likely one."""
        dist, _ = self(obs)
        return dist.probs.argmax(-1) if greedy else dist.sample()


class FrameStack:
    """The last `k` observations of each of n envs, uint8 (n, k, S, S, 3). An env that starts
    over (`fresh`) has its whole stack filled with its first observation."""

    def __init__(self, k: int, obs: np.ndarray):
        self.frames = np.repeat(obs[:, None], k, axis=1)

    def push(self, obs: np.ndarray, fresh: np.ndarray | None = None) -> np.ndarray:
        self.frames = np.concatenate([self.frames[:, 1:], obs[:, None]], axis=1)
        if fresh is not None and fresh.any():
            self.frames[fresh] = obs[fresh][:, None]
        return self.frames


def save_policy(out: Path, policy: Policy, meta: dict) -> Path:
    """Write `policy.safetensors` and `policy.json` (its config plus `meta`) under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    weights = out / POLICY_FILE
    tmp = weights.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}, str(tmp))
    tmp.replace(weights)
    (out / POLICY_META).write_text(json.dumps({"policy": asdict(policy.config), **meta}, indent=2) + "\n")
    return weights


def load_policy(path: Path) -> tuple[Policy, dict]:
    """A policy saved by `save_policy` (its directory), and its metadata."""
    path = Path(path)
    meta_file, weights = path / POLICY_META, path / POLICY_FILE
    if not (meta_file.is_file() and weights.is_file()):
        raise FileNotFoundError(f"{path}: no agent here (expected {POLICY_FILE} and {POLICY_META})")
    meta = json.loads(meta_file.read_text())
    policy = Policy(PolicyConfig(**meta["policy"]))
    policy.load_state_dict(load_file(str(weights)))
    return policy.eval(), meta
