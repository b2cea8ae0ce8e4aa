"""Agents that learn to play from pixels, in the dream of a learned simulator or in the real
game: `policy` (the actor-critic network and how it is saved), `ppo` (the trainer), `run`
(the envs an agent trains in, and its score in the real game), what `gamegan agent` runs."""
