"""rnnkit.nn's layers where torch.nn code and tooling expect torch.nn's layers.

Each test does what code written for torch.nn does (positional arguments, proj_size,
``_flat_weights``, weight-drop wrappers, weight norm, functional_call, pickling,
TorchScript, torch.export, torch.compile) and compares with torch.nn doing the same.
"""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

STEPS, BATCH, INPUT_SIZE, HIDDEN_SIZE, PROJ_SIZE = 5, 3, 3, 5, 2
LENGTHS = [4, 1, 5]


def _states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _loss(output: torch.Tensor, state) -> torch.Tensor:
    def weighted(t: torch.Tensor) -> torch.Tensor:
        return (t * torch.linspace(-1.0, 2.0, t.numel(), dtype=t.dtype).view_as(t)).sum()

    return weighted(output) + sum(weighted(s) for s in _states(state))


def _same(mine, theirs, **tolerance) -> None:
    for a, b in zip([mine[0], *_states(mine[1])], [theirs[0], *_states(theirs[1])], strict=True):
        torch.testing.assert_close(a, b, **tolerance)


def test_layers_and_cells_are_torch_nn_instances() -> None:
    assert isinstance(RNN(2, 3), torch.nn.RNN)
    assert isinstance(LSTM(2, 3), torch.nn.LSTM)
    assert isinstance(GRU(2, 3), torch.nn.GRU)
    assert all(isinstance(cls(2, 3), torch.nn.RNNBase) for cls in (RNN, LSTM, GRU))
    assert isinstance(LSTMCell(2, 3), torch.nn.LSTMCell)
    assert isinstance(GRUCell(2, 3), torch.nn.GRUCell)
    assert isinstance(RNNCell(2, 3), torch.nn.RNNCell)


def test_positional_arguments_are_torchs() -> None:
    # torch.nn.RNN's fourth argument is the nonlinearity, the LSTM's eighth proj_size.
    relu = RNN(2, 3, 1, "relu", False, True)
    assert (relu.nonlinearity, relu.mode, relu.bias, relu.batch_first) == (
        "relu",
        "RNN_RELU",
        False,
        True,
    )
    lstm = LSTM(2, 4, 2, False, True, 0.5, True, 3, "cpu", torch.float64)
    reference = torch.nn.LSTM(2, 4, 2, False, True, 0.5, True, 3, "cpu", torch.float64)
    assert [(k, v.shape, v.dtype) for k, v in lstm.state_dict().items()] == [
        (k, v.shape, v.dtype) for k, v in reference.state_dict().items()
    ]
    assert (lstm.dropout, lstm.bidirectional, lstm.proj_size) == (0.5, True, 3)
    gru = GRU(2, 3, 1, True, False, 0.0, True, "cpu", torch.float64)
    assert gru.weight_ih_l0_reverse.dtype == torch.float64


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_proj_size_matches_torch_with_lengths_both_directions(impl: str, batch_first: bool) -> None:
    """proj_size with padded lengths (torch: packed sequences), two layers, both directions."""
    torch.manual_seed(0)
    options = {"num_layers": 2, "bidirectional": True, "proj_size": PROJ_SIZE}
    options["batch_first"] = batch_first
    reference = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, **options).double()
    ours = LSTM(INPUT_SIZE, HIDDEN_SIZE, impl=impl, **options).double()
    ours.load_state_dict(reference.state_dict())
    assert ours.weight_hr_l1_reverse.shape == (PROJ_SIZE, HIDDEN_SIZE)
    shape = (BATCH, STEPS, INPUT_SIZE) if batch_first else (STEPS, BATCH, INPUT_SIZE)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, BATCH, PROJ_SIZE, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, BATCH, HIDDEN_SIZE, dtype=torch.float64, requires_grad=True)

    output, state = ours(x, (h0, c0), lengths=LENGTHS)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first, enforce_sorted=False)
    expected, expected_state = reference(packed, (h0, c0))
    expected, _ = pad_packed_sequence(expected, batch_first, total_length=STEPS)
    assert output.shape[-1] == 2 * PROJ_SIZE and state[0].shape == (4, BATCH, PROJ_SIZE)
    _same((output, state), (expected, expected_state))
    leaves = [x, h0, c0, *ours.parameters()]
    mine = torch.autograd.grad(_loss(output, state), leaves)
    leaves = [x, h0, c0, *reference.parameters()]
    theirs = torch.autograd.grad(_loss(expected, expected_state), leaves)
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a, b)


