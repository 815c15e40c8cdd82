"""The fused kernels' autograd functions with their time loops in C++.

Same inputs, outputs, saved memory and equations as :class:`rnnkit.nn.fused.LSTMSequence`,
``GRUSequence`` and ``RNNSequence`` (their docstrings describe the arguments); the loops
over time, forward and backward, run in ``native.cpp`` (see :mod:`rnnkit.nn.native`),
and the work over all steps at once around them (the recurrent weight gradient, the GRU's
input layer norm's gradients) stays here; the loops sum the recurrent layer norms' gain
gradients as they go.
:func:`rnnkit.nn.fused` chooses these where :func:`rnnkit.nn.native.usable` says the
tensors allow it (CPU, float32 or float64, the library built).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.nn import native
from rnnkit.nn.kernel_ops import (
    kept_for_backward,
    layer_norm_full_backward,
    product_tn,
    recurrent_input,
    recurrent_projection,
    unpacked_keep,
)

__all__ = ["GRUNative", "LSTMNative", "RNNNative"]


def _contiguous(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


def _rows(mask: Tensor | None, batch: int, hidden: int) -> Tensor | None:
    """The recurrent dropout mask as one contiguous (B, H) row per sequence."""
    return None if mask is None else mask.expand(batch, hidden).contiguous()


def _keep(keep: Tensor | None, steps: int, batch: int, hidden: int, dtype) -> Tensor | None:
    """Keep weights as contiguous floats, (T, B, 1) or (T, B, H) as the loops read them."""
    keep = unpacked_keep(keep, hidden, dtype)  # as saved for backward: maybe bits
    if keep is None:
        return None
    width = 1 if keep.shape[-1] == 1 else hidden
    return keep.to(dtype).expand(steps, batch, width).contiguous()


def _state_grad(grad: Tensor | None, like: Tensor) -> Tensor:
    """The incoming gradient of a final state, as a fresh buffer the loop accumulates into."""
    return (
        grad.clone(memory_format=torch.contiguous_format)
        if grad is not None
        else (torch.zeros_like(like))
    )


# --------------------------------------------------------------------------- LSTM


class LSTMNative(torch.autograd.Function):
    """:class:`rnnkit.nn.fused.LSTMSequence` with its loops in C++."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        xproj: Tensor,
        h0: Tensor,
        c0: Tensor,
        weight_hh: Tensor,
        ln_hh_weight: Tensor | None,
        ln_cell_weight: Tensor | None,
        ln_cell_bias: Tensor | None,
        recurrent_mask: Tensor | None,
        keep_h: Tensor | None,
        keep_c: Tensor | None,
        keep_binary: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        steps, batch, gate_size = xproj.shape
        hidden = gate_size // 4
        new = xproj.new_empty
        gates = new(steps, batch, gate_size)  # activated i, f, g, o
        hs = new(steps + 1, batch, hidden)
        cs = new(steps + 1, batch, hidden)  # after zoneout; backward recomputes the rest
        hs[0] = h0
        cs[0] = c0
        tanh_c = new(steps, batch, hidden)
        layer_norm = ln_hh_weight is not None
        hh_raw = new(steps, batch, gate_size) if layer_norm else None
        hh_stats = new(2, steps, batch, 1) if layer_norm else None  # means, rstds
        cell_stats = new(2, steps, batch, 1) if ln_cell_weight is not None else None
        mask = _rows(recurrent_mask, batch, hidden)
        native.ops().lstm_forward(
            xproj.contiguous(),
            weight_hh.t().contiguous(),  # (H, G): the loop multiplies by it untransposed
            _contiguous(ln_hh_weight),
            _contiguous(ln_cell_weight),
            _contiguous(ln_cell_bias),
            mask,
            _keep(keep_h, steps, batch, hidden, xproj.dtype),
            _keep(keep_c, steps, batch, hidden, xproj.dtype),
            gates,
            hs,
            cs,
            tanh_c,
            hh_raw,
            hh_stats,
            cell_stats,
        )
        ctx.save_for_backward(
            gates,
            hs,
            cs,
            tanh_c,
            weight_hh,
            ln_hh_weight,
            ln_cell_weight,
            mask,
            kept_for_backward(keep_h, keep_binary),
            kept_for_backward(keep_c, keep_binary),
            hh_raw,
            hh_stats,
            cell_stats,
        )
        return hs[1:], hs[steps].clone(), cs[steps].clone()

    @staticmethod
    def backward(ctx, grad_y: Tensor | None, grad_hn: Tensor | None, grad_cn: Tensor | None):
        (
            gates,
            hs,
            cs,
            tanh_c,
            weight_hh,
            ln_hh_weight,
            ln_cell_weight,
            mask,
            keep_h,
            keep_c,
            hh_raw,
            hh_stats,
            cell_stats,
        ) = ctx.saved_tensors
        steps, batch, gate_size = gates.shape
        hidden = gate_size // 4
        dh = _state_grad(grad_hn, hs[0])
        dc = _state_grad(grad_cn, cs[0])
        d_gates = torch.empty_like(gates)  # (T, B, 4H): the pre-activations' gradient
        d_hh_raw = torch.empty_like(gates) if ln_hh_weight is not None else None
        # Gain gradients, summed by the loop: hh gain (4H,), cell gain and shift (2, H).
        d_ln_hh = gates.new_zeros(gate_size) if ln_hh_weight is not None else None
        d_ln_cell = gates.new_zeros(2, hidden) if ln_cell_weight is not None else None
        native.ops().lstm_backward(
            gates,
            hs,
            cs,
            tanh_c,
            weight_hh.contiguous(),
            _contiguous(ln_hh_weight),
            _contiguous(ln_cell_weight),
            mask,
            _keep(keep_h, steps, batch, hidden, gates.dtype),
            _keep(keep_c, steps, batch, hidden, gates.dtype),
            hh_raw,
            hh_stats,
            cell_stats,
            _contiguous(grad_y),
            dh,
            dc,
            d_gates,
            d_hh_raw,
            d_ln_hh,
            d_ln_cell,
        )
        grads_needed = ctx.needs_input_grad
        d_weight_hh = d_ln_cell_weight = d_ln_cell_bias = None
        d_rec = d_hh_raw if d_hh_raw is not None else d_gates
        if grads_needed[3]:
            # One product over all steps: (4H, T*B) x (T*B, H).
            d_weight_hh = product_tn(d_rec.reshape(-1, gate_size), recurrent_input(hs, mask))
        if not grads_needed[4]:
            d_ln_hh = None
        if d_ln_cell is not None:
            d_ln_cell_weight = d_ln_cell[0] if grads_needed[5] else None
            d_ln_cell_bias = d_ln_cell[1] if grads_needed[6] else None
        return (
            d_gates,
            dh,
            dc,
            d_weight_hh,
            d_ln_hh,
            d_ln_cell_weight,
            d_ln_cell_bias,
            None,
            None,
            None,
            None,
        )


