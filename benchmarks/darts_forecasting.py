"""darts' recurrent forecasters on the split rnnkit uses for the airline series.

Not a dependency of rnnkit: run it in a throwaway environment that has darts (install
the same torch first so that darts does not pull another one), e.g.

    python -m venv /tmp/x/venv && /tmp/x/venv/bin/pip install torch==2.13.0
    /tmp/x/venv/bin/pip install "darts[torch]==0.48.1"
    RNNKIT_MIRROR=../shared/data /tmp/x/venv/bin/python benchmarks/darts_forecasting.py

The split is configs/airline-passengers.yaml's: 144 months, the last 22 are test, the 14
before them validation (rnnkit's ``time_split`` rounding), lookback 24, horizon 12. Every
model forecasts 12 months from every test origin (122 .. 132, one month apart) with the
data before the origin only, and is scored over all those steps in thousands of passengers
(RMSE, MAE), with the 80% interval's coverage for probabilistic models. The scaler (a
standard scaler) is fitted on the training part; training uses the training part and stops
on nothing (a fixed number of epochs), like the rnnkit recipe.

Models: ``RNNModel`` (darts' recurrent model: trained one step ahead over
``training_length`` steps, forecasts recursively), with a quantile-regression likelihood
(quantiles 0.1, 0.5, 0.9, point = median), and ``BlockRNNModel`` (encodes the window and
emits all 12 steps at once, as rnnkit's direct strategy does), a point forecaster.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

LOOKBACK, HORIZON, VALID, TEST = 24, 12, 0.1, 0.15


def split_points(length: int) -> tuple[int, int]:
    """rnnkit's time_split: (train_end, valid_end)."""
    test_rows = math.floor(length * TEST + 0.5)
    valid_rows = math.floor(length * VALID + 0.5)
    train_end = length - valid_rows - test_rows
    return train_end, train_end + valid_rows


def load_series():
    import pandas as pd
    from darts import TimeSeries

    mirror = os.environ.get("RNNKIT_MIRROR")
    if not mirror:
        raise SystemExit("set RNNKIT_MIRROR to the data mirror (timeseries/airline-passengers.csv)")
    frame = pd.read_csv(Path(mirror) / "timeseries" / "airline-passengers.csv")
    frame["Month"] = pd.to_datetime(frame["Month"])
    return TimeSeries.from_dataframe(frame, "Month", "Passengers", freq="MS").astype(np.float32)


def score(forecasts, series, quantiles: bool) -> dict[str, float]:
    """RMSE, MAE (of the median / point) and 80% coverage over every forecast step."""
    truth, point, lower, upper = [], [], [], []
    for forecast in forecasts:
        actual = series.slice_intersect(forecast).values()[:, 0]
        truth.append(actual)
        if quantiles:
            point.append(forecast.quantile(0.5).values()[:, 0])
            lower.append(forecast.quantile(0.1).values()[:, 0])
            upper.append(forecast.quantile(0.9).values()[:, 0])
        else:
            point.append(forecast.values()[:, 0])
    y, p = np.concatenate(truth), np.concatenate(point)
    result = {"rmse": float(np.sqrt(np.mean((y - p) ** 2))), "mae": float(np.mean(np.abs(y - p)))}
    if quantiles:
        lo, hi = np.concatenate(lower), np.concatenate(upper)
        result["coverage_80"] = float(np.mean((lo <= y) & (y <= hi)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--samples", type=int, default=200, help="samples per probabilistic forecast"
    )
    args = parser.parse_args()

    import torch
    from darts.dataprocessing.transformers import Scaler
    from darts.models import BlockRNNModel, RNNModel
    from darts.utils.likelihood_models import QuantileRegression
    from sklearn.preprocessing import StandardScaler

    torch.set_num_threads(1)
    series = load_series()
    train_end, valid_end = split_points(len(series))
    scaler = Scaler(StandardScaler()).fit(series[:train_end])
    scaled = scaler.transform(series)
    common = {
        "hidden_dim": args.hidden,
        "n_epochs": args.epochs,
        "batch_size": 16,
        "optimizer_kwargs": {"lr": 3e-3},
        "random_state": args.seed,
        "pl_trainer_kwargs": {
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "gradient_clip_val": 1.0,
        },
    }
    models = {
        "darts RNNModel (LSTM, quantile regression, recursive)": RNNModel(
            model="LSTM",
            input_chunk_length=LOOKBACK,
            training_length=LOOKBACK + HORIZON,
            likelihood=QuantileRegression([0.1, 0.5, 0.9]),
            **common,
        ),
        "darts BlockRNNModel (LSTM, 12 steps at once)": BlockRNNModel(
            model="LSTM", input_chunk_length=LOOKBACK, output_chunk_length=HORIZON, **common
        ),
    }
    print(
        f"airline passengers: train [0, {train_end}), test origins {valid_end}..{len(series) - HORIZON}"
    )
    print("| model | test RMSE | test MAE | 80% coverage | train s |")
    print("| --- | --- | --- | --- | --- |")
    for name, model in models.items():
        started = time.process_time()
        model.fit(scaled[:train_end])
        seconds = time.process_time() - started
        probabilistic = model.supports_probabilistic_prediction
        forecasts = model.historical_forecasts(
            scaled,
            start=scaled.time_index[valid_end],
            forecast_horizon=HORIZON,
            stride=1,
            retrain=False,
            last_points_only=False,
            num_samples=args.samples if probabilistic else 1,
            verbose=False,
        )
        forecasts = [scaler.inverse_transform(f) for f in forecasts]
        result = score(forecasts, series, probabilistic)
        coverage = f"{result['coverage_80']:.2f}" if "coverage_80" in result else "-"
        print(
            f"| {name} | {result['rmse']:.1f} | {result['mae']:.1f} | {coverage} | {seconds:.0f} |"
        )


if __name__ == "__main__":
    main()
