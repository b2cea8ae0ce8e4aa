"""Running the `gamegan` CLI in a subprocess, as a user would (signals, exit codes, stderr)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cli(*args: str) -> list[str]:
    """The command line for `gamegan ARGS` with this interpreter."""
    return [sys.executable, "-m", "gamegan_cli", *args]


def cli_env() -> dict[str, str]:
    """The environment with this checkout importable (no install needed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return env
