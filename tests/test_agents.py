"""Bots and the keyboard agent (recorder/agents.py, recorder/keys.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from recorder.agents import AGENT_NAMES, GreedyAgent, HumanAgent, MixAgent, RandomAgent, make_agent
from recorder.game import N_ACTIONS, Action, Game, GameConfig
from recorder.keys import KEY_ACTIONS, QUIT_KEYS, action_for_key

CONFIGS = [GameConfig(), GameConfig(n_ghosts=4), GameConfig(layout="small", frame_size=32),
           GameConfig(mode="maze", n_ghosts=3)]


def run_episode(game: Game, agent, seed: int) -> tuple[list[int], object]:
    game.reset()
    agent.reset(game, np.random.default_rng(seed))
    actions, done, state = [], False, None
    while not done:
        a = agent.act(game)
        assert isinstance(a, int) and 0 <= a < N_ACTIONS
        actions.append(a)
        _, state, done = game.step(a)
    return actions, state


def test_make_agent():
    assert AGENT_NAMES == ("mix", "greedy", "random", "human")
    assert isinstance(make_agent(), MixAgent)
    for name, cls in (("mix", MixAgent), ("greedy", GreedyAgent), ("random", RandomAgent), ("human", HumanAgent)):
        agent = make_agent(name, seed=1)
        assert isinstance(agent, cls) and agent.name == name
    with pytest.raises(ValueError, match="mix, greedy, random, human"):
        make_agent("smart")


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.mode}-{c.layout}-{c.n_ghosts}")
def test_mix_covers_every_action(cfg):
    game = Game(cfg, seed=11)
    agent = make_agent("mix", seed=0)
    long_episodes = 0
    for ep in range(25):
        actions, _ = run_episode(game, agent, seed=ep)
        if len(actions) >= 40:
            long_episodes += 1
            assert set(actions[:40]) == set(range(N_ACTIONS)), (ep, sorted(set(actions[:40])))
    assert long_episodes >= 5


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.mode}-{c.layout}-{c.n_ghosts}")
def test_greedy_eats_pellets(cfg):
    game = Game(cfg, seed=3)
    agent = make_agent("greedy", seed=0)
    scores, lengths = [], []
    for ep in range(5):
        actions, state = run_episode(game, agent, seed=ep)
        scores.append(state.score)
        lengths.append(len(actions))
    # at least a pellet every four steps on average: it walks to food
    assert np.mean(scores) / np.mean(lengths) >= cfg.pellet_score / 4
    assert min(scores) > 0


def test_greedy_beats_random():
    game = Game(GameConfig(), seed=5)
    greedy = [run_episode(game, make_agent("greedy"), s)[1].score for s in range(8)]
    rand = [run_episode(game, make_agent("random"), s)[1].score for s in range(8)]
    assert np.mean(greedy) > 2 * np.mean(rand)


def test_greedy_steps_away_from_a_ghost():
    """With a chaser next to him and no randomness, greedy never walks into it."""
    game = Game(GameConfig(ghost_speed=0.0), seed=0)
    agent = GreedyAgent(epsilon=0.0)
    game.reset()
    agent.reset(game, np.random.default_rng(0))
    pac = game.state.pacman
    for a in (Action.LEFT, Action.RIGHT, Action.UP, Action.DOWN):
        if game.can_move(pac, a):
            ghost = pac + np.array({1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}[int(a)])
            game._ghosts.cells[0] = int(ghost[0]) * game.grid_shape[1] + int(ghost[1])  # white-box
            break
    _, state, done = game.step(agent.act(game))
    assert not done and tuple(state.pacman) != tuple(ghost)


def test_random_agent_keeps_directions():
    game = Game(GameConfig(ghost_speed=0.0), seed=0)
    actions, _ = run_episode(game, RandomAgent(), seed=0)
    runs = 1 + sum(a != b for a, b in zip(actions, actions[1:]))
    assert len(actions) / runs >= 2.0
    assert 0 in actions


@pytest.mark.parametrize("name", ["mix", "greedy", "random"])
def test_agents_are_deterministic(name):
    results = []
    for _ in range(2):
        game = Game(GameConfig(mode="maze"), seed=2)
        results.append(run_episode(game, make_agent(name), seed=9)[0])
    assert results[0] == results[1]


def test_keymap_is_data():
    assert {KEY_ACTIONS[k] for k in ("up", "w")} == {Action.UP}
    assert {KEY_ACTIONS[k] for k in ("down", "s")} == {Action.DOWN}
    assert {KEY_ACTIONS[k] for k in ("left", "a")} == {Action.LEFT}
    assert {KEY_ACTIONS[k] for k in ("right", "d")} == {Action.RIGHT}
    assert action_for_key("LEFT") == Action.LEFT and action_for_key("x") is None
    assert QUIT_KEYS == ("escape",)


def test_human_agent_headless():
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    pygame = pytest.importorskip("pygame")

    def post(kind, key):
        pygame.event.post(pygame.event.Event(kind, key=key, mod=0, unicode="", scancode=0))

    game = Game(GameConfig(), seed=0)
    game.reset()
    agent = make_agent("human", scale=2, fps=0)
    agent.reset(game, np.random.default_rng(0))
    try:
        for name in list(KEY_ACTIONS) + list(QUIT_KEYS):
            assert pygame.key.key_code(name)  # every name in the keymap is a real pygame key
        assert agent.act(game) == Action.NOOP  # nothing pressed
        post(pygame.KEYDOWN, pygame.K_LEFT)
        assert agent.act(game) == Action.LEFT
        assert agent.act(game) == Action.LEFT  # still held
        post(pygame.KEYDOWN, pygame.K_d)
        assert agent.act(game) == Action.RIGHT  # the newest held key wins
        post(pygame.KEYUP, pygame.K_d)
        assert agent.act(game) == Action.LEFT
        post(pygame.KEYUP, pygame.K_LEFT)
        assert agent.act(game) == Action.NOOP
        post(pygame.KEYDOWN, pygame.K_w)  # a tap between two frames still counts
        post(pygame.KEYUP, pygame.K_w)
        assert agent.act(game) == Action.UP
        assert agent.act(game) == Action.NOOP
        for key, action in ((pygame.K_DOWN, Action.DOWN), (pygame.K_s, Action.DOWN), (pygame.K_a, Action.LEFT),
                            (pygame.K_RIGHT, Action.RIGHT), (pygame.K_UP, Action.UP)):
            post(pygame.KEYDOWN, key)
            assert agent.act(game) == action
            post(pygame.KEYUP, key)
        # a record loop: play until the episode ends or the player quits
        post(pygame.KEYDOWN, pygame.K_ESCAPE)
        steps, done = 0, False
        while not done and not agent.quit_requested:
            _, _, done = game.step(agent.act(game))
            steps += 1
        assert agent.quit_requested and steps <= 1
        assert agent.act(game) == Action.NOOP
    finally:
        agent.close()
