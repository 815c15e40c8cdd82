"""The fused sequence kernels against a plain step-by-step loop with autograd.

Every test runs twice: with the native (C++) time loops and with the Python ones.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit import nn as rnn_nn
from rnnkit.nn import cells, fused, fused_native, kernel_ops, native, regularization
from rnnkit.nn.fused import CellWeights, StepMasks
from rnnkit.nn.regularization import recurrent_dropout_mask, zoneout_keep

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


@pytest.fixture(autouse=True, params=["native", "python"])
def loops(request, monkeypatch):
    """Which time loops the kernels run: the C++ ones (where built) or the Python ones."""
    if request.param == "native" and not native.available():
        pytest.skip("no C++ compiler here: the native loops are not built")
    monkeypatch.setenv(native.SWITCH, "1" if request.param == "native" else "0")
    return request.param


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
    # As the layers do: 0/1 keep weights (training, padding alone) are saved as booleans.
    binary = training or not zoneout
    return StepMasks(recurrent=recurrent, keep_h=keep_h, keep_c=keep_c, keep_binary=binary)


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


GRADCHECK_INPUTS = {
    "lstm": lambda w, m, x, h, c: (x, h, c, w["hh"], w["ln4"], w["lnc"], w["lncb"], *m, False),
    "gru": lambda w, m, x, h, c: (x, h, w["hh"], w["bias"], w["ln3"], *m[:2], False, None, None),
    # The input side's layer norm inside the kernel (x is then the raw product W_ih x).
    "gru-ln-input": lambda w, m, x, h, c: (
        (x, h, w["hh"], w["bias"], w["ln3"], *m[:2], False, w["ln_ih"], w["bias_ih"])
    ),
    "rnn": lambda w, m, x, h, c: (x, h, w["hh"], w["ln1"], *m[:2], False, False),
}
FUNCTIONS = {
    "python": {
        "lstm": fused.LSTMSequence,
        "gru": fused.GRUSequence,
        "gru-ln-input": fused.GRUSequence,
        "rnn": fused.RNNSequence,
    },
    "native": {
        "lstm": fused_native.LSTMNative,
        "gru": fused_native.GRUNative,
        "gru-ln-input": fused_native.GRUNative,
        "rnn": fused_native.RNNNative,
    },
}


@pytest.mark.parametrize("name", ["lstm", "gru", "gru-ln-input", "rnn"])
def test_gradcheck_fused_functions_in_float64(name, loops):
    function, make_inputs = FUNCTIONS[loops][name].apply, GRADCHECK_INPUTS[name]
    torch.manual_seed(1)
    steps, batch, hidden = 4, 2, 3
    gates = GATES[name.split("-")[0]] * hidden
    f64 = {"dtype": torch.float64}

    def leaf(*shape, offset=0.0):
        return (torch.randn(*shape, **f64) * 0.5 + offset).requires_grad_()

    weights = {
        "hh": leaf(gates, hidden),
        "bias": leaf(gates),
        "ln4": leaf(gates, offset=1.0),
        "ln3": leaf(gates, offset=1.0),
        "ln1": leaf(gates, offset=1.0),
        "lnc": leaf(hidden, offset=1.0),
        "lncb": leaf(hidden),
        "ln_ih": leaf(gates, offset=1.0),
        "bias_ih": leaf(gates),
    }
    recurrent = recurrent_dropout_mask(batch, hidden, 0.3, weights["hh"])
    keep_h = torch.rand(steps, batch, hidden, **f64)  # fractional weights: the eval form
    keep_c = torch.rand(steps, batch, hidden, **f64)
    masks = (recurrent, keep_h, keep_c)
    x = leaf(steps, batch, gates)
    h0, c0 = leaf(batch, hidden), leaf(batch, hidden)
    inputs = make_inputs(weights, masks, x, h0, c0)
    assert torch.autograd.gradcheck(function, inputs, eps=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- layers

LAYERS = {"lstm": rnn_nn.LSTM, "gru": rnn_nn.GRU, "rnn": rnn_nn.RNN}
ALL_OPTIONS = {"layer_norm": True, "recurrent_dropout": 0.3, "zoneout": 0.2, "weight_drop": 0.4}


def _layer_pair(kind, **options):
    torch.manual_seed(3)
    fast = LAYERS[kind](3, 5, dtype=torch.float64, **options)
    slow = LAYERS[kind](3, 5, dtype=torch.float64, impl="reference", **options)
    with torch.no_grad():
        for p in fast.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # layer-norm gains away from exactly 1
    slow.load_state_dict(fast.state_dict())
    return fast, slow


def _run_layer(layer, x, hx, lengths, seed):
    torch.manual_seed(seed)
    output, state = layer(x, hx, lengths=lengths)
    states = state if isinstance(state, tuple) else (state,)
    return output, states


def _compare_layers(kind, *, training, batch_first=False, with_hx=True, lengths=(6, 2, 4), **opts):
    fast, slow = _layer_pair(kind, batch_first=batch_first, **opts)
    fast.train(training)
    slow.train(training)
    num_states = 2 if kind == "lstm" else 1
    directions = 2 if opts.get("bidirectional") else 1
    shape = (3, 6, 3) if batch_first else (6, 3, 3)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    hx = None
    if with_hx:
        state_shape = (opts.get("num_layers", 1) * directions, 3, 5)
        hx = tuple(
            torch.randn(state_shape, dtype=torch.float64, requires_grad=True)
            for _ in range(num_states)
        )
        hx = hx if num_states == 2 else hx[0]
    results = []
    for layer in (fast, slow):
        output, states = _run_layer(layer, x, hx, lengths, seed=11)
        loss = (
            output * torch.linspace(-1, 1, output.numel(), dtype=output.dtype).view_as(output)
        ).sum()
        loss = loss + sum((s * s).sum() for s in states)
        inputs = [x, *([] if hx is None else list(hx if isinstance(hx, tuple) else (hx,)))]
        grads = torch.autograd.grad(loss, [*inputs, *layer.parameters()])
        results.append((output, states, grads))
    (out_f, states_f, grads_f), (out_s, states_s, grads_s) = results
    torch.testing.assert_close(out_f, out_s, atol=1e-9, rtol=1e-9)
    for a, b in zip(states_f, states_s, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
    names = ["x", "h0", "c0"][: 1 + (0 if hx is None else num_states)]
    names += [n for n, _ in fast.named_parameters()]
    for name, a, b in zip(names, grads_f, grads_s, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9, msg=lambda m, n=name: f"{n}: {m}")
    return out_f


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_layer_fused_matches_reference_with_every_option_stacked_bidirectional(kind):
    _compare_layers(
        kind, training=True, num_layers=2, bidirectional=True, dropout=0.2, **ALL_OPTIONS
    )


@pytest.mark.parametrize(
    "option", [{k: v} for k, v in ALL_OPTIONS.items()], ids=lambda o: next(iter(o))
)
def test_layer_lstm_fused_matches_reference_per_option_batch_first(option):
    _compare_layers("lstm", training=True, batch_first=True, bidirectional=True, **option)


def test_layer_lstm_zoneout_pair_and_no_initial_state_no_lengths():
    _compare_layers("lstm", training=True, with_hx=False, lengths=None, zoneout=(0.5, 0.1))
    layer = rnn_nn.LSTM(3, 5, zoneout=(0.5, 0.1))
    assert layer._zoneout_rates() == (0.1, 0.5)  # (hidden, cell)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_frozen_layer_norm_gains_get_no_gradient_and_change_no_other(kind):
    layer_class = {"lstm": rnn_nn.LSTM, "gru": rnn_nn.GRU, "rnn": rnn_nn.RNN}[kind]
    torch.manual_seed(3)
    layer = layer_class(3, 5, layer_norm=True, recurrent_dropout=0.3).double()
    x = torch.randn(6, 4, 3, dtype=torch.float64)

    def gradients():
        torch.manual_seed(4)  # the same dropout masks on both runs
        layer.zero_grad(set_to_none=True)
        output, _ = layer(x)
        (output * output).sum().backward()
        return {name: p.grad for name, p in layer.named_parameters()}

    everything = gradients()
    for name, parameter in layer.named_parameters():
        if name.startswith("ln_hh"):
            parameter.requires_grad_(False)
    frozen = gradients()
    assert frozen["ln_hh_weight_l0"] is None
    assert everything["ln_hh_weight_l0"].abs().sum() > 0
    for name, grad in frozen.items():
        if grad is not None:
            torch.testing.assert_close(grad, everything[name], atol=1e-12, rtol=1e-12)


def _saved_storages(step) -> dict[int, tuple[torch.dtype, int]]:
    """dtype and bytes of each distinct storage autograd saves for backward in ``step``."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = (tensor.dtype, storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return storages