# --------------------------------------------------------------------------- GRU


class GRUNative(torch.autograd.Function):
    """:class:`rnnkit.nn.fused.GRUSequence` with its loops in C++."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        xproj: Tensor,
        h0: Tensor,
        weight_hh: Tensor,
        hh_bias: Tensor | None,
        ln_hh_weight: Tensor | None,
        recurrent_mask: Tensor | None,
        keep_h: Tensor | None,
        keep_binary: bool,
        ln_ih_weight: Tensor | None,
        ih_bias: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        steps, batch, gate_size = xproj.shape
        hidden = gate_size // 3
        new = xproj.new_empty
        # With the input's layer norm in the loop, backward recomputes the gates: the loop
        # keeps each row's in scratch.
        recompute = ln_ih_weight is not None
        gates = None if recompute else new(steps, batch, gate_size)  # activated r, z, n
        hs = new(steps + 1, batch, hidden)
        hs[0] = h0
        # The recurrent projection before its layer norm (LN), or with its bias (no LN).
        hh = new(steps, batch, gate_size)
        hh_stats = new(2, steps, batch, 1) if ln_hh_weight is not None else None
        ih_stats = new(2, steps, batch, 1) if recompute else None
        xproj = xproj.contiguous()
        mask = _rows(recurrent_mask, batch, hidden)
        native.ops().gru_forward(
            xproj,
            weight_hh.t().contiguous(),  # (H, G): the loop multiplies by it untransposed
            _contiguous(hh_bias),
            _contiguous(ln_hh_weight),
            mask,
            _keep(keep_h, steps, batch, hidden, xproj.dtype),
            gates,
            hs,
            hh,
            hh_stats,
            _contiguous(ln_ih_weight),
            _contiguous(ih_bias),
            ih_stats,
        )
        ctx.save_for_backward(
            gates,
            hs,
            hh,
            weight_hh,
            hh_bias,
            ln_hh_weight,
            mask,
            kept_for_backward(keep_h, keep_binary),
            hh_stats,
            xproj if recompute else None,
            ln_ih_weight,
            ih_bias,
            ih_stats,
        )
        return hs[1:], hs[steps].clone()

    @staticmethod
    def backward(ctx, grad_y: Tensor | None, grad_hn: Tensor | None):
        (
            gates,
            hs,
            hh,
            weight_hh,
            hh_bias,
            ln_hh_weight,
            mask,
            keep_h,
            hh_stats,
            xproj,
            ln_ih_weight,
            ih_bias,
            ih_stats,
        ) = ctx.saved_tensors
        steps, batch, gate_size = hh.shape
        hidden = gate_size // 3
        dh = _state_grad(grad_hn, hs[0])
        d_hh = torch.empty_like(hh)  # the recurrent projection the gates saw
        d_xn = hh.new_empty(steps, batch, hidden)  # the candidate's input part
        d_hh_raw = torch.empty_like(hh) if ln_hh_weight is not None else None
        grads_needed = ctx.needs_input_grad
        # The recurrent layer norm's gain gradient, summed by the loop.
        d_ln = hh.new_zeros(gate_size) if ln_hh_weight is not None and grads_needed[4] else None
        native.ops().gru_backward(
            gates,
            hs,
            hh,
            weight_hh.contiguous(),
            _contiguous(hh_bias),
            _contiguous(ln_hh_weight),
            mask,
            _keep(keep_h, steps, batch, hidden, hh.dtype),
            hh_stats,
            _contiguous(grad_y),
            dh,
            d_hh,
            d_xn,
            d_hh_raw,
            d_ln,
            xproj,
            _contiguous(ln_ih_weight),
            _contiguous(ih_bias),
            ih_stats,
        )
        d_xproj = torch.cat([d_hh[..., : 2 * hidden], d_xn], dim=-1)
        d_weight_hh = d_bias = d_ln_ih = d_ih_bias = None
        d_rec = d_hh_raw if d_hh_raw is not None else d_hh
        if grads_needed[2]:
            d_weight_hh = product_tn(d_rec.reshape(-1, gate_size), recurrent_input(hs, mask))
        if hh_bias is not None and grads_needed[3]:
            d_bias = d_hh.reshape(-1, gate_size).sum(0)
        if ln_ih_weight is not None:
            d_xproj, d_ln_ih, d_ih_bias = layer_norm_full_backward(
                d_xproj, xproj, ih_stats[0], ih_stats[1], ln_ih_weight, ih_bias, grads_needed[8:10]
            )
        return d_xproj, dh, d_weight_hh, d_bias, d_ln, None, None, None, d_ln_ih, d_ih_bias


# --------------------------------------------------------------------------- Elman RNN


class RNNNative(torch.autograd.Function):
    """:class:`rnnkit.nn.fused.RNNSequence` with its loops in C++."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        xproj: Tensor,
        h0: Tensor,
        weight_hh: Tensor,
        ln_hh_weight: Tensor | None,
        recurrent_mask: Tensor | None,
        keep_h: Tensor | None,
        keep_binary: bool,
        relu: bool,
    ) -> tuple[Tensor, Tensor]:
        steps, batch, hidden = xproj.shape
        new = xproj.new_empty
        hs = new(steps + 1, batch, hidden)
        hs[0] = h0
        # New states before zoneout: backward needs them only for fractional keep weights
        # (see RNNSequence); otherwise the loop writes them into hs and mixes in place.
        h_new = new(steps, batch, hidden) if keep_h is not None and not keep_binary else None
        # Layer norm: the statistics only (backward recomputes the raw products).
        hh_stats = new(2, steps, batch, 1) if ln_hh_weight is not None else None
        mask = _rows(recurrent_mask, batch, hidden)
        native.ops().rnn_forward(
            xproj.contiguous(),
            weight_hh.t().contiguous(),  # (H, G): the loop multiplies by it untransposed
            _contiguous(ln_hh_weight),
            mask,
            _keep(keep_h, steps, batch, hidden, xproj.dtype),
            relu,
            hs,
            h_new,
            hh_stats,
        )
        ctx.relu = relu
        ctx.save_for_backward(
            hs,
            h_new,
            weight_hh,
            ln_hh_weight,
            mask,
            kept_for_backward(keep_h, keep_binary),
            hh_stats,
        )
        return hs[1:], hs[steps].clone()

    @staticmethod
    def backward(ctx, grad_y: Tensor | None, grad_hn: Tensor | None):
        hs, h_new, weight_hh, ln_hh_weight, mask, keep_h, hh_stats = ctx.saved_tensors
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        if h_new is None:
            h_new = hs[1:]  # where a keep weight is 1 the factor meets a zero gradient
        dh = _state_grad(grad_hn, hs[0])
        d_pre = torch.empty_like(h_new)
        inputs = recurrent_input(hs, mask)  # (T * B, H)
        hh_raw = d_hh_raw = None
        if ln_hh_weight is not None:
            hh_raw = recurrent_projection(inputs, weight_hh, steps)
            d_hh_raw = torch.empty_like(h_new)
        grads_needed = ctx.needs_input_grad
        # The layer norm's gain gradient, summed by the loop.
        d_ln = hs.new_zeros(hidden) if ln_hh_weight is not None and grads_needed[3] else None
        native.ops().rnn_backward(
            h_new,
            weight_hh.contiguous(),
            _contiguous(ln_hh_weight),
            mask,
            _keep(keep_h, steps, batch, hidden, hs.dtype),
            ctx.relu,
            hh_raw,
            hh_stats,
            _contiguous(grad_y),
            dh,
            d_pre,
            d_hh_raw,
            d_ln,
        )
        d_weight_hh = None
        d_rec = d_hh_raw if d_hh_raw is not None else d_pre
        if grads_needed[2]:
            d_weight_hh = product_tn(d_rec.reshape(-1, hidden), inputs)
        return d_pre, dh, d_weight_hh, d_ln, None, None, None, None
