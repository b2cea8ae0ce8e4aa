"""GameGAN's component swap, and the measurement of it: does the world drawn come from memory?

`swap_static` gives a simulator state another state's memory (the static world that one has
drawn) while it keeps its own engine state and attention, and redraws its frame from it; `X`
in play is this. The measurement takes two real starts A and B in different worlds (two
mazes), warms the simulator up on each, swaps B's memory into A, then walks k moves planned
on B's real game. Each frame A draws is compared with B's real frame by wall-cell agreement
(read by palette). A simulator whose static world comes from memory draws B's walls after the
swap and keeps drawing them as it walks; one whose walls come from elsewhere keeps drawing A's.
The reference row is A without the swap against B: what drawing another world scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from recorder.game import Action, GameConfig
from recorder.game.engine import Game

from gamegan.evaluation.come_back_home import MOVES
from gamegan.data import to_model_frames, to_uint8_frames
from gamegan.model.types import SimState

NOOP = int(Action.NOOP)


def swap_static(simulator: Any, state: SimState, other: SimState) -> tuple[SimState, Any]:
    """`state` with `other`'s memory, read at `state`'s own attention, and its frame redrawn
    from that: (the new state, what the renderer drew). `other` is not changed."""
    if state.memory is None or other.memory is None:
        raise ValueError("a simulator without memory has no static component to swap")
    memory = other.memory.clone()
    new = SimState(frame=state.frame, h=state.h, c=state.c, memory=memory, alpha=state.alpha,
                   read=simulator.read_memory(memory, state.alpha), extra=dict(state.extra))
    drawn = simulator.renderer(new.h, new.read)
    new.frame = drawn.frame
    return new, drawn


@dataclass
class SwapPair:
    """Two real starts and a walk planned in the second one's world."""

    seeds: tuple[int, int]  # real-game seeds of A and B
    frames: np.ndarray  # uint8 (2, 2, H, W, 3): each start's two warm-up frames (a NOOP between)
    walk: np.ndarray  # int64 (k,): moves planned on B's game, each one moving Pac-Man
    real: np.ndarray  # uint8 (1 + k, H, W, 3): B's real frame at the swap and after each move


def swap_pairs(config: GameConfig, k: int, pairs: int, *, seed: int = 0, max_tries: int = 20) -> list[SwapPair]:
    """`pairs` pairs of starts from consecutive real-game seeds (A = seed s, B = s + 1), each
    warmed up with one NOOP, and k random moves on B's game that each move Pac-Man."""
    out, rng = [], np.random.default_rng([seed, k, 7])
    for s in range(seed, seed + 2 * max_tries * pairs, 2):
        if len(out) == pairs:
            break
        starts = [_noop_start(config, s), _noop_start(config, s + 1)]
        game_b = starts[1][1]
        real, walk = [starts[1][0][-1]], []
        for _ in range(k):
            options = [a for a in MOVES if game_b.can_move(game_b.pacman_cell, a)]
            if not options:
                break
            walk.append(int(options[int(rng.integers(len(options)))]))
            frame, _, done = game_b.step(walk[-1])
            if done:
                break
            real.append(frame)
        if len(walk) == k and len(real) == k + 1:
            out.append(SwapPair((s, s + 1), np.stack([starts[0][0], starts[1][0]]), np.array(walk, dtype=np.int64),
                                np.stack(real)))
    return out


def _noop_start(config: GameConfig, seed: int) -> tuple[np.ndarray, Game]:
    game = Game(config, seed=seed)
    first, _ = game.reset()
    second, _, _ = game.step(NOOP)
    return np.stack([first, second]), game


@torch.no_grad()
def simulate_swaps(simulator: Any, pairs: Sequence[SwapPair],
                   device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """A's frames with B's memory swapped in, at the swap and after each move of the walk, and
    A's frames without the swap, each uint8 (N, 1 + k, H, W, 3)."""
    if isinstance(simulator, torch.nn.Module):
        simulator.eval()
    frames = to_model_frames(np.stack([p.frames for p in pairs])).to(device)  # (N, 2, 2, 3, H, W)
    noop = torch.full((len(pairs), 1), NOOP, dtype=torch.long, device=device)
    walk = torch.from_numpy(np.stack([p.walk for p in pairs])).to(device)  # (N, k)
    torch.manual_seed(0)
    state_a = simulator.warmup(frames[:, 0], noop)
    state_b = simulator.warmup(frames[:, 1], noop)
    swapped, _ = swap_static(simulator, state_a, state_b)
    out = {}
    for name, state in (("swapped", swapped), ("unswapped", state_a)):
        torch.manual_seed(0)
        drawn = [to_uint8_frames(state.frame)]
        for t in range(walk.shape[1]):
            frame, state, _ = simulator.step(state, walk[:, t])
            drawn.append(to_uint8_frames(frame))
        out[name] = np.stack(drawn, axis=1)
    return out["swapped"], out["unswapped"]


def swap_scores(reader: Any, drawn: np.ndarray, pairs: Sequence[SwapPair]) -> np.ndarray:
    """Wall-cell agreement of each drawn frame with B's real one, (N, 1 + k)."""
    real = np.stack([p.real for p in pairs])
    n, steps = real.shape[:2]
    walls_drawn = reader.read(drawn.reshape(-1, *drawn.shape[2:])).walls
    walls_real = reader.read(real.reshape(-1, *real.shape[2:])).walls
    return (walls_drawn == walls_real).mean(axis=(1, 2)).reshape(n, steps)
