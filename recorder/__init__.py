"""The recorder: a Pac-Man-like game of our own (`recorder.game`), the bots and the keyboard
player that play it (`agents`), the sharded HDF5 format episodes are stored in
(`shard_format`, read by `dataset`), and `record`, which plays many episodes in parallel
and writes them. It knows nothing of the learner or the play client."""
