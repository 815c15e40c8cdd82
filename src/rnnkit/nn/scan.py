"""Parallel scans of linear recurrences: the gated one of minGRU and minLSTM, RG-LRU's.

Both cells of Feng et al. 2024 ("Were RNNs All We Needed?", arXiv:2410.01201) update
their state as an interpolation whose weight depends on the input only:

    w_t = σ(k_t)                                   (update weight from the logit k_t)
    h_t = (1 - w_t) ⊙ h_{t-1} + w_t ⊙ g(v_t)       (v_t: the candidate's pre-activation)

(:func:`split_gates` gives k_t and v_t from each cell's gates) with g(v) = v + 1/2 for
v >= 0 and σ(v) for v < 0 (the paper's g, which keeps the candidate positive so that
its log exists). This is the linear recurrence
h_t = a_t ⊙ h_{t-1} + b_t with a_t = 1 - w_t and b_t = w_t ⊙ g(v_t), whose values at all
t are a prefix scan: no step waits for the previous one's nonlinearity.

Two scans compute it (the layers' ``impl``):

* :func:`gated_scan` (``"scan"``): a work-efficient odd-even scan of the pairs
  (a_t, b_t) (a first-order recurrence as a scan: Blelloch 1990, "Prefix sums and their
  applications"): pair up neighbouring steps, compose their maps, scan the
  half-length sequence, fill in the other half. log2(T) levels of whole-tensor products,
  O(T) work, no Python loop over time. Every quantity is a product of numbers in
  [0, 1] or a sum of such products, so nothing overflows and an underflow to 0 is the
  right answer; ``a`` is computed as σ(-k), not 1 - σ(k), so it keeps its precision
  when w_t is near 1. Its backward pass is the same scan run backwards (the gradient of
  a linear recurrence is a linear recurrence), written by hand; it saves G + 1 tensors
  of shape (T, B, H) (G gates).
* :func:`log_gated_scan` (``"log"``): the paper's log-space formulation (after
  Heinsen 2023, arXiv:2311.06281): log a_t and log b_t from softplus, cumulative
  sums and ``torch.logcumsumexp``, autograd for the backward pass. It is the same
  function; it is kept as the paper's definition and tested against the other scan.
  In float32 it loses precision on long sequences with decisive gates: h_t comes from
  log A_t + logcumsumexp(...), two numbers of size |log A_t| whose sum is much
  smaller, so its relative error grows like |log A_t| · 6e-8 (0.4% after 4096 steps of
  gates at ±40: ``tests/nn/test_scan.py``); ``"scan"`` has no such term.
  torch's CPU ``logcumsumexp`` does one scalar exp/log1p per element, so it is several
  times slower than ``"scan"`` (``benchmarks/scan.py``).

The initial state h_0 may have any sign: both scans carry it as its own term
(A_t h_0 with A_t = a_1 ⋯ a_t), so a state handed over from a previous chunk continues
the sequence exactly.

A ``mask`` (T, B, 1) marks real steps; at a padded step w_t = 0, so the state passes
through unchanged (a_t = 1, b_t = 0). With ``reverse=True`` the recurrence runs from the
last step to the first, h_t = a_t ⊙ h_{t+1} + b_t, and h_0 enters at the end.

For recurrences whose (a_t, b_t) are not minGRU's pair (RG-LRU's b_t has any sign):
:func:`state_gradients` is the backward scan on its own (RG-LRU's hand-written backward
pass in :mod:`rnnkit.nn.rglru` uses it), :func:`linear_recurrence` the odd-even scan
differentiable in any a and b (dL/da_t = delta_t h_{t-1}, dL/db_t = delta_t; whatever
computes a and b is left to autograd), and :func:`log_linear_recurrence` its log-space
form for traced graphs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "g",
    "gated_scan",
    "interpolation_scan",
    "linear_recurrence",
    "linear_scan",
    "log_g",
    "log_gated_scan",
    "log_interpolation_scan",
    "log_linear_recurrence",
    "lstm_update_logit",
    "split_gates",
    "state_gradients",
]


def g(v: Tensor) -> Tensor:
    """The paper's positive activation: v + 1/2 for v >= 0, σ(v) for v < 0 (continuous)."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    """log g(v), computed without forming g(v): log(v + 1/2) or -softplus(-v)."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def linear_scan(
    a: Tensor, b: Tensor, h0: Tensor, reverse: bool = False, out: Tensor | None = None
) -> Tensor:
    """All states of h_t = a_t ⊙ h_{t-1} + b_t, h_{-1} = h0, along dim 0 (no autograd).

    a, b: (T, ...); h0: the shape of one step. ``reverse=True`` runs
    h_t = a_t ⊙ h_{t+1} + b_t from t = T-1 down, with h_T = h0. Returns (T, ...), in
    ``out`` if given; ``out`` may be ``b`` itself (each b_t is read before h_t is
    written).
    """
    if out is None:
        out = torch.empty_like(b)
    _scan_into(out, a, b, h0, reverse)
    return out


