"""RGLRU against Griffin's equations (De et al. 2024, §2.4) written out as a plain loop."""

from __future__ import annotations

import warnings

import pytest
import torch

from rnnkit.nn import RGLRU, minimal_layer

F64 = torch.float64
INPUT_SIZE, HIDDEN_SIZE, BATCH, STEPS = 3, 4, 3, 7
LENGTHS = [7, 2, 5]  # unsorted, one full-length sequence
IMPLS = ("scan", "log", "reference")


def _paper_direction(layer, suffix, u, h, reverse=False):
    """One direction step by step, as the paper writes it: a_t = σ(Λ)^(8 r_t)."""
    p = {name: getattr(layer, f"{name}{suffix}") for name in ("weight_ih", "weight_gate")}
    bias_ih, bias_gate = getattr(layer, f"bias_ih{suffix}"), getattr(layer, f"bias_gate{suffix}")
    a = torch.sigmoid(getattr(layer, f"lambda{suffix}"))
    hidden = a.numel()
    outputs = [None] * u.size(0)
    for t in reversed(range(u.size(0))) if reverse else range(u.size(0)):
        x = u[t] @ p["weight_ih"].T + bias_ih
        gates = x @ p["weight_gate"].T + bias_gate
        r, i = torch.sigmoid(gates[:, :hidden]), torch.sigmoid(gates[:, hidden:])
        a_t = a ** (8 * r)
        h = a_t * h + torch.sqrt(1 - a_t**2) * (i * x)
        outputs[t] = h
    return torch.stack(outputs), h


def _paper_layers(layer, x, h0):
    """The plain stack: x (T, B, I) -> output (T, B, D*H), h_n (L*D, B, H)."""
    finals = []
    for k in range(layer.num_layers):
        outputs = []
        for d in range(layer.num_directions):
            suffix = f"_l{k}" + ("_reverse" if d else "")
            state = h0[k * layer.num_directions + d]
            out, last = _paper_direction(layer, suffix, x, state, reverse=d == 1)
            outputs.append(out)
            finals.append(last)
        x = torch.cat(outputs, -1)
    return x, torch.stack(finals)


def _make(**options):
    torch.manual_seed(0)
    return RGLRU(INPUT_SIZE, HIDDEN_SIZE, dtype=F64, **options)


def _grads(layer, x, h0, output, h_n):
    weights = torch.linspace(-1, 1, output.numel(), dtype=F64).view_as(output)
    loss = (output * weights).sum() + (h_n * h_n).sum()
    return torch.autograd.grad(loss, (x, h0, *layer.parameters()))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_matches_the_papers_equations_with_gradients(impl, bidirectional):
    layer = _make(num_layers=2, bidirectional=bidirectional, impl=impl)
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
    names = ["x", "h0", *(name for name, _ in layer.named_parameters())]
    for name, ours_grad, expected_grad in zip(names, ours, expected, strict=True):
        torch.testing.assert_close(ours_grad, expected_grad, rtol=1e-9, atol=1e-11, msg=name)


def test_gradcheck_on_tiny_sizes():
    torch.manual_seed(1)
    layer = RGLRU(2, 3, bidirectional=True, dtype=F64)
    x = torch.randn(5, 2, 2, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, dtype=F64, requires_grad=True)
    lam = layer.lambda_l0
    assert torch.autograd.gradcheck(lambda x, h0, lam: layer(x, h0, lengths=[5, 3]), (x, h0, lam))


