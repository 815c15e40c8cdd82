"""Multi-step forecaster for univariate and multivariate series.

    window (B, L, F), targets in the first K columns, scaled
    --recurrent layers (rnnkit.nn)--> final output (B, H)
    direct:    --linear--> changes (B, horizon, K)              (all steps at once)
    recursive: --linear--> change for one step (B, 1, K), fed back as the next input
    + the last observed target values (B, 1, K) --> forecast (B, horizon, K), scaled

The model is level-invariant: it reads the window's targets *relative to their last
observed value* and predicts changes from that value, which are added back at the end.
A trending series (CO2, airline passengers) soon leaves the range the scaler saw in
training; relative values stay in range where levels do not (the same reason classical
models difference a series).

With ``model.window_scale`` the window's relative targets are also divided by their
standard deviation over the window, and the forecast's changes (and scales) multiplied by
it again: reversible instance normalisation (Kim et al. 2022, "Reversible Instance
Normalization for Accurate Time-Series Forecasting against Distribution Shift", ICLR).
A series whose swings grow with its level (airline passengers) then looks the same to the
recurrent layers early and late. Only the targets are rescaled; covariates stay as scaled.

In the recursive strategy the past covariates of future steps are unknown; each fed-back
row carries the forecast targets and repeats the last observed past covariates.

Known-future covariates (the last C columns: ``data.future_covariates``, calendar
features) come as ``horizon`` extra rows after the lookback window, (B, L + H, F), of
which only those C columns are read. The direct head reads them for all H steps next to
the final output, (B, hidden + H*C); the recursive head reads the step it predicts,
(B, hidden + C), and every fed-back row carries its step's known covariates.

With ``model.likelihood`` other than ``none`` the head predicts P parameters per step and
target (a distribution or quantiles, see :mod:`rnnkit.tasks.forecasting.probabilistic`):
``distribution`` returns them (B, horizon, K, P) and ``forward`` the point forecast
(B, horizon, K). The recursive strategy feeds the point forecast back, so its intervals
do not include the uncertainty of the fed-back steps.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from rnnkit.nn.regularization import LockedDropout
from rnnkit.tasks.forecasting import probabilistic
from rnnkit.tasks.forecasting.config import ForecastingConfig, ForecastingModel
from rnnkit.tasks.stack import make_recurrent

Strategy = Literal["direct", "recursive"]
#: The smallest window standard deviation ``window_scale`` divides by (scaled units).
WINDOW_SCALE_FLOOR = 1e-2


class Forecaster(nn.Module):
    """Recurrent layers over a lookback window and a head for ``horizon`` future steps.

    Args:
        input_size: features per time step F (targets first, then covariates).
        num_targets: target columns K (K <= F).
        horizon: steps to forecast.
        config: the model section of the experiment config (cell, hidden_size,
            num_layers, dropout, input_dropout, head_dropout, strategy, likelihood,
            quantiles, window_scale, extended cell options).
        future_size: the last C of the F columns are known for the forecast steps; the
            window then carries ``horizon`` more rows with their values.
    """

    def __init__(
        self,
        input_size: int,
        num_targets: int,
        horizon: int,
        config: ForecastingModel,
        future_size: int = 0,
    ) -> None:
        super().__init__()
        if not 1 <= num_targets <= input_size:
            raise ValueError(f"num_targets = {num_targets} must be between 1 and {input_size}")
        self.input_size = input_size
        if not 0 <= future_size <= input_size - num_targets:
            raise ValueError(
                f"future_size = {future_size} must be between 0 and {input_size - num_targets}"
            )
        self.num_targets = num_targets
        self.horizon = horizon
        self.future_size = future_size
        self.strategy: Strategy = config.strategy
        self.likelihood = config.likelihood
        self.quantiles = list(config.quantiles)
        self.num_params = probabilistic.param_count(self.likelihood, self.quantiles)
        self.window_scale = config.window_scale
        # Locked (variational) dropout on the window: one mask per window for all steps.
        self.input_dropout = LockedDropout(config.input_dropout, batch_first=True)
        self.recurrent = make_recurrent(config, input_size)
        self.head_dropout = nn.Dropout(config.head_dropout)
        steps_out = horizon if self.strategy == "direct" else 1
        head_inputs = config.hidden_size + steps_out * future_size
        self.head = nn.Linear(head_inputs, steps_out * num_targets * self.num_params)

    def forward(self, window: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
        """Forecast (B, horizon, K) from a scaled window (B, L, F): the point forecast.

        ``horizon`` may differ from the trained one only for the recursive strategy.
        """
        params = self.distribution(window, horizon)
        if self.likelihood == "none":
            return params[..., 0]
        return probabilistic.point(params, self.likelihood, self.quantiles)

    def distribution(self, window: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
        """The head's parameters (B, horizon, K, P) from a scaled window (B, L, F), scaled."""
        horizon = self.horizon if horizon is None else horizon
        if self.strategy == "direct" and horizon != self.horizon:
            raise ValueError(
                f"a direct forecaster predicts exactly {self.horizon} steps, got horizon={horizon}"
            )
        batch, k, p = window.shape[0], self.num_targets, self.num_params
        window, future = self._split_future(window, horizon)  # (B, L, F), (B, H, C)
        last = window[:, -1:, :k]  # (B, 1, K)
        unit = torch.ones_like(last)  # (B, 1, K)
        if self.window_scale:
            # The floor keeps a flat window (scaled std 0) from blowing up its changes.
            unit = window[..., :k].std(dim=1, keepdim=True).clamp(min=WINDOW_SCALE_FLOOR)
        relative = (window[..., :k] - last) / unit  # (B, L, K)
        relative = torch.cat([relative, window[..., k:]], dim=2)  # (B, L, F)
        outputs, state = self.recurrent(self.input_dropout(relative))  # (B, L, H)
        final = self.head_dropout(outputs[:, -1])  # (B, hidden)
        if self.strategy == "direct":
            change = self.head(self._with_future(final, future.flatten(1)))  # (B, H*K*P)
            return self._params(change.view(batch, self.horizon, k, p), last, unit)
        # Past covariates of future steps are unknown: repeat the last observed ones.
        covariates = window[:, -1:, k : window.shape[2] - self.future_size]  # (B, 1, F-K-C)
        steps = []
        change = self.head(self._with_future(final, future[:, 0]))  # (B, K*P)
        params = self._params(change.view(batch, 1, k, p), last, unit)  # (B, 1, K, P)
        for step in range(horizon):
            steps.append(params)
            if len(steps) == horizon:
                break
            current = self._point(params)  # (B, 1, K)
            # Carry the recurrent state; only the new row is read, not the whole window.
            known = future[:, step : step + 1]  # (B, 1, C), the step just forecast
            next_input = torch.cat([(current - last) / unit, covariates, known], dim=2)  # (B, 1, F)
            outputs, state = self.recurrent(next_input, state)
            final = self.head_dropout(outputs[:, -1])
            change = self.head(self._with_future(final, future[:, step + 1]))
            params = self._params(change.view(batch, 1, k, p), current, unit)
        return torch.cat(steps, dim=1)  # (B, horizon, K, P)

    def _params(self, raw: torch.Tensor, last: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
        return probabilistic.to_params(raw, last, self.likelihood, self.quantiles, unit)

    def _point(self, params: torch.Tensor) -> torch.Tensor:
        return probabilistic.point(params, self.likelihood, self.quantiles)

    def _split_future(
        self, window: torch.Tensor, horizon: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The lookback rows and the known-future columns of the ``horizon`` rows after them."""
        if self.future_size == 0:
            return window, window[:, :horizon, :0].new_zeros(window.shape[0], horizon, 0)
        if window.shape[1] <= horizon:
            raise ValueError(
                f"a window with known-future covariates has lookback + {horizon} rows; "
                f"got {window.shape[1]}"
            )
        future = window[:, -horizon:, window.shape[2] - self.future_size :]  # (B, H, C)
        return window[:, :-horizon], future

    def _with_future(self, final: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        """The head's input: the final output, then the known covariates it forecasts with."""
        return torch.cat([final, future], dim=1) if self.future_size else final


def build_model(config: ForecastingConfig, info: dict[str, Any]) -> Forecaster:
    """The forecaster a run's config and ``preprocess/info.json`` describe."""
    return Forecaster(
        info["input_size"],
        info["num_targets"],
        info["horizon"],
        config.model,
        future_size=info.get("future_size", 0),
    )