def _scan_into(out: Tensor, a: Tensor, b: Tensor, h0: Tensor, reverse: bool) -> None:
    """:func:`linear_scan` written into ``out`` (which may be a strided view)."""
    steps = a.size(0)
    if steps == 1:
        torch.addcmul(b[0], a[0], h0, out=out[0])
        return
    if steps % 2:
        # Peel off the step that enters last, scan the even-length rest.
        if reverse:
            _scan_into(out[1:], a[1:], b[1:], h0, True)
            torch.addcmul(b[0], a[0], out[1], out=out[0])
        else:
            _scan_into(out[:-1], a[:-1], b[:-1], h0, False)
            torch.addcmul(b[-1], a[-1], out[-2], out=out[-1])
        return
    a_even, a_odd, b_even, b_odd = a[0::2], a[1::2], b[0::2], b[1::2]  # each (T/2, ...)
    if not reverse:
        # Steps (2i, 2i+1) composed: h_{2i+1} = a_odd a_even h_{2i-1} + (a_odd b_even + b_odd).
        # The composed offsets go straight into out's odd slots, which the half-length
        # scan then overwrites in place (no new memory for them).
        out_odd = torch.addcmul(b_odd, a_odd, b_even, out=out[1::2])
        _scan_into(out_odd, a_odd * a_even, out_odd, h0, False)
        out_even = out[0::2]
        torch.addcmul(b_even[0], a_even[0], h0, out=out_even[0])
        torch.addcmul(b_even[1:], a_even[1:], out[1:-1:2], out=out_even[1:])
    else:
        # Steps (2i+1, 2i) composed: h_{2i} = a_even a_odd h_{2i+2} + (a_even b_odd + b_even).
        out_even = torch.addcmul(b_even, a_even, b_odd, out=out[0::2])
        _scan_into(out_even, a_even * a_odd, out_even, h0, True)
        out_odd = out[1::2]
        torch.addcmul(b_odd[-1], a_odd[-1], h0, out=out_odd[-1])
        torch.addcmul(b_odd[:-1], a_odd[:-1], out[2::2], out=out_odd[:-1])


def split_gates(gates: Tensor, hidden: int) -> tuple[Tensor, Tensor]:
    """(k, v), the update logit and the candidate's pre-activation, from a cell's gates.

    gates (..., G*H): minGRU (z, h̃), G = 2, gives k = z; minLSTM (f, i, h̃), G = 3, gives
    k = softplus(-f) - softplus(-i) = log σ(i) - log σ(f), so that σ(k) = i / (f + i) and
    σ(-k) = f / (f + i) for the sigmoids f, i (finite even when both underflow).
    """
    # Slices, not Tensor.split: one call each, which matters when generating token by token.
    v = gates[..., -hidden:]
    if gates.size(-1) == 2 * hidden:
        return gates[..., :hidden], v
    return lstm_update_logit(gates[..., :hidden], gates[..., hidden : 2 * hidden]), v


def lstm_update_logit(f: Tensor, i: Tensor) -> Tensor:
    """minLSTM's update logit log σ(i) - log σ(f) from the gates' pre-activations."""
    return F.softplus(-f) - F.softplus(-i)


