"""gamegan: learn a playable neural game simulator (GameGAN) from recorded play of any game in
the recorder's format. `config` holds every setting and preset, `data` the training windows,
`model/` the simulator (engine, memory, renderer) and its discriminators and baselines,
`losses` and `train` the training, `checkpoint` and `shipped` the saved models,
`evaluation/` every measurement (`gamegan eval`) and `envs` the gymnasium environments. The
`gamegan` command is `gamegan_cli`, beside this package."""

__version__ = "0.1.0"
