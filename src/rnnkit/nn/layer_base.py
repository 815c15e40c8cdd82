"""The machinery the recurrent layers of :mod:`rnnkit.nn.recurrent` share.

:class:`_RecurrentBase` is a ``torch.nn.RNNBase`` (torch.nn's constructor checks,
parameters, ``_flat_weights``, ``flatten_parameters``, ``check_forward_args``) with
rnnkit's ``forward``: it checks the arguments as torch.nn does, then chooses a path
(torch's kernels, :mod:`rnnkit.nn.fused`, or the reference loop over the cells) and runs
the layers and directions. The module docstring of :mod:`rnnkit.nn.recurrent` describes
what the layers compute; the three layers there say only what differs per cell.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.nn.cells import ScriptRefused, project_input
from rnnkit.nn.fused import CellWeights, StepMasks
from rnnkit.nn.regularization import drop_weight, recurrent_dropout_mask, zoneout_keep

IMPLS = ("auto", "fused", "reference")

# (h,) or, for the LSTM, (h, c); each (L*D, B, H), h (L*D, B, P) with proj_size=P
State = tuple[Tensor, ...]


def _eager_under_compile(method: Callable) -> Callable:
    """``method`` as ``torch.compiler.disable`` makes it: run eagerly under torch.compile.

    torch.compile leaves torch.nn's recurrent layers to eager (a graph break); rnnkit's
    run the same kernels, and dynamo tracing their Python code step by step compiled for
    half a minute and ran 18 times slower (``benchmarks/compile.py``). The disabled copy is made at the first call after ``torch._dynamo``
    has been imported (torch.compile imports it), so that importing rnnkit.nn does not
    (it takes seconds); until then nothing can be compiling and the method runs as is.
    """
    disabled = None

    @functools.wraps(method)
    def run(*args, **kwargs):
        nonlocal disabled
        if "torch._dynamo" not in sys.modules:
            return method(*args, **kwargs)
        if disabled is None:
            disabled = torch.compiler.disable(method)
        return disabled(*args, **kwargs)

    return run


class _RecurrentBase(ScriptRefused, nn.RNNBase):
    """Stacked, optionally bidirectional recurrent layers over one kind of cell.

    A ``torch.nn.RNNBase``: torch.nn's constructor checks, parameters, initialisation,
    ``_flat_weights``, ``all_weights``, ``flatten_parameters``, ``check_forward_args``
    and pickling. Subclasses set ``num_gates``, ``num_states`` and ``torch_name`` and
    implement ``_step`` (one time step of the cell on a tuple of states),
    ``_fused_kernel`` and ``_fused_sequence``.
    """

    num_gates: ClassVar[int]
    num_states: ClassVar[int] = 1
    torch_name: ClassVar[str]  # torch.nn's class, as its error messages name it
    # Masks drawn inside shared_masks(), by (kind, layer, direction); None outside it.
    _shared: dict[tuple[str, int, int], Tensor] | None = None

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
        impl: str = "auto",
    ) -> None:
        # torch.nn's checks (types, ranges, messages) and parameters, registered and
        # initialised in torch.nn's order: the same seed gives the same weights.
        nn.RNNBase.__init__(
            self,
            mode,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )
        name = type(self).__name__
        zoneout_rates = (zoneout,)
        if isinstance(zoneout, tuple | list):
            if self.num_states != 2 or len(zoneout) != 2:
                raise ValueError(
                    f"{name}: zoneout must be a number in [0, 1)"
                    + (" or a (cell, hidden) pair" if self.num_states == 2 else "")
                    + f", got {zoneout!r}"
                )
            zoneout_rates = tuple(zoneout)
        for arg, value in (
            ("recurrent_dropout", recurrent_dropout),
            *(("zoneout", rate) for rate in zoneout_rates),
            ("weight_drop", weight_drop),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"{name}: {arg} must be a number in [0, 1), got {value!r}")
        if impl not in IMPLS:
            raise ValueError(f"{name}: unknown impl {impl!r}: expected one of {', '.join(IMPLS)}")
        self.num_directions = 2 if bidirectional else 1
        self.layer_norm = layer_norm
        self.recurrent_dropout = float(recurrent_dropout)
        self.zoneout = (
            tuple(float(rate) for rate in zoneout_rates)
            if len(zoneout_rates) == 2
            else float(zoneout)
        )
        self.weight_drop = float(weight_drop)
        self.impl = impl
        self._check_extended_options()
        reason = self._fused_unsupported()
        if impl == "fused" and reason is not None:
            raise ValueError(f"{name}: impl='fused' is not available: {reason}")
        if layer_norm:
            # After torch.nn's parameters (and outside ``_flat_weights``): torch.nn's keep
            # their initial values and the kernels' weight lists stay torch.nn's.
            gate_size = self.num_gates * hidden_size
            factory = {"device": device, "dtype": dtype}
            for layer in range(num_layers):
                for direction in range(self.num_directions):
                    suffix = _suffix(layer, direction)
                    sizes = {f"ln_ih_weight{suffix}": gate_size, f"ln_hh_weight{suffix}": gate_size}
                    if self.num_states == 2:
                        sizes[f"ln_cell_weight{suffix}"] = hidden_size
                        sizes[f"ln_cell_bias{suffix}"] = hidden_size
                    for param_name, size in sizes.items():
                        value = 0.0 if "_bias" in param_name else 1.0
                        parameter = nn.Parameter(torch.full((size,), value, **factory))
                        self.register_parameter(param_name, parameter)

    # ----------------------------------------------------------------- parameters

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for torch.nn's parameters, as torch.nn initialises them.

        Layer-norm gains start at 1 and shifts at 0.
        """
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for name, parameter in self.named_parameters():
            if name.startswith("ln_"):
                with torch.no_grad():
                    parameter.fill_(0.0 if "_bias" in name else 1.0)
            else:
                nn.init.uniform_(parameter, -bound, bound)

    @contextmanager
    def shared_masks(self) -> Iterator[None]:
        """Within the block, every forward call reuses the weight-drop and recurrent-dropout
        masks the first call drew (per layer and direction).

        A decoder whose next input depends on its last output calls the layer once per
        step; outside this block each call would draw fresh masks, so every step would be
        regularised with other ones. Inside it the steps share them, as the steps of one
        whole-sequence call do: seeded alike, stepping a batch through the block gives
        the whole-sequence call's numbers. Zoneout draws per step either way. Every call
        in the block must have the batch size of the first.
        """
        self._shared = {}
        try:
            yield
        finally:
            self._shared = None

    def _reuse(self, key: tuple[str, int, int], draw: Callable[[], Tensor]) -> Tensor:
        """``draw()``, or inside :meth:`shared_masks` what it gave the first time."""
        if self._shared is None:
            return draw()
        if key not in self._shared:
            self._shared[key] = draw()
        return self._shared[key]

    def _state_sizes(self) -> tuple[int, ...]:
        """Units of each state: h has proj_size of them when the LSTM projects, c never."""
        h_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (h_size, self.hidden_size)[: self.num_states]

    def _direction_weights(self, layer: int, direction: int) -> CellWeights:
        """The weights one layer and direction use in this forward pass.

        With weight drop, ``weight_hh`` is a dropped copy drawn here, once per call.
        """
        suffix = _suffix(layer, direction)

        def optional(name: str) -> Tensor | None:
            return getattr(self, f"{name}{suffix}", None)

        recurrent_weight = getattr(self, f"weight_hh{suffix}")
        weight_hh = recurrent_weight
        if self.training and self.weight_drop > 0:
            weight_hh = self._reuse(
                ("weight_hh", layer, direction),
                lambda: drop_weight(recurrent_weight, self.weight_drop, self.training),
            )
        return CellWeights(
            weight_ih=getattr(self, f"weight_ih{suffix}"),
            weight_hh=weight_hh,
            bias_ih=optional("bias_ih") if self.bias else None,
            bias_hh=optional("bias_hh") if self.bias else None,
            ln_ih_weight=optional("ln_ih_weight"),
            ln_hh_weight=optional("ln_hh_weight"),
            ln_cell_weight=optional("ln_cell_weight"),
            ln_cell_bias=optional("ln_cell_bias"),
            weight_hr=optional("weight_hr") if self.proj_size > 0 else None,
        )

    def _zoneout_rates(self) -> tuple[float, float]:
        """(hidden, cell) zoneout rates; ``zoneout`` is a rate or a (cell, hidden) pair."""
        if isinstance(self.zoneout, tuple):
            cell, hidden = self.zoneout
            return hidden, cell
        return self.zoneout, self.zoneout

    def _step_masks(
        self, steps: int, batch: int, like: Tensor, layer: int = 0, direction: int = 0
    ) -> StepMasks:
        """Recurrent-dropout and zoneout masks of one layer and direction for one batch."""
        h_size = self._state_sizes()[0]
        recurrent = None
        if self.training and self.recurrent_dropout > 0:
            recurrent = self._reuse(
                ("recurrent", layer, direction),
                lambda: recurrent_dropout_mask(batch, h_size, self.recurrent_dropout, like),
            )
            if recurrent.shape[0] != batch:
                raise ValueError(
                    f"{type(self).__name__}: a call inside shared_masks() has batch size "
                    f"{batch}, the first one had {recurrent.shape[0]}"
                )
        hidden_rate, cell_rate = self._zoneout_rates()
        keep_h = keep_c = None
        if hidden_rate > 0:
            keep_h = zoneout_keep(steps, batch, h_size, hidden_rate, self.training, like)
        if cell_rate > 0 and self.num_states == 2:
            keep_c = zoneout_keep(steps, batch, self.hidden_size, cell_rate, self.training, like)
        # Zoneout draws 0/1 keep weights in training; evaluation uses the rate itself.
        return StepMasks(
            recurrent=recurrent, keep_h=keep_h, keep_c=keep_c, keep_binary=self.training
        )

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {
            "proj_size": 0,
            "num_layers": 1,
            "bias": True,
            "batch_first": False,
            "dropout": 0.0,
            "bidirectional": False,
            "layer_norm": False,
            "recurrent_dropout": 0.0,
            "zoneout": 0.0,
            "weight_drop": 0.0,
            "impl": "auto",
        }
        for key, default in defaults.items():
            value = getattr(self, key)
            if value != default:
                text += f", {key}={value!r}"
        return text

    # ----------------------------------------------------------------- dispatch

    def _check_extended_options(self) -> None:
        """Subclasses refuse extended options their cell does not define."""

    @property
    def _extended(self) -> bool:
        """Whether an extended option is set (torch's kernels cannot run the layer)."""
        return bool(
            self.layer_norm
            or self.recurrent_dropout
            or self.weight_drop
            or any(self._zoneout_rates())
        )

    def _fused_unsupported(self) -> str | None:
        """Why torch's kernels cannot run this configuration, or None when they can."""
        return None

    def _resolve_impl(self) -> str:
        """The path a forward pass takes: 'fused' or 'reference'."""
        if self.impl not in IMPLS:
            raise ValueError(
                f"{type(self).__name__}: unknown impl {self.impl!r}: expected one of {', '.join(IMPLS)}"
            )
        reason = self._fused_unsupported()
        if self.impl == "fused" and reason is not None:
            raise ValueError(f"{type(self).__name__}: impl='fused' is not available: {reason}")
        if self.impl == "reference" or reason is not None:
            return "reference"
        return "fused"

    # ----------------------------------------------------------------- forward

    @_eager_under_compile
    def forward(
        self,
        input: Tensor | PackedSequence,  # torch.nn's name for it
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """Runs the layers over a batch of sequences; see the module docstring for shapes."""
        self._update_flat_weights()  # parameters swapped in (functional_call, weight norm)
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths must be None when the input is a PackedSequence")
            return self._forward_packed(input, hx)
        x = input
        if x.dim() not in (2, 3):
            # torch.nn's messages (the RNN's alone says "tensor").
            tensor = " tensor" if self.torch_name == "RNN" else ""
            raise ValueError(
                f"{self.torch_name}: Expected input to be 2D or 3D, got {x.dim()}D{tensor} instead"
            )
        batched = x.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            if lengths is not None:
                raise ValueError(
                    f"{type(self).__name__}: lengths need batched 3-D input, "
                    f"got shape {tuple(x.shape)}"
                )
            x = x.unsqueeze(batch_dim)
        batch_size, steps = x.size(batch_dim), x.size(1 - batch_dim)
        states = self._initial_states(self._given_states(hx, batched), x, batch_size)
        self.check_forward_args(x, self._user_state(states), None)  # torch.nn's checks
        lengths_cpu = None if lengths is None else _check_lengths(lengths, batch_size, steps)
        if lengths_cpu is not None and bool((lengths_cpu == steps).all()):
            lengths_cpu = None  # nothing is padded: the unpacked kernels are faster

        path = self._resolve_impl()
        if path == "fused" and not self._extended and not self._own_padded_kernels(x, lengths_cpu):
            output, states = self._run_fused(x, states, lengths_cpu)
        elif self.batch_first:
            output, states = self._run_reference(
                x.transpose(0, 1), states, lengths_cpu, fused=path == "fused"
            )
            output = output.transpose(0, 1)
        else:
            output, states = self._run_reference(x, states, lengths_cpu, fused=path == "fused")

        if not batched:
            output = output.squeeze(batch_dim)
            states = tuple(s.squeeze(1) for s in states)
        return output, self._user_state(states)

    def _own_padded_kernels(self, x: Tensor, lengths: Tensor | None) -> bool:
        """Whether a padded batch runs :mod:`rnnkit.nn.fused` instead of torch's packed kernel.

        See :func:`_packed_on_cpu`; those kernels have no projection, so an LSTM with
        ``proj_size`` keeps torch's.
        """
        return self.proj_size == 0 and _packed_on_cpu(x, lengths)

    def _given_states(
        self, hx: Tensor | tuple[Tensor, Tensor] | None, batched: bool
    ) -> State | None:
        """hx as a tuple of batched states (unbatched ones get a batch dimension), or None.

        Checks the number of tensors and their dimensions (torch.nn's messages); the sizes
        are ``check_forward_args``'s.
        """
        if hx is None:
            return None
        given = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(given) != self.num_states:
            expected = "a pair (h_0, c_0)" if self.num_states == 2 else "one tensor h_0"
            raise ValueError(
                f"{type(self).__name__}: hx must be {expected}, got {len(given)} tensors"
            )
        dims = 3 if batched else 2
        if any(state.dim() != dims for state in given):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            if self.num_states == 2:
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {dims}-D but got "
                    f"({given[0].dim()}-D, {given[1].dim()}-D) tensors"
                )
            raise RuntimeError(
                f"For {kind} input, hx should also be {dims}-D but got {given[0].dim()}-D tensor"
            )
        return given if batched else tuple(s.unsqueeze(1) for s in given)

    def _initial_states(self, given: State | None, x: Tensor, batch_size: int) -> State:
        """The given states, or zeros of shape (L*D, B, state size) each."""
        if given is not None:
            return given
        layers = self.num_layers * self.num_directions
        sizes = self._state_sizes()
        zeros = x.new_zeros(layers, batch_size, sizes[0])
        # h and c share one zero tensor unless a projection makes h smaller.
        return tuple(
            zeros if size == sizes[0] else x.new_zeros(layers, batch_size, size) for size in sizes
        )

    def _user_state(self, states: State) -> Tensor | tuple[Tensor, Tensor]:
        return states if self.num_states == 2 else states[0]

    # ----------------------------------------------------------------- fused path

    def _fused_kernel(self) -> Callable[..., tuple]:
        raise NotImplementedError

    def _call_kernel(self, data: Tensor, batch_sizes: Tensor | None, states: State) -> tuple:
        """torch's sequence kernel on the layer's own parameters (no copies on CPU)."""
        kernel = self._fused_kernel()
        weights = self._flat_weights  # torch.nn's list, kept current by RNNBase
        # The LSTM kernel takes the pair (h, c); the others take h alone.
        hx = list(states) if self.num_states == 2 else states[0]
        if batch_sizes is None:
            return kernel(
                data,
                hx,
                weights,
                self.bias,
                self.num_layers,
                self.dropout,
                self.training,
                self.bidirectional,
                self.batch_first,
            )
        return kernel(
            data,
            batch_sizes,
            hx,
            weights,
            self.bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
        )

    def _run_fused(self, x: Tensor, states: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        if lengths is None:
            result = self._call_kernel(x, None, states)
            return result[0], tuple(result[1:])
        packed = pack_padded_sequence(x, lengths, self.batch_first, enforce_sorted=False)
        # The kernel sees the batch sorted by decreasing length; states follow that order.
        sorted_states = tuple(s.index_select(1, packed.sorted_indices) for s in states)
        result = self._call_kernel(packed.data, packed.batch_sizes, sorted_states)
        packed_output = PackedSequence(
            result[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )
        output, _ = pad_packed_sequence(
            packed_output, self.batch_first, total_length=x.size(1 if self.batch_first else 0)
        )
        final = tuple(s.index_select(1, packed.unsorted_indices) for s in result[1:])
        return output, final

    # ----------------------------------------------------------------- reference path

    def _step(
        self,
        x_proj: Tensor,
        state: State,
        weights: CellWeights,
        masks: StepMasks,
        t: int,
        gates_out: dict[str, Tensor] | None = None,
    ) -> State:
        """One time step of the cell: x_proj (B, G*H) and state -> next state.

        ``gates_out``, when given, receives the step's gate activations (diagnostics)."""
        raise NotImplementedError

    def _fused_sequence(
        self, x: Tensor, state: State, weights: CellWeights, masks: StepMasks
    ) -> tuple[Tensor, State]:
        """One layer and direction on the kernels of :mod:`rnnkit.nn.fused`."""
        raise NotImplementedError

    def _run_reference(
        self, x: Tensor, states: State, lengths: Tensor | None, fused: bool = False
    ) -> tuple[Tensor, State]:
        """The layers as loops over the cell: x (T, B, I) -> output (T, B, D*H), final states.

        With ``fused``, each layer and direction runs on :mod:`rnnkit.nn.fused` instead.
        """
        mask = None
        if lengths is not None:
            steps = torch.arange(x.size(0)).unsqueeze(1)  # (T, 1)
            mask = (steps < lengths.unsqueeze(0)).unsqueeze(-1).to(x.device)  # (T, B, 1)

        layer_input = x
        final: list[list[Tensor]] = [[] for _ in range(self.num_states)]
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                start = tuple(s[index] for s in states)  # each (B, H)
                output, last = self._run_direction(
                    layer_input, start, layer, direction, mask, reverse=direction == 1, fused=fused
                )
                outputs.append(output)
                for k, state in enumerate(last):
                    final[k].append(state)
            layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)

        return layer_input, tuple(torch.stack(s) for s in final)

    def _run_direction(
        self,
        x: Tensor,
        state: State,
        layer: int,
        direction: int,
        mask: Tensor | None,
        reverse: bool,
        fused: bool = False,
    ) -> tuple[Tensor, State]:
        """Time loop of one layer and direction: x (T, B, I) -> outputs (T, B, H), last state."""
        weights = self._direction_weights(layer, direction)
        steps = x.size(0)
        masks = self._step_masks(steps, x.size(1), x, layer, direction)
        if fused:
            return self._run_direction_fused(x, state, weights, masks, mask, reverse)
        # (T, B, G*H): all steps in one product
        x_proj = project_input(x, weights.weight_ih, weights.bias_ih, weights.ln_ih_weight)
        outputs = []  # in the order the loop visits the steps
        for t in reversed(range(steps)) if reverse else range(steps):
            new_state = self._step(x_proj[t], state, weights, masks, t)
            if mask is not None:
                valid = mask[t]  # (B, 1)
                # A padded step keeps the state: the forward direction freezes it after each
                # sequence's end, the reverse one holds h_0 until it reaches that end.
                new_state = tuple(
                    torch.where(valid, new, old) for new, old in zip(new_state, state, strict=True)
                )
                outputs.append(new_state[0].masked_fill(~valid, 0.0))
            else:
                outputs.append(new_state[0])
            state = new_state
        if reverse:
            outputs.reverse()
        return torch.stack(outputs), state

    def _run_direction_fused(
        self,
        x: Tensor,
        state: State,
        weights: CellWeights,
        masks: StepMasks,
        mask: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, State]:
        """:meth:`_run_direction` on the fused kernels, with the same masks."""
        keep_h, keep_c = masks.keep_h, masks.keep_c
        if mask is not None:
            # A keep weight of 1 on padded steps carries each sequence's state past its end
            # (forward) or holds h_0 until its end is reached (reverse), as the loop does.
            padded = (~mask).to(x.dtype)  # (T, B, 1)
            keep_h = padded if keep_h is None else torch.maximum(keep_h, padded)
            if self.num_states == 2:
                keep_c = padded if keep_c is None else torch.maximum(keep_c, padded)
        if reverse:
            x = x.flip(0)
            keep_h = None if keep_h is None else keep_h.flip(0)
            keep_c = None if keep_c is None else keep_c.flip(0)
        # Padding alone keeps 0/1 weights too.
        binary = masks.keep_binary or (masks.keep_h is None and masks.keep_c is None)
        masks = StepMasks(
            recurrent=masks.recurrent, keep_h=keep_h, keep_c=keep_c, keep_binary=binary
        )
        output, last = self._fused_sequence(x, state, weights, masks)
        if reverse:
            output = output.flip(0)
        if mask is not None:
            output = output.masked_fill(~mask, 0.0)
        return output, last

    # ----------------------------------------------------------------- packed input

    def _forward_packed(
        self, packed: PackedSequence, hx: Tensor | tuple[Tensor, Tensor] | None
    ) -> tuple[PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        batch_size = int(packed.batch_sizes[0])
        states = self._initial_states(self._given_states(hx, True), packed.data, batch_size)
        self.check_forward_args(packed.data, self._user_state(states), packed.batch_sizes)
        if packed.sorted_indices is not None:
            states = tuple(s.index_select(1, packed.sorted_indices) for s in states)
        path = self._resolve_impl()
        torch_packed = not self._own_padded_kernels(packed.data, packed.batch_sizes)
        if path == "fused" and not self._extended and torch_packed:
            result = self._call_kernel(packed.data, packed.batch_sizes, states)
            data, final = result[0], tuple(result[1:])
        else:
            # Work in the packed (sorted) batch order so the output packs back identically.
            sorted_packed = PackedSequence(packed.data, packed.batch_sizes)
            padded, lengths = pad_packed_sequence(sorted_packed)  # (T, B, I), sorted
            output, final = self._run_reference(padded, states, lengths, fused=path == "fused")
            data = pack_padded_sequence(output, lengths).data
        if packed.unsorted_indices is not None:
            final = tuple(s.index_select(1, packed.unsorted_indices) for s in final)
        output_packed = PackedSequence(
            data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )
        return output_packed, self._user_state(final)


def _at(steps: Tensor | None, t: int) -> Tensor | None:
    return None if steps is None else steps[t]


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def _packed_on_cpu(x: Tensor, lengths: Tensor | None) -> bool:
    """Whether torch's kernel would run packed sequences on the CPU.

    torch's packed-sequence kernels have no oneDNN path on the CPU: a padded batch runs
    them ten times slower or more than it runs the unpacked kernel
    (``benchmarks/layers.py --lengths``). The kernels of :mod:`rnnkit.nn.fused` carry
    each sequence's state over its padding instead, at the unpacked kernel's speed, with
    the same results. On GPUs cuDNN's packed kernels stay, and so do torch's when the
    layer is being traced for export (TorchScript, ONNX), which knows those kernels.
    """
    return lengths is not None and x.device.type == "cpu" and not torch.jit.is_tracing()


def _check_lengths(lengths: Tensor | Sequence[int], batch_size: int, steps: int) -> Tensor:
    """Validated lengths as a CPU int64 tensor (B,): 1 <= length <= T for every sequence."""
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.is_complex():
            raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
        lengths = lengths.detach().to("cpu", torch.int64)
    else:
        lengths = torch.as_tensor(list(lengths), dtype=torch.int64)
    if lengths.dim() != 1 or lengths.numel() != batch_size:
        raise ValueError(
            f"lengths must have one entry per sequence ({batch_size}), got shape {tuple(lengths.shape)}"
        )
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest < 1:
        index = int(lengths.argmin())
        raise ValueError(f"lengths must be >= 1, got {shortest} for sequence {index}")
    if longest > steps:
        index = int(lengths.argmax())
        raise ValueError(
            f"lengths must be <= the time dimension ({steps}), got {longest} for sequence {index}"
        )
    return lengths
