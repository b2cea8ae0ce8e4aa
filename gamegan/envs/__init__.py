"""Gymnasium environments: the recorder's game (`gamegan/PacMan-v0`) and a learned simulator
of it (`gamegan/PacManDream-v0`, with a batched `vector_entry_point`); importing this package
registers them, so `gymnasium.make("gamegan/PacMan-v0")` works after `import gamegan.envs`.
Reward and termination in the dream are read off the model's frames (`rewards`)."""

from gymnasium.envs.registration import register, registry

from gamegan.envs.dream import DreamBatch, PacManDreamEnv, PacManDreamVectorEnv
from gamegan.envs.real import PacManEnv
from gamegan.envs.rewards import FrameRewards

__all__ = ["DreamBatch", "FrameRewards", "PacManDreamEnv", "PacManDreamVectorEnv", "PacManEnv"]

if "gamegan/PacMan-v0" not in registry:
    register(id="gamegan/PacMan-v0", entry_point="gamegan.envs.real:PacManEnv")
if "gamegan/PacManDream-v0" not in registry:
    register(id="gamegan/PacManDream-v0", entry_point="gamegan.envs.dream:PacManDreamEnv",
             vector_entry_point="gamegan.envs.dream:PacManDreamVectorEnv")
