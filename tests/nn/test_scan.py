"""The parallel scans against plain loops of the recurrence, values and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.nn.scan import (
    g,
    interpolation_scan,
    linear_recurrence,
    linear_scan,
    log_g,
    log_interpolation_scan,
    log_linear_recurrence,
)

SCANS = {"scan": interpolation_scan, "log": log_interpolation_scan}


def _linear_loop(a, b, h0, reverse=False):
    h, out = h0, [None] * a.size(0)
    for t in reversed(range(a.size(0))) if reverse else range(a.size(0)):
        h = a[t] * h + b[t]
        out[t] = h
    return torch.stack(out)


def _interpolation_loop(k, v, h0, mask=None, reverse=False):
    """The recurrence as written: h_t = (1 - σ(k_t)) h_{t-1} + σ(k_t) g(v_t)."""
    h, out = h0, [None] * k.size(0)
    for t in reversed(range(k.size(0))) if reverse else range(k.size(0)):
        z = torch.sigmoid(k[t])
        candidate = torch.where(v[t] >= 0, v[t] + 0.5, torch.sigmoid(v[t]))
        new = (1 - z) * h + z * candidate
        h = new if mask is None else torch.where(mask[t], new, h)
        out[t] = h
    return torch.stack(out)


@pytest.mark.parametrize("steps", [1, 2, 3, 5, 8, 13, 64, 100])
@pytest.mark.parametrize("reverse", [False, True])
def test_linear_scan_matches_loop(steps, reverse):
    torch.manual_seed(steps)
    a = torch.rand(steps, 2, 3, dtype=torch.float64)
    b = torch.randn(steps, 2, 3, dtype=torch.float64)
    h0 = torch.randn(2, 3, dtype=torch.float64)
    expected = _linear_loop(a, b, h0, reverse)
    torch.testing.assert_close(linear_scan(a, b, h0, reverse), expected, rtol=0, atol=1e-12)
    # In place: b's memory receives the states.
    in_place = b.clone()
    assert linear_scan(a, in_place, h0, reverse, out=in_place) is in_place
    torch.testing.assert_close(in_place, expected, rtol=0, atol=1e-12)


def test_g_and_log_g():
    """g(v) = v + 1/2 for v >= 0, σ(v) below: by hand, and log g = log of it."""
    values = [-30.0, -2.0, -1e-3, 0.0, 1e-3, 2.0, 30.0]
    by_hand = [v + 0.5 if v >= 0 else 1 / (1 + math.exp(-v)) for v in values]
    v = torch.tensor(values, dtype=torch.float64)
    expected = torch.tensor(by_hand, dtype=torch.float64)
    torch.testing.assert_close(g(v), expected)
    torch.testing.assert_close(log_g(v), expected.log())


@pytest.mark.parametrize("impl", sorted(SCANS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_scan_matches_loop_values_and_gradients(impl, reverse, padded):
    torch.manual_seed(0)
    steps, batch, hidden = 9, 3, 4
    k = torch.randn(steps, batch, hidden, dtype=torch.float64, requires_grad=True)
    v = torch.randn(steps, batch, hidden, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True)
    mask = None
    if padded:
        lengths = torch.tensor([9, 4, 1])
        mask = (torch.arange(steps)[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)
    weights = torch.randn(steps, batch, hidden, dtype=torch.float64)

    ours = SCANS[impl](k, v, h0, mask, reverse)
    expected = _interpolation_loop(k, v, h0, mask, reverse)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)
    grads = torch.autograd.grad((ours * weights).sum(), (k, v, h0))
    expected_grads = torch.autograd.grad((expected * weights).sum(), (k, v, h0))
    for ours_grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(ours_grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
def test_interpolation_scan_gradcheck(reverse):
    torch.manual_seed(1)
    k = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1], [1, 1], [1, 0], [1, 0], [0, 0], [0, 0]], dtype=torch.bool)
    assert torch.autograd.gradcheck(
        lambda k, v, h0: interpolation_scan(k, v, h0, mask[..., None], reverse), (k, v, h0)
    )


@pytest.mark.parametrize(("impl", "rtol"), [("scan", 1e-5), ("log", 2e-2)])
def test_saturated_gates_stay_finite_over_long_sequences(impl, rtol):
    """Gates at ±40 for 4096 steps in float32: products down to e^-80000 underflow to 0
    without NaN. The linear scan keeps float32's precision; the log-space form adds
    log A_t (about -80000 here) to a number of the same size and keeps only ~0.4%."""
    torch.manual_seed(2)
    steps = 4096
    k = (torch.randint(0, 2, (steps, 2, 8)) * 80.0 - 40.0).requires_grad_()
    v = torch.randn(steps, 2, 8, requires_grad=True)
    h0 = torch.randn(2, 8)
    h = SCANS[impl](k, v, h0)
    h.sum().backward()
    assert torch.isfinite(h).all() and torch.isfinite(k.grad).all()
    assert torch.isfinite(v.grad).all()
    expected = _interpolation_loop(k.double().detach(), v.double().detach(), h0.double())
    torch.testing.assert_close(h.double(), expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(("impl", "rtol"), [("scan", 1e-5), ("log", 5e-3)])
def test_scan_float32_long_sequence_precision(impl, rtol):
    """Ordinary gates over 4096 steps in float32 against float64 (the log form loses
    precision as |log A_t| grows, see the test above)."""
    torch.manual_seed(3)
    k = torch.randn(4096, 4, 16) * 3
    v = torch.randn(4096, 4, 16) * 3
    h0 = torch.randn(4, 16)
    expected = _interpolation_loop(k.double(), v.double(), h0.double())
    torch.testing.assert_close(SCANS[impl](k, v, h0).double(), expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("steps", [1, 2, 7, 64])
@pytest.mark.parametrize("reverse", [False, True])
def test_linear_recurrence_values_and_gradients_match_loop(steps, reverse):
    """Any-sign b, a in (0, 1): the hand-written backward and the log form (positive and
    negative b apart) against autograd through the loop."""
    torch.manual_seed(steps)
    a = torch.rand(steps, 2, 3, dtype=torch.float64).requires_grad_()
    b = torch.randn(steps, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(steps, 2, 3, dtype=torch.float64)
    expected = _linear_loop(a, b, h0, reverse)
    expected_grads = torch.autograd.grad((expected * weights).sum(), (a, b, h0))
    for h in (linear_recurrence(a, b, h0, reverse), log_linear_recurrence(a.log(), b, h0, reverse)):
        torch.testing.assert_close(h, expected, rtol=1e-10, atol=1e-12)
        grads = torch.autograd.grad((h * weights).sum(), (a, b, h0))
        for ours, theirs in zip(grads, expected_grads, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-11)


def test_linear_recurrence_gradcheck():
    torch.manual_seed(0)
    a = torch.rand(6, 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    for reverse in (False, True):
        assert torch.autograd.gradcheck(
            lambda a, b, h0, reverse=reverse: linear_recurrence(a, b, h0, reverse), (a, b, h0)
        )
