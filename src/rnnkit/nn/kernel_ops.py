"""Matrix products, layer-norm pieces and saved masks shared by the sequence kernels.

:mod:`rnnkit.nn.fused` (Python time loops) and :mod:`rnnkit.nn.fused_native` (C++ time
loops) both use them for the work outside the loop: the input projection, the weight and
gain gradients over all steps, products recomputed in backward rather than kept from
forward, and the zoneout masks as kept for backward (bits).

The products over all steps (input projection, weight gradients, recomputed products)
run on torch's own product, which reads a transposed operand in place; oneDNN would need
transposed copies of it, made on one thread (benchmarks/products.py: torch's product was
as fast or faster at every size measured, up to 4x for the weight gradients). The
per-step products of the Python loops (:class:`RecurrentProduct`) go through oneDNN's
inner product on CPU in float32, with the recurrent matrix packed once per call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn import native
from rnnkit.nn.cells import LAYER_NORM_EPS

__all__ = [
    "USE_ONEDNN",
    "RecurrentProduct",
    "kept_for_backward",
    "layer_norm_backward",
    "layer_norm_full_backward",
    "layer_norm_gain_grad",
    "layer_norm_step_backward",
    "product_tn",
    "projected_layer_norm",
    "recurrent_input",
    "recurrent_projection",
    "stacked_stats",
    "unpacked_keep",
]


def kept_for_backward(keep: Tensor | None, binary: bool) -> Tensor | None:
    """The zoneout keep weights as saved for backward: bits when they are 0 or 1.

    0/1 weights (training, padding) of width W > 1 are kept one bit each, eight to a
    ``uint8``, each row of W in ``ceil(W / 8)`` bytes (a (T, B, H) mask then costs about
    1/32 of its float form); (T, B, 1) padding weights as booleans; fractional
    (evaluation) weights as they are. :func:`unpacked_keep` restores them: backward only
    multiplies gradients by them. The native library packs in one pass; tensor
    operations do where it is not loaded.
    """
    if keep is None or not binary:
        return keep
    width = keep.shape[-1]
    if width == 1:
        return keep.to(torch.bool)
    if native.usable(keep):
        return native.ops().pack_keep(keep.contiguous())
    bits = (keep != 0).to(torch.uint8)
    bits = F.pad(bits, (0, -width % 8)).unflatten(-1, (-1, 8))  # (..., ceil(W / 8), 8)
    return bits.mul_(_bit_values(keep.device)).sum(-1, dtype=torch.uint8)


def unpacked_keep(kept: Tensor | None, width: int, dtype: torch.dtype) -> Tensor | None:
    """The keep weights :func:`kept_for_backward` saved: (..., width), 0/1 in ``dtype``
    where they were packed, else as saved."""
    if kept is None or kept.dtype != torch.uint8:
        return kept
    if kept.device.type == "cpu" and dtype in native.DTYPES and native.available():
        return native.ops().unpack_keep(kept.contiguous(), width, dtype)
    bits = kept.unsqueeze(-1).bitwise_and(_bit_values(kept.device))  # (..., W / 8, 8)
    return bits.ne_(0).flatten(-2)[..., :width].to(dtype)


def _bit_values(device: torch.device) -> Tensor:
    """1, 2, 4, ..., 128: the value of each of a byte's bits, lowest first."""
    return torch.tensor([1 << i for i in range(8)], dtype=torch.uint8, device=device)


def _onednn_available() -> bool:
    try:
        return bool(
            torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise")
            and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
        )
    except (AttributeError, RuntimeError):  # a build without the oneDNN operators
        return False


# Module-level switch: the tests turn it off to check both paths give the same numbers.
USE_ONEDNN = _onednn_available()


def _onednn(t: Tensor) -> bool:
    return USE_ONEDNN and t.device.type == "cpu" and t.dtype == torch.float32


