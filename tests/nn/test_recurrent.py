"""Recurrent layers against torch.nn (its packed sequences for lengths) and against cells."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.nn import GRU, LSTM, RNN, GRUCell

INPUT_SIZE, HIDDEN_SIZE, BATCH, STEPS = 3, 4, 3, 5
# Unsorted, one sequence of length 1, none as long as the time dimension: the padded
# output keeps its total length of STEPS.
LENGTHS = [4, 1, 3]

# name -> (rnnkit layer, torch.nn layer, constructor keywords)
KINDS = {
    "rnn_tanh": (RNN, torch.nn.RNN, {}),
    "rnn_relu": (RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, torch.nn.LSTM, {}),
    "gru": (GRU, torch.nn.GRU, {}),
}


def _pair(kind: str, impl: str = "auto", dtype: torch.dtype = torch.float32, **options):
    """An rnnkit layer and a torch.nn layer with the same weights."""
    ours_cls, torch_cls, kwargs = KINDS[kind]
    reference = torch_cls(INPUT_SIZE, HIDDEN_SIZE, dtype=dtype, **kwargs, **options)
    ours = ours_cls(INPUT_SIZE, HIDDEN_SIZE, dtype=dtype, impl=impl, **kwargs, **options)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


def _states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _inputs(kind: str, num_layers: int, directions: int, batch_first: bool, dtype, with_hx: bool):
    shape = (BATCH, STEPS, INPUT_SIZE) if batch_first else (STEPS, BATCH, INPUT_SIZE)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    if not with_hx:
        return x, None
    state_shape = (num_layers * directions, BATCH, HIDDEN_SIZE)
    count = 2 if kind == "lstm" else 1
    hx = tuple(torch.randn(state_shape, dtype=dtype, requires_grad=True) for _ in range(count))
    return x, hx if kind == "lstm" else hx[0]


def _torch_forward(module, x, hx, lengths, batch_first: bool):
    if lengths is None:
        return module(x, hx)
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first, enforce_sorted=False)
    output, state = module(packed, hx)
    output, _ = pad_packed_sequence(output, batch_first, total_length=STEPS)
    return output, state


def _loss(output: torch.Tensor, state) -> torch.Tensor:
    # Fixed, uneven weights so every element of the output and the states reaches the loss.
    def weighted(t: torch.Tensor) -> torch.Tensor:
        return (t * torch.linspace(-1.0, 2.0, t.numel(), dtype=t.dtype).view_as(t)).sum()

    return weighted(output) + sum(weighted(s) for s in _states(state))


def _forward_and_grads(module, result, x, hx):
    """(output, states, gradients of the loss for x, hx and every parameter)."""
    output, state = result
    leaves = [x, *(_states(hx) if hx is not None else ()), *module.parameters()]
    grads = torch.autograd.grad(_loss(output, state), leaves)
    return output, _states(state), grads


def _assert_same(mine, theirs, case: str, **tolerance) -> None:
    names = ["output"] + [f"state {k}" for k in range(len(mine[1]))] + ["gradient"] * len(mine[2])
    for name, a, b in zip(
        names, [mine[0], *mine[1], *mine[2]], [theirs[0], *theirs[1], *theirs[2]], strict=True
    ):
        torch.testing.assert_close(
            a, b, **tolerance, msg=lambda m, name=name: f"{case}, {name}: {m}"
        )


# batch_first, lengths, initial state, float64: the half of the 16 combinations with an
# even (or odd) number of True. Each half holds every combination of any three options;
# test cases alternate halves, so each cell type and impl sees all 16.
OPTION_GRID = list(itertools.product([False, True], repeat=4))


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch(kind: str, num_layers: int, bidirectional: bool, impl: str) -> None:
    """Outputs, final states, input, state and parameter gradients equal torch.nn's."""
    directions = 2 if bidirectional else 1
    half = (num_layers + directions) % 2
    for batch_first, use_lengths, with_hx, double in OPTION_GRID:
        if sum((batch_first, use_lengths, with_hx, double)) % 2 != half:
            continue
        dtype = torch.float64 if double else torch.float32
        case = f"batch_first={batch_first} lengths={use_lengths} hx={with_hx} {dtype}"
        torch.manual_seed(0)
        ours, reference = _pair(
            kind,
            impl,
            dtype,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=batch_first,
        )
        x, hx = _inputs(kind, num_layers, directions, batch_first, dtype, with_hx)
        lengths = LENGTHS if use_lengths else None
        mine = _forward_and_grads(ours, ours(x, hx, lengths=lengths), x, hx)
        theirs = _forward_and_grads(
            reference, _torch_forward(reference, x, hx, lengths, batch_first), x, hx
        )
        tolerance = {"atol": 2e-6, "rtol": 1e-5} if dtype == torch.float32 else {}
        _assert_same(mine, theirs, case, **tolerance)


