"""Come back home: walk away and back; is the world where it was? (GameGAN's Pac-Man-Maze test.)

From a start on the real game, Pac-Man walks k moves away, each planned on the real game so
that it moves him (never into a wall, never straight back the way he came), then the exact
reverse of those moves, so the real game is home again. The simulator, warmed up on the same
start, is given the same 2k actions; its frame on return is compared with the real one:
wall-cell agreement (walls read by palette colour from both frames) and PSNR. In the maze the
view scrolls with every move, so only a simulator that remembers what it drew can return to
the same walls; one that forgets draws some plausible maze instead.

The frame at the turning point is scored the same way ("away"): a simulator that never moves
its view would come home to the right walls without having left, and it fails there.

The reference row ("random frame") scores a real frame of the same walk, chosen at random,
against the real return frame: a simulator that knows what this maze looks like but not
where it is scores about that.

A walk planned on the real game soon leaves the start view, and from there the simulator's maze
is invented: where it draws a wall the real game has a corridor, its Pac-Man stays, and the
reverse walk no longer leads home, however well it remembers. So a second walk ("in its own
maze", `simulate_own_walks`) is planned on the frames the simulator draws, as a player would
walk it: k moves each into a cell it shows open, then their reverse. Its return frame is scored
against the real start frame; only what it remembers of its own maze brings it back there. The
share of the view that changed by the turning point ("moved") keeps a simulator that never
scrolls from passing: it would come home without having left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from recorder.game import GameConfig
from recorder.game.config import ACTION_DELTAS, OPPOSITE
from recorder.game.engine import Game
from recorder.starts import engine_start

from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.evaluation.image_quality import psnr

MOVES = tuple(a for a, d in enumerate(ACTION_DELTAS) if d != (0, 0))
"""The action ids that move Pac-Man (all but NOOP)."""


@dataclass
class HomeWalk:
    """One start and one walk away and back, with what the real game showed."""

    seed: int  # the real game's seed (its first episode is played)
    frames: np.ndarray  # uint8 (c, H, W, 3): the real frames the simulator warms up on
    actions: np.ndarray  # int64 (c-1,): the actions between them
    walk: np.ndarray  # int64 (2k,): k moves away, then their reverse
    real: np.ndarray  # uint8 (2k, H, W, 3): the real frame after each move of the walk
    other: np.ndarray  # uint8 (H, W, 3): a real frame from the middle of the walk, at random (the reference)

    @property
    def away(self) -> np.ndarray:
        """The real frame at the turning point, after the k moves away."""
        return self.real[len(self.walk) // 2 - 1]

    @property
    def home(self) -> np.ndarray:
        """The real frame after the walk (Pac-Man back at the start cell)."""
        return self.real[-1]


def plan_walk(game: Game, k: int, rng: np.random.Generator) -> tuple[list[int], list[np.ndarray]] | None:
    """Play k moves on `game` from its current state, each into an open cell and none straight
    back. Returns (the 2k actions: the moves, then their reverse; the frames after each of
    the k moves), or None when the walk cannot go on (a dead end, or the episode ended)."""
    path, frames = [], []
    for _ in range(k):
        options = [a for a in MOVES if game.can_move(game.pacman_cell, a) and not (path and a == OPPOSITE[path[-1]])]
        if not options:
            return None
        path.append(int(options[int(rng.integers(len(options)))]))
        frame, _, done = game.step(path[-1])
        if done:
            return None
        frames.append(frame)
    return path + [OPPOSITE[a] for a in reversed(path)], frames


def home_walks(config: GameConfig, k: int, starts: int, *, context: int = 2, seed: int = 0,
               max_tries: int = 20) -> list[HomeWalk]:
    """`starts` walks of k moves away and back, one per real-game seed from `seed` on, each
    after `context - 1` random-agent steps (so the starts differ). A start whose walk cannot
    be made is skipped and the next seed tried, up to `max_tries` times `starts` seeds."""
    walks: list[HomeWalk] = []
    rng = np.random.default_rng([seed, k])
    for s in range(seed, seed + max_tries * starts):
        if len(walks) == starts:
            break
        walk = _one_walk(config, k, s, context, rng)
        if walk is not None:
            walks.append(walk)
    return walks


def _one_walk(config: GameConfig, k: int, seed: int, context: int, rng: np.random.Generator) -> HomeWalk | None:
    try:  # the seed's first episode only: the walks' seeds stay one per start
        frames, actions, game = engine_start(config, seed, context, max_tries=1)
    except ValueError:
        return None
    start = game.pacman_cell
    planned = plan_walk(game, k, rng)
    if planned is None:
        return None
    walk, seen = planned
    for a in walk[k:]:
        frame, _, done = game.step(a)
        if done:
            return None
        seen.append(frame)
    assert game.pacman_cell == start, "a reversed walk must end where it started"
    # The reference: any frame strictly between leaving and coming home.
    between = seen[:-1]
    return HomeWalk(seed, frames, actions, np.asarray(walk, dtype=np.int64), np.stack(seen),
                    between[int(rng.integers(len(between)))])


@torch.no_grad()
def simulate_walks(simulator: Any, walks: Sequence[HomeWalk],
                   device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray | None]:
    """The simulator's frame after each move, uint8 (N, 2k, H, W, 3) (column k - 1 is the turning
    point, the last one the return): warm up on each walk's real start, take its 2k actions
    (all walks of one call have the same k). With a memory, also the cell its attention peaks
    at before and after each move, int64 (N, 2k + 1, 2) (row, column); else None."""
    if isinstance(simulator, torch.nn.Module):
        simulator.eval()
    frames = to_model_frames(np.stack([w.frames for w in walks])).to(device)  # (N, c, 3, H, W)
    actions = torch.from_numpy(np.stack([w.actions for w in walks])).to(device)  # (N, c-1)
    walk = torch.from_numpy(np.stack([w.walk for w in walks])).to(device)  # (N, 2k)
    state = simulator.warmup(frames, actions)
    drawn, cells = [], [_attended(getattr(state, "alpha", None))]
    for t in range(walk.shape[1]):
        frame, state, _ = simulator.step(state, walk[:, t])
        drawn.append(to_uint8_frames(frame))
        cells.append(_attended(getattr(state, "alpha", None)))
    return np.stack(drawn, axis=1), (np.stack(cells, axis=1) if cells[0] is not None else None)


@torch.no_grad()
def simulate_own_walks(simulator: Any, walks: Sequence[HomeWalk], k: int, reader: Any, *, seed: int = 0,
                       device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Come back home in the simulator's own maze. From each walk's start (its warm-up frames),
    k moves, each chosen at random among those into a cell the simulator's last frame shows
    open (read by palette, from Pac-Man's cell there, the view's centre if it shows none) and
    not straight back (unless nothing else is open), then their exact reverse. Returns the frame
    after each move, uint8 (N, 2k, H, W, 3), the attended cells as `simulate_walks` gives them
    (or None), and the 2k actions taken, int64 (N, 2k)."""
    if isinstance(simulator, torch.nn.Module):
        simulator.eval()
    rng = np.random.default_rng([seed, k, 11])
    frames = to_model_frames(np.stack([w.frames for w in walks])).to(device)
    actions = torch.from_numpy(np.stack([w.actions for w in walks])).to(device)
    state = simulator.warmup(frames, actions)
    current = to_uint8_frames(state.frame)
    drawn, cells, path = [], [_attended(getattr(state, "alpha", None))], []  # path: each step's N actions
    for t in range(2 * k):
        if t < k:
            seen, last = reader.read(current), path[-1] if path else [None] * len(walks)
            moves = [_open_move(seen.walls[i], seen.pacman[i], last[i], rng) for i in range(len(walks))]
        else:
            moves = [OPPOSITE[a] for a in path[2 * k - 1 - t]]  # the way back, last move first
        path.append(moves)
        frame, state, _ = simulator.step(state, torch.tensor(moves, dtype=torch.long, device=device))
        current = to_uint8_frames(frame)
        drawn.append(current)
        cells.append(_attended(getattr(state, "alpha", None)))
    return (np.stack(drawn, axis=1), np.stack(cells, axis=1) if cells[0] is not None else None,
            np.array(path, dtype=np.int64).T)