def test_training_zoneout_keeps_its_masks_for_backward_as_bits():
    steps, batch, hidden = 9, 4, 6
    layer = rnn_nn.LSTM(3, hidden, zoneout=(0.3, 0.2), layer_norm=True)
    x = torch.randn(steps, batch, 3)
    saved = _saved_storages(lambda: layer(x))
    # One (T, B, H) mask of bits per mask (cell and hidden; 6 bits: a byte a row),
    # nothing float of that size in their place, and no second copy of the new cell states.
    packed = [size for dtype, size in saved.values() if dtype == torch.uint8]
    assert packed == [steps * batch] * 2
    floats_th = [size for dtype, size in saved.values() if size == steps * batch * hidden * 4]
    assert floats_th == [steps * batch * hidden * 4]  # tanh(c) only
    layer.eval()  # evaluation weights are fractional (the rate): kept as floats
    x.requires_grad_()
    saved = _saved_storages(lambda: layer(x))
    assert not [dtype for dtype, _ in saved.values() if dtype in (torch.bool, torch.uint8)]


@pytest.mark.parametrize("width", [24, 13])  # whole bytes, and rows of two bytes
def test_kept_bits_unpack_to_the_mask(width):
    torch.manual_seed(0)
    keep = torch.rand(4, 3, width) < 0.3
    kept = kernel_ops.kept_for_backward(keep.double(), binary=True)
    assert kept.dtype == torch.uint8 and kept.shape == (4, 3, (width + 7) // 8)
    # Element 8 i + b of a row is bit b of byte i, in both packings (native and tensors).
    padded = torch.nn.functional.pad(keep[1, 2].long(), (0, -width % 8))
    expected = (padded.view(-1, 8) * 2 ** torch.arange(8)).sum(-1)
    assert kept[1, 2].tolist() == expected.tolist()
    assert torch.equal(kernel_ops.unpacked_keep(kept, width, torch.float32), keep.float())
    # Padding masks, (T, B, 1), stay boolean.
    column = kernel_ops.kept_for_backward(keep[..., :1].float(), binary=True)
    assert column.dtype == torch.bool
    assert kernel_ops.unpacked_keep(column, 1, torch.float32) is column


def _activation_bytes(layer: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for backward in one forward, the input and weights excluded."""
    alive = {t.untyped_storage().data_ptr() for t in (x, *layer.parameters())}
    saved = _saved_storages(lambda: layer(x))
    return sum(size for pointer, (_, size) in saved.items() if pointer not in alive)


# Not weight drop: what it keeps is the dropped (G, H) matrix, which does not grow with
# the sequence (T * B rows) the way activations do.
MEMORY_OPTIONS = {
    "ln": {"layer_norm": True},
    "ln+rec-drop": {"layer_norm": True, "recurrent_dropout": 0.25},
    "rec-drop": {"recurrent_dropout": 0.25},
    "zoneout": {"zoneout": 0.1},
}


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("options", list(MEMORY_OPTIONS.values()), ids=list(MEMORY_OPTIONS))
def test_training_keeps_at_most_a_fifth_more_for_backward_than_torch_nn(kind, options):
    # What benchmarks/cells.py reports as "mem", at a small size. Layer norm adds two
    # statistics per row and layer norm (4 / H of the states for the RNN) and recurrent
    # dropout one (B, H) mask (1 / T of them), so neither H nor T is tiny.
    steps, batch, input_size, hidden = 16, 4, 8, 64
    torch.manual_seed(0)
    baseline = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        input_size, hidden
    )
    ours = LAYERS[kind](input_size, hidden, **options)
    ours.load_state_dict(baseline.state_dict(), strict=False)
    x = torch.randn(steps, batch, input_size, requires_grad=True)
    ratio = _activation_bytes(ours, x) / _activation_bytes(baseline, x)
    assert ratio <= 1.2, f"{kind} {options}: {ratio:.2f} x torch.nn's saved activations"


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_layer_evaluation_is_deterministic_and_matches_reference(kind):
    first = _compare_layers(kind, training=False, num_layers=2, bidirectional=True, **ALL_OPTIONS)
    second = _compare_layers(kind, training=False, num_layers=2, bidirectional=True, **ALL_OPTIONS)
    torch.testing.assert_close(first, second, atol=0, rtol=0)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_dropouts_are_off_in_evaluation_and_torch_state_dict_loads(kind):
    torch_layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        3, 5, num_layers=2, bidirectional=True
    )
    ours = LAYERS[kind](
        3, 5, num_layers=2, bidirectional=True, recurrent_dropout=0.5, weight_drop=0.5
    )
    ours.load_state_dict(torch_layer.state_dict())
    ours.eval()
    x = torch.randn(6, 3, 3)
    torch.testing.assert_close(ours(x)[0], torch_layer(x)[0])
    ours.train()
    assert not torch.allclose(ours(x)[0], torch_layer(x)[0])
    with_ln = LAYERS[kind](3, 5, num_layers=2, bidirectional=True, layer_norm=True)
    missing = with_ln.load_state_dict(torch_layer.state_dict(), strict=False).missing_keys
    assert missing and all(name.startswith("ln_") for name in missing)
    assert "ln_ih_weight_l1_reverse" in missing


def test_weight_drop_draws_one_mask_per_forward_and_keeps_parameters(monkeypatch):
    from rnnkit.nn import layer_base

    drawn = []

    def recording_drop_weight(weight, p, training):
        dropped = regularization.drop_weight(weight, p, training)
        drawn.append(dropped.detach().clone())
        return dropped

    monkeypatch.setattr(layer_base, "drop_weight", recording_drop_weight)
    torch.manual_seed(0)
    ours = rnn_nn.LSTM(3, 5, weight_drop=0.5)
    weight = ours.weight_hh_l0
    before = weight.detach().clone()
    x = torch.randn(7, 2, 3)
    output, _ = ours(x)
    assert len(drawn) == 1  # one layer, one direction: one mask for all 7 steps
    # The same output as torch.nn.LSTM run with that one dropped matrix at every step.
    plain = torch.nn.LSTM(3, 5)
    plain.load_state_dict({**ours.state_dict(), "weight_hh_l0": drawn[0]})
    torch.testing.assert_close(output, plain(x)[0])
    zeros = (drawn[0] == 0).float().mean().item()
    assert 0.3 < zeros < 0.7
    nonzero = drawn[0] != 0
    torch.testing.assert_close(drawn[0][nonzero], 2 * before[nonzero])
    output.sum().backward()
    assert ours.weight_hh_l0 is weight and weight.is_leaf and weight.is_contiguous()
    torch.testing.assert_close(weight.detach(), before)
    assert weight.grad is not None and (weight.grad[~nonzero] == 0).all()
    ours(x)
    assert len(drawn) == 2 and not torch.equal(drawn[0], drawn[1])


def test_bad_extended_options_name_the_value():
    with pytest.raises(ValueError, match=r"zoneout must be a number in \[0, 1\), got \(0.1, 0.2\)"):
        rnn_nn.GRU(3, 4, zoneout=(0.1, 0.2))
    with pytest.raises(
        ValueError, match=r"recurrent_dropout must be a number in \[0, 1\), got 1.0"
    ):
        rnn_nn.LSTM(3, 4, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="layer_norm=True is defined for reset_after=True only"):
        rnn_nn.GRU(3, 4, layer_norm=True, reset_after=False)


@pytest.mark.skipif(not kernel_ops.USE_ONEDNN, reason="torch built without the oneDNN operators")
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_onednn_products_match_torch_mm_in_float32(kind, monkeypatch):
    # The per-step products of the Python loops are the ones on oneDNN.
    monkeypatch.setenv("RNNKIT_NATIVE", "0")
    torch.manual_seed(5)
    layer = LAYERS[kind](6, 8, num_layers=2, bidirectional=True, **ALL_OPTIONS)
    x = torch.randn(9, 4, 6, requires_grad=True)
    results = []
    for use_onednn in (True, False):
        monkeypatch.setattr(kernel_ops, "USE_ONEDNN", use_onednn)
        torch.manual_seed(0)
        output, _ = layer(x, lengths=[9, 3, 7, 5])
        grads = torch.autograd.grad(output.square().sum(), [x, *layer.parameters()])
        results.append((output, grads))
    (out_a, grads_a), (out_b, grads_b) = results
    torch.testing.assert_close(out_a, out_b, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads_a, grads_b, strict=True):
        # float32 rounding, summed in another order: relative to the gradient's scale.
        torch.testing.assert_close(a, b, atol=1e-4 * b.abs().max().item(), rtol=1e-4)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_fused_layers_run_under_bfloat16_autocast(kind):
    torch.manual_seed(2)
    layer = LAYERS[kind](6, 8, layer_norm=True, recurrent_dropout=0.2, zoneout=0.1)
    x = torch.randn(5, 3, 6)
    layer.eval()
    expected, _ = layer(x)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        output, _ = layer(x)
    assert output.dtype == torch.float32  # the recurrence runs in the weights' dtype
    torch.testing.assert_close(output, expected, atol=0.05, rtol=0.05)
    layer.train()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        output, _ = layer(x)
    output.sum().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in layer.parameters())
