"""Recording orchestration: play episodes with an agent and write them as HDF5 shards.

Episode `i` of a recording with base seed `s` always gets the same game and agent seeds,
whatever the worker count, so a dataset can be regenerated exactly. With several workers,
worker `w` plays episodes `w, w + W, w + 2W, ...` and writes its own shards, named after the
base seed, the worker and the first episode index, so several recorders can fill one folder.

SIGINT/SIGTERM stop recording after finalising every open shard: finished episodes are
kept, the episode in progress is dropped. SIGKILL loses at most the open shards, which live
under temporary names that readers never see.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from recorder.agents import Agent, make_agent
from recorder.dataset import DatasetError, DatasetMeta, Episode, ShardWriter, list_shards, open_dataset, shard_name
from recorder.display import has_display, no_display_reason
from recorder.game import ACTION_NAMES, PALETTE, Game, GameConfig

CREATED_WITH = "gamegan 0.1.0"


@dataclass
class RecordConfig:
    """What to record and where."""

    out: Path
    """Dataset directory (created if missing)."""
    episodes: int = 100
    """Episodes to record (added to the existing ones with `append`)."""
    workers: int = 1
    """Worker processes; each writes its own shards."""
    seed: int = 0
    """Base seed: episode i's seeds derive from (seed, i)."""
    agent: str = "mix"
    """Agent name: mix, greedy, random or human."""
    shard_episodes: int = 32
    """Episodes per shard file."""
    append: bool = False
    """Add to an existing compatible dataset instead of refusing a non-empty directory."""
    game: GameConfig = field(default_factory=GameConfig)
    """The game's configuration (mode, layout, ghosts, frame size...)."""

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.episodes < 1 or self.workers < 1 or self.shard_episodes < 1:
            raise ValueError("episodes, workers and shard-episodes must all be at least 1")
        if self.agent == "human" and self.workers != 1:
            raise ValueError("the human agent records with one worker (--workers 1)")
        if self.agent == "human" and not has_display():
            raise ValueError(f"the human agent needs a window, and there is no display here ({no_display_reason()})")
        if self.agent != "human":
            make_agent(self.agent, seed=0)  # an unknown agent name fails here, before any work


