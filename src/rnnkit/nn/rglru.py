"""RG-LRU layers: Griffin's real-gated linear recurrent unit, trained as a parallel scan.

De et al. 2024 ("Griffin: Mixing Gated Linear Recurrences with Local Attention for
Efficient Language Models", arXiv:2402.19427, §2.4) define the RG-LRU on an input x_t
of the state's width H::

    r_t = σ(W_a x_t + b_a)                       recurrence gate
    i_t = σ(W_x x_t + b_x)                       input gate
    a_t = a^(c r_t),  a = σ(Λ),  c = 8           a learnt decay per unit, gated
    h_t = a_t ⊙ h_{t-1} + sqrt(1 - a_t²) ⊙ (i_t ⊙ x_t)

The gates read the input only, so like minGRU the recurrence is linear in the state,
h_t = a_t ⊙ h_{t-1} + b_t, and a whole sequence is one prefix scan
(:func:`rg_lru_scan`: the odd-even scan of :mod:`rnnkit.nn.scan` with a backward pass
written by hand from the gates to the states). Unlike minGRU's, b_t may be negative and a_t does not pair with b_t as
(1 - w_t, w_t): the sqrt(1 - a_t²) factor keeps the state's scale when a_t is near 1.
log a_t = -c r_t softplus(-Λ) is computed in that form and sqrt(1 - a_t²) as
sqrt(-expm1(2 log a_t)), which hold their precision when a_t is near 1 (as the paper's
appendix A advises, computing log a_t rather than a power of a sigmoid).

What rnnkit builds (its choices, stated): one layer here is Griffin's recurrent
block's RG-LRU branch, a linear map of the layer input to the width H followed by the
RG-LRU, ``x_t = W_ih u_t + b_ih``. The block's other parts are left out: the temporal
Conv1D (kernel 4) before the RG-LRU, the GeLU branch that multiplies its output, the
block's output projection, and the residual/MLP arrangement of the residual block
(the ``residual``, ``norm``, ``mlp`` options of :mod:`rnnkit.nn.minimal` give a
pre-LayerNorm residual stack with a GELU MLP instead, off by default). The gate weights
are dense H x H matrices, as the paper's equations write them. Λ is initialised so that
a^c is uniform in [0.9, 0.999] (paper §2.4); the linear maps as ``torch.nn.Linear``.

Parameters, per layer k and direction (``_reverse`` suffix for the second):
``weight_ih_l{k}`` (H, layer input) and ``bias_ih_l{k}`` (H), the input map;
``weight_gate_l{k}`` (2H, H) and ``bias_gate_l{k}`` (2H), the gates (r, i) in that
order; ``lambda_l{k}`` (H), Λ. ``bias=False`` drops the biases, not Λ.

Interface, ``lengths``, chunking with a carried state, bidirectional layers, ``step``,
``impl`` and export are those of :mod:`rnnkit.nn.minimal` (the same base class):
``forward(x, h0=None, lengths=None) -> (output, h_n)``; ``step(x, h)`` is O(1) per token.
``impl="log"`` is :func:`rnnkit.nn.scan.log_linear_recurrence` (logcumsumexp over the
positive and the negative b_t apart), which tracing and export use;
``impl="reference"`` a Python loop of :func:`rg_lru_step`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn.layer_base import _suffix
from rnnkit.nn.minimal import _MinimalRecurrent, _reset_linear, _tracing
from rnnkit.nn.scan import linear_scan, log_linear_recurrence, state_gradients

__all__ = ["RGLRU", "rg_lru_scan", "rg_lru_step"]

#: The fixed scale of the recurrence gate's exponent (paper §2.4: c = 8).
GATE_SCALE = 8.0
#: The range a^c is drawn from at initialisation (paper §2.4).
INIT_DECAY = (0.9, 0.999)


def _coefficients(x: Tensor, gates: Tensor, lam: Tensor) -> tuple[Tensor, Tensor]:
    """(log a_t, b_t) of h_t = a_t ⊙ h_{t-1} + b_t from x (..., H) and gates (..., 2H)."""
    hidden = x.size(-1)
    r = torch.sigmoid(gates[..., :hidden])  # recurrence gate
    i = torch.sigmoid(gates[..., hidden:])  # input gate
    log_a = F.softplus(-lam).mul(-GATE_SCALE) * r  # c r_t log σ(Λ), <= 0
    # sqrt(1 - a²) = sqrt(-expm1(2 log a)); the floor keeps its gradient finite at a = 1,
    # reached only when r_t underflows to 0.
    scale = torch.sqrt((-torch.expm1(2.0 * log_a)).clamp_min(torch.finfo(x.dtype).tiny))
    return log_a, scale * (i * x)


def rg_lru_step(x: Tensor, gates: Tensor, lam: Tensor, h: Tensor) -> Tensor:
    """One RG-LRU step: x (B, H) the projected input, gates (B, 2H) the (r, i)
    pre-activations, lam (H) Λ, h (B, H) -> h_t = a_t ⊙ h + sqrt(1 - a_t²) ⊙ i_t ⊙ x."""
    log_a, b = _coefficients(x, gates, lam)
    return torch.addcmul(b, torch.exp(log_a), h)


class _RGLRUScan(torch.autograd.Function):
    """All RG-LRU states (T, B, H) from x (T, B, H), gates (T, B, 2H), Λ (H) and h0 (B, H).

    One function from the gates to the states, its backward pass written by hand: it
    saves a_t and one derivative per input (five (T, B, H) tensors) where autograd
    through the separate operations would keep nine. With P_t = dh_t/d(log a_t)
    = a_t h_{t-1} - (a_t² / m_t) i_t x_t and m_t = sqrt(1 - a_t²):
    dh_t/dx_t = m_t i_t, dh_t/dî_t = b_t (1 - i_t), dh_t/dr̂_t = -c softplus(-Λ) r_t
    (1 - r_t) P_t, dh_t/dΛ = c σ(-Λ) r_t P_t (î, r̂ the gates' pre-activations).
    """

    @staticmethod
    def forward(ctx, x, gates, lam, h0, keep, reverse):
        hidden = x.size(-1)
        r = torch.sigmoid(gates[..., :hidden])  # (T, B, H)
        i = torch.sigmoid(gates[..., hidden:])
        log_a = r * F.softplus(-lam).mul(-GATE_SCALE)
        if keep is not None:  # (T, B, 1): padded steps keep the state (a = 1, b = 0)
            log_a.mul_(keep)
        a = torch.exp(log_a)
        tiny = torch.finfo(x.dtype).tiny
        m = torch.expm1(log_a.mul_(2.0)).neg_().clamp_min_(tiny).sqrt_()  # sqrt(1 - a²)
        d_x = m * i  # dh/dx
        b = d_x * x
        if keep is not None:
            b.mul_(keep)
            d_x.mul_(keep)
        h = linear_scan(a, b, h0, reverse)  # (T, B, H)
        if not any(ctx.needs_input_grad[:4]):
            return h
        h_prev = torch.empty_like(h)
        if reverse:
            h_prev[:-1], h_prev[-1] = h[1:], h0
        else:
            h_prev[1:], h_prev[0] = h[:-1], h0
        # P = a h_prev - (a² / m) i x = a h_prev - (a² / m²) b
        p = h_prev.mul_(a).sub_(a.square().div_(m.square_()).mul_(b))
        if keep is not None:
            p.mul_(keep)
        d_lam = p.mul_(r).mul_(GATE_SCALE)  # × σ(-Λ) after the sum over steps
        d_r = torch.neg(r).add_(1.0).mul_(d_lam).mul_(-F.softplus(-lam))
        d_i = torch.neg(i).add_(1.0).mul_(b)
        ctx.save_for_backward(a, d_x, d_i, d_r, d_lam, lam)
        ctx.reverse = reverse
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, d_x, d_i, d_r, d_lam, lam = ctx.saved_tensors
        delta, grad_h0 = state_gradients(a, grad_h, ctx.reverse)  # (T, B, H), (B, H)
        hidden = delta.size(-1)
        grad_gates = delta.new_empty(*delta.shape[:-1], 2 * hidden)
        torch.mul(delta, d_r, out=grad_gates[..., :hidden])
        torch.mul(delta, d_i, out=grad_gates[..., hidden:])
        grad_lam = (delta * d_lam).sum(dim=(0, 1)) * torch.sigmoid(-lam)
        return delta.mul_(d_x), grad_gates, grad_lam, grad_h0, None, None


def rg_lru_scan(
    x: Tensor,
    gates: Tensor,
    lam: Tensor,
    h0: Tensor,
    mask: Tensor | None = None,
    reverse: bool = False,
) -> Tensor:
    """All states h (T, B, H) of one RG-LRU direction, as a parallel scan.

    x (T, B, H) the projected inputs, gates (T, B, 2H) the (r, i) pre-activations, lam
    (H) Λ, h0 (B, H); mask (T, B, 1) bool, False at padded steps (they keep the state).
    Differentiable in x, gates, lam and h0.
    """
    keep = None if mask is None else mask.to(x.dtype)
    return _RGLRUScan.apply(x.contiguous(), gates.contiguous(), lam, h0, keep, reverse)


class RGLRU(_MinimalRecurrent):
    """RG-LRU layers (De et al. 2024): h_t = a_t ⊙ h_{t-1} + sqrt(1 - a_t²) ⊙ (i_t ⊙ x_t).

    x_t = W_ih u_t + b_ih is the layer input u_t mapped to the width H. See the module
    docstring for the gates, what is left out of Griffin's block, and the parameters;
    arguments, ``forward`` and ``step`` are MinGRU's.
    """

    num_gates: ClassVar[int] = 2

    def _register_direction(self, suffix: str, layer_input: int, factory: dict) -> None:
        hidden = self.hidden_size
        shapes = {"ih": (hidden, layer_input), "gate": (2 * hidden, hidden)}
        for name, shape in shapes.items():
            self.register_parameter(
                f"weight_{name}{suffix}", nn.Parameter(torch.empty(shape, **factory))
            )
            if self.bias:
                self.register_parameter(
                    f"bias_{name}{suffix}", nn.Parameter(torch.empty(shape[0], **factory))
                )
        self.register_parameter(f"lambda{suffix}", nn.Parameter(torch.empty(hidden, **factory)))

    def _reset_direction(self, suffix: str) -> None:
        for name in ("ih", "gate"):
            _reset_linear(
                getattr(self, f"weight_{name}{suffix}"), getattr(self, f"bias_{name}{suffix}", None)
            )
        # a^c ~ U(INIT_DECAY), so a = u^(1/c) and Λ = logit(a).
        lam = getattr(self, f"lambda{suffix}")
        with torch.no_grad():
            decay = torch.empty_like(lam).uniform_(*INIT_DECAY).pow_(1.0 / GATE_SCALE)
            lam.copy_(torch.log(decay) - torch.log1p(-decay))

    def _inputs(self, u: Tensor, suffix: str) -> tuple[Tensor, Tensor, Tensor]:
        """(x, gates, Λ) for one layer and direction from its input u (..., W)."""
        x = F.linear(
            u, getattr(self, f"weight_ih{suffix}"), getattr(self, f"bias_ih{suffix}", None)
        )
        gates = F.linear(
            x, getattr(self, f"weight_gate{suffix}"), getattr(self, f"bias_gate{suffix}", None)
        )
        return x, gates, getattr(self, f"lambda{suffix}")

    def _step_layer(self, layer: int, x: Tensor, h: Tensor) -> Tensor:
        return rg_lru_step(*self._inputs(x, _suffix(layer, 0)), h)

    def _run_direction(
        self, x: Tensor, h0: Tensor, layer: int, direction: int, mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """One layer and direction: x (T, B, W) -> outputs (T, B, H), last state (B, H)."""
        projected, gates, lam = self._inputs(x, _suffix(layer, direction))  # (T, B, H|2H)
        reverse = direction == 1
        impl = "log" if self.impl == "scan" and _tracing() else self.impl
        if impl == "reference" or x.size(0) == 1:
            h = self._rg_loop(projected, gates, lam, h0, mask, reverse)
        elif impl == "scan":
            h = rg_lru_scan(projected, gates, lam, h0, mask, reverse)
        else:
            log_a, b = _coefficients(projected, gates, lam)  # (T, B, H) each
            if mask is not None:
                keep = mask.to(b.dtype)  # (T, B, 1): padded steps keep the state
                log_a, b = log_a * keep, b * keep
            h = log_linear_recurrence(log_a, b, h0, reverse)
        return h, (h[0] if reverse else h[-1])

    @staticmethod
    def _rg_loop(
        x: Tensor, gates: Tensor, lam: Tensor, h: Tensor, mask: Tensor | None, reverse: bool
    ) -> Tensor:
        """The reference: one RG-LRU step at a time, padded steps keep h."""
        outputs = []
        for t in reversed(range(x.size(0))) if reverse else range(x.size(0)):
            new = rg_lru_step(x[t], gates[t], lam, h)
            h = new if mask is None else torch.where(mask[t], new, h)
            outputs.append(h)
        if reverse:
            outputs.reverse()
        return torch.stack(outputs)