def test_proj_size_with_extended_options_runs_the_reference_loop() -> None:
    torch.manual_seed(0)
    reference = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, 2, proj_size=PROJ_SIZE)
    ours = LSTM(INPUT_SIZE, HIDDEN_SIZE, 2, proj_size=PROJ_SIZE, recurrent_dropout=0.5)
    ours.load_state_dict(reference.state_dict())
    assert ours._resolve_impl() == "reference"
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    ours.eval()  # recurrent dropout is off: torch.nn's function
    _same(ours(x, lengths=LENGTHS), ours.train(False)(x, lengths=LENGTHS))
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    expected, expected_state = reference(packed)
    expected, _ = pad_packed_sequence(expected, total_length=STEPS)
    _same(ours(x, lengths=LENGTHS), (expected, expected_state))
    ours.train()  # a recurrent-dropout mask of the projected size, once per sequence
    output, (_, c_n) = ours(x, lengths=LENGTHS)
    assert output.shape == (STEPS, BATCH, PROJ_SIZE) and c_n.shape == (2, BATCH, HIDDEN_SIZE)
    assert not torch.allclose(output, expected)
    with pytest.raises(ValueError, match=r"impl='fused' is not available: .*no projection"):
        LSTM(INPUT_SIZE, HIDDEN_SIZE, proj_size=PROJ_SIZE, layer_norm=True, impl="fused")


def test_flat_weights_all_weights_and_flatten_are_torchs() -> None:
    ours = LSTM(INPUT_SIZE, HIDDEN_SIZE, 2, bidirectional=True, proj_size=PROJ_SIZE)
    reference = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, 2, bidirectional=True, proj_size=PROJ_SIZE)
    assert ours._flat_weights_names == reference._flat_weights_names
    flat = zip(ours._flat_weights, ours._flat_weights_names, strict=True)
    assert all(weight is getattr(ours, name) for weight, name in flat)
    assert [[w.shape for w in ws] for ws in ours.all_weights] == [
        [w.shape for w in ws] for ws in reference.all_weights
    ]
    ours.flatten_parameters()  # a no-op on the CPU, as torch.nn's
    layer_norm = GRU(INPUT_SIZE, HIDDEN_SIZE, layer_norm=True)
    assert "ln_ih_weight_l0" not in layer_norm._flat_weights_names  # torch's kernels' list


def test_dropout_one_is_accepted_like_torch() -> None:
    torch.manual_seed(0)
    reference = torch.nn.GRU(INPUT_SIZE, HIDDEN_SIZE, 2, dropout=1.0)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    for impl in ("fused", "reference"):
        ours = GRU(INPUT_SIZE, HIDDEN_SIZE, 2, dropout=1.0, impl=impl)
        ours.load_state_dict(reference.state_dict())
        _same(ours(x), reference(x))  # the second layer sees zeros in both


class _WeightDrop(torch.nn.Module):
    """The AWD-LSTM pattern: the parameter is removed and set as a plain tensor per call."""

    def __init__(self, layer: torch.nn.Module, name: str, p: float) -> None:
        super().__init__()
        self.layer, self.name, self.p = layer, name, p
        raw = getattr(layer, name)
        del layer._parameters[name]
        layer.register_parameter(name + "_raw", torch.nn.Parameter(raw.detach().clone()))

    def forward(self, x: torch.Tensor):
        raw = getattr(self.layer, self.name + "_raw")
        setattr(self.layer, self.name, F.dropout(raw, self.p, self.training))
        return self.layer(x)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_weight_drop_wrapper_survives_device_and_dtype_moves(kind: str) -> None:
    torch.manual_seed(0)
    torch_cls, ours_cls = {"lstm": (torch.nn.LSTM, LSTM), "gru": (torch.nn.GRU, GRU)}[kind]
    reference = torch_cls(INPUT_SIZE, HIDDEN_SIZE)
    ours = ours_cls(INPUT_SIZE, HIDDEN_SIZE)
    ours.load_state_dict(reference.state_dict())
    wrapped_ours = _WeightDrop(ours, "weight_hh_l0", 0.5).double().to("cpu")
    wrapped_torch = _WeightDrop(reference, "weight_hh_l0", 0.5).double().to("cpu")
    x = torch.randn(STEPS, BATCH, INPUT_SIZE, dtype=torch.float64)
    for training in (True, False):
        wrapped_ours.train(training)
        wrapped_torch.train(training)
        torch.manual_seed(1)
        mine = wrapped_ours(x)
        torch.manual_seed(1)
        _same(mine, wrapped_torch(x))


