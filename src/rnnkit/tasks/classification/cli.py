"""``rnnkit predict``: the classification task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_command)


def predict_command(
    run_dir: Annotated[Path, typer.Argument(help="A classification run directory.")],
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Texts to classify (audio classifiers: audio files; sequence classifiers: "
            "CSV files of one sequence each)."
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(help="Inputs from a file: one per line, or a CSV column (--column)."),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="The CSV column that holds the texts (default: text).")
    ] = None,
) -> None:
    """Classify inputs: the label and the class probabilities of each.

    Example: rnnkit predict runs/imdb-bilstm-20260101-120000 "a fine film" "a dull film"

    Audio: rnnkit predict runs/fsdd-digits-20260101-120000 clip.wav other.flac
    """
    from rnnkit.tasks.classification.predictor import predict_command_rows

    rows = predict_command_rows(run_dir, inputs or [], file=file, column=column)
    for row in rows:
        typer.echo(row)