class _GatedScan(torch.autograd.Function):
    """All states of h_t = (1 - σ(k_t)) h_{t-1} + σ(k_t) g(v_t) from the gates (T, B, G*H).

    The backward pass is a reverse scan, written by hand. Written for speed on CPUs: one
    gradient buffer for all gates (the input projection's backward takes it whole), and
    no ``torch.where``/``masked_fill``/boolean products (their CPU kernels are not
    vectorised and cost 10-20 times an addition on (T, B, H)).
    """

    @staticmethod
    def forward(ctx, gates: Tensor, h0: Tensor, keep: Tensor | None, reverse: bool):
        # In-place operations wherever a value is not needed again: each fresh (T, B, H)
        # tensor costs about as much as an operation (page faults on new memory).
        hidden = h0.size(-1)
        lstm = gates.size(-1) == 3 * hidden
        k, v = split_gates(gates, hidden)  # (T, B, H) each
        w = torch.sigmoid(k)
        a = torch.neg(k).sigmoid_()  # 1 - w, accurate when w is near 1
        if keep is not None:  # (T, B, 1): 1.0 at real steps, 0.0 at padded ones
            w.mul_(keep)
            a.mul_(keep).add_(1.0 - keep)  # 1 at padded steps
        # g(v) = relu(v) + σ(min(v, 0)): v + 1/2 for v >= 0, σ(v) below.
        v_neg = v.clamp_max(0.0)
        nonneg = torch.sign(v_neg).add_(1.0)  # [v >= 0]
        sig = v_neg.sigmoid_()
        g_v = torch.relu(v).add_(sig)
        b = w * g_v
        h = linear_scan(a, b, h0, reverse, out=b)  # (T, B, H)
        if not any(ctx.needs_input_grad[:2]):
            return h
        # The backward pass needs a and dh_t/d(gates_t), one (T, B, H) tensor per gate:
        # dh_t/dk_t = w (1 - w) (g(v_t) - h_prev), with h_prev the state step t started
        # from, and dh_t/dv_t = w g'(v_t), where g'(v) = σ'(min(v, 0)) + 3/4 [v >= 0]
        # (σ' = 1/4 at 0, so that g' = 1 for v >= 0).
        dh_dk = g_v
        if reverse:
            dh_dk[:-1].sub_(h[1:])
            dh_dk[-1].sub_(h0)
        else:
            dh_dk[1:].sub_(h[:-1])
            dh_dk[0].sub_(h0)
        dh_dk.mul_(w).mul_(a)
        dh_dv = sig.addcmul_(sig, sig, value=-1.0).add_(nonneg, alpha=0.75).mul_(w)
        if lstm:
            # dk/df = -σ(-f), dk/di = σ(-i)
            f, i = gates[..., :hidden], gates[..., hidden : 2 * hidden]
            dh_df = torch.neg(f).sigmoid_().mul_(dh_dk).neg_()
            derivatives = (dh_df, dh_dk.mul_(torch.neg(i).sigmoid_()))
        else:
            derivatives = (dh_dk,)
        ctx.save_for_backward(a, *derivatives, dh_dv)
        ctx.reverse = reverse
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor):
        a, *derivatives = ctx.saved_tensors
        grad_h = grad_h.contiguous()
        # delta_t = dL/dh_t in total: grad_h_t plus what flows back from the step after,
        # delta_t = grad_h_t + a_{t+1} delta_{t+1} (forward direction): a linear scan run
        # the other way, started from the last step's own gradient.
        delta = torch.empty_like(grad_h)
        if ctx.reverse:
            delta[0] = grad_h[0]
            _scan_into(delta[1:], a[:-1], grad_h[1:], grad_h[0], False)
            grad_h0 = a[-1] * delta[-1]
        else:
            delta[-1] = grad_h[-1]
            _scan_into(delta[:-1], a[1:], grad_h[:-1], grad_h[-1], True)
            grad_h0 = a[0] * delta[0]
        hidden = delta.size(-1)
        grad_gates = delta.new_empty(*delta.shape[:-1], len(derivatives) * hidden)
        for j, derivative in enumerate(derivatives):
            torch.mul(delta, derivative, out=grad_gates[..., j * hidden : (j + 1) * hidden])
        return grad_gates, grad_h0, None, None


def gated_scan(
    gates: Tensor, h0: Tensor, mask: Tensor | None = None, reverse: bool = False
) -> Tensor:
    """All states h (T, B, H) of a minGRU or minLSTM direction, as a parallel scan.

    gates: (T, B, G*H) pre-activations (see :func:`split_gates`); h0: (B, H); mask:
    (T, B, 1) bool, False at padded steps (they keep the state). Differentiable in
    gates and h0.
    """
    keep = None if mask is None else mask.to(gates.dtype)
    return _GatedScan.apply(gates.contiguous(), h0, keep, reverse)


def interpolation_scan(
    k: Tensor, v: Tensor, h0: Tensor, mask: Tensor | None = None, reverse: bool = False
) -> Tensor:
    """All states h (T, B, H) of h_t = (1 - σ(k_t)) h_{t-1} + σ(k_t) g(v_t), as a scan.

    k, v: (T, B, H) update logits and candidate pre-activations; otherwise as
    :func:`gated_scan` (this is its minGRU form).
    """
    return gated_scan(torch.cat([k, v], dim=-1), h0, mask, reverse)


def log_gated_scan(
    gates: Tensor, h0: Tensor, mask: Tensor | None = None, reverse: bool = False
) -> Tensor:
    """:func:`gated_scan` in the paper's log-space form (autograd backward)."""
    k, v = split_gates(gates, h0.size(-1))
    return log_interpolation_scan(k, v, h0, mask, reverse)


