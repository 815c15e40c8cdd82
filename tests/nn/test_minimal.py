"""MinGRU and MinLSTM against the paper's equations written out as plain loops."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from rnnkit.nn import RGLRU, MinGRU, MinLSTM, minimal_layer

F64 = torch.float64
INPUT_SIZE, HIDDEN_SIZE, BATCH, STEPS = 3, 4, 3, 7
LENGTHS = [7, 2, 5]  # unsorted, one full-length sequence
LAYERS = {"mingru": MinGRU, "minlstm": MinLSTM}
# Every layer of the parallel-scan family, for the checks that hold for all of them.
SCAN_LAYERS = {**LAYERS, "rglru": RGLRU}
IMPLS = ("scan", "log", "reference")


def _g(v):
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def _paper_direction(kind, weight, bias, x, h, reverse=False):
    """Feng et al. 2024's recurrence for one direction, step by step: x (T, B, I)."""
    hidden = weight.size(0) // (2 if kind == "mingru" else 3)
    outputs = [None] * x.size(0)
    for t in reversed(range(x.size(0))) if reverse else range(x.size(0)):
        pre = x[t] @ weight.T + bias
        if kind == "mingru":
            z = torch.sigmoid(pre[:, :hidden])
            h = (1 - z) * h + z * _g(pre[:, hidden:])
        else:
            f = torch.sigmoid(pre[:, :hidden])
            i = torch.sigmoid(pre[:, hidden : 2 * hidden])
            h = f / (f + i) * h + i / (f + i) * _g(pre[:, 2 * hidden :])
        outputs[t] = h
    return torch.stack(outputs), h


def _paper_layers(layer, x, h0):
    """The plain stack (no options): x (T, B, I) -> output (T, B, D*H), h_n (L*D, B, H)."""
    kind = "mingru" if isinstance(layer, MinGRU) else "minlstm"
    finals = []
    for k in range(layer.num_layers):
        outputs = []
        for d in range(layer.num_directions):
            suffix = f"_l{k}" + ("_reverse" if d else "")
            weight = getattr(layer, f"weight_ih{suffix}")
            bias = getattr(layer, f"bias_ih{suffix}")
            out, last = _paper_direction(
                kind, weight, bias, x, h0[k * layer.num_directions + d], reverse=d == 1
            )
            outputs.append(out)
            finals.append(last)
        x = torch.cat(outputs, -1)
    return x, torch.stack(finals)


def _make(kind, **options):
    torch.manual_seed(0)
    return LAYERS[kind](INPUT_SIZE, HIDDEN_SIZE, dtype=F64, **options)


