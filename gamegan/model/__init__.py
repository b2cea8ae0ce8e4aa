"""The simulator and what trains it: `generator` (GameGAN: `encoder`, dynamics `engine`,
`memory`, `renderer`), the `discriminator` with its `disc_blocks`, `gamegan` (the two as training phases), the `baselines` (Action-LSTM,
World Models), shared `layers` and `types`, and `factory`, which builds any of them from a
`ModelConfig`."""
