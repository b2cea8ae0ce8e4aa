"""Where do the simulator's ghosts go? Each lasting loss of plausible ghosts in `follow_keys`
sessions, put down to what happened just before it.

`follow_keys` says how many plausible ghosts are left at each horizon; this says what the
others were doing when they went, which is what a training change has to aim at. A loss is a
step on which the plausible ghost cells (`ghosts_plausible`: one ghost colour, not stuck)
fall and stay below their earlier level for the next `LASTING` steps, while the real game
shows as many ghosts as before. Its kind is the first of these seen over the `LOOKBACK` steps
up to it (each against the step before it, so step 1 shows no onset or merge):

- `fright`: the real ghosts turned frightened (Pac-Man ate a power pellet). The simulator does
  not know that rule, so its ghosts go on as before;
- `pacman`: a drawn ghost was in or next to Pac-Man's cell without a catch ending the game;
- `merge`: two drawn ghosts ran into each other (the frame showed fewer separate groups of
  ghost cells than the step before, but not none);
- none of these, by how the lost cells look on the step they are lost: `stopped` (still
  drawn in one ghost colour, but they have stood still too long: `follow.STUCK_STEPS`),
  `blended` (still drawn, in several colours) or `faded` (no longer drawn).

    report = ghost_losses("gamegan/assets/pacman-small.safetensors", episodes=40, seed=2000)  # play.measure
    print(format_ghost_losses(report))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gamegan.evaluation.sprites import Entities, PaletteReader
from gamegan.evaluation.catch import neighbourhood, palette_reader
from gamegan.evaluation.follow import FollowReport, FollowSession, StepScore, follow_episode

KINDS: tuple[str, ...] = ("fright", "pacman", "merge", "stopped", "blended", "faded")
LASTING = 5
"""Steps after a drop during which the plausible count must stay below its level before it."""
LOOKBACK = 3
"""Steps before a drop (and the drop's own) searched for what caused it."""


@dataclass(frozen=True)
class GhostStep:
    """What one step showed of the ghosts."""

    shown: int  # ghost cells drawn (StepScore.ghosts_shown)
    solid: int  # of those, cells drawn in one ghost colour
    plausible: int  # of those, cells not stuck (StepScore.ghosts_plausible)
    real: int  # ghost cells in the real game
    frightened: bool  # the real game shows frightened ghosts (StepScore.frightened_real)
    groups: int  # separate groups of drawn ghost cells (touching cells form one)
    touches_pacman: bool  # a drawn ghost in or next to the simulator's Pac-Man


@dataclass
class GhostLossReport:
    """Ghost cells lost by kind, where each loss happened as (session seed, step), and the plausible
    ghost cells the sessions started with (per session, its first step)."""

    cells: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    where: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    episodes: int = 0
    start_cells: int = 0

    def summary(self) -> dict:
        lost = sum(self.cells.values())
        return {"episodes": self.episodes, "start_cells": self.start_cells, "lost_cells": lost,
                "by_kind": {k: {"cells": n, "share": round(n / lost, 3) if lost else None, "losses": len(self.where[k])}
                            for k, n in self.cells.items()},
                "where": self.where}


def count_groups(cells: np.ndarray) -> int:
    """Separate groups of True cells in a bool (R, C) grid, cells touching sideways or diagonally
    counted as one group."""
    remaining = cells.copy()
    groups = 0
    while remaining.any():
        group = np.zeros_like(remaining)
        group[tuple(np.argwhere(remaining)[0])] = True
        while True:  # grow the group through its neighbours until it stops changing
            grown = neighbourhood(group) & remaining
            if (grown == group).all():
                break
            group = grown
        remaining &= ~group
        groups += 1
    return groups


def classify_losses(steps: list[GhostStep]) -> list[tuple[int, str, int]]:
    """The lasting losses of one session's steps (in order, the first being step 1): (step, kind,
    cells lost) each; see the module docstring."""
    losses = []
    for t in range(1, len(steps) - LASTING + 1):
        before, now = steps[t - 1], steps[t]
        dropped = before.plausible - now.plausible
        if dropped <= 0 or now.real < before.real:
            continue
        if any(s.plausible >= before.plausible for s in steps[t + 1:t + 1 + LASTING - 1]):
            continue
        window = range(max(1, t - LOOKBACK), t + 1)  # steps with one before them to compare with
        if any(steps[i].frightened and not steps[i - 1].frightened for i in window):
            kind = "fright"
        elif any(steps[i].touches_pacman for i in window):
            kind = "pacman"
        elif any(0 < steps[i].groups < steps[i - 1].groups for i in window):  # fewer, but still drawn
            kind = "merge"
        elif now.solid >= before.solid:
            kind = "stopped"
        elif now.shown >= before.shown:
            kind = "blended"
        else:
            kind = "faded"
        losses.append((t + 1, kind, dropped))
    return losses


def session_steps(session: FollowSession, reader: PaletteReader, steps: int, seed: int,
                  report: FollowReport | None = None) -> list[GhostStep]:
    """Drive one session as `follow_keys` does (keys of seed `seed`, up to `steps`) and return
    what each step showed of the ghosts; the session's follow figures go into `report` if given."""
    log: list[GhostStep] = []

    def record(action: int, score: StepScore, seen: Entities) -> None:
        pacman, ghosts = seen.pacman[0], seen.ghosts[0]
        log.append(GhostStep(shown=score.ghosts_shown, solid=int(seen.solid_ghosts[0].sum()),
                             plausible=score.ghosts_plausible, real=score.ghosts_real,
                             frightened=score.frightened_real, groups=count_groups(ghosts),
                             touches_pacman=bool(pacman[0] >= 0 and neighbourhood(ghosts)[tuple(pacman)])))

    follow_episode(session, reader, report if report is not None else FollowReport(), steps, seed, on_step=record)
    return log


def format_ghost_losses(summary: dict) -> str:
    """A few lines of a `GhostLossReport.summary()`."""
    lines = [f"{summary['episodes']} sessions began with {summary['start_cells']} plausible ghost cells; "
             f"{summary['lost_cells']} were lost for at least {LASTING} steps:"]
    for kind, row in summary["by_kind"].items():
        share = "—" if row["share"] is None else f"{row['share']:.0%}"
        first = ", ".join(f"{s}@{t}" for s, t in summary["where"][kind][:6])
        lines.append(f"  {kind:<7}{row['cells']:>5} cells ({share:>4}) in {row['losses']} losses"
                     + (f"  e.g. session@step {first}" if first else ""))
    return "\n".join(lines)


__all__ = ["GhostLossReport", "GhostStep", "LASTING", "LOOKBACK", "classify_losses", "count_groups",
           "format_ghost_losses", "session_steps"]
