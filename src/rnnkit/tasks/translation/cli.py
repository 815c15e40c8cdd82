"""``rnnkit translate``: the translation task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("translate")(translate_command)


def translate_command(
    run_dir: Annotated[Path, typer.Argument(help="A translation run directory.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Sentences to translate.")] = None,
    file: Annotated[
        Path | None, typer.Option(help="Sentences from a UTF-8 file, one per line.")
    ] = None,
    beam_size: Annotated[
        int | None,
        typer.Option("--beam-size", help="Beam width (1: greedy; default: the run's)."),
    ] = None,
) -> None:
    """Translate sentences: one translation per line, in input order (deterministic).

    Example: rnnkit translate runs/multi30k-de-en-20260101-120000 "ein Mann fährt Fahrrad ."
    """
    from rnnkit.tasks.translation.predictor import translate_command_lines

    for line in translate_command_lines(run_dir, texts or [], file=file, beam_size=beam_size):
        typer.echo(line)
