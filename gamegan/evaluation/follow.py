"""Does Pac-Man follow the keys? A learned simulator and the real game, driven by the same keys.

This measures the first thing a person notices in `gamegan play`. A session starts from the
game engine exactly as play does; a keyboard-like player then holds directions for a few steps
at a time, sometimes into a wall and sometimes none, and both the simulator and the real game
take each key. After every step Pac-Man's cell is read from the simulator's frame (by palette,
`gamegan.evaluation.sprites`) and compared with the real game's cell.

Steps are scored by what the key did in the real game: `move` (Pac-Man changed cell), `bump`
(a direction into a wall: he stays) and `noop` (no key), and by horizon (steps since the
start). `match` is the fraction of steps where the simulator shows Pac-Man in the real cell;
`lost` the fraction where it shows no Pac-Man at all. Ghosts move with some randomness, so
they are scored loosely, per real ghost: `ghosts_shown` is how many ghosts the simulator
draws (1.0 = as many as there are; 0 = they faded away), `ghosts_plausible` how many of those
look and act like ghosts (drawn in one ghost colour, not a patchwork of several, and not
stuck: see `STUCK_STEPS`), and `ghosts_near` the share of real ghosts with a drawn ghost in
the same or a neighbouring cell. `frightened_shown` is, of the steps on which the real game
shows frightened (edible, blue) ghosts, the share on which the simulator draws at least one,
and `frightened_false` the same share of the other steps: a simulator that paints ghosts blue
at random scores the two alike.

An episode's scoring stops when either game ends: the real one when a ghost catches Pac-Man,
the simulator's when its own ghosts catch him (the session's `done`; `gamegan.evaluation.catch.CatchWatch`:
it draws a ghost under him, as the real game's last frame does, or he vanishes on a step that
draws a ghost in or next to him), which, along their own paths, they may do where the real
ones did not. `caught` counts the steps on which that happened (a vanished Pac-Man counts as
`lost` too; one drawn over a ghost is scored by his cell), and `catches_per_100_steps`
compares how often each game's ghosts catch him: ghosts that chase as the real ones do catch
about as often, ghosts that fade never do.

    report = follow_keys("gamegan/assets/pacman-small.safetensors", episodes=20, steps=60)  # play.measure
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from gamegan.evaluation.sprites import LOST, Entities, PaletteReader, state_view
from gamegan.evaluation.catch import neighbourhood, palette_reader
from recorder.agents import RandomAgent
from recorder.game import Game

KINDS: tuple[str, ...] = ("move", "bump", "noop")
STRIP_BAR = 3
"""Height in pixels of the bar under each step of `follow_strip`, in one of these colours:"""
STRIP_MATCH, STRIP_NO_KEY, STRIP_MISS = (np.array(c, np.uint8) for c in ((110, 110, 110), (255, 255, 255), (220, 40, 40)))
HORIZONS: tuple[tuple[int, int], ...] = ((1, 5), (6, 10), (11, 20), (21, 40), (41, 80), (81, 160))
"""Inclusive step ranges the report groups by; steps past the last range are not grouped."""
STUCK_STEPS = 10
"""A drawn ghost is stuck once its cell has shown a ghost this many steps in a row with no real
ghost in or next to it. Real ghosts move with probability 0.75 a step (0.375 frightened), so
one stays put this long with probability 0.25 ** 9 (1.5 % frightened); a simulator's ghost
that does is a smear left behind, not a ghost."""


class FollowSession(Protocol):
    """What `follow_episode` drives: a session whose `step` also steps the real game `start.game`,
    and whose `done` says its own game is over (`play.session.SimSession`)."""

    start: object  # has `.game`: the real game at the last start frame (play.session.Start)
    done: bool

    def step(self, action: int) -> np.ndarray: ...


@dataclass(frozen=True)
class StepScore:
    """One step, simulator frame against real game."""

    match: bool  # Pac-Man shown in the real cell
    lost: bool  # no Pac-Man shown anywhere
    caught: bool  # the simulator's own ghost caught him this step (gamegan.evaluation.catch): its game ends
    ghosts_real: int  # ghost cells in the real view (Pac-Man's own cell excluded)
    ghosts_shown: int  # ghost cells the simulator's frame shows
    ghosts_plausible: int  # shown ghost cells drawn in one ghost colour and not stuck
    ghosts_near: int  # real ghost cells with a shown ghost in them or next to them
    frightened_real: bool  # the real game shows a frightened ghost
    frightened_drawn: bool  # the simulator draws one


@dataclass
class Tally:
    """Sums of `StepScore`s over `n` steps."""

    n: int = 0
    match: int = 0
    lost: int = 0
    caught: int = 0
    ghosts_real: int = 0
    ghosts_shown: int = 0
    ghosts_plausible: int = 0
    ghosts_near: int = 0
    frightened_real: int = 0
    frightened_shown: int = 0  # steps with frightened ghosts on both sides
    frightened_false: int = 0  # steps with them drawn but not in the real game

    def add(self, score: StepScore) -> None:
        self.n += 1
        self.match += int(score.match)
        self.lost += int(score.lost)
        self.caught += int(score.caught)
        self.ghosts_real += score.ghosts_real
        self.ghosts_shown += score.ghosts_shown
        self.ghosts_plausible += score.ghosts_plausible
        self.ghosts_near += score.ghosts_near
        self.frightened_real += int(score.frightened_real)
        self.frightened_shown += int(score.frightened_real and score.frightened_drawn)
        self.frightened_false += int(score.frightened_drawn and not score.frightened_real)

    def merge(self, other: "Tally") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def rates(self) -> dict:
        """match/lost/caught per step; ghosts shown, plausible and near a real one, per real ghost;
        frightened ghosts drawn per step with real ones, and per step without."""
        n, g = max(self.n, 1), max(self.ghosts_real, 1)
        return {"n": self.n, "match": round(self.match / n, 3), "lost": round(self.lost / n, 3),
                "caught": round(self.caught / n, 3),
                "ghosts_shown": round(self.ghosts_shown / g, 3),
                "ghosts_plausible": round(self.ghosts_plausible / g, 3),
                "ghosts_near": round(self.ghosts_near / g, 3),
                "frightened_shown": (round(self.frightened_shown / self.frightened_real, 3)
                                     if self.frightened_real else None),
                "frightened_false": round(self.frightened_false / max(self.n - self.frightened_real, 1), 3)}


@dataclass
class FollowReport:
    """Tallies per episode, keyed by kind of step, by horizon and 'all'; per episode also its
    length and the step of its first miss (`clean_episodes`: the share without one;
    `first_miss_median`: over those with one). The totals per kind and horizon are sums over
    the episodes, the open one included.

    Steps of one session are not independent (a ghost that fades stays faded), so the standard
    errors in `summary` treat sessions as the unit, over the episodes `end_episode` closed.
    """

    first_miss: list[int | None] = field(default_factory=list)  # per episode: step of the first miss, None if none
    played: list[int] = field(default_factory=list)  # per episode: steps scored before either game ended
    real_catches: int = 0  # episodes the real game ended with a ghost catching him
    per_episode: list[dict[str, Tally]] = field(default_factory=list)
    _current: dict[str, Tally] = field(default_factory=dict, repr=False)  # the open episode's tallies

    def add(self, t: int, kind: str, score: StepScore) -> None:
        for key in (kind, "all", *(f"{a}-{b}" for a, b in HORIZONS if a <= t <= b)):
            self._current.setdefault(key, Tally()).add(score)

    def end_episode(self, first_miss: int | None, played: int, real_caught: bool) -> None:
        """Close the open episode: the step of its first miss, the steps scored, and whether the
        real game's ghosts caught Pac-Man."""
        self.first_miss.append(first_miss)
        self.played.append(played)
        self.real_catches += int(real_caught)
        self.per_episode.append(self._current)
        self._current = {}

    @property
    def episodes(self) -> int:
        return len(self.per_episode)

    def total(self, key: str) -> Tally:
        """The tally of group `key` (a kind, a horizon such as '1-5', or 'all') over every episode."""
        total = Tally()
        for episode in (*self.per_episode, self._current):
            if key in episode:
                total.merge(episode[key])
        return total

    @property
    def by_kind(self) -> dict[str, Tally]:
        return {k: self.total(k) for k in KINDS}

    @property
    def by_horizon(self) -> dict[str, Tally]:
        return {f"{a}-{b}": self.total(f"{a}-{b}") for a, b in HORIZONS}

    @property
    def overall(self) -> Tally:
        return self.total("all")

    def standard_errors(self, key: str) -> dict[str, float | None]:
        """Standard errors of the group `key`'s match and plausible-ghost rates over sessions
        (None with fewer than two sessions that reached it)."""
        tallies = [e[key] for e in self.per_episode if key in e]
        return {"match_se": _ratio_se([(t.match, t.n) for t in tallies]),
                "ghosts_plausible_se": _ratio_se([(t.ghosts_plausible, t.ghosts_real) for t in tallies])}

    def summary(self) -> dict:
        """JSON-ready figures: rates per kind and horizon, and the median first miss."""
        return {
            "episodes": self.episodes,
            "overall": {**self.overall.rates(), **self.standard_errors("all")},
            "by_kind": {k: {**t.rates(), **self.standard_errors(k)} for k, t in self.by_kind.items()},
            "by_horizon": {k: {**t.rates(), **self.standard_errors(k)} for k, t in self.by_horizon.items() if t.n},
            "steps_per_episode": round(float(np.mean(self.played)), 1) if self.played else None,
            "clean_episodes": round(self.first_miss.count(None) / max(self.episodes, 1), 3),
            "first_miss_median": float(np.median(misses)) if (misses := [m for m in self.first_miss if m]) else None,
            "catches_per_100_steps": self.catch_rates(),
        }

    def catch_rates(self) -> dict[str, float]:
        """Catches per 100 scored steps by the simulator's ghosts and by the real game's."""
        steps = max(sum(self.played), 1)
        return {"simulator": round(100 * self.overall.caught / steps, 2),
                "real": round(100 * self.real_catches / steps, 2)}


