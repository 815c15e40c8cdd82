"""Rolling-origin backtests of a forecasting run and its baselines (``rnnkit backtest``).

The origins walk through the test part: o = valid_end, valid_end + stride, ... while
``horizon`` steps follow. From each origin the model and the baselines forecast
``horizon`` steps from the data before it only, and are scored per origin and over all
origins together (the same metrics as ``metrics.json``, intervals included).

Without refitting, the trained model is used as it is (nothing is retrained): its
windows simply end at each origin, and Holt-Winters keeps the parameters fitted on the
training part. With ``refit``, every origin trains a fresh model as the run was trained
(same config and seed, the same epochs) with the split moved to the origin: training on
``[0, o - n_val)``, validation on the ``n_val`` rows before the origin (n_val = the run's
validation length), and the baselines' parameters and residual intervals are refitted on
``[0, o - n_val)`` too. A refit costs one full training run per origin (the log says how
long the first took); a larger ``stride`` means fewer origins. The target transform and
the scaler stay the ones fitted on the run's training part.

A model with known-future covariates reads them for the steps after each origin from
the series itself. Panel runs (``data.series_column``) are not backtested.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.config import Config
from rnnkit.data.batches import shuffled_loader
from rnnkit.errors import ConfigError, DataError
from rnnkit.evaluate.metrics import forecast_metrics, mase_scale
from rnnkit.rundir import PREPROCESS_DIR, read_json, write_json
from rnnkit.tasks.forecasting import probabilistic
from rnnkit.tasks.forecasting.predictor import SCALER_FILE, inverse_targets, resolve_horizon
from rnnkit.tasks.forecasting.series import (
    load_transform,
    model_values,
    model_window,
    restore,
)
from rnnkit.tasks.forecasting.task import ForecastingModule, load_parts, windows

log = logging.getLogger(__name__)

BACKTEST_FILE = "backtest.json"
MODEL = "model"


def backtest(
    run_dir: str | Path,
    *,
    stride: int | None = None,
    horizon: int | None = None,
    refit: bool = False,
) -> dict[str, Any]:
    """Backtest a forecasting run over its test part; writes ``RUN_DIR/backtest.json``.

    ``horizon`` defaults to the trained one (a direct forecaster cannot go beyond it),
    ``stride`` to the horizon (origins whose forecasts do not overlap). Returns what the
    file holds: the settings, ``origins`` (per-origin metrics of the model and each
    baseline) and ``aggregate`` (metrics over every forecast step of every origin).
    """
    from rnnkit.data.timeseries import scaler_from_json
    from rnnkit.predictor import load

    started = time.perf_counter()
    predictor = load(run_dir)
    config, info, model = predictor.config, predictor.info, predictor.model
    if predictor.task != "forecasting":
        raise DataError(f"{run_dir} is a {predictor.task} run; backtest needs a forecasting run")
    if info.get("series_column"):
        raise ConfigError(
            f"{run_dir} is a panel run (data.series_column = {info['series_column']!r}); "
            "backtest takes runs of one series"
        )
    horizon, stride = _settings(config, info, horizon, stride)
    parts = load_parts(config)
    transform = load_transform(Path(run_dir))
    scaler = scaler_from_json(read_json(Path(run_dir) / PREPROCESS_DIR / SCALER_FILE))
    values = parts.values if transform is None else model_values(parts, transform)
    scaled = np.asarray(scaler.transform(values), dtype=np.float32)
    targets = parts.values[:, : parts.num_targets].astype(np.float64)
    steps = horizon if config.model.strategy == "recursive" else int(info["horizon"])
    # Known-future covariates are read for every step the model forecasts.
    ahead = max(horizon, steps) if parts.future_size else horizon
    origins = np.arange(parts.valid_end, len(parts.values) - ahead + 1, stride)
    if origins.size == 0:
        raise DataError(
            f"the test part ({len(parts.values) - parts.valid_end} rows) is shorter than "
            f"horizon = {horizon}: no origin to backtest from"
        )
    seasons = int(info["season_length"])
    scale = mase_scale(targets[: parts.train_end], seasons)
    n_val = parts.valid_end - parts.train_end
    k, lookback = parts.num_targets, int(info["lookback"])

    def inverse_at(origin: int) -> Any:
        """Scaled forecasts from ``origin`` -> the data's units (scaler, then transform;
        monotone, so quantiles stay quantiles)."""

        def invert(scaled_targets: np.ndarray) -> np.ndarray:
            unscaled = inverse_targets(scaler, scaled_targets, k)
            return restore(transform, unscaled, parts.values, np.array([origin]))

        return invert

    levels = config.model.quantiles
    grid = probabilistic.crps_levels(config.model.likelihood, levels)

    per_origin: list[dict[str, Any]] = []
    pooled: dict[str, list[np.ndarray]] = {}
    log.info(
        "backtest of %s: %d origins, horizon %d, stride %d%s",
        config.name,
        len(origins),
        horizon,
        stride,
        ", refitting at each" if refit else " (no retraining)",
    )
    for number, origin in enumerate(origins):
        fit_end = origin - n_val if refit else parts.train_end
        if refit:
            tick = time.perf_counter()
            first = lookback + transform.lag if transform is not None and transform.lag else 0
            model = refit_model(config, info, scaled, fit_end, int(origin), first)
            if number == 0:
                log.info(
                    "refit 1 of %d took %.0f s; about %.0f s to go",
                    len(origins),
                    time.perf_counter() - tick,
                    (time.perf_counter() - tick) * (len(origins) - 1),
                )
        window = model_window(scaled, int(origin), lookback, steps, parts.future_size)
        with torch.no_grad():  # window (1, L, F), or (1, L + steps, F) with known covariates
            params = (
                model.distribution(torch.from_numpy(window), steps)[:, :horizon].double().numpy()
            )
        actual = targets[origin : origin + horizon][None]  # (1, H, K)
        scores: dict[str, dict[str, float]] = {}
        point = probabilistic.point(torch.from_numpy(params), model.likelihood, model.quantiles)
        invert = inverse_at(int(origin))
        forecasts = {MODEL: invert(point.numpy())}
        scores[MODEL] = forecast_metrics(forecasts[MODEL], actual, scale=scale)
        scores[MODEL].update(
            probabilistic.model_interval_metrics(
                params, actual, invert, model.likelihood, model.quantiles
            )
        )
        origin_array = np.array([origin])
        bases = probabilistic.baseline_forecasters(targets, horizon, seasons, fit_end)
        for name, (forecast, _) in bases.items():
            forecasts[name] = forecast(origin_array)
            scores[name] = forecast_metrics(forecasts[name], actual, scale=scale)
        intervals = probabilistic.baseline_interval_metrics(
            targets,
            origin_array,
            horizon,
            seasons,
            fit_end,
            pinball_levels=levels,
            crps_grid=grid,
            points={n: f for n, f in forecasts.items() if n != MODEL},
        )
        for name, extra in intervals.items():
            scores[name].update(extra)
        for name, value in forecasts.items():
            pooled.setdefault(name, []).append(value)
        pooled.setdefault("actual", []).append(actual)
        per_origin.append({"origin": str(parts.index[origin]), "index": int(origin), **scores})

    aggregate = _aggregate(per_origin, pooled, scale)
    result = {
        "run_dir": str(run_dir),
        "horizon": horizon,
        "stride": stride,
        "refit": refit,
        "origins": per_origin,
        "aggregate": aggregate,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(Path(run_dir) / BACKTEST_FILE, result)
    return result


def _settings(
    config: Config, info: dict[str, Any], horizon: int | None, stride: int | None
) -> tuple[int, int]:
    horizon = resolve_horizon(config, info, horizon, spelled="--horizon {}")
    stride = horizon if stride is None else int(stride)
    if stride < 1:
        raise ConfigError(f"--stride {stride} must be at least 1")
    return horizon, stride


def _aggregate(
    per_origin: list[dict[str, Any]], pooled: dict[str, list[np.ndarray]], scale: float
) -> dict[str, dict[str, float]]:
    """Point metrics over all forecast steps pooled; interval metrics averaged over origins
    (each origin has as many steps, so the mean of means is the pooled mean)."""
    actual = np.concatenate(pooled["actual"])
    aggregate: dict[str, dict[str, float]] = {}
    for name in (n for n in pooled if n != "actual"):
        metrics = forecast_metrics(np.concatenate(pooled[name]), actual, scale=scale)
        for key in ("coverage_80", "pinball", "crps"):
            values = [o[name][key] for o in per_origin if key in o[name]]
            if len(values) == len(per_origin):
                metrics[key] = float(np.mean(values))
        aggregate[name] = metrics
    return aggregate


def refit_model(
    config: Config,
    info: dict[str, Any],
    scaled: np.ndarray,
    fit_end: int,
    origin: int,
    first: int = 0,
) -> torch.nn.Module:
    """A fresh model trained as the run was, on windows forecasting ``[first, fit_end)``
    and validated on ``[fit_end, origin)`` (early stopping and a plateau schedule use it as
    in training). ``first`` skips the rows a difference leaves without a value."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping

    from rnnkit.tasks.forecasting.model import build_model

    data = config.data
    L.seed_everything(config.seed, workers=True, verbose=False)
    model = build_model(config, info)
    k, lookback, horizon = int(info["num_targets"]), data.lookback, int(info["horizon"])
    future = int(info.get("future_size", 0))
    train_x, train_y = windows(scaled, first, fit_end, lookback, horizon, k, data.stride, future)
    if len(train_x) == 0:
        raise DataError(f"no training window ends before row {fit_end}: the origin is too early")
    val_x, val_y = windows(scaled, fit_end, origin, lookback, horizon, k, 1, future)
    train_loader = shuffled_loader(TensorDataset(train_x, train_y), data.batch_size, config.seed)
    val_loader = DataLoader(TensorDataset(val_x, val_y), batch_size=data.batch_size)
    has_val = len(val_x) > 0
    callbacks = []
    stopping = config.train.early_stopping
    if stopping is not None and has_val:
        callbacks.append(
            EarlyStopping(
                monitor=stopping.monitor,
                min_delta=stopping.min_delta,
                patience=stopping.patience,
                mode=stopping.mode,
            )
        )
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = L.Trainer(
            default_root_dir=scratch,
            max_epochs=config.train.max_epochs,
            gradient_clip_val=config.train.gradient_clip,
            gradient_clip_algorithm=config.train.gradient_clip_algorithm,
            accelerator=config.train.accelerator,
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=1.0 if has_val else 0,
            callbacks=callbacks,
        )
        trainer.fit(
            ForecastingModule(model, config.train),
            train_dataloaders=train_loader,
            val_dataloaders=val_loader if has_val else None,
        )
    return model.cpu().eval()