# Chunks and single steps continue a sequence exactly: tests/nn/test_minimal.py checks
# RGLRU there with MinGRU and MinLSTM.


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_match_each_sequence_run_alone(impl, bidirectional):
    layer = _make(num_layers=2, bidirectional=bidirectional, batch_first=True, impl=impl)
    directions = 2 if bidirectional else 1
    x = torch.randn(BATCH, STEPS, INPUT_SIZE, dtype=F64, requires_grad=True)
    h0 = torch.randn(2 * directions, BATCH, HIDDEN_SIZE, dtype=F64)
    output, h_n = layer(x, h0, lengths=torch.tensor(LENGTHS))  # (B, T, D*H)
    for b, length in enumerate(LENGTHS):
        expected, expected_h = layer(x[b : b + 1, :length], h0[:, b : b + 1])
        torch.testing.assert_close(output[b, :length], expected[0], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(h_n[:, b], expected_h[:, 0], rtol=1e-10, atol=1e-12)
        assert (output[b, length:] == 0).all()
    # Padded inputs have no influence: their gradient is zero.
    (grad,) = torch.autograd.grad(output.sum() + h_n.sum(), x)
    for b, length in enumerate(LENGTHS):
        assert (grad[b, length:] == 0).all() and (grad[b, :length] != 0).any()


def test_parameters_and_initial_decay():
    layer = RGLRU(5, 4, num_layers=2, bidirectional=True)
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    for k, fan_in in ((0, 5), (1, 8)):
        for suffix in (f"_l{k}", f"_l{k}_reverse"):
            assert shapes[f"weight_ih{suffix}"] == (4, fan_in)
            assert shapes[f"bias_ih{suffix}"] == (4,)
            assert shapes[f"weight_gate{suffix}"] == (8, 4)
            assert shapes[f"bias_gate{suffix}"] == (8,)
            assert shapes[f"lambda{suffix}"] == (4,)
            # a^c with a = σ(Λ), c = 8, starts in [0.9, 0.999] (paper §2.4)
            decay = torch.sigmoid(getattr(layer, f"lambda{suffix}")) ** 8
            assert ((decay >= 0.9 - 1e-6) & (decay <= 0.999 + 1e-6)).all()
    assert len(shapes) == 5 * 4
    no_bias = RGLRU(5, 4, bias=False)
    assert sorted(name for name, _ in no_bias.named_parameters()) == [
        "lambda_l0",
        "weight_gate_l0",
        "weight_ih_l0",
    ]
    assert sum(p.numel() for p in RGLRU(5, 4).parameters()) == 4 * 5 + 4 + 8 * 4 + 8 + 4


def test_state_keeps_its_scale_when_the_decay_is_near_one():
    """With a_t -> 1 the input enters scaled by sqrt(1 - a_t²), computed from log a_t;
    the naive 1 - a_t**2 in float32 would round to 0 here."""
    layer = RGLRU(1, 1)
    with torch.no_grad():
        layer.weight_ih_l0.fill_(1.0)
        layer.bias_ih_l0.zero_()
        layer.weight_gate_l0.zero_()
        layer.bias_gate_l0.copy_(torch.tensor([0.0, 30.0]))  # r = 1/2, i = 1
        layer.lambda_l0.fill_(22.0)  # log a = -softplus(-22) ~ -2.8e-10
    output, _ = layer(torch.ones(1, 1, 1))
    log_a = 8 * 0.5 * -torch.nn.functional.softplus(torch.tensor(-22.0, dtype=F64))
    expected = torch.sqrt(-torch.expm1(2 * log_a))  # ~4.7e-5
    torch.testing.assert_close(output.double().flatten(), expected.reshape(1), rtol=1e-4, atol=0)


def test_factory_and_step_errors():
    layer = minimal_layer("rglru", 3, 4, 2, batch_first=True, residual=True)
    assert isinstance(layer, RGLRU) and layer.residual
    output, h_n = layer(torch.randn(2, 5, 3))
    assert output.shape == (2, 5, 4) and h_n.shape == (2, 2, 4)
    with pytest.raises(ValueError, match=r"RGLRU\.step: a bidirectional layer cannot run"):
        RGLRU(3, 4, bidirectional=True).step(torch.randn(2, 3))
    with pytest.raises(ValueError, match="RGLRU: input has 6 features, expected input_size=3"):
        layer(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="unknown minimal cell 'rglu': expected one of"):
        minimal_layer("rglu", 3, 4)


def test_torchscript_trace_generalises_to_other_lengths(tmp_path):
    """A trace runs the log-space form, whose graph holds at any batch size and length."""
    layer = RGLRU(3, 4, num_layers=2, batch_first=True).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(layer, (torch.randn(2, 7, 3),))
        torch.jit.save(traced, str(tmp_path / "layer.pt"))
        loaded = torch.jit.load(str(tmp_path / "layer.pt"))
        x = torch.randn(5, 12, 3)
        for ours, expected in zip(loaded(x), layer(x), strict=True):
            torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)