def keyboard_player(seed: int) -> RandomAgent:
    """Keys as a person presses them: a direction held 2-8 steps, often one that is blocked
    (40 % of choices are any direction), and no key 10 % of the time."""
    return RandomAgent(min_hold=2, max_hold=8, noop_prob=0.1, open_prob=0.6, seed=seed)


def follow_episode(session: FollowSession, reader: PaletteReader, report: FollowReport, steps: int,
                   seed: int, on_step: Callable[[int, StepScore, Entities], None] | None = None) -> None:
    """Drive one session for up to `steps` keys, or until either game ends, and add every step
    to `report`; `on_step(action, score, seen)` is called after each, with the session already
    stepped and `seen` the reading of its frame (batch of one)."""
    game: Game = session.start.game
    if game is None:
        raise ValueError("the session has no real game to compare with (start frames from a recording?)")
    player = keyboard_player(seed)
    player.reset(game, np.random.default_rng([seed, 1]))
    first_miss, played = None, 0
    held = np.zeros((reader.geometry.rows, reader.geometry.cols), dtype=np.int64)  # steps each cell has shown a ghost
    lives = game.state.lives
    for t in range(1, steps + 1):
        if game.done:
            break
        played = t
        before = game.state.pacman.copy()
        action = player.act(game)
        frame = session.step(action)
        state = game.state
        arrays = _state_arrays(state)
        real = state_view(reader.geometry, arrays)
        edible = state_view(reader.geometry, {**arrays, "ghosts": state.ghosts[state.frightened][None]})["ghosts"]
        seen = reader.read(frame[None])
        held = (held + 1) * seen.ghosts[0]
        score = _score(seen.pacman[0], seen.ghosts[0], seen.solid_ghosts[0], held, real["pacman"][0], real["ghosts"][0],
                       caught=session.done, frightened_real=bool(edible.any()),
                       frightened_drawn=bool(seen.frightened[0].any()))
        kind = "noop" if action == 0 else ("move" if (state.pacman != before).any() else "bump")
        report.add(t, kind, score)
        if on_step is not None:
            on_step(action, score, seen)
        if not score.match and first_miss is None:
            first_miss = t
        if session.done:  # the simulator's own ghosts caught Pac-Man
            break
    report.end_episode(first_miss, played, real_caught=game.state.lives < lives)