@pytest.mark.parametrize("kind", KINDS)
def test_reference_equals_fused(kind: str) -> None:
    torch.manual_seed(0)
    fused, _ = _pair(kind, "fused", torch.float64, num_layers=2, bidirectional=True)
    reference = KINDS[kind][0](
        INPUT_SIZE,
        HIDDEN_SIZE,
        num_layers=2,
        bidirectional=True,
        impl="reference",
        **KINDS[kind][2],
    ).double()
    reference.load_state_dict(fused.state_dict())
    x, hx = _inputs(kind, 2, 2, False, torch.float64, with_hx=True)
    for lengths in (None, LENGTHS):
        a = _forward_and_grads(fused, fused(x, hx, lengths), x, hx)
        b = _forward_and_grads(reference, reference(x, hx, lengths), x, hx)
        _assert_same(a, b, f"lengths={lengths}")


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_padding_is_zero_and_has_no_influence(kind: str, impl: str) -> None:
    torch.manual_seed(0)
    layer, _ = _pair(kind, impl, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(BATCH, STEPS, INPUT_SIZE, requires_grad=True)
    lengths = torch.tensor(LENGTHS)
    padded = torch.arange(STEPS).unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T)

    output, state = layer(x, lengths=lengths)
    assert output.shape == (BATCH, STEPS, 2 * HIDDEN_SIZE)
    assert torch.all(output[padded] == 0)
    assert torch.all(output[~padded] != 0)

    changed = x.detach().clone()
    changed[padded] = 100.0
    output_changed, state_changed = layer(changed, lengths=lengths)
    torch.testing.assert_close(output_changed, output, rtol=0, atol=0)
    for a, b in zip(_states(state_changed), _states(state), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    (gradient,) = torch.autograd.grad(_loss(output, state), [x])
    assert torch.all(gradient[padded] == 0)
    assert torch.all(gradient[~padded].abs().sum(-1) > 0)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_each_sequence_runs_as_if_alone(kind: str, impl: str) -> None:
    """The reverse direction starts at each sequence's own end, not at the padded end."""
    torch.manual_seed(0)
    layer, _ = _pair(kind, impl, num_layers=2, bidirectional=True)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    output, state = layer(x, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS):
        alone_output, alone_state = layer(x[:length, b : b + 1])  # no padding at all
        torch.testing.assert_close(output[:length, b : b + 1], alone_output)
        for batched, single in zip(_states(state), _states(alone_state), strict=True):
            torch.testing.assert_close(batched[:, b : b + 1], single)


def test_lengths_accept_lists_and_full_lengths_equal_no_lengths() -> None:
    torch.manual_seed(0)
    layer, _ = _pair("lstm", "fused", bidirectional=True)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    from_list = layer(x, lengths=LENGTHS)
    from_int32 = layer(x, lengths=torch.tensor(LENGTHS, dtype=torch.int32))
    torch.testing.assert_close(from_list[0], from_int32[0])
    full = layer(x, lengths=[STEPS] * BATCH)
    none = layer(x)
    torch.testing.assert_close(full[0], none[0])
    torch.testing.assert_close(full[1], none[1])


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_weights_as_torch_and_state_dicts_swap(kind: str) -> None:
    ours_cls, torch_cls, kwargs = KINDS[kind]
    torch.manual_seed(3)
    ours = ours_cls(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, bidirectional=True, **kwargs)
    torch.manual_seed(3)
    reference = torch_cls(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, bidirectional=True, **kwargs)
    ours_state, torch_state = ours.state_dict(), reference.state_dict()
    assert list(ours_state) == list(torch_state)
    assert "bias_hh_l1_reverse" in ours_state
    for name in torch_state:
        assert torch.equal(ours_state[name], torch_state[name]), name
    reference.load_state_dict(ours_state)  # strict, both ways
    ours.load_state_dict(torch_state)
    no_bias = ours_cls(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, bias=False, **kwargs)
    assert list(no_bias.state_dict()) == list(
        torch_cls(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, bias=False, **kwargs).state_dict()
    )


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_input_matches_torch(kind: str) -> None:
    torch.manual_seed(0)
    ours, reference = _pair(kind, num_layers=2, bidirectional=True)
    x = torch.randn(STEPS, INPUT_SIZE)
    for impl in ("fused", "reference"):
        ours.impl = impl
        output, state = ours(x)
        expected_output, expected_state = reference(x)
        assert output.shape == (STEPS, 2 * HIDDEN_SIZE)
        torch.testing.assert_close(output, expected_output)
        for a, b in zip(_states(state), _states(expected_state), strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_input_matches_torch(impl: str, enforce_sorted: bool) -> None:
    torch.manual_seed(0)
    ours, reference = _pair("gru", impl, num_layers=2, bidirectional=True)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    hx = torch.randn(4, BATCH, HIDDEN_SIZE)
    packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=enforce_sorted)
    output, state = ours(packed, hx)
    expected_output, expected_state = reference(packed, hx)
    torch.testing.assert_close(output.data, expected_output.data)
    assert torch.equal(output.batch_sizes, expected_output.batch_sizes)
    torch.testing.assert_close(state, expected_state)


def test_padded_cpu_batches_skip_torchs_packed_kernel(monkeypatch) -> None:
    # torch's packed-sequence kernels are many times slower on the CPU than rnnkit's own
    # padded kernels (benchmarks/layers.py --lengths); full batches keep torch's kernel.
    torch.manual_seed(0)
    ours, reference = _pair("lstm", "fused", num_layers=2, bidirectional=True)
    calls = []
    original = type(ours)._call_kernel

    def spy(self, data, batch_sizes, states):
        calls.append(batch_sizes is not None)
        return original(self, data, batch_sizes, states)

    monkeypatch.setattr(type(ours), "_call_kernel", spy)
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    output, _ = ours(x, lengths=LENGTHS)
    ours(pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False))
    assert calls == []
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    expected, _ = pad_packed_sequence(reference(packed)[0], total_length=STEPS)
    torch.testing.assert_close(output, expected)
    ours(x)
    assert calls == [False]


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_state_carried_across_batches_equals_one_pass(impl: str) -> None:
    torch.manual_seed(0)
    layer, _ = _pair("lstm", impl, num_layers=2, batch_first=True)
    x = torch.randn(BATCH, 2 * STEPS, INPUT_SIZE)
    whole, whole_state = layer(x)
    first, state = layer(x[:, :STEPS])
    second, final_state = layer(x[:, STEPS:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    torch.testing.assert_close(final_state, whole_state)


def test_dropout_between_layers_in_training_only() -> None:
    torch.manual_seed(0)
    fused, reference = _pair("lstm", "fused", num_layers=3, dropout=0.5)
    reference_loop = LSTM(INPUT_SIZE, HIDDEN_SIZE, num_layers=3, dropout=0.5, impl="reference")
    reference_loop.load_state_dict(fused.state_dict())
    x = torch.randn(STEPS, BATCH, INPUT_SIZE)
    for module in (fused, reference, reference_loop):
        module.eval()
    eval_output = fused(x)[0]
    torch.testing.assert_close(eval_output, reference(x)[0])
    torch.testing.assert_close(eval_output, reference_loop(x)[0])

    for module in (fused, reference, reference_loop):
        module.train()
    # The fused path is torch's kernel: same seed, same dropout masks as torch.nn.
    torch.manual_seed(7)
    train_output = fused(x)[0]
    torch.manual_seed(7)
    torch.testing.assert_close(train_output, reference(x)[0])
    assert not torch.allclose(train_output, eval_output)
    torch.manual_seed(7)
    loop_output = reference_loop(x)[0]
    torch.manual_seed(7)
    torch.testing.assert_close(reference_loop(x)[0], loop_output)  # reproducible
    assert not torch.allclose(loop_output, eval_output)


class TestGRUResetBefore:
    """GRU with reset_after=False (Cho et al. 2014): no torch kernel, the reference loop."""

    def test_same_parameters_as_torch_and_auto_runs_the_loop(self) -> None:
        layer = GRU(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, bidirectional=True, reset_after=False)
        layer.load_state_dict(
            torch.nn.GRU(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, bidirectional=True).state_dict()
        )
        assert layer._resolve_impl() == "reference"
        output, h_n = layer(torch.randn(STEPS, BATCH, INPUT_SIZE), lengths=LENGTHS)
        assert output.shape == (STEPS, BATCH, 2 * HIDDEN_SIZE)
        assert h_n.shape == (4, BATCH, HIDDEN_SIZE)

    def test_layer_equals_a_loop_over_the_cell(self) -> None:
        torch.manual_seed(0)
        layer = GRU(INPUT_SIZE, HIDDEN_SIZE, bidirectional=True, reset_after=False).double()
        cells = []
        for suffix in ("_l0", "_l0_reverse"):
            cell = GRUCell(INPUT_SIZE, HIDDEN_SIZE, reset_after=False).double()
            cell.load_state_dict(
                {
                    name: getattr(layer, name + suffix)
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                }
            )
            cells.append(cell)
        x = torch.randn(STEPS, BATCH, INPUT_SIZE, dtype=torch.float64)
        output, h_n = layer(x)
        h_forward = torch.zeros(BATCH, HIDDEN_SIZE, dtype=torch.float64)
        h_backward = torch.zeros_like(h_forward)
        for t in range(STEPS):
            h_forward = cells[0](x[t], h_forward)
            torch.testing.assert_close(output[t, :, :HIDDEN_SIZE], h_forward)
        for t in reversed(range(STEPS)):
            h_backward = cells[1](x[t], h_backward)
            torch.testing.assert_close(output[t, :, HIDDEN_SIZE:], h_backward)
        torch.testing.assert_close(h_n, torch.stack([h_forward, h_backward]))

    def test_fused_is_refused(self) -> None:
        with pytest.raises(
            ValueError, match=r"impl='fused' is not available.*reset_after=True only"
        ):
            GRU(INPUT_SIZE, HIDDEN_SIZE, reset_after=False, impl="fused")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda layer: layer(torch.randn(STEPS, BATCH, 7)),
            RuntimeError,
            r"input.size\(-1\) must be equal to input_size. Expected 3, got 7",
        ),
        (
            lambda layer: layer(torch.randn(STEPS, BATCH, 3), lengths=[5, 6, 2]),
            ValueError,
            "lengths must be <= the time dimension \\(5\\), got 6 for sequence 1",
        ),
        (
            lambda layer: layer(torch.randn(STEPS, BATCH, 3), lengths=[5, 0, 2]),
            ValueError,
            "lengths must be >= 1, got 0 for sequence 1",
        ),
        (
            lambda layer: layer(torch.randn(STEPS, BATCH, 3), lengths=[5, 2]),
            ValueError,
            "lengths must have one entry per sequence \\(3\\), got shape \\(2,\\)",
        ),
        (
            lambda layer: layer(
                torch.randn(STEPS, BATCH, 3), lengths=torch.tensor([5.0, 1.0, 2.0])
            ),
            ValueError,
            "lengths must be integers, got dtype torch.float32",
        ),
        (
            lambda layer: layer(torch.randn(STEPS, BATCH, 3), torch.randn(1, BATCH, 4)),
            ValueError,
            "hx must be a pair \\(h_0, c_0\\), got 1 tensors",
        ),
        (
            lambda layer: layer(torch.randn(STEPS, BATCH, 3), (torch.randn(2, BATCH, 4),) * 2),
            RuntimeError,
            r"Expected hidden\[0\] size \(1, 3, 4\), got \[2, 3, 4\]",
        ),
        (
            lambda layer: layer(torch.randn(STEPS, 3), (torch.randn(1, 1, 4),) * 2),
            RuntimeError,
            r"For unbatched 2-D input, hx and cx should also be 2-D but got \(3-D, 3-D\) tensors",
        ),
        (
            lambda layer: layer(torch.randn(STEPS, 3), lengths=[STEPS]),
            ValueError,
            "lengths need batched 3-D input, got shape \\(5, 3\\)",
        ),
        (
            lambda layer: layer(torch.randn(BATCH, 3, dtype=torch.float64)),
            ValueError,
            r"RNN input dtype \(torch.float64\) does not match weight dtype \(torch.float32\)",
        ),
        (
            lambda layer: layer(torch.randn(STEPS, 3)[None, None]),
            ValueError,
            "LSTM: Expected input to be 2D or 3D, got 4D instead",
        ),
    ],
)
def test_bad_forward_arguments(call, error: type[Exception], message: str) -> None:
    """torch.nn's exception types and messages where torch.nn checks the same thing."""
    with pytest.raises(error, match=message):
        call(LSTM(INPUT_SIZE, HIDDEN_SIZE))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: LSTM(3, 4, impl="cuda"),
            "unknown impl 'cuda': expected one of auto, fused, reference",
        ),
        (
            lambda: RNN(3, 4, nonlinearity="gelu"),
            "Unknown nonlinearity 'gelu'. Select from 'tanh' or 'relu'.",
        ),
        (lambda: GRU(3, 0), "hidden_size must be greater than zero"),
        (lambda: GRU(3, 4, num_layers=0), "num_layers must be greater than zero"),
        (
            lambda: LSTM(3, 4, num_layers=2, dropout=1.5),
            r"dropout should be a number in range \[0, 1\]",
        ),
        (
            lambda: GRU(3, 4, proj_size=2),
            "proj_size argument is only supported for LSTM, not RNN or GRU",
        ),
        (lambda: LSTM(3, 4, proj_size=4), "proj_size has to be smaller than hidden_size"),
        (lambda: LSTM(3, 4, zoneout=-0.1), "zoneout must be a number in \\[0, 1\\), got -0.1"),
    ],
)
def test_bad_constructor_arguments(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_unknown_impl_set_after_construction_is_refused() -> None:
    layer = GRU(INPUT_SIZE, HIDDEN_SIZE)
    layer.impl = "fast"
    with pytest.raises(ValueError, match="unknown impl 'fast'"):
        layer(torch.randn(STEPS, BATCH, INPUT_SIZE))


def test_dropout_with_one_layer_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="but got dropout=0.3 and num_layers=1"):
        GRU(INPUT_SIZE, HIDDEN_SIZE, dropout=0.3)


def test_repr_names_non_default_options() -> None:
    text = repr(RNN(3, 4, num_layers=2, batch_first=True, nonlinearity="relu"))
    assert text == "RNN(3, 4, num_layers=2, batch_first=True, nonlinearity='relu')"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_matches_torch_without_weight_copies(
    kind: str, recwarn: pytest.WarningsRecorder
) -> None:
    torch.manual_seed(0)
    ours, reference = _pair(kind, num_layers=2, bidirectional=True)
    ours, reference = ours.cuda(), reference.cuda()
    x = torch.randn(STEPS, BATCH, INPUT_SIZE, device="cuda")
    for lengths in (None, LENGTHS):
        output, state = ours(x, lengths=lengths)
        expected_output, expected_state = _torch_forward(reference, x, None, lengths, False)
        torch.testing.assert_close(output, expected_output)
        for a, b in zip(_states(state), _states(expected_state), strict=True):
            torch.testing.assert_close(a, b)
        ours.impl = "reference"
        torch.testing.assert_close(
            ours(x, lengths=lengths)[0], expected_output, atol=1e-4, rtol=1e-4
        )
        ours.impl = "auto"
    assert not [w for w in recwarn if "contiguous chunk of memory" in str(w.message)]
