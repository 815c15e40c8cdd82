"""Many series in one long table (``data.series_column``): one global forecaster.

Each series (the rows sharing a ``series_column`` value) goes through the single-series
pipeline on its own: time axis, gaps filled, split in time by the same fractions, target
transform and scaler fitted on *its* training part. The windows of all series are then
pooled, so one model learns from all of them in the scaled units.

Evaluation inverts each series' forecasts with its own scaler and transform and scores
them in the data's units: per series (``<split>_series.json`` in the run directory) and
over all series (``metrics.json``). The overall MAE, RMSE, MAPE and sMAPE pool every
forecast step of every series; the overall MASE is the mean of the scaled errors
``|y - y-hat| / scale_s`` with each series' own in-sample seasonal-naive scale (Hyndman &
Koehler 2006), so series in large units do not dominate it. A probabilistic head's
``coverage_80``, ``pinball`` and ``crps`` are computed per series (quantiles through the
series' own inverse scaler and transform) and averaged over series weighted by their
windows, so the coverage is the share of all forecast steps inside their interval. The
baselines' intervals are computed for single series only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.config import Config
from rnnkit.data.batches import shuffled_loader
from rnnkit.data.transforms import TargetTransform
from rnnkit.errors import ConfigError, DataError, UserError
from rnnkit.evaluate.metrics import forecast_metrics, mase_scale
from rnnkit.rundir import PREPROCESS_DIR, read_json, write_json
from rnnkit.tasks.forecasting import probabilistic
from rnnkit.tasks.forecasting.panel_forecast import PANEL_FILE, split_series
from rnnkit.tasks.forecasting.predictor import inverse_targets
from rnnkit.tasks.forecasting.series import (
    SeriesParts,
    fit_transform,
    known_columns,
    load_frame,
    model_values,
    parts_from_frame,
    restore,
    season_length,
    target_names,
)
from rnnkit.tasks.forecasting.task import (
    ForecastingTask,
    baseline_predictions,
    origin_stride,
    part_bounds,
    test_origins,
    truth_at,
    windows,
)
from rnnkit.tasks.spec import PreparedData

log = logging.getLogger(__name__)


@dataclass
class PanelSeries:
    """One series of a panel: its parts, fitted transform and scaler, scaled rows."""

    name: str
    parts: SeriesParts
    transform: TargetTransform
    scaler: Any
    scaled: np.ndarray  # (T, F) float32


def is_panel(config: Config) -> bool:
    return bool(getattr(config.data, "series_column", None))


def load_panel(config: Config, saved: dict[str, Any] | None) -> list[PanelSeries]:
    """Every series of the panel, fitted on its own training part (or ``saved`` fits)."""
    from rnnkit.data import timeseries

    data = config.data
    frame, meta = load_frame(config)
    groups = split_series(config, frame)
    date_column = timeseries.resolve_date_column(
        frame,
        data.date_column or meta.get("date_column"),
        exclude=known_columns(config, target_names(config, frame, meta)),
        source=data.dataset,
    )
    panel = []
    for name, rows in groups:
        source = f"{data.dataset} [{data.series_column}={name}]"
        try:
            parts = parts_from_frame(
                config, rows, meta, source=source, date_column=date_column, resolved=True
            )
        except UserError as err:
            raise type(err)(f"series {name!r}: {err}") from None
        panel.append(_fitted(config, name, parts, (saved or {}).get(name)))
    frequencies = {series.parts.frequency for series in panel}
    if len(frequencies) > 1:
        raise ConfigError(
            f"the series of {data.dataset} have different frequencies "
            f"({', '.join(sorted(map(str, frequencies)))}); a panel needs one"
        )
    if len({tuple(series.parts.columns) for series in panel}) > 1:
        raise DataError(
            f"the series of {data.dataset} one-hot to different columns; list the "
            "categorical levels so every series has them"
        )
    return panel


def _fitted(
    config: Config, name: str, parts: SeriesParts, saved: dict[str, Any] | None
) -> PanelSeries:
    from rnnkit.data.timeseries import make_scaler, scaler_from_json

    if saved is not None:
        transform = TargetTransform.from_json(saved["transform"])
        scaler = scaler_from_json(saved["scaler"])
    else:
        transform = fit_transform(config, parts)
        scaler = make_scaler(config.data.scaler)
    values = model_values(parts, transform)
    if saved is None:
        scaler.fit(values[: parts.train_end])
    scaled = np.asarray(scaler.transform(values), dtype=np.float32)
    return PanelSeries(name, parts, transform, scaler, scaled)


def save_panel(run_dir: Path, config: Config, panel: list[PanelSeries]) -> None:
    """Per series: transform, scaler and the end of the series, for resume and inference."""
    keep = max(config.data.lookback + config.data.difference, 4 * config.data.horizon, 200)
    entries = {}
    for series in panel:
        parts = series.parts
        tail = slice(max(0, len(parts.values) - keep), len(parts.values))
        entries[series.name] = {
            "transform": series.transform.to_json(),
            "scaler": series.scaler.to_json(),
            "index": [str(i) for i in parts.index[tail]],
            "values": parts.values[tail].tolist(),
        }
    write_json(Path(run_dir) / PREPROCESS_DIR / PANEL_FILE, entries)


def prepare(config: Config, run_dir: Path) -> PreparedData:
    """Pooled windows of every series; artifacts keep each series' share of them."""
    data = config.data
    path = Path(run_dir) / PREPROCESS_DIR / PANEL_FILE
    saved = read_json(path) if path.is_file() else None
    panel = load_panel(config, saved)
    if saved is None:
        save_panel(run_dir, config, panel)
    lookback, horizon = data.lookback, data.horizon
    pooled: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {
        "train": [],
        "val": [],
        "test": [],
    }
    for series in panel:
        parts, lag = series.parts, series.transform.lag
        k, future = parts.num_targets, parts.future_size
        first = lookback + lag if lag else 0
        pooled["train"].append(
            windows(
                series.scaled, first, parts.train_end, lookback, horizon, k, data.stride, future
            )
        )
        for split in ("val", "test"):
            pooled[split].append(
                windows(
                    series.scaled,
                    *part_bounds(parts, split),
                    lookback,
                    horizon,
                    k,
                    origin_stride(parts, horizon, split),
                    future,
                )
            )
    eval_batch = data.eval_batch_size or data.batch_size

    def loader(split: str) -> DataLoader | None:
        inputs = torch.cat([x for x, _ in pooled[split]])
        targets = torch.cat([y for _, y in pooled[split]])
        if len(inputs) == 0:
            return None
        dataset = TensorDataset(inputs, targets)
        if split == "train":
            return shuffled_loader(
                dataset, data.batch_size, config.seed, num_workers=data.num_workers
            )
        return DataLoader(dataset, batch_size=eval_batch, num_workers=data.num_workers)

    sample = panel[0].parts  # every series has the same columns and frequency
    info = {
        "input_size": len(sample.columns),
        "num_targets": sample.num_targets,
        "lookback": lookback,
        "horizon": horizon,
        "columns": sample.columns,
        "target_columns": sample.target_columns,
        "frequency": sample.frequency,
        "season_length": season_length(config, sample.frequency),
        "future_size": sample.future_size,
        "date_column": sample.date_column,
        "series_column": data.series_column,
        "series": [series.name for series in panel],
    }
    counts = {split: [len(x) for x, _ in pooled[split]] for split in pooled}
    log.info(
        "panel: %d series (%s) x %d columns; windows train/val/test = %d/%d/%d",
        len(panel),
        ", ".join(series.name for series in panel[:5]) + (", ..." if len(panel) > 5 else ""),
        len(sample.columns),
        sum(counts["train"]),
        sum(counts["val"]),
        sum(counts["test"]),
    )
    return PreparedData(
        train=loader("train"),
        val=loader("val"),
        test=loader("test"),
        info=info,
        artifacts={"panel": panel, "counts": counts, "run_dir": run_dir},
    )


