"""Whole-sequence recurrences for the options torch's fused kernels lack.

torch.nn.LSTM runs on oneDNN (CPU) or cuDNN (GPU); neither knows layer normalisation,
recurrent dropout, zoneout or weight drop, and a Python cell with autograd runs several
times slower because every step records a dozen small autograd nodes and backward
replays them one by one. The kernels here keep the Python time loop but make each step
cheap:

* the input projection of all T steps is one matrix product (and its layer norm one
  call), done outside the loop with ordinary autograd;
* the recurrence writes into preallocated ``(T, B, ·)`` buffers with ``out=`` and
  in-place operations, records nothing for autograd, and saves only what backward needs;
* backward through time is written by hand in a ``torch.autograd.Function``: the
  factors that do not depend on the incoming gradient (gate derivatives) are computed
  for all steps at once before the loop, so each step does one matrix product and a
  handful of elementwise products; the gradients of the recurrent weights are one matrix
  product over all steps after the loop.

The cells follow :mod:`rnnkit.nn.cells`, which is their definition (and what the tests
compare against). Notation for one step, with ``d`` the recurrent dropout mask (fixed
per sequence), ``k`` the zoneout/padding keep weight, LN a layer norm with a learned
gain (the biases act as its shift)::

    a_t   = LN_hh(W_hh (d * h_{t-1}))           recurrent projection
    x_t'  = LN_ih(W_ih x_t) + b_ih + b_hh       input projection, all steps at once
    LSTM  i, f, g, o = σ, σ, tanh, σ of (x_t' + a_t)
          c~ = f * c_{t-1} + i * g ;  h~ = o * tanh(LN_c(c~))
    GRU   r, z = σ(x_t'[r, z] + a_t[r, z]) ;  n = tanh(x_t'[n] + r * a_t[n])
          h~ = (1 - z) * n + z * h_{t-1}        (b_hh stays inside a_t here)
    RNN   h~ = tanh or relu of (x_t' + a_t)
    state = k * previous + (1 - k) * new        zoneout, and k = 1 on padded steps

Where :func:`rnnkit.nn.native.usable` allows (CPU tensors in float32 or float64, a C++
compiler found at first use), the same functions run with their time loops in C++
(:mod:`rnnkit.nn.fused_native`): one BLAS product and one fused pass over the batch per
step, forward and backward, instead of ~25 tensor operations from Python. The Python
loops here stay the definition of the kernels on every other device and dtype (CUDA
included) and where no compiler is present; ``RNNKIT_NATIVE=0`` selects them always.
Matrix products outside the loops are :mod:`rnnkit.nn.kernel_ops`' (oneDNN on CPU
float32). Everything in the Python loops is written with tensor methods on the inputs'
device and dtype, so the same code runs on CPU and CUDA tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn import native
from rnnkit.nn.cells import LAYER_NORM_EPS
from rnnkit.nn.fused_native import GRUNative, LSTMNative, RNNNative
from rnnkit.nn.kernel_ops import (
    RecurrentProduct,
    kept_for_backward,
    layer_norm_backward,
    layer_norm_full_backward,
    layer_norm_gain_grad,
    layer_norm_step_backward,
    product_tn,
    projected_layer_norm,
    recurrent_input,
    recurrent_projection,
    stacked_stats,
    unpacked_keep,
)

__all__ = [
    "LAYER_NORM_EPS",
    "CellWeights",
    "GRUSequence",
    "LSTMSequence",
    "RNNSequence",
    "StepMasks",
    "gru_sequence",
    "input_projection",
    "lstm_sequence",
    "rnn_sequence",
]


@dataclass(frozen=True)
class CellWeights:
    """The tensors one direction of one layer runs with.

    ``weight_hh`` is the matrix actually used in this forward pass (after weight drop).
    Layer-norm tensors are None when layer norm is off; ``ln_cell_*`` exist for LSTM only.
    """

    weight_ih: Tensor  # (G, I), G = gates * H
    weight_hh: Tensor  # (G, H)
    bias_ih: Tensor | None = None  # (G,)
    bias_hh: Tensor | None = None  # (G,)
    ln_ih_weight: Tensor | None = None  # (G,) layer-norm gains; the biases are the shifts
    ln_hh_weight: Tensor | None = None
    ln_cell_weight: Tensor | None = None  # (H,)
    ln_cell_bias: Tensor | None = None
    # (P, H), the LSTM's projection with proj_size=P. The reference loop applies it; the
    # kernels here have none and the layers never pass one to them.
    weight_hr: Tensor | None = None


@dataclass(frozen=True)
class StepMasks:
    """The random (or expected) masks of one direction of one layer for one batch.

    ``recurrent`` multiplies the state fed back into the recurrence (scaled dropout mask,
    one per sequence); ``keep_h``/``keep_c`` are zoneout keep weights per step, with 1 on
    padded steps so that a finished sequence carries its last state to the end.
    ``keep_binary`` says the keep weights are all 0 or 1 (zoneout in training, padding),
    so the kernels keep them for backward as bits (see
    :func:`rnnkit.nn.kernel_ops.kept_for_backward`): 1/32 of the float memory.
    """

    recurrent: Tensor | None = None  # (B, H)
    keep_h: Tensor | None = None  # (T, B, H) or (T, B, 1)
    keep_c: Tensor | None = None  # LSTM only
    keep_binary: bool = False


def _add_optional(*tensors: Tensor | None) -> Tensor | None:
    present = [t for t in tensors if t is not None]
    if not present:
        return None
    total = present[0]
    for t in present[1:]:
        total = total + t
    return total


def input_projection(x: Tensor, weights: CellWeights, extra_bias: Tensor | None) -> Tensor:
    """``LN(W_ih x) * γ_ih + b_ih + extra_bias`` for every step at once: ``(T, B, G)``."""
    bias = _add_optional(weights.bias_ih, extra_bias)
    if weights.ln_ih_weight is None:
        return F.linear(x, weights.weight_ih, bias)
    projected = F.linear(x, weights.weight_ih)  # (T, B, G)
    # The biases are added after the gain: exactly a layer norm's own shift.
    gates = projected.shape[-1]
    return F.layer_norm(projected, (gates,), weights.ln_ih_weight, bias, LAYER_NORM_EPS)


# --------------------------------------------------------------------------- LSTM


class LSTMSequence(torch.autograd.Function):
    """LSTM recurrence over a whole sequence with a hand-written backward through time.

    Inputs: ``xproj`` (T, B, 4H) the input projection with all additive biases folded
    in; ``h0``, ``c0`` (B, H); ``weight_hh`` (4H, H); optional layer-norm gains
    ``ln_hh_weight`` (4H,), ``ln_cell_weight``/``ln_cell_bias`` (H,); optional masks
    (see :class:`StepMasks`). Returns ``y`` (T, B, H), ``h_n``, ``c_n`` (B, H).
    """

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
        cs = new(steps + 1, batch, hidden)
        hs[0] = h0
        cs[0] = c0
        # Without zoneout the new cell state is the state. With it the new cell state goes
        # through a scratch buffer: backward recomputes it when it needs it (layer norm).
        c_new = new(batch, hidden).expand(steps, -1, -1) if keep_c is not None else cs[1:]
        h_new = new(batch, hidden) if keep_h is not None else None
        tanh_c = new(steps, batch, hidden)
        # With layer norm, backward needs each step's raw recurrent projection and the
        # statistics both layer norms computed. They are kept as forward made them (one
        # tensor per step) rather than copied into (T, B, ·) buffers or recomputed: a
        # copy or a second pass per step costs more than the list.
        hh_raw: list[Tensor] = []
        hh_means: list[Tensor] = []
        hh_rstds: list[Tensor] = []
        cell_means: list[Tensor] = []
        cell_rstds: list[Tensor] = []
        h_in = new(batch, hidden) if recurrent_mask is not None else None
        recurrent = RecurrentProduct(weight_hh)
        # Per-step views made once: indexing inside the loop costs as much as a small op.
        h_t, c_t, x_t, gates_t = hs.unbind(0), cs.unbind(0), xproj.unbind(0), gates.unbind(0)
        c_new_t, tanh_c_t = c_new.unbind(0), tanh_c.unbind(0)
        sig_if = gates[..., : 2 * hidden].unbind(0)
        tanh_g = gates[..., 2 * hidden : 3 * hidden].unbind(0)
        sig_o = gates[..., 3 * hidden :].unbind(0)
        i_t, f_t, g_t, o_t = (part.unbind(0) for part in gates.chunk(4, 2))
        keep_h_t = keep_h.unbind(0) if keep_h is not None else None
        keep_c_t = keep_c.unbind(0) if keep_c is not None else None
        for t in range(steps):
            h_prev = h_t[t]
            if recurrent_mask is not None:
                h_prev = torch.mul(h_prev, recurrent_mask, out=h_in)
            if ln_hh_weight is not None:
                raw = recurrent(h_prev)  # (B, 4H)
                normed, mean, rstd = torch.native_layer_norm(
                    raw, (gate_size,), ln_hh_weight, None, LAYER_NORM_EPS
                )
                hh_raw.append(raw)
                hh_means.append(mean)
                hh_rstds.append(rstd)
                torch.add(x_t[t], normed, out=gates_t[t])
            else:
                recurrent.add_into(x_t[t], h_prev, gates_t[t])
            sig_if[t].sigmoid_()
            tanh_g[t].tanh_()
            sig_o[t].sigmoid_()
            cell = torch.mul(f_t[t], c_t[t], out=c_new_t[t])
            cell.addcmul_(i_t[t], g_t[t])
            if ln_cell_weight is not None:
                normed_cell, mean, rstd = torch.native_layer_norm(
                    cell, (hidden,), ln_cell_weight, ln_cell_bias, LAYER_NORM_EPS
                )
                cell_means.append(mean)
                cell_rstds.append(rstd)
                torch.tanh(normed_cell, out=tanh_c_t[t])
            else:
                torch.tanh(cell, out=tanh_c_t[t])
            if keep_c_t is not None:
                torch.lerp(cell, c_t[t], keep_c_t[t], out=c_t[t + 1])
            if keep_h_t is not None:
                torch.mul(o_t[t], tanh_c_t[t], out=h_new)
                torch.lerp(h_new, h_t[t], keep_h_t[t], out=h_t[t + 1])
            else:
                torch.mul(o_t[t], tanh_c_t[t], out=h_t[t + 1])
        ctx.save_for_backward(
            gates,
            hs,
            cs,
            tanh_c,
            weight_hh,
            ln_hh_weight,
            ln_cell_weight,
            recurrent_mask,
            kept_for_backward(keep_h, keep_binary),
            kept_for_backward(keep_c, keep_binary),
            stacked_stats(hh_means, hh_rstds),
            stacked_stats(cell_means, cell_rstds),
            *hh_raw,
        )
        ctx.zoneout_cell = keep_c is not None
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
            recurrent_mask,
            keep_h,
            keep_c,
            hh_stats,
            cell_stats,
            *hh_raw,
        ) = ctx.saved_tensors
        steps, batch, gate_size = gates.shape
        hidden = gate_size // 4
        keep_h = unpacked_keep(keep_h, hidden, hs.dtype)
        keep_c = unpacked_keep(keep_c, hidden, hs.dtype)
        i_all, f_all, g_all, o_all = gates.chunk(4, 2)  # (T, B, H) each
        c_new = cs[1:]  # the new cell states, before zoneout
        if ctx.zoneout_cell and ln_cell_weight is not None:
            # Recomputed with forward's operations in forward's order (the same numbers):
            # one pass over all steps instead of a (T, B, H) buffer kept since forward.
            c_new = torch.mul(f_all, cs[:-1]).addcmul_(i_all, g_all)

        # Gate derivatives for all steps at once. d_gates[t] starts as the factor that
        # multiplies the incoming gradient and is scaled in place inside the loop.
        d_gates = torch.empty_like(gates)  # (T, B, 4H): gradient of the pre-activations
        d_i, d_f, d_g, d_o = d_gates.chunk(4, 2)
        one = gates.new_ones(())
        # s' = s - s^2 for the sigmoid gates, tanh' = 1 - g^2, each times its partner.
        torch.addcmul(gates, gates, gates, value=-1, out=d_gates)
        torch.addcmul(one, g_all, g_all, value=-1, out=d_g)
        d_i.mul_(g_all)
        d_f.mul_(cs[:-1])
        d_g.mul_(i_all)
        d_o.mul_(tanh_c)
        d_ifg = d_gates[..., : 3 * hidden].unflatten(-1, (3, hidden))  # (T, B, 3, H)
        # dh~/d(the tanh's argument), without the incoming dh~
        d_cell_factor = torch.addcmul(one, tanh_c, tanh_c, value=-1).mul_(o_all)

        grads_needed = ctx.needs_input_grad
        if ln_cell_weight is not None:
            cell_mean, cell_rstd = cell_stats  # (T, B, 1) each
            d_cell_normed = torch.empty_like(c_new)
        if ln_hh_weight is not None:
            hh_mean, hh_rstd = hh_stats
            d_hh_raw = torch.empty_like(d_gates)
            d_ln_hh_steps: list[Tensor] | None = [] if grads_needed[4] else None
        else:
            d_hh_raw = d_gates

        dh = grad_hn.clone() if grad_hn is not None else hs.new_zeros(batch, hidden)
        dc = grad_cn.clone() if grad_cn is not None else hs.new_zeros(batch, hidden)
        recurrent_t = RecurrentProduct(weight_hh.t())
        # Per-step views made once (see forward).
        d_o_t, d_ifg_t, f_t = d_o.unbind(0), d_ifg.unbind(0), f_all.unbind(0)
        d_gates_t, d_hh_raw_t, factor_t = (
            d_gates.unbind(0),
            d_hh_raw.unbind(0),
            d_cell_factor.unbind(0),
        )
        grad_y_t = grad_y.unbind(0) if grad_y is not None else None
        keep_h_t = keep_h.unbind(0) if keep_h is not None else None
        keep_c_t = keep_c.unbind(0) if keep_c is not None else None
        for t in range(steps - 1, -1, -1):
            if grad_y_t is not None:
                dh.add_(grad_y_t[t])
            if keep_h_t is not None:
                dh_kept = dh * keep_h_t[t]
                dh.sub_(dh_kept)  # the part that reached the new state: dh * (1 - k)
            d_o_t[t].mul_(dh)
            if ln_cell_weight is not None:
                torch.mul(dh, factor_t[t], out=d_cell_normed[t])
                d_cell = layer_norm_backward(
                    d_cell_normed[t], c_new[t], cell_mean[t], cell_rstd[t], ln_cell_weight
                )
            else:
                d_cell = dh.mul_(factor_t[t])
            if keep_c_t is not None:
                dc_kept = dc * keep_c_t[t]
                d_cell.add_(dc.sub_(dc_kept))
            else:
                d_cell.add_(dc)
            d_ifg_t[t].mul_(d_cell.unsqueeze(1))
            dc = d_cell.mul_(f_t[t])
            if keep_c_t is not None:
                dc.add_(dc_kept)
            if ln_hh_weight is not None:
                d_raw = layer_norm_step_backward(
                    d_gates_t[t], hh_raw[t], hh_mean[t], hh_rstd[t], ln_hh_weight, d_ln_hh_steps
                )
                d_hh_raw_t[t].copy_(d_raw)
            dh = recurrent_t(d_hh_raw_t[t])  # (B, 4H) x (4H, H)
            if recurrent_mask is not None:
                dh.mul_(recurrent_mask)
            if keep_h_t is not None:
                dh.add_(dh_kept)

        d_weight_hh = d_ln_hh = d_ln_cell_weight = d_ln_cell_bias = None
        if grads_needed[3]:
            # One product over all steps: (4H, T*B) x (T*B, H).
            d_weight_hh = product_tn(
                d_hh_raw.reshape(-1, gate_size), recurrent_input(hs, recurrent_mask)
            )
        if ln_hh_weight is not None and d_ln_hh_steps is not None:
            d_ln_hh = torch.stack(d_ln_hh_steps).sum(0)
        if ln_cell_weight is not None:
            if grads_needed[5]:
                d_ln_cell_weight = layer_norm_gain_grad(d_cell_normed, c_new, cell_mean, cell_rstd)
            if grads_needed[6]:
                d_ln_cell_bias = d_cell_normed.reshape(-1, hidden).sum(0)
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


def _gru_gates(x_in: Tensor, seen: Tensor, out: Tensor) -> Tensor:
    """The GRU's activated gates into ``out`` (..., 3H), any leading shape.

    ``r, z = σ(x_in[r, z] + seen[r, z])`` and ``n = tanh(x_in[n] + r * seen[n])``, with
    ``x_in`` and ``seen`` what the gates see of the input and recurrent projections.
    """
    hidden = out.shape[-1] // 3
    rz = torch.add(x_in[..., : 2 * hidden], seen[..., : 2 * hidden], out=out[..., : 2 * hidden])
    rz.sigmoid_()
    n = out[..., 2 * hidden :]
    torch.addcmul(x_in[..., 2 * hidden :], out[..., :hidden], seen[..., 2 * hidden :], out=n)
    n.tanh_()
    return out


class GRUSequence(torch.autograd.Function):
    """GRU recurrence (torch's reset-after form) with a hand-written backward.

    Inputs: ``xproj`` (T, B, 3H); ``h0`` (B, H); ``weight_hh`` (3H, H); ``hh_bias`` (3H,)
    or None, added to the recurrent projection after its layer norm (it cannot be folded
    into ``xproj`` because the reset gate multiplies its candidate part); optional
    ``ln_hh_weight`` (3H,); masks; optional ``ln_ih_weight`` and ``ih_bias`` (3H,).
    Without ``ln_ih_weight``, ``xproj`` is the input projection with ``b_ih`` folded in.
    With it, ``xproj`` is the raw product ``W_ih x`` and the kernel applies the input
    side's layer norm itself (gain ``ln_ih_weight``, shift ``ih_bias``): backward then
    recomputes the gates (elementwise, all steps at once) from the two raw projections,
    which the layer norms' backward needs anyway, instead of keeping the gates from
    forward: (T, B, 3H) less saved for backward. Returns ``y``, ``h_n``.
    """

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
        x_in = xproj  # what the gates see of the input projection
        if ln_ih_weight is not None:
            x_in = torch.native_layer_norm(
                xproj, (gate_size,), ln_ih_weight, ih_bias, LAYER_NORM_EPS
            )[0]
        gates = new(steps, batch, gate_size)  # activated r, z, n
        hs = new(steps + 1, batch, hidden)
        hs[0] = h0
        # The recurrent projection the gates see (non-LN), or before its layer norm (LN).
        hh = new(steps, batch, gate_size)
        h_new = new(batch, hidden) if keep_h is not None else None
        h_in = new(batch, hidden) if recurrent_mask is not None else None
        recurrent = RecurrentProduct(weight_hh)
        z_all, n_all = gates[..., hidden : 2 * hidden], gates[..., 2 * hidden :]
        for t in range(steps):
            h_prev = hs[t]
            h_rec = h_prev
            if recurrent_mask is not None:
                h_rec = torch.mul(h_prev, recurrent_mask, out=h_in)
            if ln_hh_weight is not None:
                recurrent.into(h_rec, hh[t])
                hh_t = torch.native_layer_norm(
                    hh[t], (gate_size,), ln_hh_weight, hh_bias, LAYER_NORM_EPS
                )[0]
            elif hh_bias is not None:
                hh_t = recurrent.add_into(hh_bias, h_rec, hh[t])
            else:
                hh_t = recurrent.into(h_rec, hh[t])
            _gru_gates(x_in[t], hh_t, gates[t])
            target = h_new if keep_h is not None else hs[t + 1]
            torch.lerp(n_all[t], h_prev, z_all[t], out=target)  # (1 - z) * n + z * h_prev
            if keep_h is not None:
                torch.lerp(h_new, h_prev, keep_h[t], out=hs[t + 1])
        recompute = ln_ih_weight is not None
        ctx.save_for_backward(
            None if recompute else gates,
            hs,
            hh,
            weight_hh,
            hh_bias,
            ln_hh_weight,
            recurrent_mask,
            kept_for_backward(keep_h, keep_binary),
            xproj if recompute else None,
            ln_ih_weight,
            ih_bias,
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
            recurrent_mask,
            keep_h,
            xproj,
            ln_ih_weight,
            ih_bias,
        ) = ctx.saved_tensors
        keep_h = unpacked_keep(keep_h, hs.shape[-1], hs.dtype)
        steps, batch, gate_size = hh.shape
        hidden = gate_size // 3
        if ln_hh_weight is not None:
            hh_seen, hh_mean, hh_rstd = torch.native_layer_norm(
                hh, (gate_size,), ln_hh_weight, hh_bias, LAYER_NORM_EPS
            )
            d_hh_raw = torch.empty_like(hh)
        else:
            hh_seen = hh
        if gates is None:
            # Forward's gates, recomputed with forward's operations on forward's inputs.
            x_in, ih_mean, ih_rstd = torch.native_layer_norm(
                xproj, (gate_size,), ln_ih_weight, ih_bias, LAYER_NORM_EPS
            )
            gates = _gru_gates(x_in, hh_seen, torch.empty_like(hh))
            del x_in
        r_all, z_all, n_all = gates.chunk(3, 2)
        hn_all = hh_seen[..., 2 * hidden :]
        # d_hh[t]: gradient of the recurrent projection the gates saw (r, z, n parts).
        d_hh = torch.empty_like(hh)
        d_hr, d_hz, d_hn = d_hh.chunk(3, 2)
        d_xn = torch.empty_like(n_all)  # gradient of the candidate's input part
        factor_z = (hs[:-1] - n_all) * z_all * (1 - z_all)
        factor_n = (1 - z_all) * (1 - n_all * n_all)
        factor_r = hn_all * r_all * (1 - r_all)

        dh = grad_hn.clone() if grad_hn is not None else hs.new_zeros(batch, hidden)
        recurrent_t = RecurrentProduct(weight_hh.t())
        for t in range(steps - 1, -1, -1):
            if grad_y is not None:
                dh.add_(grad_y[t])
            if keep_h is not None:
                dh_kept = dh * keep_h[t]
                dh.sub_(dh_kept)
            torch.mul(dh, factor_z[t], out=d_hz[t])
            d_n = torch.mul(dh, factor_n[t], out=d_xn[t])
            torch.mul(d_n, factor_r[t], out=d_hr[t])
            torch.mul(d_n, r_all[t], out=d_hn[t])
            if ln_hh_weight is not None:
                d_hh_raw[t] = layer_norm_backward(
                    d_hh[t], hh[t], hh_mean[t], hh_rstd[t], ln_hh_weight
                )
                d_rec = d_hh_raw[t]
            else:
                d_rec = d_hh[t]
            dh_prev = recurrent_t(d_rec)
            if recurrent_mask is not None:
                dh_prev.mul_(recurrent_mask)
            dh_prev.addcmul_(dh, z_all[t])
            if keep_h is not None:
                dh_prev.add_(dh_kept)
            dh = dh_prev

        grads_needed = ctx.needs_input_grad
        d_xproj = torch.cat([d_hh[..., : 2 * hidden], d_xn], dim=-1)
        d_weight_hh = d_bias = d_ln = d_ln_ih = d_ih_bias = None
        d_rec_all = d_hh_raw if ln_hh_weight is not None else d_hh
        if grads_needed[2]:
            d_weight_hh = product_tn(
                d_rec_all.reshape(-1, gate_size), recurrent_input(hs, recurrent_mask)
            )
        if hh_bias is not None and grads_needed[3]:
            d_bias = d_hh.reshape(-1, gate_size).sum(0)
        if ln_hh_weight is not None and grads_needed[4]:
            d_ln = layer_norm_gain_grad(d_hh, hh, hh_mean, hh_rstd)
        if ln_ih_weight is not None:
            d_xproj, d_ln_ih, d_ih_bias = layer_norm_full_backward(
                d_xproj, xproj, ih_mean, ih_rstd, ln_ih_weight, ih_bias, grads_needed[8:10]
            )
        return d_xproj, dh, d_weight_hh, d_bias, d_ln, None, None, None, d_ln_ih, d_ih_bias


# --------------------------------------------------------------------------- Elman RNN


class RNNSequence(torch.autograd.Function):
    """Elman RNN recurrence (tanh or relu) with a hand-written backward.

    Inputs: ``xproj`` (T, B, H) with all additive biases folded in; ``h0`` (B, H);
    ``weight_hh`` (H, H); optional ``ln_hh_weight`` (H,); masks; ``relu`` selects the
    nonlinearity. Returns ``y``, ``h_n``. With layer norm, backward recomputes the raw
    recurrent projections in one product over all steps rather than keeping them from
    forward: the states and the statistics are all it keeps, as torch's own RNN keeps
    the states alone.
    """

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
        # New states before zoneout/padding. Backward needs them only where the keep
        # weight is below 1; with 0/1 weights those are the states themselves (hs[1:]), so
        # a scratch row serves, and only fractional (evaluation) weights need the buffer.
        if keep_h is None:
            h_new = hs[1:]
        elif keep_binary:
            h_new = new(batch, hidden).expand(steps, -1, -1)
        else:
            h_new = new(steps, batch, hidden)
        hh_means: list[Tensor] = []
        hh_rstds: list[Tensor] = []
        h_in = new(batch, hidden) if recurrent_mask is not None else None
        recurrent = RecurrentProduct(weight_hh)
        for t in range(steps):
            h_rec = hs[t]
            if recurrent_mask is not None:
                h_rec = torch.mul(h_rec, recurrent_mask, out=h_in)
            if ln_hh_weight is not None:
                normed, mean, rstd = torch.native_layer_norm(
                    recurrent(h_rec), (hidden,), ln_hh_weight, None, LAYER_NORM_EPS
                )
                hh_means.append(mean)
                hh_rstds.append(rstd)
                pre = torch.add(xproj[t], normed, out=h_new[t])
            else:
                pre = recurrent.add_into(xproj[t], h_rec, h_new[t])
            if relu:
                pre.relu_()
            else:
                pre.tanh_()
            if keep_h is not None:
                torch.lerp(pre, hs[t], keep_h[t], out=hs[t + 1])
        ctx.relu = relu
        ctx.save_for_backward(
            hs,
            h_new if keep_h is not None and not keep_binary else None,
            weight_hh,
            ln_hh_weight,
            recurrent_mask,
            kept_for_backward(keep_h, keep_binary),
            stacked_stats(hh_means, hh_rstds),
        )
        return hs[1:], hs[steps].clone()

    @staticmethod
    def backward(ctx, grad_y: Tensor | None, grad_hn: Tensor | None):
        hs, h_new, weight_hh, ln_hh_weight, recurrent_mask, keep_h, hh_stats = ctx.saved_tensors
        keep_h = unpacked_keep(keep_h, hs.shape[-1], hs.dtype)
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        if h_new is None:
            # Steps kept whole (weight 1) pass no gradient to their new state, so their
            # entries of the factor below are multiplied by zero; elsewhere hs[1:] is
            # the new state.
            h_new = hs[1:]
        d_pre = (h_new > 0).to(h_new.dtype) if ctx.relu else 1 - h_new * h_new
        grads_needed = ctx.needs_input_grad
        inputs = recurrent_input(hs, recurrent_mask)  # (T * B, H)
        if ln_hh_weight is not None:
            hh_raw = recurrent_projection(inputs, weight_hh, steps)
            hh_mean, hh_rstd = hh_stats
            d_hh_raw = torch.empty_like(d_pre)
            d_ln_steps: list[Tensor] | None = [] if grads_needed[3] else None
        else:
            d_hh_raw = d_pre
        dh = grad_hn.clone() if grad_hn is not None else hs.new_zeros(batch, hidden)
        recurrent_t = RecurrentProduct(weight_hh.t())
        for t in range(steps - 1, -1, -1):
            if grad_y is not None:
                dh.add_(grad_y[t])
            if keep_h is not None:
                dh_kept = dh * keep_h[t]
                dh.sub_(dh_kept)
            d_pre[t].mul_(dh)
            if ln_hh_weight is not None:
                d_hh_raw[t] = layer_norm_step_backward(
                    d_pre[t], hh_raw[t], hh_mean[t], hh_rstd[t], ln_hh_weight, d_ln_steps
                )
            dh = recurrent_t(d_hh_raw[t])
            if recurrent_mask is not None:
                dh.mul_(recurrent_mask)
            if keep_h is not None:
                dh.add_(dh_kept)
        d_weight_hh = d_ln = None
        if grads_needed[2]:
            d_weight_hh = product_tn(d_hh_raw.reshape(-1, hidden), inputs)
        if ln_hh_weight is not None and d_ln_steps is not None:
            d_ln = torch.stack(d_ln_steps).sum(0)
        return d_pre, dh, d_weight_hh, d_ln, None, None, None, None


# --------------------------------------------------------------------------- entry points


_NATIVE: dict[type[torch.autograd.Function], type[torch.autograd.Function]] = {
    LSTMSequence: LSTMNative,
    GRUSequence: GRUNative,
    RNNSequence: RNNNative,
}


def _recurrence(function: type[torch.autograd.Function], *args: object) -> tuple[Tensor, ...]:
    """Apply a kernel in the weights' dtype, outside autocast, with the native loops if allowed.

    Under mixed precision the input projection may arrive in bfloat16 or float16; the
    recurrence runs in the dtype of its weights, as torch's own RNN kernels do.
    """
    xproj, weight_hh = args[0], args[2 if function is not LSTMSequence else 3]
    dtype = weight_hh.dtype
    cast = [a.to(dtype) if isinstance(a, Tensor) and a.is_floating_point() else a for a in args]
    tensors = [a for a in cast if isinstance(a, Tensor) and a.is_floating_point()]
    if xproj.numel() > 0 and native.usable(*tensors):
        function = _NATIVE[function]
    with torch.autocast(device_type=xproj.device.type, enabled=False):
        return function.apply(*cast)


def lstm_sequence(
    x: Tensor, h0: Tensor, c0: Tensor, weights: CellWeights, masks: StepMasks
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one direction of one LSTM layer over ``x`` (T, B, I); returns y, h_n, c_n."""
    xproj = input_projection(x, weights, weights.bias_hh)
    return _recurrence(
        LSTMSequence,
        xproj,
        h0,
        c0,
        weights.weight_hh,
        weights.ln_hh_weight,
        weights.ln_cell_weight,
        weights.ln_cell_bias,
        masks.recurrent,
        masks.keep_h,
        masks.keep_c,
        masks.keep_binary,
    )


def gru_sequence(
    x: Tensor, h0: Tensor, weights: CellWeights, masks: StepMasks
) -> tuple[Tensor, Tensor]:
    """Run one direction of one GRU layer over ``x`` (T, B, I); returns y, h_n."""
    ln_ih = weights.ln_ih_weight
    if ln_ih is not None:
        # The kernel applies this layer norm itself (see GRUSequence): the raw product.
        xproj, ih_bias = F.linear(x, weights.weight_ih), weights.bias_ih
    else:
        xproj, ih_bias = input_projection(x, weights, None), None
    return _recurrence(
        GRUSequence,
        xproj,
        h0,
        weights.weight_hh,
        weights.bias_hh,
        weights.ln_hh_weight,
        masks.recurrent,
        masks.keep_h,
        masks.keep_binary,
        ln_ih,
        ih_bias,
    )


def rnn_sequence(
    x: Tensor, h0: Tensor, weights: CellWeights, masks: StepMasks, nonlinearity: str = "tanh"
) -> tuple[Tensor, Tensor]:
    """Run one direction of one Elman RNN layer over ``x`` (T, B, I); returns y, h_n."""
    if weights.ln_ih_weight is not None:
        # Keeps no (T, B, H) product for backward: with the kernel keeping only the states
        # too, the layer keeps what torch's RNN keeps.
        bias = _add_optional(weights.bias_ih, weights.bias_hh)
        xproj = projected_layer_norm(x, weights.weight_ih, weights.ln_ih_weight, bias)
    else:
        xproj = input_projection(x, weights, weights.bias_hh)
    return _recurrence(
        RNNSequence,
        xproj,
        h0,
        weights.weight_hh,
        weights.ln_hh_weight,
        masks.recurrent,
        masks.keep_h,
        masks.keep_binary,
        nonlinearity == "relu",
    )
