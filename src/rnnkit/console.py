"""Rich consoles shared by the CLI and progress displays (tables to stdout, logs to stderr)."""

from __future__ import annotations

from functools import cache

from rich.console import Console


@cache
def stdout_console() -> Console:
    return Console(soft_wrap=True)


@cache
def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)
