"""The client's text: the status strip under the game, the help overlay, short messages.

Text is drawn only here and only onto the window, never into game frames (recorded GIFs and
the frames a model sees stay text-free).
"""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # before pygame's import prints its banner

import pygame  # noqa: E402

from play.keymap import HELP  # noqa: E402

STRIP_LINES = 2
"""Lines of text in the status strip below the game."""

TEXT = (235, 235, 235)
DIM = (150, 150, 160)
ALERT = (255, 200, 60)
BACKGROUND = (18, 18, 24)


class Hud:
    """Draws the status strip, a timed message and the help overlay with pygame.font."""

    def __init__(self, font_size: int = 18):
        pygame.font.init()
        self.font = pygame.font.Font(None, font_size)
        self.line_height = self.font.get_linesize() + 2
        self.message, self.message_until = "", 0.0

    @property
    def strip_height(self) -> int:
        return STRIP_LINES * self.line_height + 6

    def say(self, message: str, now: float, seconds: float = 3.0) -> None:
        """Show `message` in the strip for `seconds` (it replaces the previous one)."""
        self.message, self.message_until = message, now + seconds

    def draw_strip(self, surface: pygame.Surface, top: int, left_lines: list[str], right: str, now: float) -> None:
        """Fill the strip from `top` down: two left-aligned lines, `right` right-aligned on the
        first, and the current message (if any) right-aligned on the second."""
        width = surface.get_width()
        surface.fill(BACKGROUND, pygame.Rect(0, top, width, surface.get_height() - top))
        y = top + 3
        for i, line in enumerate(left_lines[:STRIP_LINES]):
            surface.blit(self.font.render(line, True, TEXT if i == 0 else DIM), (6, y + i * self.line_height))
        if right:
            image = self.font.render(right, True, TEXT)
            surface.blit(image, (width - image.get_width() - 6, y))
        if self.message and now < self.message_until:
            image = self.font.render(self.message, True, ALERT)
            surface.blit(image, (width - image.get_width() - 6, y + self.line_height))

    def draw_help(self, surface: pygame.Surface, height: int) -> None:
        """A translucent panel over the top `height` pixels listing every key."""
        width = surface.get_width()
        panel = pygame.Surface((width, height), pygame.SRCALPHA)
        panel.fill((0, 0, 0, 200))
        keys_width = max(self.font.size(keys)[0] for keys, _ in HELP) + 24
        y = max(8, (height - len(HELP) * self.line_height) // 2)
        for keys, what in HELP:
            panel.blit(self.font.render(keys, True, ALERT), (12, y))
            panel.blit(self.font.render(what, True, TEXT), (12 + keys_width, y))
            y += self.line_height
        surface.blit(panel, (0, 0))
