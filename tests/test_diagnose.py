"""Diagnostics: the traced layers compute the layer's function, the gradient norms match a
per-step torch.nn reference, verdicts and saturation follow from constructed weights, and
``rnnkit diagnose`` writes its JSON, plots and table for a trained run."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from torch import nn

from rnnkit import nn as rnn_layers
from rnnkit.cli import main
from rnnkit.diagnose import (
    DIAGNOSTICS_FILE,
    GATES_PLOT,
    GRADIENT_PLOT,
    diagnose,
    summarize,
    table_rows,
    thresholds_text,
    traced,
    verdict,
)
from rnnkit.engine.api import train
from rnnkit.errors import ConfigError
from rnnkit.nn.cells import gru_step, lstm_step, project_input

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "adding-lstm.yaml"


class LastStepModel(nn.Module):
    """Recurrent layer -> linear head on the last output (a many-to-one regressor)."""

    def __init__(self, recurrent: nn.Module) -> None:
        super().__init__()
        self.recurrent = recurrent
        directions = 2 if recurrent.bidirectional else 1
        self.head = nn.Linear(recurrent.hidden_size * directions, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            output, _ = self.recurrent(x)
        else:
            output, _ = self.recurrent(x, lengths=lengths)
        return self.head(output[:, -1]).squeeze(-1)


EXTENDED = {"layer_norm": True, "recurrent_dropout": 0.3, "zoneout": 0.2, "weight_drop": 0.4}


def run_traced(model: nn.Module, x: torch.Tensor, **kwargs):
    """Forward and backward one batch through the traced model; the accumulated traces."""
    with traced(model) as tracers:
        loss = model(x, **kwargs).pow(2).mean()
        loss.backward()
        traces = [t for tracer in tracers for t in tracer.traces]
        for trace in traces:
            trace.collect_gradients()
    return traces


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("RNN", {}),
        ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
        ("LSTM", {"num_layers": 2, "bidirectional": True}),
        ("GRU", {"bidirectional": True}),
        ("GRU", {"reset_after": False}),
        ("LSTM", {"num_layers": 2, "bidirectional": True, **EXTENDED}),
        ("GRU", {"bidirectional": True, **EXTENDED}),
        ("RNN", {"num_layers": 2, **EXTENDED}),
    ],
)
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_traced_layer_computes_the_same_outputs_and_states(
    kind: str, options: dict, training: bool
) -> None:
    torch.manual_seed(0)
    layer = getattr(rnn_layers, kind)(3, 5, batch_first=True, **options).train(training)
    model = nn.Sequential()
    model.add_module("recurrent", layer)
    x = torch.randn(4, 7, 3)
    lengths = torch.tensor([7, 3, 5, 1])
    torch.manual_seed(1)  # the same dropout, weight-drop and zoneout draws in training
    expected_output, expected_state = layer(x, lengths=lengths)
    torch.manual_seed(1)
    with traced(model) as tracers:
        assert model.recurrent is tracers[0]
        output, state = model.recurrent(x, lengths=lengths)
    assert model.recurrent is layer  # restored
    torch.testing.assert_close(output, expected_output)
    for got, want in zip(
        state if isinstance(state, tuple) else (state,),
        expected_state if isinstance(expected_state, tuple) else (expected_state,),
        strict=True,
    ):
        torch.testing.assert_close(got, want)


def test_the_gates_a_cell_reports_are_the_ones_it_stepped_with() -> None:
    """lstm_step's reported gates (layer norm included) reproduce its c_t by hand; the GRU's
    reproduce its h_t; without layer norm the same weights give other gates."""
    torch.manual_seed(2)
    layer = rnn_layers.LSTM(3, 5, layer_norm=True)
    weights = layer._direction_weights(0, 0)
    x_proj = project_input(
        torch.randn(4, 3), weights.weight_ih, weights.bias_ih, weights.ln_ih_weight
    )
    h, c = torch.randn(4, 5), torch.randn(4, 5)
    gates: dict = {}
    _, c_next = lstm_step(
        x_proj,
        h,
        c,
        weights.weight_hh,
        weights.bias_hh,
        ln_hh_weight=weights.ln_hh_weight,
        ln_cell_weight=weights.ln_cell_weight,
        ln_cell_bias=weights.ln_cell_bias,
        gates_out=gates,
    )
    torch.testing.assert_close(gates["forget"] * c + gates["input"] * gates["cell"], c_next)
    plain: dict = {}
    lstm_step(x_proj, h, c, weights.weight_hh, weights.bias_hh, gates_out=plain)
    assert not torch.allclose(plain["forget"], gates["forget"])

    gru = rnn_layers.GRU(3, 5)
    gru_weights = gru._direction_weights(0, 0)
    gru_proj = project_input(torch.randn(4, 3), gru_weights.weight_ih, gru_weights.bias_ih)
    gru_gates: dict = {}
    h_next = gru_step(gru_proj, h, gru_weights.weight_hh, gru_weights.bias_hh, gates_out=gru_gates)
    update, new = gru_gates["update"], gru_gates["new"]
    torch.testing.assert_close((1 - update) * new + update * h, h_next)


def test_gradient_norms_match_a_torch_cell_loop() -> None:
    torch.manual_seed(1)
    layer = rnn_layers.LSTM(2, 6, batch_first=True)
    model = LastStepModel(layer)
    x = torch.randn(3, 9, 2)
    traces = run_traced(model, x)
    got = traces[0].grad_sum / traces[0].grad_count

    # Reference: torch.nn.LSTMCell with the same weights, h_t kept with retained grads.
    cell = nn.LSTMCell(2, 6)
    cell.load_state_dict(
        {
            "weight_ih": layer.weight_ih_l0,
            "weight_hh": layer.weight_hh_l0,
            "bias_ih": layer.bias_ih_l0,
            "bias_hh": layer.bias_hh_l0,
        }
    )
    h, c = torch.zeros(3, 6), torch.zeros(3, 6)
    hidden = []
    for t in range(9):
        h, c = cell(x[:, t], (h, c))
        h.retain_grad()
        hidden.append(h)
    model.head(h).squeeze(-1).pow(2).mean().backward()
    want = np.array([float(step.grad.norm(dim=-1).mean()) for step in hidden])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_padded_steps_are_left_out_of_the_gradient_average() -> None:
    torch.manual_seed(2)
    model = LastStepModel(rnn_layers.GRU(2, 4, batch_first=True))
    traces = run_traced(model, torch.randn(3, 6, 2), lengths=torch.tensor([6, 2, 4]))
    np.testing.assert_array_equal(traces[0].grad_count, [3, 3, 2, 2, 1, 1])


def make_rnn(nonlinearity: str, recurrent_scale: float, steps_seed: int = 0) -> LastStepModel:
    torch.manual_seed(steps_seed)
    layer = rnn_layers.RNN(1, 8, batch_first=True, nonlinearity=nonlinearity)
    with torch.no_grad():
        layer.weight_hh_l0.copy_(recurrent_scale * torch.eye(8))
        layer.weight_ih_l0.fill_(0.1)
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    return LastStepModel(layer)


def test_contracting_recurrence_vanishes_and_expanding_relu_explodes() -> None:
    x = torch.ones(2, 30, 1)
    # tanh with W_hh = 0.5 I: each step multiplies the gradient by at most 0.5.
    small = make_rnn("tanh", 0.5)
    result = summarize(run_traced(small, x), "valid", 1, small)
    layer = result["layers"][0]
    assert layer["first_last_ratio"] < 0.5**28
    assert layer["verdict"] == result["verdict"] == "vanishing"
    # relu with W_hh = 1.5 I and positive states: exactly 1.5 per step, 1.5^29 over 30 steps.
    large = make_rnn("relu", 1.5)
    result = summarize(run_traced(large, x), "valid", 1, large)
    assert result["layers"][0]["first_last_ratio"] == pytest.approx(1.5**29, rel=1e-6)
    assert result["verdict"] == "exploding"
    # relu with W_hh = I: the gradient is carried unchanged.
    identity = make_rnn("relu", 1.0)
    result = summarize(run_traced(identity, x), "valid", 1, identity)
    assert result["layers"][0]["first_last_ratio"] == pytest.approx(1.0)
    assert result["verdict"] == "healthy"
    assert result["layers"][0]["spectral_norm"] == {"hidden": pytest.approx(1.0)}


def test_the_verdict_reads_the_distance_the_task_needs() -> None:
    # relu with W_hh = 0.5 I and positive states: exactly 0.5 per step back.
    x = torch.ones(2, 30, 1)
    model = make_rnn("relu", 0.5)
    traces = run_traced(model, x)
    whole = summarize(traces, "val", 1, model)
    assert whole["span"] == {"steps": 29, "why": "the whole sequence the model reads"}
    assert whole["layers"][0]["span_ratio"] == pytest.approx(0.5**29, rel=1e-6)
    assert whole["verdict"] == "vanishing"
    # A task that needs 5 steps of memory (a forecaster's horizon): 0.5^5 is healthy,
    # although the gradient from the window's first step is gone.
    needed = summarize(traces, "val", 1, model, (5, "the horizon (5)"))
    layer = needed["layers"][0]
    assert layer["span_ratio"] == pytest.approx(0.5**5, rel=1e-6)
    assert layer["first_last_ratio"] == pytest.approx(0.5**29, rel=1e-6)
    assert layer["verdict"] == needed["verdict"] == "healthy"
    text = thresholds_text(needed)
    assert "d = 5 steps back: the horizon (5)" in text
    assert "over all T = 30 steps, does not decide" in text
    assert table_rows(needed)[0][4:7] == [f"{0.5**29:.3g}", f"{0.5**5:.3g}", "healthy"]
    # A span longer than the sequence is the whole sequence.
    assert summarize(traces, "val", 1, model, (90, "x"))["span"]["steps"] == 29


def test_a_forecaster_needs_its_horizon_or_its_season() -> None:
    from rnnkit.tasks import load_config

    base = {"task": "forecasting", "data": {"dataset": "s.csv", "lookback": 60, "horizon": 14}}
    config = load_config(base)
    assert config.memory_span({"season_length": 7})[0] == 14
    assert config.memory_span({"season_length": 52})[0] == 52
    assert load_config(base, {"data.season_length": 30}).memory_span({"season_length": 7})[0] == 30
    other = load_config({"task": "copy", "data": {"dataset": "copy"}})
    assert other.memory_span({}) is None


def test_verdict_thresholds() -> None:
    assert verdict(1e-4) == "vanishing"
    assert verdict(2e-3) == verdict(1.0) == verdict(900.0) == "healthy"
    assert verdict(2e3) == verdict(math.inf) == verdict(math.nan) == "exploding"


def test_gate_saturation_follows_the_biases() -> None:
    torch.manual_seed(3)
    layer = rnn_layers.LSTM(2, 4, batch_first=True)
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.weight_hh_l0.zero_()
        layer.bias_hh_l0.zero_()
        hidden = 4
        # gates (i, f, g, o): input at 0 -> 0.5; forget +10 -> ~1; cell -10 -> tanh ~ -1.
        layer.bias_ih_l0.copy_(
            torch.cat(
                [
                    torch.zeros(hidden),
                    torch.full((hidden,), 10.0),
                    torch.full((hidden,), -10.0),
                    torch.zeros(hidden),
                ]
            )
        )
    model = LastStepModel(layer)
    result = summarize(run_traced(model, torch.randn(5, 6, 2)), "valid", 1, model)
    gates = result["layers"][0]["gates"]
    assert gates["input"]["saturated"] == 0.0
    assert gates["forget"]["saturated"] == 1.0
    assert gates["cell"]["saturated"] == 1.0
    assert gates["output"]["saturated"] == 0.0
    assert sum(gates["forget"]["histogram"]) == 5 * 6 * 4
    assert gates["forget"]["histogram"][-1] == 5 * 6 * 4  # every value in the top bin
    # c grows by -1 per step, h = 0.5 tanh(c): never above 0.99 in size.
    assert result["layers"][0]["hidden_saturation"] == 0.0
    blocks = layer.weight_hh_l0.chunk(4)
    assert result["layers"][0]["spectral_norm"]["forget"] == pytest.approx(
        float(torch.linalg.svdvals(blocks[1].detach().double()).max())
    )


def test_a_model_without_recurrent_layers_is_refused() -> None:
    model = nn.Sequential()
    model.add_module("head", nn.Linear(2, 2))
    with pytest.raises(ConfigError, match="found no RNN, LSTM or GRU layer"), traced(model):
        pass


# ----------------------------------------------------------------------------- a run


@pytest.fixture(scope="module")
def adding_run(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    run_dir = tmp_path_factory.mktemp("runs") / "adding"
    overrides = {
        "data.length": 12,
        "data.train_samples": 64,
        "data.eval_samples": 32,
        "data.batch_size": 16,
        "data.eval_batch_size": 16,
        "model.hidden_size": 8,
        "train.max_epochs": 1,
        "train.progress_bar": False,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(RECIPE, overrides, run_dir=run_dir)


@pytest.mark.slow
def test_diagnose_a_run_writes_json_and_plots(adding_run, capsys) -> None:
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exit_info:
        warnings.simplefilter("ignore")
        main(["diagnose", str(adding_run), "--split", "test", "--batches", "2"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    # The adding task needs the whole sequence: d = T - 1 = 11.
    assert "verdict on ratio d = ||dL/dh_{T-11}|| / ||dL/dh_T||, d = 11 steps back" in out
    assert "vanishing < 0.001" in out
    result = json.loads((adding_run / DIAGNOSTICS_FILE).read_text())
    assert result["split"] == "test" and result["batches"] == 2 and result["steps"] == 12
    layer = result["layers"][0]
    assert layer["name"] == "recurrent.l0" and layer["cell"] == "lstm"
    assert len(layer["grad_norm"]) == 12 and all(v > 0 for v in layer["grad_norm"])
    assert set(layer["gates"]) == {"input", "forget", "cell", "output"}
    assert f"verdict: {result['verdict']}" in out
    for name in (GRADIENT_PLOT, GATES_PLOT):
        image = imread(adding_run / name)
        assert image.ndim == 3 and image.shape[0] > 100


@pytest.mark.slow
def test_diagnose_a_run_with_extended_options(tmp_path) -> None:
    overrides = {
        "data.length": 10,
        "data.train_samples": 32,
        "data.eval_samples": 16,
        "data.batch_size": 16,
        "data.eval_batch_size": 16,
        "model.hidden_size": 6,
        "model.layer_norm": True,
        "model.zoneout": 0.1,
        "model.recurrent_dropout": 0.2,
        "train.max_epochs": 1,
        "train.progress_bar": False,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_dir = train(RECIPE, overrides, run_dir=tmp_path / "run")
        result = diagnose(run_dir, split="val", batches=1, plots=False)
    layer = result["layers"][0]
    assert layer["cell"] == "lstm" and len(layer["grad_norm"]) == 10
    assert all(v > 0 for v in layer["grad_norm"])
    assert set(layer["gates"]) == {"input", "forget", "cell", "output"}


@pytest.mark.slow
def test_diagnose_is_deterministic(adding_run) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = diagnose(adding_run, split="val", batches=1, plots=False)
        second = diagnose(adding_run, split="val", batches=1, plots=False)
    assert first == second


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "dev"], "--split 'dev' is not one of train, val, test"),
        (["--batches", "0"], "--batches 0 must be at least 1"),
    ],
)
@pytest.mark.slow
def test_diagnose_bad_options_exit_2(adding_run, capsys, args, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnose", str(adding_run), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_diagnose_a_missing_run_exits_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnose", str(tmp_path / "nothing")])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow  # one tiny epoch
def test_diagnose_a_forecaster_over_its_season(tmp_path) -> None:
    from rnnkit.tasks import get_spec

    config = get_spec("forecasting").tiny_config(tmp_path)  # daily, lookback 14, horizon 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_dir = train(config, run_dir=tmp_path / "run")
        result = diagnose(run_dir, batches=1, plots=False)
    assert result["steps"] == 14
    assert result["span"] == {
        "steps": 7,
        "why": "the longer of the horizon (3) and the season length (7)",
    }
    layer = result["layers"][0]
    norms = layer["grad_norm"]
    assert layer["span_ratio"] == pytest.approx(norms[-8] / norms[-1])
    assert layer["verdict"] == verdict(layer["span_ratio"])