def format_checkpoint_row(step: int, summary: dict) -> str:
    """One line of a `follow_checkpoints` sweep: Pac-Man's match and lost, clean sessions,
    catches per 100 steps (simulator, real), plausible ghosts per horizon and frightened
    ghosts drawn (with real ones / without)."""
    o, h = summary["overall"], summary["by_horizon"]
    ghosts = " ".join(f"{k}:{r['ghosts_plausible']:.2f}{_pm(r.get('ghosts_plausible_se'), '.2f')}"
                      for k, r in h.items())
    shown = "—" if o["frightened_shown"] is None else f"{o['frightened_shown']:.0%}"
    frightened = f"{shown} / {o['frightened_false']:.0%}"
    catches = summary["catches_per_100_steps"]
    return (f"step {step:>7}  match {o['match']:6.1%}  lost {o['lost']:5.1%}  clean {summary['clean_episodes']:4.0%}  "
            f"catches/100 steps {catches['simulator']:.1f} (real {catches['real']:.1f})  "
            f"plausible ghosts by steps {ghosts}  frightened {frightened}")


def _state_arrays(state) -> dict[str, np.ndarray]:
    arrays = {"pacman": state.pacman[None], "ghosts": state.ghosts[None]}
    if state.view_origin is not None:
        arrays["view_origin"] = state.view_origin[None]
    return arrays


