"""Rich consoles shared by the CLI and progress displays (tables to stdout, logs to stderr),
and the log lines the Python API shows."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from rich.console import Console

# Piped or redirected output is read by programs and people alike: wide enough that no
# table cell is cut short with an ellipsis.
_PIPED_WIDTH = 1000


@cache
def stdout_console() -> Console:
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else _PIPED_WIDTH)


@cache
def stderr_console() -> Console:
    piped = not sys.stderr.isatty()
    return Console(stderr=True, soft_wrap=True, width=_PIPED_WIDTH if piped else None)


@contextmanager
def api_logging(quiet: bool) -> Iterator[None]:
    """Show rnnkit's INFO lines on stderr during a Python API call, as the CLI does.

    Nothing is added when ``quiet`` is true or when the caller configured logging
    already (a handler on the ``rnnkit`` logger or on the root logger): theirs wins.
    """
    logger = logging.getLogger("rnnkit")
    if quiet or logger.handlers or logging.getLogger().handlers:
        yield
        return
    from rich.logging import RichHandler

    handler = RichHandler(console=stderr_console(), show_path=False, show_time=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
