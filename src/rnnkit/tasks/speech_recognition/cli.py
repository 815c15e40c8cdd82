"""``rnnkit transcribe``: the speech recognition task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("transcribe")(transcribe_command)


def transcribe_command(
    run_dir: Annotated[Path, typer.Argument(help="A speech_recognition run directory.")],
    audio: Annotated[list[Path], typer.Argument(help="Audio files (WAV, FLAC, OGG).")],
    decoder: Annotated[
        str | None, typer.Option(help="greedy or beam (default: the run's model.decoder).")
    ] = None,
    beam_size: Annotated[
        int | None, typer.Option(help="Prefixes kept by beam search (default: the run's).")
    ] = None,
) -> None:
    """Transcribe audio files: one transcript per line, in the order given.

    Example: rnnkit transcribe runs/fsdd-connected-ctc-20260101-120000 clip1.wav clip2.wav
    """
    from rnnkit.errors import DataError
    from rnnkit.predictor import load
    from rnnkit.tasks.speech_recognition.predictor import SpeechRecognitionPredictor

    predictor = load(run_dir)
    if not isinstance(predictor, SpeechRecognitionPredictor):
        raise DataError(
            f"{run_dir} is a {predictor.task} run; transcribe needs a speech_recognition run"
        )
    for text in predictor.transcribe(audio, decoder=decoder, beam_size=beam_size):
        typer.echo(text)
