"""Rich progress bars shared by the commands that do long work."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Frames per second, from the frame count carried in the task's fields."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        frames = task.fields.get("frames", 0)
        rate = frames / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} frames/s", style="cyan")


@contextlib.contextmanager
def episode_progress(total: int, label: str, console: Console | None = None) -> Iterator[Callable[[int, int], None]]:
    """A bar over episodes showing frames/s and ETA; yields `advance(episodes, frames)`."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("episodes"), _RateColumn(), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    with Progress(*columns, console=console or Console(stderr=True), transient=False) as progress:
        task = progress.add_task(label, total=total, frames=0)
        frames = 0

        def advance(episodes: int, new_frames: int) -> None:
            nonlocal frames
            frames += new_frames
            progress.update(task, advance=episodes, frames=frames)

        yield advance