def own_walk_scores(simulator: Any, walks: Sequence[HomeWalk], k: int, reader: Any, *, seed: int = 0,
                    device: torch.device | str = "cpu") -> dict[str, float | int]:
    """Come back home in the simulator's own maze, summarized with the `own_` prefix: walls and
    PSNR of the return frame against the real start frame, `moved` at the turning point, and
    (with a memory) attention home and moves held."""
    drawn, cells, _ = simulate_own_walks(simulator, walks, k, reader, seed=seed, device=device)
    starts = np.stack([w.frames[-1] for w in walks])
    scores = home_scores(reader, drawn[:, -1], starts) | {"moved": moved_share(reader, drawn[:, k - 1], starts)}
    if cells is not None:
        scores |= attention_scores(cells)
    return summarize(scores, prefix="own_")


def _open_move(walls: np.ndarray, pacman: np.ndarray, last: int | None, rng: np.random.Generator) -> int:
    """A move from Pac-Man's cell into a cell `walls` (R, C) shows open, never straight back
    unless it is the only one; any move when none is open."""
    rows, cols = walls.shape
    r, c = (int(pacman[0]), int(pacman[1])) if (0 <= pacman[0] < rows and 0 <= pacman[1] < cols) else (rows // 2, cols // 2)

    def is_open(a: int) -> bool:
        dr, dc = ACTION_DELTAS[a]
        return 0 <= r + dr < rows and 0 <= c + dc < cols and not walls[r + dr, c + dc]

    open_moves = [a for a in MOVES if is_open(a)]
    onward = [a for a in open_moves if last is None or a != OPPOSITE[last]]
    options = onward or open_moves or list(MOVES)
    return int(options[int(rng.integers(len(options)))])


def moved_share(reader: Any, turning: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per walk, the share of view cells whose wall reading differs between the frame at the
    turning point and the start frame: 0 for a simulator whose view never moved."""
    return (reader.read(turning).walls != reader.read(start).walls).mean(axis=(1, 2)).astype(np.float64)


def _attended(alpha: torch.Tensor | None) -> np.ndarray | None:
    """(N, 2) row and column of each attention map's peak, or None without a memory."""
    if alpha is None:
        return None
    flat = alpha.flatten(1).argmax(1).cpu().numpy()
    return np.stack(np.divmod(flat, alpha.shape[-1]), axis=1)


def attention_scores(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Per walk, from the attended cells (N, 2k + 1, 2): 'attention_home', 1 when the attention
    ends on the cell it started from, and 'moves_held', the share of the walk's moves (every one
    moves Pac-Man in the real game) after which it attends the same cell as before: moves the
    memory missed, each of which leaves the map read off by one cell."""
    home = (cells[:, -1] == cells[:, 0]).all(axis=1).astype(np.float64)
    held = (np.diff(cells, axis=1) == 0).all(axis=2).mean(axis=1).astype(np.float64)
    return {"attention_home": home, "moves_held": held}


def walk_strip(walk: HomeWalk, drawn: np.ndarray, gutter: int = 2) -> np.ndarray:
    """One walk as frames for a GIF, uint8 (1 + 2k, H, W + gutter + W, 3): the simulator's frame
    (left) beside the real game's (right), from the start through every move."""
    sim = np.concatenate([walk.frames[-1:], drawn])  # (1 + 2k, H, W, 3)
    real = np.concatenate([walk.frames[-1:], walk.real])
    bar = np.full((*sim.shape[:2], gutter, 3), 128, dtype=np.uint8)
    return np.concatenate([sim, bar, real], axis=2)


def home_scores(reader: Any, drawn: np.ndarray, home: np.ndarray) -> dict[str, np.ndarray]:
    """Per walk: 'wall_agreement', the share of view cells whose wall/no-wall reading agrees
    between the drawn and the real return frame, and 'psnr' (dB) of the drawn frame."""
    walls_drawn, walls_home = reader.read(drawn).walls, reader.read(home).walls  # (N, R, C)
    agreement = (walls_drawn == walls_home).mean(axis=(1, 2))
    db = psnr(to_model_frames(drawn), to_model_frames(home)).numpy()
    return {"wall_agreement": agreement.astype(np.float64), "psnr": db.astype(np.float64)}


def summarize(scores: dict[str, np.ndarray], prefix: str = "") -> dict[str, float | int]:
    """Mean and standard error of each score over walks, and the wall-cell error (1 - agreement),
    each name prefixed by `prefix`."""
    n = len(scores["psnr"])
    out: dict[str, float | int] = {"walks": int(n)}
    for name, v in scores.items():
        out[f"{prefix}{name}"] = float(np.mean(v))
        out[f"{prefix}{name}_se"] = float(np.std(v, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    out[f"{prefix}wall_error"] = 1.0 - out[f"{prefix}wall_agreement"]
    return out