def _onednn_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` on oneDNN; ``weight`` is (N, K), plain or packed."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class RecurrentProduct:
    """``x @ weight.T`` for the many small ``x`` of a time loop, with one fixed weight."""

    def __init__(self, weight: Tensor) -> None:
        self.packed = None
        self.weight_t = weight.t()
        if _onednn(weight):
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous())

    def into(self, x: Tensor, out: Tensor) -> Tensor:
        """Writes the product into ``out``."""
        if self.packed is None:
            return torch.mm(x, self.weight_t, out=out)
        return out.copy_(_onednn_linear(x, self.packed))

    def add_into(self, base: Tensor, x: Tensor, out: Tensor) -> Tensor:
        """Writes ``base + x @ weight.T`` into ``out``."""
        if self.packed is None:
            return torch.addmm(base, x, self.weight_t, out=out)
        return torch.add(base, _onednn_linear(x, self.packed), out=out)

    def __call__(self, x: Tensor) -> Tensor:
        if self.packed is None:
            return torch.mm(x, self.weight_t)
        return _onednn_linear(x, self.packed)


def product_tn(a: Tensor, b: Tensor) -> Tensor:
    """``a.T @ b`` for tall (N, P) and (N, Q) matrices: weight gradients over all steps.

    BLAS reads the transposed operand in place. Handing oneDNN transposed copies instead
    cost 1.3-4.4x as much at the cell benchmark's sizes: the copies run on one thread
    ((2240, 2600)^T x (2240, 650): 51.1 against 31.6 ms with 2 threads, 68.8 against
    51.5 ms with 1; benchmarks/products.py, README "Extended cells").
    """
    return a.t() @ b


class _ProjectedLayerNorm(torch.autograd.Function):
    """``LN(x @ W.T) * gain + bias`` that keeps only the statistics of the product.

    Backward recomputes the product (one matrix product over all rows) instead of keeping
    it from forward as ``F.layer_norm`` would: ``x`` and ``W`` are alive anyway.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, gain: Tensor, bias: Tensor | None):  # type: ignore[override]
        out, mean, rstd = torch.native_layer_norm(
            x @ weight.t(), (weight.shape[0],), gain, bias, LAYER_NORM_EPS
        )
        # Not the bias: its gradient is the incoming one's column sums.
        ctx.save_for_backward(x, weight, gain, mean, rstd)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight, gain, mean, rstd = ctx.saved_tensors
        needed = ctx.needs_input_grad
        grad = grad.contiguous()
        d_raw, d_gain, _ = layer_norm_full_backward(
            grad, x @ weight.t(), mean, rstd, gain, None, (needed[2], False)
        )
        d_bias = grad.sum(0) if ctx.has_bias and needed[3] else None
        d_x = d_raw @ weight if needed[0] else None
        d_weight = product_tn(d_raw, x) if needed[1] else None
        return d_x, d_weight, d_gain, d_bias


def projected_layer_norm(x: Tensor, weight: Tensor, gain: Tensor, bias: Tensor | None) -> Tensor:
    """``LN(x @ weight.T) * gain + bias`` over (T, B, I), keeping no (T, B, G) for backward.

    Under autocast the product's precision is autocast's business: ordinary autograd
    (which keeps the product) runs there.
    """
    steps, batch, features = x.shape
    if torch.is_autocast_enabled(x.device.type):
        projected = F.linear(x, weight)
        return F.layer_norm(projected, (weight.shape[0],), gain, bias, LAYER_NORM_EPS)
    out = _ProjectedLayerNorm.apply(x.reshape(steps * batch, features), weight, gain, bias)
    return out.view(steps, batch, -1)


def recurrent_input(hs: Tensor, mask: Tensor | None) -> Tensor:
    """The states the recurrent matrix multiplied, all steps: ``(T * B, H)``."""
    previous = hs[:-1]  # (T, B, H)
    if mask is not None:
        previous = previous * mask
    return previous.reshape(-1, previous.shape[-1])


def recurrent_projection(inputs: Tensor, weight: Tensor, steps: int) -> Tensor:
    """All steps' recurrent products again, ``(T, B, G)``, from :func:`recurrent_input`.

    One product over all steps: a kernel that would keep them from forward, (T, B, G),
    recomputes them in backward instead.
    """
    return (inputs @ weight.t()).view(steps, -1, weight.shape[0])


def layer_norm_backward(
    grad: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, weight: Tensor
) -> Tensor:
    """Gradient of ``LN(x) * weight`` with respect to ``x`` (statistics from forward)."""
    return torch.ops.aten.native_layer_norm_backward(
        grad, x, [x.shape[-1]], mean, rstd, weight, None, [True, False, False]
    )[0]


def layer_norm_full_backward(
    grad: Tensor,
    x: Tensor,
    mean: Tensor,
    rstd: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    needed: tuple[bool, bool],
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Gradients of ``LN(x) * weight + bias`` over all rows: input, gain and shift.

    ``needed`` says whether the gain's and the shift's are wanted; the input's always is.
    """
    d_x, d_weight, d_bias = torch.ops.aten.native_layer_norm_backward(
        grad,
        x,
        [x.shape[-1]],
        mean,
        rstd,
        weight,
        bias,
        [True, needed[0], bias is not None and needed[1]],
    )
    return d_x, d_weight, d_bias


def layer_norm_step_backward(
    grad: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, weight: Tensor, gains: list[Tensor] | None
) -> Tensor:
    """:func:`layer_norm_backward` of one step, appending its gain gradient to ``gains``.

    Summing the per-step gain gradients afterwards spares a pass over all steps' inputs,
    which would otherwise have to be kept in one (T, B, ·) buffer.
    """
    d_x, d_gain, _ = torch.ops.aten.native_layer_norm_backward(
        grad, x, [x.shape[-1]], mean, rstd, weight, None, [True, gains is not None, False]
    )
    if gains is not None:
        gains.append(d_gain)
    return d_x


def layer_norm_gain_grad(grad: Tensor, x: Tensor, mean: Tensor, rstd: Tensor) -> Tensor:
    """Gradient of a layer norm's gain: sum over all rows of ``grad * x_hat``."""
    features = x.shape[-1]
    return torch.ops.aten.native_layer_norm_backward(
        grad, x, [features], mean, rstd, x.new_ones(features), None, [False, True, False]
    )[1]


def stacked_stats(means: list[Tensor], rstds: list[Tensor]) -> Tensor | None:
    """Per-step layer-norm statistics as one ``(2, T, B, 1)`` tensor: means, rstds."""
    if not means:
        return None
    return torch.stack(means + rstds).unflatten(0, (2, -1))