def forecasts(
    config: Config, model: nn.Module, prepared: PreparedData, split: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per series: model forecasts and the truth (N_s, H, K), in the data's units."""
    loader = prepared.val if split == "val" else prepared.test
    if loader is None:
        raise DataError(f"the {split} part is empty: set data.split.{split} > 0")
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(inputs) for inputs, _ in loader]).numpy()
    result, start = {}, 0
    horizon = config.data.horizon
    for series, count in zip(
        prepared.artifacts["panel"], prepared.artifacts["counts"][split], strict=True
    ):
        parts = series.parts
        origins = test_origins(parts, horizon, split)
        unscaled = inverse_targets(
            series.scaler, predicted[start : start + count], parts.num_targets
        )
        start += count
        result[series.name] = (
            restore(series.transform, unscaled, parts.values, origins),
            truth_at(parts, origins, horizon),
        )
    return result


def _scale(series: PanelSeries, seasons: int) -> float:
    parts = series.parts
    return mase_scale(parts.values[: parts.train_end, : parts.num_targets], seasons)


def pooled_metrics(
    per_series: dict[str, tuple[np.ndarray, np.ndarray]], scales: dict[str, float]
) -> dict[str, float]:
    """Metrics over every forecast step of every series; MASE from per-series scales."""
    predicted = np.concatenate([p.reshape(-1) for p, _ in per_series.values()])
    actual = np.concatenate([a.reshape(-1) for _, a in per_series.values()])
    metrics = forecast_metrics(predicted, actual, scale=1.0)
    scaled_errors = np.concatenate(
        [np.abs(p - a).reshape(-1) / scales[name] for name, (p, a) in per_series.items()]
    )
    metrics["mase"] = float(scaled_errors.mean())
    return metrics


