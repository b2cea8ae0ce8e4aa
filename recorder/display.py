"""Whether a window can open here (used before anything draws, by recording and play)."""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """True when a window would be seen: an X11/Wayland display, or a desktop OS. SDL told to
    draw off screen (`SDL_VIDEODRIVER=dummy` or `offscreen`, as containers, CI and tests set)
    opens windows nobody can see, so that is no display either: a person could not play, and a
    command that waited for their keys would wait forever."""
    if os.environ.get("SDL_VIDEODRIVER", "").lower() in ("dummy", "offscreen"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def no_display_reason() -> str:
    """Why `has_display()` is False, in a few words for an error message."""
    driver = os.environ.get("SDL_VIDEODRIVER", "").lower()
    if driver in ("dummy", "offscreen"):
        return f"SDL_VIDEODRIVER={driver} draws windows nobody can see"
    return "DISPLAY/WAYLAND_DISPLAY unset"
