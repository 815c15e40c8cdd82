"""``rnnkit forecast``: the forecasting task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_command)
    app.command("backtest")(backtest_command)


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


def backtest_command(
    run_dir: Annotated[Path, typer.Argument(help="A forecasting run directory.")],
    stride: Annotated[
        int | None, typer.Option(help="Steps between origins (default: the horizon).")
    ] = None,
    horizon: Annotated[
        int | None, typer.Option(help="Steps forecast from each origin (default: trained).")
    ] = None,
    refit: Annotated[
        bool,
        typer.Option(
            "--refit/--no-refit",
            help="Retrain the model (and refit the baselines) at every origin: one full "
            "training run per origin.",
        ),
    ] = False,
) -> None:
    """Rolling-origin backtest over the test part, model against baselines.

    Forecasts from every STRIDE-th row of the test part with the data before it only,
    scores each origin and all together, writes RUN_DIR/backtest.json and prints the
    aggregate table. Without --refit nothing is retrained.

    Example: rnnkit backtest runs/airline-passengers-20260101-120000 --stride 3
    """
    from rich.table import Table

    from rnnkit.console import stdout_console
    from rnnkit.evaluate.compare import beaten_by
    from rnnkit.tasks import get_spec
    from rnnkit.tasks.forecasting.backtest import BACKTEST_FILE, MODEL, backtest

    result = backtest(run_dir, stride=stride, horizon=horizon, refit=refit)
    aggregate = result["aggregate"]
    columns: list[str] = []
    for values in aggregate.values():
        columns.extend(k for k in values if k not in columns)
    title = (
        f"backtest: {len(result['origins'])} origins, horizon {result['horizon']}, stride "
        f"{result['stride']}, {'refit at each origin' if refit else 'no retraining'}"
    )
    table = Table("forecaster", *columns, title=title)
    for name, values in aggregate.items():
        cells = [f"{v:.4g}" if isinstance(v, float) else "-" for v in map(values.get, columns)]
        table.add_row("rnnkit" if name == MODEL else name, *cells)
    stdout_console().print(table)
    spec = get_spec("forecasting")
    compared = {
        "test": aggregate[MODEL],
        "baselines": {n: v for n, v in aggregate.items() if n != MODEL},
    }
    for baseline, names in beaten_by(compared, spec.metrics, spec.nominal).items():
        typer.echo(f"note: baseline {baseline} does better than the model on {', '.join(names)}")
    typer.echo(f"wrote {Path(run_dir) / BACKTEST_FILE}")
