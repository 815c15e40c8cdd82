from __future__ import annotations

import pytest
import torch

from rnnkit.tasks.forecasting.config import ForecastingModel as ModelConfig
from rnnkit.tasks.forecasting.model import Forecaster


def _model(strategy: str, input_size: int = 3, targets: int = 2, horizon: int = 4) -> Forecaster:
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=8, strategy=strategy)
    return Forecaster(input_size, targets, horizon, config).eval()


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_a_zero_head_forecasts_the_last_value(strategy: str) -> None:
    model = _model(strategy)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    window = torch.randn(5, 10, 3)
    forecast = model(window)
    assert forecast.shape == (5, 4, 2)
    expected = window[:, -1:, :2].expand(5, 4, 2)
    torch.testing.assert_close(forecast, expected)


def test_recursive_steps_feed_forecasts_back() -> None:
    model = _model("recursive", input_size=2, targets=1, horizon=3)
    window = torch.randn(2, 6, 2)
    with torch.no_grad():
        forecast = model(window)
        # Re-running the window extended by the first forecast step (covariate held)
        # must give the second step: the model carries state, it does not restart.
        first = forecast[:, :1]
        extended = torch.cat([window, torch.cat([first, window[:, -1:, 1:]], 2)], 1)
        last = window[:, -1:, :1]
        relative = torch.cat([extended[..., :1] - last, extended[..., 1:]], 2)
        outputs, _ = model.recurrent(relative)
        second = first + model.head(outputs[:, -1]).view(2, 1, 1)
    torch.testing.assert_close(forecast[:, 1:2], second)
    assert model(window, horizon=7).shape == (2, 7, 1)


def test_direct_forecaster_has_a_fixed_horizon() -> None:
    with pytest.raises(ValueError, match="exactly 4 steps"):
        _model("direct")(torch.randn(1, 5, 3), horizon=5)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="num_targets = 4"):
        Forecaster(3, 4, 1, ModelConfig())
    # A forecaster reads the past in time order: its section has no bidirectional key.
    with pytest.raises(ValueError, match="bidirectional"):
        ModelConfig(bidirectional=True)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_shifting_the_level_shifts_the_forecast(strategy: str) -> None:
    model = _model(strategy, input_size=3, targets=2)
    window = torch.randn(4, 9, 3)
    shift = torch.tensor([5.0, -3.0, 0.0])  # targets move, the covariate does not
    with torch.no_grad():
        torch.testing.assert_close(model(window + shift), model(window) + shift[:2])


def test_input_dropout_drops_whole_features_of_the_window() -> None:
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=8, input_dropout=0.5)
    model = Forecaster(3, 1, 2, config)
    seen = []
    model.recurrent.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    window = torch.randn(16, 10, 3) + 5.0  # no relative value is zero by chance
    window[:, -1, 0] = 4.0  # the last target: relative values are window - 4
    model(window)
    relative = torch.cat([window[..., :1] - 4.0, window[..., 1:]], dim=2)
    ratio = seen[0][:, :-1] / relative[:, :-1]  # (B, L-1, F); the last target step is 0
    # One mask per window and feature, the same at every step: each ratio is 0 or 1/(1-p).
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
    assert set(ratio[:, 0].flatten().tolist()) == {0.0, 2.0}
    model.eval()
    seen.clear()
    model(window)
    torch.testing.assert_close(seen[0], relative)


@pytest.mark.parametrize("likelihood", ["none", "gaussian", "quantile"])
@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_window_scale_makes_the_forecast_scale_with_the_swings(
    strategy: str, likelihood: str
) -> None:
    """Stretching the window around its last value by c stretches every forecast change
    and every scale or quantile offset by c: the layers see the same normalised window."""
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=8, strategy=strategy, likelihood=likelihood, window_scale=True)
    model = Forecaster(2, 2, 3, config).eval()
    window = torch.randn(4, 9, 2)
    last = window[:, -1:]
    stretched = last + 3.0 * (window - last)
    params = model.distribution(window)
    params_stretched = model.distribution(stretched)
    centre = last.unsqueeze(-1)  # (B, 1, K, 1)
    if likelihood == "gaussian":  # mean moves with the changes, the std scales
        torch.testing.assert_close(params_stretched[..., 0] - last, 3 * (params[..., 0] - last))
        torch.testing.assert_close(params_stretched[..., 1], 3 * params[..., 1])
    else:
        torch.testing.assert_close(params_stretched - centre, 3 * (params - centre))
    # Without it the model is not scale-equivariant (the check above would fail).
    plain = Forecaster(2, 2, 3, ModelConfig(hidden_size=8, strategy=strategy)).eval()
    assert not torch.allclose(plain(stretched) - last, 3 * (plain(window) - last), atol=1e-3)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_known_future_covariates_reach_the_forecast(strategy: str) -> None:
    """The rows after the window feed their known columns to the head, and nothing else."""
    torch.manual_seed(0)
    model = Forecaster(4, 1, 3, ModelConfig(hidden_size=8, strategy=strategy), future_size=2)
    model.eval()
    window = torch.randn(2, 10 + 3, 4)  # 10 lookback rows, then 3 future rows
    with torch.no_grad():
        forecast = model(window)
        assert forecast.shape == (2, 3, 1)
        unknown = window.clone()
        unknown[:, 10:, :2] = torch.randn(2, 3, 2)  # target and past covariate: ignored
        torch.testing.assert_close(model(unknown), forecast)
        known = window.clone()
        known[:, -1, 3] += 1.0  # the last step's known covariate
        changed = model(known)
    assert not torch.allclose(changed[:, 2], forecast[:, 2])
    if strategy == "recursive":  # one step at a time: earlier steps cannot see it
        torch.testing.assert_close(changed[:, :2], forecast[:, :2])
    with pytest.raises(ValueError, match="future_size = 4"):
        Forecaster(4, 1, 3, ModelConfig(), future_size=4)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_known_future_covariates_with_a_gaussian_head(strategy: str) -> None:
    """The head reads the known covariates and predicts P = 2 parameters per step and
    target; window_scale rescales the targets only, so the covariates' values still count."""
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=8, strategy=strategy, likelihood="gaussian", window_scale=True)
    model = Forecaster(4, 2, 3, config, future_size=1).eval()
    steps_out = 3 if strategy == "direct" else 1
    assert model.head.in_features == 8 + steps_out * 1
    assert model.head.out_features == steps_out * 2 * 2
    window = torch.randn(5, 10 + 3, 4)
    with torch.no_grad():
        params = model.distribution(window)  # (B, H, K, P)
        assert params.shape == (5, 3, 2, 2)
        assert (params[..., 1] > 0).all()
        torch.testing.assert_close(model(window), params[..., 0])
        known = window.clone()
        known[:, -1, 3] += 1.0  # the last forecast step's known covariate
        changed = model.distribution(known)
    assert not torch.allclose(changed[:, 2], params[:, 2])
    if strategy == "recursive":  # the fed-back point forecasts do not see it either
        torch.testing.assert_close(changed[:, :2], params[:, :2])
    # Stretching the lookback targets around their last value stretches mean changes and
    # standard deviations alike, whatever the known covariates are.
    last = window[:, 9:10, :2]
    stretched = window.clone()
    stretched[:, :10, :2] = last + 3.0 * (window[:, :10, :2] - last)
    with torch.no_grad():
        scaled = model.distribution(stretched)
    torch.testing.assert_close(scaled[..., 0] - last, 3 * (params[..., 0] - last))
    torch.testing.assert_close(scaled[..., 1], 3 * params[..., 1])