@dataclass
class RecordSummary:
    """What a recording produced."""

    episodes: int
    frames: int
    seconds: float
    shards: list[Path]
    interrupted: bool

    @property
    def frames_per_s(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def episode_seeds(base_seed: int, index: int) -> tuple[int, int]:
    """Game and agent seeds of episode `index`: a pure function of (base seed, index)."""
    game_ss, agent_ss = np.random.SeedSequence([base_seed, index]).spawn(2)
    return int(game_ss.generate_state(1)[0]), int(agent_ss.generate_state(1)[0])


def dataset_meta(game: GameConfig) -> DatasetMeta:
    """The self-description every shard of a recording carries."""
    size = game.frame_size
    return DatasetMeta(
        frame_shape=(size, size, 3), n_actions=len(ACTION_NAMES), action_names=list(ACTION_NAMES),
        game=game.to_dict(), palette={k: list(v) for k, v in PALETTE.items()},
        created_with=CREATED_WITH,
    )


def play_episode(game: Game, agent: Agent, rng: np.random.Generator, should_stop: Callable[[], bool]) -> Episode | None:
    """Play one episode to its end; None when a stop was requested before it ended."""
    frame, state = game.reset()
    agent.reset(game, rng)
    frames, actions, states = [frame], [], [state.to_arrays()]
    done = False
    while not done:
        if should_stop():
            return None
        action = agent.act(game)
        frame, state, done = game.step(action)
        frames.append(frame)
        actions.append(action)
        states.append(state.to_arrays())
        if getattr(agent, "quit_requested", False):
            break  # a human pressed Esc: keep what they played as a complete episode
    actions.append(-1)  # the last frame has no action applied to it
    return Episode(
        frames=np.stack(frames),
        actions=np.asarray(actions, dtype=np.int8),
        state={k: np.stack([s[k] for s in states]) for k in states[0]},
        seed=0, agent=agent.name, score=int(state.score),
    )


def _record_worker(cfg: RecordConfig, worker: int, indices: list[int], report: Callable[[int, int], None],
                   should_stop: Callable[[], bool]) -> list[Path]:
    """Play the given episode indices, writing shards of `cfg.shard_episodes` episodes."""
    meta = dataset_meta(cfg.game)
    written: list[Path] = []
    writer: ShardWriter | None = None
    agent: Agent | None = None
    try:
        for index in indices:
            if writer is None:
                writer = ShardWriter(cfg.out / shard_name(cfg.seed, worker, index), meta)
            game_seed, agent_seed = episode_seeds(cfg.seed, index)
            # Bots are rebuilt per episode so episode i plays the same whatever ran before it;
            # a human keeps one agent, hence one window, across episodes.
            if agent is None or cfg.agent != "human":
                agent = make_agent(cfg.agent, seed=agent_seed)
            episode = play_episode(Game(cfg.game, seed=game_seed), agent, np.random.default_rng(agent_seed), should_stop)
            if episode is None:
                break
            episode.seed = game_seed
            writer.add(episode)
            report(1, len(episode.frames))
            if writer.n_episodes >= cfg.shard_episodes:
                if (path := writer.close()) is not None:
                    written.append(path)
                writer = None
            if getattr(agent, "quit_requested", False) or should_stop():
                break
    finally:
        if writer is not None and (path := writer.close()) is not None:
            written.append(path)
    return written


def check_output(cfg: RecordConfig) -> int:
    """Validate the output directory; returns the episode count already there. `record` calls
    it first; a caller that draws progress calls it before drawing anything. Raises DatasetError."""
    shards = list_shards(cfg.out) if cfg.out.is_dir() else []
    if not shards:
        return 0
    if not cfg.append:
        raise DatasetError(f"{cfg.out}: already holds {len(shards)} shard(s); pass --append to add to it, or choose another --out")
    with open_dataset(cfg.out) as existing:
        reason = existing.meta.compatible_with(dataset_meta(cfg.game))
        if reason:
            raise DatasetError(f"{cfg.out}: cannot append, {reason}")
        return existing.n_episodes


class _StopFlag:
    """Set by SIGINT/SIGTERM; polled between game steps so shards are finalised cleanly."""

    def __init__(self) -> None:
        self.stopped = False

    def __call__(self) -> bool:
        return self.stopped

    def install(self) -> None:
        def handler(signum: int, frame: object) -> None:
            self.stopped = True
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def _worker_main(cfg: RecordConfig, worker: int, indices: list[int], progress: "mp.Queue") -> None:
    stop = _StopFlag()
    stop.install()
    paths = _record_worker(cfg, worker, indices, lambda e, f: progress.put(("ep", e, f)), stop)
    progress.put(("done", worker, [str(p) for p in paths]))


def record(cfg: RecordConfig, on_progress: Callable[[int, int], None] | None = None) -> RecordSummary:
    """Record `cfg.episodes` episodes into `cfg.out`; `on_progress(episodes, frames)` gets increments.

    Raises DatasetError when the output directory holds an incompatible or unexpected dataset.
    """
    cfg.out.mkdir(parents=True, exist_ok=True)
    first = check_output(cfg)
    indices = list(range(first, first + cfg.episodes))
    report = on_progress or (lambda e, f: None)
    counts = [0, 0]

    def count(e: int, f: int) -> None:
        counts[0] += e
        counts[1] += f
        report(e, f)

    start = time.perf_counter()
    if cfg.workers == 1:
        stop = _StopFlag()
        previous = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
        stop.install()
        try:
            shards = _record_worker(cfg, 0, indices, count, stop)
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
        interrupted = stop.stopped
    else:
        shards, interrupted = _record_parallel(cfg, indices, count)
    return RecordSummary(episodes=counts[0], frames=counts[1], seconds=time.perf_counter() - start,
                         shards=sorted(shards), interrupted=interrupted)


def _record_parallel(cfg: RecordConfig, indices: list[int], count: Callable[[int, int], None]) -> tuple[list[Path], bool]:
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    progress: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(cfg, w, indices[w::cfg.workers], progress), daemon=True)
             for w in range(cfg.workers)]
    stop = _StopFlag()
    previous = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    for p in procs:
        p.start()
    stop.install()  # after forking, so workers install their own handlers
    shards: list[Path] = []
    finished = 0
    forwarded = False
    try:
        while finished < len(procs):
            if stop.stopped and not forwarded:
                for p in procs:  # a SIGTERM to the parent alone must still finalise the workers' shards
                    if p.is_alive():
                        os.kill(p.pid, signal.SIGTERM)
                forwarded = True
            try:
                msg = progress.get(timeout=0.2)
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and progress.empty():
                    break  # a worker died without reporting (killed): stop waiting for it
                continue
            if msg[0] == "ep":
                count(msg[1], msg[2])
            else:
                finished += 1
                shards.extend(Path(s) for s in msg[2])
    finally:
        for p in procs:
            p.join(timeout=30)
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    return shards, stop.stopped
