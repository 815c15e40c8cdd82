"""The `rnnkit` command line.

Each command is a thin wrapper: it parses arguments and calls the library. A
:class:`rnnkit.errors.UserError` becomes one line on stderr and exit code 2 (no
traceback unless ``--verbose``); anything else is a bug and exits with 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from rnnkit.errors import UserError

log = logging.getLogger("rnnkit")

app = typer.Typer(
    name="rnnkit",
    help="Recurrent neural networks from open dataset to tuned, evaluated model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="Find, describe and fetch datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging; tracebacks for errors.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[_log_handler()],
        force=True,
    )


def _log_handler() -> logging.Handler:
    from rich.logging import RichHandler

    from rnnkit.console import stderr_console

    return RichHandler(console=stderr_console(), show_path=False, show_time=False)


# ----------------------------------------------------------------------------- quickstart


@app.command()
def quickstart(
    run_dir: Annotated[
        Path | None, typer.Option(help="Where to write the run directory (default: runs/).")
    ] = None,
) -> None:
    """Offline demo: forecast Mauna Loa CO2 with a small LSTM against baselines.

    Example: rnnkit quickstart --run-dir runs/demo
    """
    try:
        from rnnkit.quickstart import run as run_quickstart
    except ImportError:
        typer.echo("The quickstart is not built yet: forecasting lands with the tasks.")
        return
    run_quickstart(run_dir)


# ----------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps UserError to exit 2 with one line."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args or "-v" in args
    try:
        app(args=args, prog_name="rnnkit", standalone_mode=True)
    except UserError as err:
        if verbose:
            raise
        typer.echo(f"error: {err}", err=True)
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main()