def test_weight_norm_and_functional_call_use_the_current_weights() -> None:
    torch.manual_seed(0)
    reference = torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE)
    ours = LSTM(INPUT_SIZE, HIDDEN_SIZE)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    swapped = {name: p * 0.5 for name, p in reference.named_parameters()}
    _same(
        torch.func.functional_call(ours, swapped, (x,)),
        torch.func.functional_call(reference, swapped, (x,)),
    )
    for module in (ours, reference):
        torch.nn.utils.parametrizations.weight_norm(module, "weight_hh_l0")
        with torch.no_grad():
            module.parametrizations.weight_hh_l0.original0.mul_(2.0)  # the norms change
    _same(ours(x), reference(x))
    assert not torch.allclose(ours(x)[0], LSTM(INPUT_SIZE, HIDDEN_SIZE)(x)[0])


MODULES = [
    (lambda: RNN(INPUT_SIZE, HIDDEN_SIZE, 2, "relu"), RNN),
    (lambda: LSTM(INPUT_SIZE, HIDDEN_SIZE, proj_size=PROJ_SIZE, zoneout=(0.1, 0.2)), LSTM),
    (lambda: GRU(INPUT_SIZE, HIDDEN_SIZE, reset_after=False), GRU),
    (lambda: GRUCell(INPUT_SIZE, HIDDEN_SIZE), GRUCell),
]


@pytest.mark.parametrize(("make", "cls"), MODULES)
def test_full_module_pickles_load_with_weights_only_once_allow_listed(make, cls) -> None:
    module = make().eval()
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    with pytest.raises(Exception, match=f"{cls.__module__}.{cls.__name__}"):
        torch.load(buffer, weights_only=True)
    buffer.seek(0)
    with torch.serialization.safe_globals([cls]):  # what the README tells users to allow
        loaded = torch.load(buffer, weights_only=True)
    x = torch.randn(BATCH, INPUT_SIZE) if cls is GRUCell else torch.randn(STEPS, 1, INPUT_SIZE)
    for a, b in zip(_states(module(x)), _states(loaded(x)), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class _Model(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.encode = torch.nn.Linear(INPUT_SIZE, INPUT_SIZE)
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(torch.tanh(self.encode(x)))[0]


@pytest.mark.parametrize(("make", "cls"), MODULES)
def test_torch_jit_script_is_refused_with_the_alternatives(make, cls) -> None:
    with pytest.raises(RuntimeError, match=rf"cannot compile rnnkit.nn.{cls.__name__}.*jit.trace"):
        torch.jit.script(_Model(make()))


def test_torch_jit_trace_and_torch_export_run_torchs_kernels() -> None:
    torch.manual_seed(0)
    model = _Model(LSTM(INPUT_SIZE, HIDDEN_SIZE, proj_size=PROJ_SIZE)).eval()
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    traced = torch.jit.trace(model, (x,))
    longer = torch.randn(STEPS + 2, BATCH, INPUT_SIZE)
    torch.testing.assert_close(traced(longer), model(longer))
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))


def test_torch_compile_leaves_the_layer_to_eager() -> None:
    """As torch.nn's layers: a graph break at the layer, only the code around it compiles."""
    from torch._dynamo.testing import CompileCounter

    torch.manual_seed(0)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    for layer in (LSTM(INPUT_SIZE, HIDDEN_SIZE, layer_norm=True), GRU(INPUT_SIZE, HIDDEN_SIZE)):
        model = _Model(layer)
        counter = CompileCounter()
        compiled = torch.compile(model, backend=counter)
        torch.testing.assert_close(compiled(x), model(x))
        # The Linear and tanh before the layer; the layer's loop would add hundreds of ops.
        assert counter.op_count <= 3