def evaluate(
    config: Config, model: nn.Module, prepared: PreparedData, split: str
) -> dict[str, float]:
    """Overall metrics; the per-series table (model and baselines) goes to
    ``<split>_series.json`` in the run directory."""
    seasons = prepared.info["season_length"]
    panel = prepared.artifacts["panel"]
    scales = {series.name: _scale(series, seasons) for series in panel}
    per_series = forecasts(config, model, prepared, split)
    baselines = baseline_forecasts(config, prepared, split)
    table = {
        "model": {
            name: forecast_metrics(p, a, scale=scales[name]) for name, (p, a) in per_series.items()
        },
        "baselines": {
            method: {
                name: forecast_metrics(p, a, scale=scales[name]) for name, (p, a) in results.items()
            }
            for method, results in baselines.items()
        },
    }
    overall, intervals = model_intervals(model, prepared, split, per_series)
    for name, extra in intervals.items():
        table["model"][name].update(extra)
    write_json(Path(prepared.artifacts["run_dir"]) / f"{split}_series.json", table)
    prepared.artifacts[f"{split}_baselines"] = {
        method: pooled_metrics(results, scales) for method, results in baselines.items()
    }
    return {**pooled_metrics(per_series, scales), **overall}


def model_intervals(
    model: nn.Module,
    prepared: PreparedData,
    split: str,
    per_series: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """A probabilistic model's interval metrics: over all series (weighted by their
    windows) and per series; both empty for a point forecaster."""
    if model.likelihood == "none":
        return {}, {}
    loader = prepared.val if split == "val" else prepared.test
    with torch.no_grad():
        params = torch.cat([model.distribution(inputs) for inputs, _ in loader]).numpy()
    params = params.astype(np.float64)  # (N, H, K, P), every series' windows in turn
    horizon = prepared.info["horizon"]
    per: dict[str, dict[str, float]] = {}
    weights: dict[str, int] = {}
    start = 0
    for series, count in zip(
        prepared.artifacts["panel"], prepared.artifacts["counts"][split], strict=True
    ):
        parts = series.parts
        chunk, start = params[start : start + count], start + count
        if count == 0:
            continue
        origins = test_origins(parts, horizon, split)

        def invert(
            scaled: np.ndarray, series: PanelSeries = series, origins: np.ndarray = origins
        ) -> np.ndarray:
            unscaled = inverse_targets(series.scaler, scaled, series.parts.num_targets)
            return restore(series.transform, unscaled, series.parts.values, origins)

        per[series.name] = probabilistic.model_interval_metrics(
            chunk, per_series[series.name][1], invert, model.likelihood, model.quantiles
        )
        weights[series.name] = count
    total = sum(weights.values())
    overall = {
        key: float(sum(per[name][key] * weight for name, weight in weights.items()) / total)
        for key in (probabilistic.COVERAGE, "pinball", "crps")
    }
    return overall, per


def baseline_forecasts(
    config: Config, prepared: PreparedData, split: str
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per baseline, per series: forecasts and truth at the model's origins."""
    horizon, seasons = config.data.horizon, prepared.info["season_length"]
    result: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for series in prepared.artifacts["panel"]:
        parts = series.parts
        truth = truth_at(parts, test_origins(parts, horizon, split), horizon)
        for method, predicted in baseline_predictions(parts, horizon, seasons, split).items():
            result.setdefault(method, {})[series.name] = (predicted, truth)
    return result


def baselines(config: Config, prepared: PreparedData, split: str) -> dict[str, dict[str, float]]:
    """Overall baseline metrics (computed with the model's, or now)."""
    cached = prepared.artifacts.get(f"{split}_baselines")
    if cached is not None:
        return cached
    seasons = prepared.info["season_length"]
    scales = {series.name: _scale(series, seasons) for series in prepared.artifacts["panel"]}
    return {
        method: pooled_metrics(results, scales)
        for method, results in baseline_forecasts(config, prepared, split).items()
    }


class PanelForecastingTask(ForecastingTask):
    """The forecasting task as the registry runs it: one series as
    :class:`~rnnkit.tasks.forecasting.task.ForecastingTask` does, a long table with
    ``data.series_column`` as a panel (this module)."""

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        if is_panel(config):
            return prepare(config, run_dir)
        return super().prepare(config, run_dir)

    def evaluate(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        if "panel" in prepared.artifacts:
            return evaluate(config, model, prepared, split)
        return super().evaluate(config, model, prepared, split)

    def baselines(
        self, config: Config, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        if "panel" in prepared.artifacts:
            return baselines(config, prepared, split)
        return super().baselines(config, prepared, split)
