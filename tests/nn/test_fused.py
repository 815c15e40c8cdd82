"""The fused sequence kernels against a plain step-by-step loop with autograd."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.nn import cells, fused
from rnnkit.nn.fused import CellWeights, StepMasks
from rnnkit.nn.regularization import recurrent_dropout_mask, zoneout_keep

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


# --------------------------------------------------------------------------- reference


def reference_step(kind, x_t, state, w: CellWeights, masks: StepMasks, t, relu=False):
    """One step of the cells of rnnkit.nn.cells, the definition the kernels must match."""
    h, c = state
    x_proj = cells.project_input(x_t, w.weight_ih, w.bias_ih, w.ln_ih_weight)
    options = {
        "ln_hh_weight": w.ln_hh_weight,
        "recurrent_mask": masks.recurrent,
        "keep_h": None if masks.keep_h is None else masks.keep_h[t],
    }
    if kind == "lstm":
        keep_c = None if masks.keep_c is None else masks.keep_c[t]
        return cells.lstm_step(
            x_proj,
            h,
            c,
            w.weight_hh,
            w.bias_hh,
            ln_cell_weight=w.ln_cell_weight,
            ln_cell_bias=w.ln_cell_bias,
            keep_c=keep_c,
            **options,
        )
    if kind == "gru":
        return cells.gru_step(x_proj, h, w.weight_hh, w.bias_hh, **options), None
    nonlinearity = "relu" if relu else "tanh"
    return cells.rnn_step(x_proj, h, w.weight_hh, w.bias_hh, nonlinearity, **options), None


def reference_sequence(kind, x, h0, c0, w, masks: StepMasks, relu=False):
    state = (h0, c0)
    outputs = []
    for t in range(x.shape[0]):
        state = reference_step(kind, x[t], state, w, masks, t, relu)
        outputs.append(state[0])
    return torch.stack(outputs), state[0], state[1]


def fused_sequence(kind, x, h0, c0, w, masks, relu=False):
    if kind == "lstm":
        return fused.lstm_sequence(x, h0, c0, w, masks)
    if kind == "gru":
        y, h_n = fused.gru_sequence(x, h0, w, masks)
    else:
        y, h_n = fused.rnn_sequence(x, h0, w, masks, "relu" if relu else "tanh")
    return y, h_n, None


# --------------------------------------------------------------------------- fixtures


def make_weights(kind, input_size, hidden, *, layer_norm, bias=True, dtype=torch.float32):
    gates = GATES[kind] * hidden

    def param(*shape, scale=0.3):
        return (torch.randn(*shape, dtype=dtype) * scale).requires_grad_()

    ln = {}
    if layer_norm:
        ln = {
            "ln_ih_weight": (1 + param(gates, scale=0.1)).detach().requires_grad_(),
            "ln_hh_weight": (1 + param(gates, scale=0.1)).detach().requires_grad_(),
        }
        if kind == "lstm":
            ln["ln_cell_weight"] = (1 + param(hidden, scale=0.1)).detach().requires_grad_()
            ln["ln_cell_bias"] = param(hidden, scale=0.1)
    return CellWeights(
        weight_ih=param(gates, input_size),
        weight_hh=param(gates, hidden),
        bias_ih=param(gates) if bias else None,
        bias_hh=param(gates) if bias else None,
        **ln,
    )


def make_masks(steps, batch, hidden, *, recurrent_dropout, zoneout, lengths, training, like):
    recurrent = None
    if recurrent_dropout:
        recurrent = recurrent_dropout_mask(batch, hidden, recurrent_dropout, like)
    keep_h = keep_c = None
    if zoneout:
        keep_h = zoneout_keep(steps, batch, hidden, zoneout, training, like)
        keep_c = zoneout_keep(steps, batch, hidden, zoneout / 2, training, like)
    if lengths is not None:
        padded = (torch.arange(steps)[:, None] >= lengths[None, :]).to(like.dtype)[..., None]
        keep_h = padded if keep_h is None else torch.maximum(keep_h, padded)
        keep_c = padded if keep_c is None else torch.maximum(keep_c, padded)
    return StepMasks(recurrent=recurrent, keep_h=keep_h, keep_c=keep_c)


def _tensors(kind, w, x, h0, c0):
    named = {"x": x, "h0": h0}
    if kind == "lstm":
        named["c0"] = c0
    for field in CellWeights.__dataclass_fields__:
        value = getattr(w, field)
        if value is not None:
            named[field] = value
    return named


def check_against_reference(kind, options, *, relu=False, dtype=torch.float64, tol=1e-9):
    # float64, so that a tolerance this tight separates a wrong formula from rounding.
    steps, batch, input_size, hidden = 7, 4, 5, 6
    torch.manual_seed(0)
    w = make_weights(
        kind,
        input_size,
        hidden,
        layer_norm=options["layer_norm"],
        bias=options.get("bias", True),
        dtype=dtype,
    )
    x = torch.randn(steps, batch, input_size, dtype=dtype, requires_grad=True)
    h0 = torch.randn(batch, hidden, dtype=dtype, requires_grad=True)
    c0 = torch.randn(batch, hidden, dtype=dtype, requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1]) if options["lengths"] else None
    masks = make_masks(
        steps,
        batch,
        hidden,
        recurrent_dropout=options["recurrent_dropout"],
        zoneout=options["zoneout"],
        lengths=lengths,
        training=options.get("training", True),
        like=x,
    )
    ref = reference_sequence(kind, x, h0, c0, w, masks, relu)
    out = fused_sequence(kind, x, h0, c0, w, masks, relu)
    for got, want in zip(out, ref, strict=True):
        if want is not None:
            torch.testing.assert_close(got, want, atol=tol, rtol=tol)
    # Random weights on every output so that no gradient path is left untested.
    ref_outputs = [t for t in ref if t is not None]
    out_outputs = [t for t in out if t is not None]
    probes = [torch.randn_like(t) for t in ref_outputs]
    named = _tensors(kind, w, x, h0, c0)
    inputs = list(named.values())
    ref_loss = sum((p * t).sum() for p, t in zip(probes, ref_outputs, strict=True))
    out_loss = sum((p * t).sum() for p, t in zip(probes, out_outputs, strict=True))
    ref_grads = torch.autograd.grad(ref_loss, inputs)
    out_grads = torch.autograd.grad(out_loss, inputs)
    for name, got, want in zip(named, out_grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, atol=tol, rtol=tol, msg=lambda m, n=name: f"{n}: {m}")


OPTION_GRID = [
    dict(zip(("layer_norm", "recurrent_dropout", "zoneout", "lengths"), values, strict=True))
    for values in itertools.product([False, True], [0.0, 0.3], [0.0, 0.2], [False, True])
]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(
    "options", OPTION_GRID, ids=lambda o: "-".join(k for k, v in o.items() if v) or "plain"
)
def test_fused_matches_reference_outputs_states_and_gradients(kind, options):
    check_against_reference(kind, options)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_fused_matches_reference_in_evaluation_zoneout_and_without_bias(kind):
    options = {
        "layer_norm": False,
        "recurrent_dropout": 0.0,
        "zoneout": 0.3,
        "lengths": True,
        "training": False,
        "bias": False,
    }
    check_against_reference(kind, options)


def test_fused_relu_rnn_matches_reference():
    options = {"layer_norm": True, "recurrent_dropout": 0.2, "zoneout": 0.1, "lengths": True}
    check_against_reference("rnn", options, relu=True)
