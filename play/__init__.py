"""The play client: a person plays a learned simulator (or the real game) with the keys.
`session` steps one simulator from real start frames, `client` is the Pygame window, `headless`
drives a session from a key string and writes a GIF, `launch` turns command-line choices into
one of those, `demo` is `make demo`, `bench` its latency, and `measure` runs the play measurement
(scored by gamegan.evaluation) on its sessions. It uses the learner (gamegan) and the recorder."""
