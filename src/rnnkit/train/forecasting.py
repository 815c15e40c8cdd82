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
has ``horizon`` rows after it) in the original units, next to the naive, seasonal naive
and Holt-Winters baselines forecast from the same origins.
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
from rnnkit.errors import DataError
from rnnkit.evaluate import baselines as baseline_forecasts
from rnnkit.evaluate.metrics import forecast_metrics, mase_scale
from rnnkit.models.forecaster import Forecaster
from rnnkit.train.checkpoint import PREPROCESS_DIR, read_json, write_json
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
    table = timeseries.load_series(
        frame,
        date_column=data.date_column or loaded.meta.get("date_column"),
        target=data.target or loaded.meta.get("target"),
        covariates=tuple(data.covariates),
        categorical=tuple(data.categorical),
        frequency=data.frequency,
    )
    values = np.asarray(timeseries.fill_missing(table.values, data.fill_missing), dtype=np.float32)
    index = table.index
    if len(values) != len(index):  # "drop" removes rows: keep the dates that remain
        index = index[~np.isnan(np.asarray(table.values, dtype=np.float64)).any(axis=1)]
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


def test_origins(parts: SeriesParts, horizon: int, split: str) -> np.ndarray:
    """Forecast origins (index of the first forecast step) of every window of ``split``."""
    start, end = (
        (parts.train_end, parts.valid_end)
        if split == "val"
        else (parts.valid_end, len(parts.values))
    )
    return np.arange(start, end - horizon + 1)


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
        val_x, val_y = windows(scaled, parts.train_end, parts.valid_end, lookback, horizon, k)
        test_x, test_y = windows(scaled, parts.valid_end, len(scaled), lookback, horizon, k)
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
            artifacts={"parts": parts, "scaler": scaler, "scaled": scaled},
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
            "values": parts.values[tail].tolist(),
        },
    )
