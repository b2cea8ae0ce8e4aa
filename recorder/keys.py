"""The keyboard map as pure data: pygame key names -> action ids (arrows and WASD), Esc quits.

Names are those `pygame.key.name()` returns, so this module does not import pygame; turn
them into key codes with `pygame.key.key_code(name)` where a display is up.
"""

from __future__ import annotations

from recorder.game.config import Action

KEY_ACTIONS: dict[str, int] = {
    "up": int(Action.UP),
    "down": int(Action.DOWN),
    "left": int(Action.LEFT),
    "right": int(Action.RIGHT),
    "w": int(Action.UP),
    "s": int(Action.DOWN),
    "a": int(Action.LEFT),
    "d": int(Action.RIGHT),
}
"""Key name -> action id. Nothing pressed means NOOP."""

QUIT_KEYS: tuple[str, ...] = ("escape",)
"""Keys that end the session."""


def action_for_key(name: str) -> int | None:
    """The action a key name maps to, or None when it is not a movement key."""
    return KEY_ACTIONS.get(name.lower())
