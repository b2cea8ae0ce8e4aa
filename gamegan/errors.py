"""The errors a user can fix: the CLI prints them as one line and exits non-zero.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from recorder.dataset import DatasetError

from gamegan.config import ConfigError


class UsageError(Exception):
    """Bad arguments or an impossible request (one line, shown as is)."""


class CheckpointError(Exception):
    """A checkpoint or run directory that cannot be loaded (missing, corrupt, other config)."""


USER_ERRORS: tuple[type[Exception], ...] = (UsageError, DatasetError, ConfigError, CheckpointError)