def log_interpolation_scan(
    k: Tensor, v: Tensor, h0: Tensor, mask: Tensor | None = None, reverse: bool = False
) -> Tensor:
    """:func:`interpolation_scan` in the paper's log-space form (autograd backward).

    log a_t = -softplus(k_t), log b_t = -softplus(-k_t) + log g(v_t),
    h_t = A_t h_0 + exp(log A_t + logcumsumexp_{s<=t}(log b_s - log A_s)),
    with log A_t = sum_{s<=t} log a_s.
    """
    if reverse:
        flipped_mask = None if mask is None else mask.flip(0)
        return log_interpolation_scan(k.flip(0), v.flip(0), h0, flipped_mask).flip(0)
    log_a = -F.softplus(k)  # (T, B, H)
    log_b = -F.softplus(-k) + log_g(v)
    if mask is not None:
        log_a = log_a.masked_fill(~mask, 0.0)
        # A padded step adds nothing. A finite stand-in for log 0 = -inf: logcumsumexp's
        # gradient is NaN where all its inputs so far are -inf.
        log_b = log_b.masked_fill(~mask, torch.finfo(log_b.dtype).min / 4)
    log_decay = torch.cumsum(log_a, dim=0)  # log A_t
    h = torch.exp(log_decay + torch.logcumsumexp(log_b - log_decay, dim=0))
    return h + torch.exp(log_decay) * h0


class _LinearScan(torch.autograd.Function):
    """All states of h_t = a_t ⊙ h_{t-1} + b_t for any a_t, b_t; backward written by hand.

    The gradient of a linear recurrence is the same recurrence run the other way:
    delta_t = grad_h_t + a_{t+1} delta_{t+1} is dL/dh_t in total, and then
    dL/db_t = delta_t, dL/da_t = delta_t h_{t-1}, dL/dh_0 = a_1 delta_1.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor, reverse: bool):
        h = linear_scan(a, b, h0, reverse)  # (T, B, H)
        ctx.save_for_backward(a, h, h0)
        ctx.reverse = reverse
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor):
        a, h, h0 = ctx.saved_tensors
        delta, grad_h0 = state_gradients(a, grad_h, ctx.reverse)
        grad_a = torch.empty_like(h)
        if ctx.reverse:
            torch.mul(delta[:-1], h[1:], out=grad_a[:-1])  # h_prev of step t is h_{t+1}
            torch.mul(delta[-1], h0, out=grad_a[-1])
        else:
            torch.mul(delta[1:], h[:-1], out=grad_a[1:])
            torch.mul(delta[0], h0, out=grad_a[0])
        return grad_a, delta, grad_h0, None


def state_gradients(a: Tensor, grad_h: Tensor, reverse: bool) -> tuple[Tensor, Tensor]:
    """(delta, dL/dh_0) for h_t = a_t ⊙ h_{t-1} + b_t from the outputs' gradients grad_h.

    delta_t = dL/dh_t in total = grad_h_t + a_{t+1} delta_{t+1} (forward direction), a
    linear scan run the other way; it is also dL/db_t. a, grad_h: (T, B, H).
    """
    grad_h = grad_h.contiguous()
    delta = grad_h.clone()  # right as it is for a single step
    more = a.size(0) > 1
    if reverse:
        if more:
            _scan_into(delta[1:], a[:-1], grad_h[1:], grad_h[0], False)
        return delta, a[-1] * delta[-1]
    if more:
        _scan_into(delta[:-1], a[1:], grad_h[:-1], grad_h[-1], True)
    return delta, a[0] * delta[0]


def linear_recurrence(a: Tensor, b: Tensor, h0: Tensor, reverse: bool = False) -> Tensor:
    """All states h (T, B, H) of h_t = a_t ⊙ h_{t-1} + b_t, differentiable in a, b, h0.

    :func:`linear_scan` (the odd-even scan) with a hand-written backward pass; a and b may
    have any sign. ``reverse`` as in :func:`linear_scan`.
    """
    return _LinearScan.apply(a.contiguous(), b.contiguous(), h0, reverse)


def log_linear_recurrence(log_a: Tensor, b: Tensor, h0: Tensor, reverse: bool = False) -> Tensor:
    """:func:`linear_recurrence` from log a_t (<= 0) in T-generic tensor operations.

    h_t = A_t h_0 + A_t Σ_{s<=t} b_s / A_s with log A_t = Σ_{s<=t} log a_s, the sum taken
    as logcumsumexp of log|b_s| - log A_s over the positive and the negative b_s apart
    (after Heinsen 2023, arXiv:2311.06281). Used where a graph must hold at every length
    (tracing, export); it shares the log-space form's float32 rounding on long sequences
    (see the module docstring).
    """
    if reverse:
        return log_linear_recurrence(log_a.flip(0), b.flip(0), h0).flip(0)
    tiny = torch.finfo(b.dtype).tiny  # log 0 stand-in with a finite gradient (0)
    log_decay = torch.cumsum(log_a, dim=0)  # log A_t, (T, B, H)
    positive = torch.logcumsumexp(torch.log(b.clamp_min(tiny)) - log_decay, dim=0)
    negative = torch.logcumsumexp(torch.log((-b).clamp_min(tiny)) - log_decay, dim=0)
    return (
        torch.exp(log_decay + positive)
        - torch.exp(log_decay + negative)
        + torch.exp(log_decay) * h0
    )
