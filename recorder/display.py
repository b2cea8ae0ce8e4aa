"""Whether a window can open here (used before anything draws, by recording and play)."""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """True with an X11/Wayland display, on a desktop OS, or when SDL is told to draw off screen
    (`SDL_VIDEODRIVER=dummy` or `offscreen`, as tests do). Without one, SDL would silently fall
    back to an invisible window and a human could not play."""
    if os.environ.get("SDL_VIDEODRIVER", "").lower() in ("dummy", "offscreen"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