def _score(pacman: np.ndarray, ghosts: np.ndarray, solid: np.ndarray, held: np.ndarray, real_pacman: np.ndarray,
           real_ghosts: np.ndarray, *, caught: bool = False, frightened_real: bool,
           frightened_drawn: bool) -> StepScore:
    """Score one frame's reading against the real game's: Pac-Man's cell; ghost cells, those of
    them in one colour, and for how many steps each cell has shown a ghost (all R x C); whether
    each side shows a frightened ghost. `caught`: the simulator's ghosts caught Pac-Man."""
    stuck = (held >= STUCK_STEPS) & ~neighbourhood(real_ghosts)
    return StepScore(match=bool((pacman == real_pacman).all()), lost=bool(pacman[0] == LOST),
                     caught=caught,
                     ghosts_real=int(real_ghosts.sum()), ghosts_shown=int(ghosts.sum()),
                     ghosts_plausible=int((ghosts & solid & ~stuck).sum()),
                     ghosts_near=int((real_ghosts & neighbourhood(ghosts)).sum()),
                     frightened_real=frightened_real, frightened_drawn=frightened_drawn)


def _ratio_se(parts: list[tuple[int, int]]) -> float | None:
    """Standard error of sum(a) / sum(b) over independent sessions (a, b), by the delta method
    (the usual one for a ratio of cluster totals); sessions with b = 0 carry no information."""
    a, b = np.array(parts, dtype=float).reshape(-1, 2).T
    a, b = a[b > 0], b[b > 0]
    if len(b) < 2:
        return None
    ratio = a.sum() / b.sum()
    return round(float(np.sqrt(len(b) / (len(b) - 1) * ((a - ratio * b) ** 2).sum()) / b.sum()), 3)


def _pm(value: float | None, fmt: str) -> str:
    return "" if value is None else f"±{value:{fmt}}"


def format_report(summary: dict) -> str:
    """A plain-text table of a `FollowReport.summary()`; ± is one standard error over sessions."""
    head = (f"{'steps':<10}{'n':>6}{'match':>8}{'':<8}{'lost':>6}{'ghosts shown':>14}{'plausible':>11}{'':<7}"
            f"{'ghosts near':>11}")
    lines = [head]

    def row(name: str, r: dict) -> str:
        return (f"{name:<10}{r['n']:>6}{r['match']:>8.1%} {_pm(r.get('match_se'), '.1%'):<7}{r['lost']:>6.1%}"
                f"{r['ghosts_shown']:>14.2f}{r['ghosts_plausible']:>11.2f} {_pm(r.get('ghosts_plausible_se'), '.2f'):<6}"
                f"{r['ghosts_near']:>11.1%}")

    for group in ("by_kind", "by_horizon"):
        lines += [row(name, r) for name, r in summary[group].items()]
    lines.append(row("all", summary["overall"]))
    lines.append(f"{summary['episodes']} episodes of {summary['steps_per_episode']} steps on average; "
                 f"Pac-Man never missed in {summary['clean_episodes']:.0%} of them; median first miss "
                 f"in the others: step {summary['first_miss_median']}")
    overall = summary["overall"]
    catches = summary["catches_per_100_steps"]
    lines.append(f"ghosts caught Pac-Man {catches['simulator']:.2f} times per 100 steps in the simulator "
                 f"and {catches['real']:.2f} in the real game (either ends the episode)")
    if (frightened := overall["frightened_shown"]) is not None:
        lines.append(f"frightened ghosts drawn on {frightened:.0%} of the steps where the real game shows them "
                     f"and on {overall['frightened_false']:.0%} of the others")
    return "\n".join(lines)


__all__ = ["STUCK_STEPS", "FollowReport", "StepScore", "Tally", "follow_episode", "format_checkpoint_row",
           "format_report", "keyboard_player", "palette_reader"]
