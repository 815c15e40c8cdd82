"""``rnnkit tag``: the tagging task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("tag")(tag_command)


def tag_command(
    run_dir: Annotated[Path, typer.Argument(help="A tagging run directory.")],
    text: Annotated[
        list[str] | None, typer.Argument(help="Sentences to tag, one per argument.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A UTF-8 text file: one sentence per line.")
    ] = None,
) -> None:
    """Tag sentences; print one line of token/TAG pairs per sentence.

    Tokenisation is whitespace: separate punctuation as in the training data.

    Example: rnnkit tag runs/ud-ewt-upos-20260101-120000 "The quick brown fox jumps ."
    """
    from rnnkit.errors import UserError
    from rnnkit.predictor import load
    from rnnkit.tasks.tagging.predictor import format_tagged

    sentences = list(text or [])
    if file is not None:
        if not file.is_file():
            raise UserError(f"--file {file}: no such file")
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise UserError(f"--file {file}: not UTF-8 text") from None
        sentences.extend(lines)
    if not sentences:
        raise UserError('give sentences to tag: rnnkit tag RUN_DIR "A sentence ." or --file F')
    predictor = load(run_dir)
    tag = predictor.tag  # another task's run: a one-line UserError
    for pairs in tag(sentences):
        typer.echo(format_tagged(pairs))
