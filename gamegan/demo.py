"""`gamegan demo`: the zero-setup tour behind `make demo`.

For now it records a small dataset with the bot and writes a GIF of one episode, so a new user
sees the data the simulator learns from within seconds.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from gamegan.media import save_gif
from gamegan.progress import episode_progress
from recorder.dataset import list_shards, open_dataset
from recorder.game import GameConfig
from recorder.record import RecordConfig, record


def run_demo(out: Path, console: Console, episodes: int = 8) -> Path:
    """Record `episodes` bot episodes into `out/data` (reused if present) and write `out/episode.gif`."""
    data_dir = Path(out) / "data"
    has_data = data_dir.is_dir() and bool(list_shards(data_dir))
    if not has_data:
        console.print(f"recording {episodes} episodes of Pac-Man played by the bot into {data_dir}")
        with episode_progress(episodes, "recording", console) as advance:
            record(RecordConfig(out=data_dir, episodes=episodes, seed=0, game=GameConfig()), on_progress=advance)
    with open_dataset(data_dir) as data:
        gif = save_gif(data.frames(0), Path(out) / "episode.gif", fps=10, scale=4)
        console.print(f"wrote {gif}: episode 0, {data.episode_lengths[0]} frames "
                      f"({data.n_episodes} episodes, {data.n_frames} frames in {data_dir})")
    return gif
