"""gamegan: learn a playable neural game simulator (GameGAN) from recorded play."""

__version__ = "0.1.0"
