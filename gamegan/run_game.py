"""The recorder's game a run was trained on, to start a simulator from real frames of it
(play, the dream environments) or to step the real game beside it."""

from __future__ import annotations

from gamegan.config import Config
from gamegan.errors import UsageError
from recorder.game import GameConfig


def start_warmup(config: Config) -> int:
    """Real frames a simulator is warmed up on before someone steps it (play, the dream envs):
    the run's first training warm-up, what its rollouts started from."""
    t = config.train
    return max(1, min(t.warmup_start, t.seq_len - 1))


def fallback_game_config(frame_size: int) -> GameConfig:
    """The game to start from when a run does not say which it was trained on."""
    return GameConfig(frame_size=frame_size, layout="small" if frame_size < 64 else "classic")


def game_config_of(config: Config) -> GameConfig:
    """The recorded game a run was trained on (`config.game`), or the fallback for its frame size."""
    if not config.game:
        return fallback_game_config(config.model.frame_size)
    try:
        return GameConfig.from_dict(config.game)
    except (TypeError, ValueError) as err:
        raise UsageError(f"the run's game config is unusable ({err}); start from a recording with --data") from None