def _grads(layer, x, h0, output, h_n):
    weights = torch.linspace(-1, 1, output.numel(), dtype=F64).view_as(output)
    loss = (output * weights).sum() + (h_n * h_n).sum()
    return torch.autograd.grad(loss, (x, h0, *layer.parameters()))


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_matches_the_papers_equations_with_gradients(kind, impl, bidirectional):
    layer = _make(kind, num_layers=2, bidirectional=bidirectional, impl=impl)
    directions = 2 if bidirectional else 1
    x = torch.randn(STEPS, BATCH, INPUT_SIZE, dtype=F64, requires_grad=True)
    h0 = torch.randn(2 * directions, BATCH, HIDDEN_SIZE, dtype=F64, requires_grad=True)

    output, h_n = layer(x, h0)
    expected_output, expected_h_n = _paper_layers(layer, x, h0)
    assert output.shape == (STEPS, BATCH, directions * HIDDEN_SIZE)
    assert h_n.shape == (2 * directions, BATCH, HIDDEN_SIZE)
    torch.testing.assert_close(output, expected_output, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h_n, expected_h_n, rtol=1e-10, atol=1e-12)
    ours = _grads(layer, x, h0, output, h_n)
    expected = _grads(layer, x, h0, expected_output, expected_h_n)
    for ours_grad, expected_grad in zip(ours, expected, strict=True):
        torch.testing.assert_close(ours_grad, expected_grad, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_gradcheck_on_tiny_sizes(kind):
    torch.manual_seed(1)
    layer = LAYERS[kind](2, 3, bidirectional=True, dtype=F64)
    x = torch.randn(5, 2, 2, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h0: layer(x, h0, lengths=[5, 3]), (x, h0))


def test_minlstm_gates_stay_finite_when_both_saturate():
    """f and i both ~e^-200: f/(f+i) is still defined (0/0 in a naive form)."""
    layer = _make("minlstm")
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.bias_ih_l0.copy_(torch.tensor([-200.0] * 4 + [-201.0] * 4 + [1.0] * 4))
    output, _ = layer(torch.zeros(3, 1, INPUT_SIZE, dtype=F64))
    # f' = 1/(1+e^-1), i' = e^-1/(1+e^-1); h_t = (1 - f'^t) * g(1) = (1 - f'^t) * 1.5
    forget = 1 / (1 + math.exp(-1))
    expected = torch.tensor([(1 - forget**t) * 1.5 for t in (1, 2, 3)], dtype=F64)
    torch.testing.assert_close(output[:, 0, 0], expected)


@pytest.mark.parametrize("kind", sorted(SCAN_LAYERS))
@pytest.mark.parametrize(
    "options", [{}, {"residual": True, "norm": True, "mlp": True}, {"mlp": True}]
)
def test_chunks_continue_the_sequence_exactly(kind, options):
    """Whole sequence == two chunks with the state carried == one step at a time."""
    layer = SCAN_LAYERS[kind](HIDDEN_SIZE, HIDDEN_SIZE, num_layers=2, dtype=F64, **options)
    x = torch.randn(11, BATCH, HIDDEN_SIZE, dtype=F64)
    h0 = torch.randn(2, BATCH, HIDDEN_SIZE, dtype=F64)
    whole, h_whole = layer(x, h0)

    first, h_mid = layer(x[:4], h0)
    second, h_end = layer(x[4:], h_mid)
    torch.testing.assert_close(torch.cat([first, second]), whole, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(h_end, h_whole, rtol=1e-12, atol=1e-13)

    h, steps = h0, []
    for t in range(x.size(0)):
        y, h = layer.step(x[t], h)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps), whole, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(h, h_whole, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_step_unbatched_and_without_state(kind):
    layer = _make(kind, num_layers=2)
    x = torch.randn(4, INPUT_SIZE, dtype=F64)
    output, h_n = layer(x)  # unbatched (T, I)
    assert output.shape == (4, HIDDEN_SIZE) and h_n.shape == (2, HIDDEN_SIZE)
    h = None
    for t in range(4):
        y, h = layer.step(x[t], h)
    torch.testing.assert_close(y, output[-1])
    torch.testing.assert_close(h, h_n)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_match_each_sequence_run_alone(kind, impl, bidirectional, batch_first):
    options = {"residual": True, "mlp": True} if bidirectional else {}
    layer = _make(
        kind,
        num_layers=2,
        bidirectional=bidirectional,
        batch_first=batch_first,
        impl=impl,
        **options,
    )
    directions = 2 if bidirectional else 1
    x = torch.randn(BATCH, STEPS, INPUT_SIZE, dtype=F64, requires_grad=True)
    h0 = torch.randn(2 * directions, BATCH, HIDDEN_SIZE, dtype=F64)
    inputs = x if batch_first else x.transpose(0, 1)
    output, h_n = layer(inputs, h0, lengths=torch.tensor(LENGTHS))
    if not batch_first:
        output = output.transpose(0, 1)  # (B, T, D*H)
    for b, length in enumerate(LENGTHS):
        alone = x[b : b + 1, :length]
        expected, expected_h = layer(
            alone if batch_first else alone.transpose(0, 1), h0[:, b : b + 1]
        )
        if not batch_first:
            expected = expected.transpose(0, 1)
        torch.testing.assert_close(output[b, :length], expected[0], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(h_n[:, b], expected_h[:, 0], rtol=1e-10, atol=1e-12)
        assert (output[b, length:] == 0).all()
    # Padded inputs have no influence: their gradient is zero.
    (grad,) = torch.autograd.grad(output.sum() + h_n.sum(), x)
    for b, length in enumerate(LENGTHS):
        assert (grad[b, length:] == 0).all() and (grad[b, :length] != 0).any()


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_reverse_direction_reads_the_sequence_backwards(kind):
    """The reverse half equals a one-direction layer with the reverse weights run on the
    flipped sequence."""
    layer = _make(kind, bidirectional=True)
    forward_only = LAYERS[kind](INPUT_SIZE, HIDDEN_SIZE, dtype=F64)
    with torch.no_grad():
        forward_only.weight_ih_l0.copy_(layer.weight_ih_l0_reverse)
        forward_only.bias_ih_l0.copy_(layer.bias_ih_l0_reverse)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE, dtype=F64)
    output, h_n = layer(x)
    flipped, h_flipped = forward_only(x.flip(0))
    torch.testing.assert_close(output[..., HIDDEN_SIZE:], flipped.flip(0))
    torch.testing.assert_close(h_n[1], h_flipped[0])


def test_parameters_and_stacking_options():
    layer = MinLSTM(5, 4, num_layers=3, bidirectional=True, residual=True, norm=True, mlp=True)
    names = {name for name, _ in layer.named_parameters()}
    for k in range(3):
        fan_in = 5 if k == 0 else 8
        for suffix in (f"_l{k}", f"_l{k}_reverse"):
            assert getattr(layer, f"weight_ih{suffix}").shape == (12, fan_in)
            assert getattr(layer, f"bias_ih{suffix}").shape == (12,)
            assert f"weight_ih{suffix}" in names
            bound = 1 / math.sqrt(fan_in)
            assert getattr(layer, f"weight_ih{suffix}").abs().max() <= bound
    assert len(layer.norms) == 3 and len(layer.mlps) == 3
    output, h_n = layer(torch.randn(6, 2, 5))
    assert output.shape == (6, 2, 8) and h_n.shape == (6, 2, 4)
    plain = MinGRU(5, 4, num_layers=2)
    assert plain.norms is None and plain.mlps is None
    assert sum(p.numel() for p in plain.parameters()) == 8 * (5 + 1) + 8 * (4 + 1)
    assert "residual=True" in repr(MinGRU(4, 4, residual=True))


def test_residual_skips_a_first_layer_of_another_width():
    """Layer 0 (3 -> 4) has no residual, layer 1 (4 -> 4) adds its input."""
    torch.manual_seed(0)
    layer = MinGRU(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, residual=True, dtype=F64)
    plain = MinGRU(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, dtype=F64)
    plain.load_state_dict(layer.state_dict())
    first = MinGRU(INPUT_SIZE, HIDDEN_SIZE, dtype=F64)
    first.weight_ih_l0, first.bias_ih_l0 = layer.weight_ih_l0, layer.bias_ih_l0
    x = torch.randn(STEPS, BATCH, INPUT_SIZE, dtype=F64)
    hidden, _ = first(x)
    torch.testing.assert_close(layer(x)[0], plain(x)[0] + hidden)


def test_dropout_between_layers_only_in_training():
    layer = MinGRU(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, dropout=0.5, dtype=F64)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE, dtype=F64)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])
    with pytest.warns(UserWarning, match="dropout=0.2 acts between stacked layers only"):
        MinGRU(3, 4, dropout=0.2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
        ({"num_layers": 1.5}, "num_layers must be a positive integer, got 1.5"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\), got 1.0"),
        ({"impl": "fast"}, "unknown impl 'fast': expected one of scan, log, reference"),
        ({"residual": "yes"}, "residual must be True or False, got 'yes'"),
    ],
)
def test_bad_arguments(options, message):
    arguments = {"input_size": 3, "hidden_size": 4, **options}
    with pytest.raises(ValueError, match=f"MinGRU: {message}"):
        MinGRU(**arguments)


