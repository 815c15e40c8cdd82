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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.config import Config
from rnnkit.data.batches import shuffled_loader
from rnnkit.errors import DataError
from rnnkit.evaluate import baselines as baseline_forecasts
from rnnkit.evaluate.metrics import forecast_metrics, mase_scale
from rnnkit.rundir import PREPROCESS_DIR, read_json, write_json
from rnnkit.tasks.forecasting import probabilistic
from rnnkit.tasks.forecasting.predictor import HISTORY_FILE, SCALER_FILE, inverse_targets
from rnnkit.tasks.forecasting.series import (
    SeriesParts,
    fitted_transform,
    load_parts,
    model_values,
    model_window,
    restore,
    season_length,
    with_future_rows,
)
from rnnkit.tasks.module import RecurrentModule
from rnnkit.tasks.spec import PreparedData

log = logging.getLogger(__name__)


def windows(
    scaled: np.ndarray,
    start: int,
    end: int,
    lookback: int,
    horizon: int,
    num_targets: int,
    stride: int = 1,
    future_size: int = 0,
) -> tuple[Tensor, Tensor]:
    """Windows whose forecast steps all lie in ``[start, end)``: inputs (N, L, F), targets
    (N, H, K). With ``future_size`` known-future columns the inputs are (N, L + H, F):
    see :func:`rnnkit.tasks.forecasting.series.with_future_rows`."""
    from rnnkit.data.timeseries import make_windows

    segment = scaled[max(0, start - lookback) : end]
    if len(segment) < lookback + horizon:
        rows = lookback + (horizon if future_size else 0)
        empty = np.zeros((0, rows, scaled.shape[1]), np.float32)
        return torch.from_numpy(empty), torch.zeros(0, horizon, num_targets)
    inputs, following = make_windows(segment, lookback, horizon, stride=stride)
    inputs = with_future_rows(inputs, following, future_size)
    targets = following[..., :num_targets]
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
    """Mean squared error on the scaled targets of every forecast step, or with
    ``model.likelihood`` the negative log-likelihood / pinball loss of the head."""

    def forecast_loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        model = self.model
        if model.likelihood == "none":
            return nn.functional.mse_loss(model(inputs), targets)
        params = model.distribution(inputs)  # (B, H, K, P)
        return probabilistic.loss(params, targets, model.likelihood, model.quantiles)

    def step_loss(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch  # (B, L, F), (B, H, K)
        loss = self.forecast_loss(inputs, targets)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch
        loss = self.forecast_loss(inputs, targets)
        self.log("val/loss", loss, prog_bar=True, on_epoch=True, batch_size=inputs.shape[0])
        return loss


class ForecastingTask:
    """The :class:`rnnkit.tasks.spec.Task` for ``task: forecasting``."""

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        from rnnkit.data.timeseries import make_scaler, scaler_from_json

        data = config.data
        parts = load_parts(config)
        # Target transform (log, Box-Cox, differencing) before the scaler, both fitted on
        # the training part; differencing leaves the first `lag` rows without a value.
        transform = fitted_transform(run_dir, config, parts)
        values = model_values(parts, transform)
        scaler_path = Path(run_dir) / PREPROCESS_DIR / SCALER_FILE
        if scaler_path.is_file():
            scaler = scaler_from_json(
                read_json(scaler_path), source=str(scaler_path), features=parts.values.shape[1]
            )
        else:
            scaler = make_scaler(data.scaler)
            scaler.fit(values[: parts.train_end])
            write_json(scaler_path, scaler.to_json())
        scaled = np.asarray(scaler.transform(values), dtype=np.float32)
        lookback, horizon, k = data.lookback, data.horizon, parts.num_targets
        future = parts.future_size
        first = lookback + transform.lag if transform.lag else 0
        train_x, train_y = windows(
            scaled, first, parts.train_end, lookback, horizon, k, data.stride, future
        )
        val_x, val_y = windows(
            scaled,
            *part_bounds(parts, "val"),
            lookback,
            horizon,
            k,
            origin_stride(parts, horizon, "val"),
            future,
        )
        test_x, test_y = windows(
            scaled,
            *part_bounds(parts, "test"),
            lookback,
            horizon,
            k,
            origin_stride(parts, horizon, "test"),
            future,
        )
        seasons = season_length(config, parts.frequency)
        _save_history(run_dir, config, parts)
        eval_batch = data.eval_batch_size or data.batch_size

        def loader(x: Tensor, y: Tensor, shuffle: bool) -> DataLoader | None:
            if len(x) == 0:
                return None
            if shuffle:
                return shuffled_loader(
                    TensorDataset(x, y), data.batch_size, config.seed, num_workers=data.num_workers
                )
            return DataLoader(
                TensorDataset(x, y), batch_size=eval_batch, num_workers=data.num_workers
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
            "future_size": parts.future_size,
            "date_column": parts.date_column,
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
            artifacts={
                "parts": parts,
                "scaler": scaler,
                "scaled": scaled,
                "run_dir": run_dir,
                "transform": transform,
            },
        )

    def build_module(
        self, config: Config, model: nn.Module, prepared: PreparedData
    ) -> RecurrentModule:
        return ForecastingModule(model, config.train)

    def forecasts(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Model forecasts and the truth on ``split``, (N, H, K) each, in original units."""
        parts: SeriesParts = prepared.artifacts["parts"]
        loader = prepared.val if split == "val" else prepared.test
        if loader is None:
            raise DataError(f"the {split} part is empty: set data.split.{split} > 0")
        model.eval()
        predicted, actual = [], []
        with torch.no_grad():
            for inputs, targets in loader:
                predicted.append(model(inputs))
                actual.append(targets)
        origins = test_origins(parts, config.data.horizon, split)
        return (
            target_inverse(prepared, origins)(torch.cat(predicted).numpy()),
            truth_at(parts, origins, config.data.horizon),
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
        metrics = forecast_metrics(predicted, actual, scale=scale)
        metrics.update(model_intervals(model, prepared, split, actual))
        return metrics

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
        results = {name: forecast_metrics(p, truth, scale=scale) for name, p in predictions.items()}
        for name, extra in baseline_intervals(config, prepared, split, predictions).items():
            results[name].update(extra)
        return results


def model_intervals(
    model: nn.Module, prepared: PreparedData, split: str, actual: np.ndarray
) -> dict[str, float]:
    """coverage_80, pinball and crps of a probabilistic model on ``split`` (else none)."""
    if model.likelihood == "none":
        return {}
    loader = prepared.val if split == "val" else prepared.test
    with torch.no_grad():
        params = torch.cat([model.distribution(inputs) for inputs, _ in loader]).numpy()
    origins = test_origins(prepared.artifacts["parts"], prepared.info["horizon"], split)
    return probabilistic.model_interval_metrics(
        params.astype(np.float64),
        actual,
        target_inverse(prepared, origins),
        model.likelihood,
        model.quantiles,
    )


def target_inverse(
    prepared: PreparedData, origins: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """Scaled target forecasts (N, H, K) from ``origins`` -> the data's units: undo the
    scaler, then the target transform. Monotone (log, Box-Cox), so it maps quantiles to
    quantiles; differencing, which is not, never meets a probabilistic head (the config
    refuses the pair)."""
    parts: SeriesParts = prepared.artifacts["parts"]
    scaler, transform = prepared.artifacts["scaler"], prepared.artifacts.get("transform")

    def invert(scaled: np.ndarray) -> np.ndarray:
        unscaled = inverse_targets(scaler, scaled, parts.num_targets)
        return restore(transform, unscaled, parts.values, origins)

    return invert


def baseline_intervals(
    config: Config, prepared: PreparedData, split: str, points: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """The baselines' interval metrics on ``split`` (residual quantiles on the training
    part), at the levels the model is scored on."""
    parts: SeriesParts = prepared.artifacts["parts"]
    horizon, model = config.data.horizon, config.model
    return probabilistic.baseline_interval_metrics(
        parts.values[:, : parts.num_targets].astype(np.float64),
        test_origins(parts, horizon, split),
        horizon,
        prepared.info["season_length"],
        parts.train_end,
        pinball_levels=model.quantiles,
        crps_grid=probabilistic.crps_levels(model.likelihood, model.quantiles),
        points=points,
    )


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
    keep = max(config.data.lookback + config.data.difference, 4 * config.data.horizon, 200)
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
    scaled = prepared.artifacts["scaled"]
    window = torch.as_tensor(model_window(scaled, origin, lookback, horizon, parts.future_size))
    model.eval()
    with torch.no_grad():
        scaled_forecast = model(window).numpy()  # (1, H, K)
        params = model.distribution(window).numpy().astype(np.float64)  # (1, H, K, P)
    invert = target_inverse(prepared, np.array([origin]))
    forecast = invert(scaled_forecast)
    band = None
    if model.likelihood != "none":
        lower, upper = probabilistic.forecast_bands(
            params, invert, model.likelihood, model.quantiles
        )
        band = (lower[0, :, 0], upper[0, :, 0])
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
        band=band,
        title=f"{config.name}: {horizon}-step forecast from the last {split} origin",
        target_name=parts.target_columns[0],
    )
