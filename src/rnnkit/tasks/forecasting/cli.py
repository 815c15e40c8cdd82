"""``rnnkit forecast``: the forecasting task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_command)


def forecast_command(
    run_dir: Annotated[Path, typer.Argument(help="A forecasting run directory.")],
    horizon: Annotated[
        int | None, typer.Option(help="Steps to forecast (default: the trained horizon).")
    ] = None,
    input_csv: Annotated[
        Path | None,
        typer.Option(
            "--input", help="CSV to forecast from (default: the end of the training data)."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="CSV to write (default: RUN_DIR/forecast.csv).")
    ] = None,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot/--no-plot",
            help="Write the PNG plot beside the CSV (--no-plot skips matplotlib: faster).",
        ),
    ] = True,
    future_csv: Annotated[
        Path | None,
        typer.Option(
            "--future",
            help="CSV of the known-future covariates for the forecast steps (models trained "
            "with data.future_covariates; or end --input with those rows, targets blank).",
        ),
    ] = None,
) -> None:
    """Forecast the steps after a series; print them, write a CSV and a PNG plot.

    Example: rnnkit forecast runs/co2-quickstart-20260101-120000 --horizon 26
    """
    from rnnkit.tasks.forecasting.predictor import write_forecast

    table, csv_path, png_path = write_forecast(
        run_dir,
        horizon=horizon,
        series=input_csv,
        output=output,
        plot=plot,
        future=future_csv,
    )
    typer.echo(table.to_string())
    typer.echo(f"wrote {csv_path}" + (f" and {png_path}" if png_path is not None else ""))
