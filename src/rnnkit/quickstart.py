"""The offline quickstart: forecast Mauna Loa CO2 with a small LSTM against baselines.

``rnnkit quickstart`` (and ``make demo``) trains the experiment in the packaged
``rnnkit/configs/co2-quickstart.yaml``: the weekly CO2 series that ships inside
statsmodels (no network), gaps interpolated, scaled on the training part, cut into
windows of 104 weeks, and a one-layer LSTM that forecasts the next 52 weeks. It then
prints the test metrics next to the naive, seasonal-naive and Holt-Winters baselines
and writes a forecast plot into the run directory.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml

log = logging.getLogger(__name__)

CONFIG_NAME = "co2-quickstart.yaml"
BASELINE_LABELS = {
    "naive": "naive (last value)",
    "seasonal_naive": "seasonal naive",
    "holt_winters": "Holt-Winters",
}
COLUMNS = ("mae", "rmse", "smape", "mase")
INTERVAL_COLUMNS = ("coverage_80", "crps")
COLUMN_TITLES = {"smape": "sMAPE %", "coverage_80": "80% coverage", "crps": "CRPS"}


def packaged_config_text() -> str:
    """The YAML of the quickstart config shipped inside the package."""
    return resources.files("rnnkit").joinpath("configs", CONFIG_NAME).read_text("utf-8")


def run(run_dir: Path | None = None, overrides: dict[str, Any] | None = None) -> Path:
    """Train, evaluate and plot the quickstart; print the comparison; return the run dir.

    ``overrides`` (dotted keys) exist for tests that need a shorter run.
    """
    from rnnkit import rundir as checkpoint
    from rnnkit.engine.api import train
    from rnnkit.tasks.forecasting.task import FORECAST_PLOT_SUFFIX

    raw = yaml.safe_load(packaged_config_text())
    from rnnkit.tasks import load_config

    config = load_config(raw, overrides)
    if run_dir is None:
        run_dir = checkpoint.new_run_dir(config.name)
    # Two threads fit the two cores the quickstart is sized for; more only adds contention.
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    try:
        run_dir = train(config, run_dir=run_dir)
    finally:
        torch.set_num_threads(threads)
    metrics = json.loads((Path(run_dir) / checkpoint.METRICS_FILE).read_text("utf-8"))
    print_summary(metrics, Path(run_dir), Path(run_dir) / f"test_{FORECAST_PLOT_SUFFIX}")
    return Path(run_dir)


def comparison_rows(metrics: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """(label, test metrics) for the model, then each baseline, from metrics.json."""
    rows = [("LSTM", metrics["test"])]
    for key, label in BASELINE_LABELS.items():
        if key in metrics.get("baselines", {}):
            rows.append((label, metrics["baselines"][key]))
    return rows


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_summary(metrics: dict[str, Any], run_dir: Path, plot: Path) -> None:
    from rich.table import Table

    from rnnkit.console import stdout_console

    table = Table(title="CO2, 52-week forecasts over the test years (ppm)")
    table.add_column("model")
    # A probabilistic model (model.likelihood) also reports its 80% interval's coverage.
    columns = (*COLUMNS, *(c for c in INTERVAL_COLUMNS if c in metrics["test"]))
    for name in columns:
        table.add_column(COLUMN_TITLES.get(name, name.upper()), justify="right")
    for label, values in comparison_rows(metrics):
        table.add_row(label, *(_cell(values.get(name)) for name in columns))
    console = stdout_console()
    console.print(table)
    model_rmse = metrics["test"]["rmse"]
    seasonal_rmse = metrics.get("baselines", {}).get("seasonal_naive", {}).get("rmse")
    if seasonal_rmse is not None:
        verdict = "beats" if model_rmse < seasonal_rmse else "does NOT beat"
        console.print(
            f"The LSTM {verdict} seasonal naive on RMSE ({model_rmse:.3f} vs {seasonal_rmse:.3f})."
        )
    console.print(f"Run directory: {run_dir}")
    console.print(f"Forecast plot: {plot}")
