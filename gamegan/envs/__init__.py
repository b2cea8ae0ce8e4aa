"""Gymnasium environments: the recorder's game (`gamegan/PacMan-v0`); importing this package
registers them, so `gymnasium.make("gamegan/PacMan-v0")` works after `import gamegan.envs`."""

from gymnasium.envs.registration import register, registry

from gamegan.envs.real import PacManEnv

__all__ = ["PacManEnv"]

if "gamegan/PacMan-v0" not in registry:
    register(id="gamegan/PacMan-v0", entry_point="gamegan.envs.real:PacManEnv")