def test_bad_inputs():
    layer = MinLSTM(3, 4)
    x = torch.randn(5, 2, 3)
    cases = [
        (lambda: layer(torch.randn(5, 2, 6)), "input has 6 features, expected input_size=3"),
        (lambda: layer(torch.randn(5)), "expected input of 3 dimensions"),
        (lambda: layer(torch.randn(0, 2, 3)), "input has no time steps"),
        (lambda: layer(x.double()), "input dtype is torch.float64"),
        (lambda: layer(x, torch.zeros(2, 2, 4)), r"initial state has shape \(2, 2, 4\)"),
        (lambda: layer(x, lengths=[5, 6]), "lengths must be <= the time dimension"),
        (lambda: layer(x, lengths=[5]), "lengths must have one entry per sequence"),
        (lambda: layer(x, lengths=[0, 5]), "lengths must be >= 1"),
        (lambda: layer(x[:, 0], lengths=[5]), "lengths need batched 3-D input"),
        (lambda: layer.step(torch.randn(2, 7)), r"expected input \(B, 3\) or \(3,\)"),
        (
            lambda: MinGRU(3, 4, bidirectional=True).step(torch.randn(2, 3)),
            "a bidirectional layer cannot run one step at a time",
        ),
        (lambda: minimal_layer("mingru2", 3, 4), "unknown minimal cell 'mingru2'"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_factory_builds_the_named_layer():
    layer = minimal_layer("minlstm", 3, 4, 2, batch_first=True, bidirectional=True, mlp=True)
    assert isinstance(layer, MinLSTM)
    assert (layer.num_layers, layer.batch_first, layer.bidirectional, layer.mlp) == (
        2,
        True,
        True,
        True,
    )
    output, h_n = layer(torch.randn(2, 5, 3))
    assert output.shape == (2, 5, 8) and h_n.shape == (4, 2, 4)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_torchscript_trace_generalises_to_other_lengths(kind, tmp_path):
    """A trace runs the log-space form, whose graph holds at any batch size and length."""
    layer = LAYERS[kind](3, 4, num_layers=2, batch_first=True).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(layer, (torch.randn(2, 7, 3),))
        torch.jit.save(traced, str(tmp_path / "layer.pt"))
        loaded = torch.jit.load(str(tmp_path / "layer.pt"))
        x = torch.randn(5, 12, 3)
        for ours, expected in zip(loaded(x), layer(x), strict=True):
            torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


def test_torchscript_onnx_exporter_is_refused_clearly(tmp_path):
    layer = MinGRU(3, 4).eval()
    with (
        warnings.catch_warnings(),
        pytest.raises(Exception, match=r"use torch.onnx.export\(..., dynamo=True\)"),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(layer, (torch.randn(5, 2, 3),), str(tmp_path / "m.onnx"), dynamo=False)
