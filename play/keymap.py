"""What every key does in the play client, as pure data (no pygame import).

Movement comes from `recorder.keys` (arrows and WASD, the same map the human recording agent
uses); this module adds the client's commands and the letters of the headless driver. Key
names are those `pygame.key.name()` returns; the client turns them into key codes.
"""

from __future__ import annotations

from recorder.game.config import Action
from recorder.keys import KEY_ACTIONS, QUIT_KEYS

MOVE_KEYS: dict[str, int] = dict(KEY_ACTIONS)
"""Key name -> action id. Nothing pressed means NOOP."""

COMMAND_KEYS: dict[str, str] = {
    "r": "reset",
    "p": "pause",
    "n": "step",
    "c": "view",
    "x": "swap",
    "v": "side",
    "g": "gif",
    "h": "help",
    **{name: "quit" for name in QUIT_KEYS},
}
"""Key name -> client command."""

HELP: tuple[tuple[str, str], ...] = (
    ("arrows / WASD", "move (nothing pressed = stay)"),
    ("R", "reset: a new start"),
    ("P", "pause / resume"),
    ("N", "one step while paused"),
    ("C", "view: output / static / dynamic / masks"),
    ("X", "swap the static component with another start"),
    ("V", "side by side with the real game"),
    ("G", "start / stop recording a GIF"),
    ("H", "this help"),
    ("Esc", "quit"),
)
"""The help overlay's lines: (keys, what they do)."""

HEADLESS_LETTERS: dict[str, int] = {
    "U": int(Action.UP),
    "D": int(Action.DOWN),
    "L": int(Action.LEFT),
    "R": int(Action.RIGHT),
    "N": int(Action.NOOP),
}
"""Headless `--keys` letters (case-insensitive) -> action id: one letter per step."""
