"""``rnnkit generate``: the language-model task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)


def generate_command(
    run_dir: Annotated[Path, typer.Argument(help="A language-model run directory.")],
    prompt: Annotated[str, typer.Option(help="Text to continue.")] = "",
    length: Annotated[int, typer.Option(help="Number of tokens to generate.")] = 100,
    temperature: Annotated[float, typer.Option(help="0 is greedy; higher is more random.")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="Sample from the k likeliest tokens.")] = None,
    top_p: Annotated[
        float | None, typer.Option(help="Sample from the smallest set with this probability.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible sampling.")] = None,
) -> None:
    """Generate text with a trained language model.

    Example: rnnkit generate runs/shakespeare-char-20260101-120000 --prompt "ROMEO:" --seed 1
    """
    from rnnkit.predictor import load

    predictor = load(run_dir)
    text = predictor.generate(
        prompt, length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed
    )
    typer.echo(text)
