"""The forecasting task: series -> windows -> recurrent forecaster -> metrics vs baselines.

Data preparation, in order (each step fitted on the training part only):

1. load the series (``data.dataset``), parse dates, one-hot the categorical columns;
2. fill gaps (``data.fill_missing``);
3. split in time: training part, then validation, then test at the end (``data.split``);
4. scale with a scaler fitted on the training part (``data.scaler``);
5. cut windows of ``lookback`` input rows and ``horizon`` target rows. Validation and
   test windows start ``lookback`` rows before their part, so every forecast step of
   the part is predicted from data that precedes it, and none outside it is scored.

Evaluation scores every test window (one forecast origin per row of the test part that
has ``horizon`` rows after it; evenly thinned to at most ``MAX_EVAL_ORIGINS``) in the
original units, next to the naive, seasonal naive and Holt-Winters baselines forecast
from the same origins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.config import Config
from rnnkit.errors import ConfigError, DataError
from rnnkit.evaluate import baselines as baseline_forecasts
from rnnkit.evaluate.metrics import forecast_metrics, mase_scale
from rnnkit.models.forecaster import Forecaster
from rnnkit.train.checkpoint import PREPROCESS_DIR, read_json, write_json, write_text
from rnnkit.train.module import RecurrentModule
from rnnkit.train.tasks import PreparedData

log = logging.getLogger(__name__)

SCALER_FILE = "scaler.json"
HISTORY_FILE = "history.json"


@dataclass
class SeriesParts:
    """A filled series (original units) and where its parts end.

    ``values`` is (T, F) with the K target columns first; the training part is
    ``[0, train_end)``, validation ``[train_end, valid_end)``, test ``[valid_end, T)``.
    """

    index: Any  # pandas DatetimeIndex or RangeIndex, length T
    values: np.ndarray  # (T, F) float32
    columns: list[str]
    target_columns: list[str]
    frequency: str | None
    train_end: int
    valid_end: int
    categories: dict[str, list[str]] = field(default_factory=dict)  # one-hot levels
    date_column: str | list[str] | None = None

    @property
    def num_targets(self) -> int:
        return len(self.target_columns)


def season_length(config: Config, frequency: str | None) -> int:
    """``data.season_length`` if set, else the one the frequency implies (1 if none)."""
    if config.data.season_length:
        return config.data.season_length
    from rnnkit.data.timeseries import season_length_for

    return season_length_for(frequency) or 1


def load_parts(config: Config) -> SeriesParts:
    """Load, encode and fill the series a config names, and place the split points."""
    from rnnkit.data import sources, timeseries

    data = config.data
    loaded = sources.load(data.dataset, cache_dir=data.cache_dir, offline=data.offline)
    if loaded.kind != "series":
        raise DataError(
            f"data.dataset = {data.dataset!r} is a {loaded.kind} dataset; forecasting needs "
            "a time series (a CSV with a date column, or a catalog series such as co2)"
        )
    frame = next(iter(loaded.splits.values()))
    date_column = data.date_column or loaded.meta.get("date_column")
    target = data.target or loaded.meta.get("target")
    if not target:
        columns = ", ".join(map(str, frame.columns))
        raise ConfigError(f"data.target is required: name the column(s) to forecast ({columns})")
    table = timeseries.load_series(
        frame,
        date_column=date_column,
        target=target,
        covariates=tuple(data.covariates),
        categorical=tuple(data.categorical),
        frequency=data.frequency,
    )
    # fill_missing refuses "drop" here: it would break the series' regular spacing.
    values = np.asarray(timeseries.fill_missing(table.values, data.fill_missing), dtype=np.float32)
    index = table.index
    split = timeseries.time_split(
        len(values),
        valid=data.split.valid,
        test=data.split.test,
        lookback=data.lookback,
        horizon=data.horizon,
    )
    return SeriesParts(
        index=index,
        values=values,
        columns=list(table.columns),
        target_columns=list(table.target_columns),
        frequency=table.frequency,
        train_end=split.train_end,
        valid_end=split.valid_end,
        categories=table.categories,
        date_column=date_column,
    )


def windows(
    scaled: np.ndarray,
    start: int,
    end: int,
    lookback: int,
    horizon: int,
    num_targets: int,
    stride: int = 1,
) -> tuple[Tensor, Tensor]:
    """Windows whose forecast steps all lie in ``[start, end)``: inputs (N, L, F), targets (N, H, K)."""
    from rnnkit.data.timeseries import make_windows

    segment = scaled[max(0, start - lookback) : end]
    if len(segment) < lookback + horizon:
        empty = np.zeros((0, lookback, scaled.shape[1]), np.float32)
        return torch.from_numpy(empty), torch.zeros(0, horizon, num_targets)
    inputs, targets = make_windows(
        segment, lookback, horizon, stride=stride, target_columns=list(range(num_targets))
    )
    return (
        torch.as_tensor(np.asarray(inputs), dtype=torch.float32),
        torch.as_tensor(np.asarray(targets), dtype=torch.float32),
    )


#: Evaluation uses at most this many forecast origins per split, evenly spaced: a long
#: hourly series (Beijing PM2.5) would otherwise refit Holt-Winters thousands of times.
MAX_EVAL_ORIGINS = 400


def part_bounds(parts: SeriesParts, split: str) -> tuple[int, int]:
    """First and one-past-last row of ``split`` ("val" or "test")."""
    if split == "val":
        return parts.train_end, parts.valid_end
    return parts.valid_end, len(parts.values)


def origin_stride(parts: SeriesParts, horizon: int, split: str) -> int:
    """Steps between evaluation origins: 1, or more to stay within MAX_EVAL_ORIGINS."""
    start, end = part_bounds(parts, split)
    count = max(0, end - horizon + 1 - start)
    return max(1, -(-count // MAX_EVAL_ORIGINS))


def test_origins(parts: SeriesParts, horizon: int, split: str) -> np.ndarray:
    """Forecast origins (index of the first forecast step) of every window of ``split``.

    The model's windows and every baseline are scored at exactly these origins.
    """
    start, end = part_bounds(parts, split)
    return np.arange(start, end - horizon + 1, origin_stride(parts, horizon, split))


class ForecastingModule(RecurrentModule):
    """Mean squared error on the scaled targets of every forecast step."""

    def step_loss(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch  # (B, L, F), (B, H, K)
        loss = nn.functional.mse_loss(self.model(inputs), targets)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch
        loss = nn.functional.mse_loss(self.model(inputs), targets)
        self.log("val/loss", loss, prog_bar=True, on_epoch=True, batch_size=inputs.shape[0])
        return loss


class ForecastingTask:
    """The :class:`rnnkit.train.tasks.Task` for ``task: forecasting``."""

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        from rnnkit.data.timeseries import make_scaler, scaler_from_json

        data = config.data
        parts = load_parts(config)
        scaler_path = Path(run_dir) / PREPROCESS_DIR / SCALER_FILE
        if scaler_path.is_file():
            scaler = scaler_from_json(read_json(scaler_path))
        else:
            scaler = make_scaler(data.scaler)
            scaler.fit(parts.values[: parts.train_end])
            write_json(scaler_path, scaler.to_json())
        scaled = np.asarray(scaler.transform(parts.values), dtype=np.float32)
        lookback, horizon, k = data.lookback, data.horizon, parts.num_targets
        train_x, train_y = windows(scaled, 0, parts.train_end, lookback, horizon, k, data.stride)
        val_x, val_y = windows(
            scaled,
            *part_bounds(parts, "val"),
            lookback,
            horizon,
            k,
            origin_stride(parts, horizon, "val"),
        )
        test_x, test_y = windows(
            scaled,
            *part_bounds(parts, "test"),
            lookback,
            horizon,
            k,
            origin_stride(parts, horizon, "test"),
        )
        seasons = season_length(config, parts.frequency)
        _save_history(run_dir, config, parts)
        generator = torch.Generator().manual_seed(config.seed)
        eval_batch = data.eval_batch_size or data.batch_size

        def loader(x: Tensor, y: Tensor, shuffle: bool) -> DataLoader | None:
            if len(x) == 0:
                return None
            return DataLoader(
                TensorDataset(x, y),
                batch_size=data.batch_size if shuffle else eval_batch,
                shuffle=shuffle,
                generator=generator if shuffle else None,
                num_workers=data.num_workers,
            )

        info = {
            "input_size": len(parts.columns),
            "num_targets": k,
            "lookback": lookback,
            "horizon": horizon,
            "columns": parts.columns,
            "target_columns": parts.target_columns,
            "frequency": parts.frequency,
            "season_length": seasons,
        }
        log.info(
            "series: %d rows x %d columns (%s); windows train/val/test = %d/%d/%d",
            len(parts.values),
            len(parts.columns),
            ", ".join(parts.columns),
            len(train_x),
            len(val_x),
            len(test_x),
        )
        return PreparedData(
            train=loader(train_x, train_y, True),
            val=loader(val_x, val_y, False),
            test=loader(test_x, test_y, False),
            info=info,
            artifacts={"parts": parts, "scaler": scaler, "scaled": scaled, "run_dir": run_dir},
        )

    def build_model(self, config: Config, info: dict[str, Any]) -> nn.Module:
        return Forecaster(info["input_size"], info["num_targets"], info["horizon"], config.model)

    def build_module(
        self, config: Config, model: nn.Module, prepared: PreparedData
    ) -> RecurrentModule:
        return ForecastingModule(model, config.train)

    def forecasts(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Model forecasts and the truth on ``split``, (N, H, K) each, in original units."""
        parts: SeriesParts = prepared.artifacts["parts"]
        scaler = prepared.artifacts["scaler"]
        loader = prepared.val if split == "val" else prepared.test
        if loader is None:
            raise DataError(
                f"the {split} part is empty: set data.split.{'valid' if split == 'val' else 'test'} > 0"
            )
        model.eval()
        predicted, actual = [], []
        with torch.no_grad():
            for inputs, targets in loader:
                predicted.append(model(inputs))
                actual.append(targets)
        k = parts.num_targets
        return (
            inverse_targets(scaler, torch.cat(predicted).numpy(), k),
            inverse_targets(scaler, torch.cat(actual).numpy(), k),
        )

    def evaluate(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        parts: SeriesParts = prepared.artifacts["parts"]
        predicted, actual = self.forecasts(config, model, prepared, split)
        if split == "test":
            plot_last_origin(prepared.artifacts["run_dir"], config, model, prepared, split)
        scale = mase_scale(
            parts.values[: parts.train_end, : parts.num_targets], prepared.info["season_length"]
        )
        return forecast_metrics(predicted, actual, scale=scale)

    def baselines(
        self, config: Config, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        parts: SeriesParts = prepared.artifacts["parts"]
        predictions = baseline_predictions(
            parts, config.data.horizon, prepared.info["season_length"], split
        )
        truth = truth_at(
            parts, test_origins(parts, config.data.horizon, split), config.data.horizon
        )
        scale = mase_scale(
            parts.values[: parts.train_end, : parts.num_targets], prepared.info["season_length"]
        )
        return {name: forecast_metrics(p, truth, scale=scale) for name, p in predictions.items()}


def inverse_targets(scaler: Any, scaled_targets: np.ndarray, num_targets: int) -> np.ndarray:
    """Undo the scaling of the target columns (..., K) (the first K scaler columns)."""
    flat = np.asarray(scaled_targets, dtype=np.float64).reshape(-1, num_targets)
    restored = scaler.inverse_transform(flat, columns=list(range(num_targets)))
    return np.asarray(restored).reshape(scaled_targets.shape)


def truth_at(parts: SeriesParts, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The observed targets (N, H, K) after each origin."""
    index = origins[:, None] + np.arange(horizon)[None, :]
    return parts.values[index][..., : parts.num_targets].astype(np.float64)


def baseline_predictions(
    parts: SeriesParts, horizon: int, seasons: int, split: str
) -> dict[str, np.ndarray]:
    """Naive, seasonal naive and Holt-Winters forecasts (N, H, K) at the split's origins."""
    targets = parts.values[:, : parts.num_targets].astype(np.float64)
    origins = test_origins(parts, horizon, split)
    return {
        "naive": baseline_forecasts.naive_forecast(targets, origins, horizon),
        "seasonal_naive": baseline_forecasts.seasonal_naive_forecast(
            targets, origins, horizon, seasons
        ),
        "holt_winters": baseline_forecasts.holt_winters_forecast(
            targets, origins, horizon, seasons, fit_end=parts.train_end
        ),
    }


def _save_history(run_dir: Path, config: Config, parts: SeriesParts) -> None:
    """The end of the series (original units, dates), so a forecast needs no data files."""
    keep = max(config.data.lookback, 4 * config.data.horizon, 200)
    tail = slice(max(0, len(parts.values) - keep), len(parts.values))
    write_json(
        Path(run_dir) / PREPROCESS_DIR / HISTORY_FILE,
        {
            "index": [str(i) for i in parts.index[tail]],
            "columns": parts.columns,
            "target_columns": parts.target_columns,
            "frequency": parts.frequency,
            "categories": parts.categories,
            "date_column": parts.date_column,
            "values": parts.values[tail].tolist(),
        },
    )


FORECAST_PLOT_SUFFIX = "forecast.png"


def plot_last_origin(
    run_dir: Path, config: Config, model: nn.Module, prepared: PreparedData, split: str
) -> Path:
    """Plot the forecast from the last origin of ``split`` next to the truth and baselines.

    The history shown is the ``4 * horizon`` rows before the origin (at least the
    lookback). Written as ``run_dir/test_forecast.png`` (or ``val_forecast.png``).
    """
    from rnnkit.evaluate.plots import forecast_png

    info = prepared.info
    parts: SeriesParts = prepared.artifacts["parts"]
    horizon, lookback = info["horizon"], info["lookback"]
    origin = int(test_origins(parts, horizon, split)[-1])
    window = torch.as_tensor(prepared.artifacts["scaled"][origin - lookback : origin])[None]
    model.eval()
    with torch.no_grad():
        scaled_forecast = model(window).numpy()  # (1, H, K)
    forecast = inverse_targets(prepared.artifacts["scaler"], scaled_forecast, parts.num_targets)
    targets = parts.values[:, : parts.num_targets].astype(np.float64)
    seasons = info["season_length"]
    baselines = {
        "naive": baseline_forecasts.naive_forecast(targets, [origin], horizon),
        "seasonal naive": baseline_forecasts.seasonal_naive_forecast(
            targets, [origin], horizon, seasons
        ),
        "Holt-Winters": baseline_forecasts.holt_winters_forecast(
            targets, [origin], horizon, seasons, fit_end=parts.train_end
        ),
    }
    start = max(0, origin - max(lookback, 4 * horizon))
    future = slice(origin, origin + horizon)
    return forecast_png(
        parts.index[start:origin],
        targets[start:origin, 0],
        parts.index[future],
        forecast[0, :, 0],
        Path(run_dir) / f"{split}_{FORECAST_PLOT_SUFFIX}",
        truth=targets[future, 0],
        baselines={name: values[0, :, 0] for name, values in baselines.items()},
        title=f"{config.name}: {horizon}-step forecast from the last {split} origin",
        target_name=parts.target_columns[0],
    )


# ----------------------------------------------------------------------------- inference


@dataclass
class Forecast:
    """A forecast from the end of a series: ``history`` and ``forecast`` as DataFrames
    indexed by time, one column per target, in the original units."""

    history: Any  # pandas DataFrame, the lookback rows the forecast was made from
    forecast: Any  # pandas DataFrame, ``horizon`` rows after the history


def input_series(
    run_dir: Path, config: Config, info: dict[str, Any], series: Any
) -> tuple[Any, np.ndarray]:
    """(index, filled values (T, F)) of the series to forecast from, validated.

    ``series`` is None (the end of the run's own data, saved at training time), a path
    to a CSV file, or a pandas DataFrame with the same columns as the training data.
    """
    import pandas as pd

    from rnnkit.data import timeseries

    history = read_json(Path(run_dir) / PREPROCESS_DIR / HISTORY_FILE)
    if series is None:
        index = history["index"]
        index = pd.DatetimeIndex(index) if history["frequency"] else pd.RangeIndex(len(index))
        return index, np.asarray(history["values"], dtype=np.float32)
    source = "the input"
    if isinstance(series, (str, Path)):
        source = str(series)
        if not Path(series).is_file():
            raise DataError(f"forecast input file not found: {series}")
        try:
            series = pd.read_csv(series, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise DataError(f"{source}: not a readable CSV file ({err})") from None
    data = config.data
    table = timeseries.load_series(
        series,
        date_column=history.get("date_column"),
        target=list(info["target_columns"]),
        covariates=tuple(data.covariates),
        categorical=tuple(data.categorical),
        categories=history.get("categories") or None,
        source=source,
    )
    if history["frequency"] and table.frequency != history["frequency"]:
        raise DataError(
            f"{source} has frequency {table.frequency!r}; the model was trained on "
            f"{history['frequency']!r} data"
        )
    if table.columns != list(info["columns"]):
        raise DataError(
            f"{source} gives columns {', '.join(table.columns)}; the model needs "
            f"{', '.join(info['columns'])}"
        )
    if len(table) < info["lookback"]:
        raise DataError(
            f"{source} has {len(table)} rows; the model needs at least lookback = "
            f"{info['lookback']} rows to forecast from"
        )
    values = np.asarray(timeseries.fill_missing(table.values, data.fill_missing), dtype=np.float32)
    return table.index, values


def forecast_from(
    run_dir: Path,
    config: Config,
    info: dict[str, Any],
    model: nn.Module,
    *,
    horizon: int | None = None,
    series: Any = None,
) -> Forecast:
    """Forecast ``horizon`` steps after the end of ``series`` (see :func:`input_series`)."""
    import pandas as pd

    from rnnkit.data.timeseries import scaler_from_json

    trained = info["horizon"]
    horizon = trained if horizon is None else int(horizon)
    if horizon < 1:
        raise DataError(f"horizon={horizon} must be at least 1")
    if config.model.strategy == "direct" and horizon > trained:
        raise DataError(
            f"horizon={horizon} is beyond the {trained} steps this direct forecaster was "
            f"trained for; use horizon <= {trained} or train with model.strategy=recursive"
        )
    index, values = input_series(run_dir, config, info, series)
    lookback, k = info["lookback"], info["num_targets"]
    if len(values) < lookback:
        raise DataError(f"the series has {len(values)} rows, fewer than lookback = {lookback}")
    scaler = scaler_from_json(read_json(Path(run_dir) / PREPROCESS_DIR / SCALER_FILE))
    window = np.asarray(scaler.transform(values[-lookback:]), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        steps = horizon if config.model.strategy == "recursive" else trained
        scaled = model(torch.from_numpy(window)[None], steps)[:, :horizon].numpy()
    forecast = inverse_targets(scaler, scaled, k)[0]  # (H, K)
    if isinstance(index, pd.DatetimeIndex):
        frequency = info.get("frequency") or pd.infer_freq(index[-3:])
        future = pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]
    else:
        future = pd.RangeIndex(len(index), len(index) + horizon)
    columns = list(info["target_columns"])
    return Forecast(
        history=pd.DataFrame(values[-lookback:, :k], index=index[-lookback:], columns=columns),
        forecast=pd.DataFrame(forecast, index=future, columns=columns),
    )


def write_forecast(
    run_dir: str | Path,
    *,
    horizon: int | None = None,
    series: Any = None,
    output: str | Path | None = None,
) -> tuple[Any, Path, Path]:
    """Forecast with a run directory's model; write it as CSV and PNG (``rnnkit forecast``).

    Returns the forecast DataFrame and the paths of the CSV and the plot (the CSV's
    path with ``.png``).
    """
    from rnnkit.evaluate.plots import forecast_png
    from rnnkit.predictor import load

    predictor = load(run_dir)
    if predictor.task != "forecasting":
        raise DataError(f"{run_dir} is a {predictor.task} run; forecast needs a forecasting run")
    result = forecast_from(
        predictor.run_dir,
        predictor.config,
        predictor.info,
        predictor.model,
        horizon=horizon,
        series=series,
    )
    csv_path = Path(output) if output is not None else Path(run_dir) / "forecast.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame = result.forecast.rename_axis("time")
    write_text(csv_path, frame.to_csv())
    target = result.forecast.columns[0]
    png_path = forecast_png(
        result.history.index,
        result.history[target].to_numpy(),
        result.forecast.index,
        result.forecast[target].to_numpy(),
        csv_path.with_suffix(".png"),
        title=f"{predictor.config.name}: {len(frame)}-step forecast",
        target_name=str(target),
    )
    return frame, csv_path, png_path
