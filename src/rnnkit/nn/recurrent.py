"""Recurrent layers: RNN, LSTM and GRU, drop-in replacements for torch.nn's.

A layer stacks ``num_layers`` layers of one or two directions and runs the time loop.
Parameter names, shapes, gate order and initialisation are torch.nn's
(``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
``weight_ih_l0_reverse``, ...), so a torch.nn state dict loads unchanged and gives the
same outputs, final states and gradients.

``forward(x, hx=None, lengths=None)`` takes x of shape (T, B, I), or (B, T, I) with
``batch_first=True``, or unbatched (T, I); ``hx`` of shape (L*D, B, H) (a pair of them
for the LSTM); and optionally ``lengths`` (B,), the true length of each sequence in any
order. It returns ``(output, h_n)`` or, for the LSTM, ``(output, (h_n, c_n))`` with
output (T, B, D*H). With ``lengths``, outputs at padded steps are zero, padded inputs
have no influence, final states are taken at each sequence's last real step, and the
reverse direction starts at each sequence's own end: the results of torch's packed
sequences. A ``PackedSequence`` input is accepted as with torch.nn.

Two implementations compute the same function (``impl``):

* ``"fused"``: torch's sequence kernels (oneDNN or ATen on CPU, cuDNN on GPU) called on
  the layer's own parameters, with packed sequences when ``lengths`` are given;
* ``"reference"``: a Python time loop over the step functions of
  :mod:`rnnkit.nn.cells`, per layer and direction. It is the definition the fused path is
  tested against, and the only path for configurations torch's kernels do not cover
  (GRU with ``reset_after=False``).

``"auto"`` (default) takes the fused path whenever the configuration allows.

Extension points: :meth:`_RecurrentBase._resolve_impl` chooses the path,
:meth:`_RecurrentBase._direction_weights` gives the weights one layer and direction use
in a forward pass, and :meth:`_RecurrentBase._run_direction` is the time loop of one
layer and direction.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.nn.cells import NONLINEARITIES, gru_step, lstm_step, rnn_step

__all__ = ["GRU", "LSTM", "RNN"]

IMPLS = ("auto", "fused", "reference")

State = tuple[Tensor, ...]  # (h,) or, for the LSTM, (h, c); each (L*D, B, H)


class _RecurrentBase(nn.Module):
    """Stacked, optionally bidirectional recurrent layers over one kind of cell.

    Subclasses set ``num_gates`` and ``num_states`` and implement ``_step`` (one time step
    of the cell on a tuple of states), ``_fused_kernel`` and ``_fused_unsupported``.
    """

    num_gates: ClassVar[int]
    num_states: ClassVar[int] = 1
    mode: str  # torch.nn's name for the kernel: 'LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU'

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        impl: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
        for arg, value in (
            ("dropout", dropout),
            ("recurrent_dropout", recurrent_dropout),
            ("zoneout", zoneout),
            ("weight_drop", weight_drop),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"{name}: {arg} must be a number in [0, 1), got {value!r}")
        if impl not in IMPLS:
            raise ValueError(f"{name}: unknown impl {impl!r}: expected one of {', '.join(IMPLS)}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout={dropout} acts between stacked layers only and has no "
                "effect with num_layers=1",
                stacklevel=3,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.layer_norm = layer_norm
        self.recurrent_dropout = float(recurrent_dropout)
        self.zoneout = float(zoneout)
        self.weight_drop = float(weight_drop)
        self.impl = impl
        self._check_extended_options()
        reason = self._fused_unsupported()
        if impl == "fused" and reason is not None:
            raise ValueError(f"{name}: impl='fused' is not available: {reason}")

        factory = {"device": device, "dtype": dtype}
        gate_size = self.num_gates * hidden_size
        # Registration order is torch.nn's: reset_parameters then draws the same numbers.
        self._flat_weight_names: list[str] = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = _suffix(layer, direction)
                shapes = {
                    f"weight_ih{suffix}": (gate_size, layer_input_size),
                    f"weight_hh{suffix}": (gate_size, hidden_size),
                }
                if bias:
                    shapes[f"bias_ih{suffix}"] = (gate_size,)
                    shapes[f"bias_hh{suffix}"] = (gate_size,)
                for param_name, shape in shapes.items():
                    self.register_parameter(param_name, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weight_names.append(param_name)
        self.reset_parameters()

    # ----------------------------------------------------------------- parameters

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch.nn initialises them."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters per layer and direction, in the order torch.nn lists them."""
        per_direction = 4 if self.bias else 2
        flat = [getattr(self, name) for name in self._flat_weight_names]
        return [flat[i : i + per_direction] for i in range(0, len(flat), per_direction)]

    def _direction_weights(
        self, layer: int, direction: int
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction."""
        suffix = _suffix(layer, direction)
        return (
            getattr(self, f"weight_ih{suffix}"),
            getattr(self, f"weight_hh{suffix}"),
            getattr(self, f"bias_ih{suffix}") if self.bias else None,
            getattr(self, f"bias_hh{suffix}") if self.bias else None,
        )

    def flatten_parameters(self) -> None:
        """Puts the weights in one contiguous cuDNN buffer (GPU only; a no-op elsewhere).

        Without it cuDNN copies all weights into such a buffer on every call. It runs
        after the module moves (``.cuda()``, ``.to()``); call it again after replacing a
        parameter object.
        """
        weights = [getattr(self, name) for name in self._flat_weight_names]
        first = weights[0]
        if not all(
            w.is_cuda and w.dtype == first.dtype and torch.backends.cudnn.is_acceptable(w)
            for w in weights
        ):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return  # aliased weights cannot share one buffer
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    4 if self.bias else 2,
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(self.mode),
                    self.hidden_size,
                    0,  # proj_size
                    self.num_layers,
                    self.batch_first,
                    self.bidirectional,
                )

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self.flatten_parameters()
        return result

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {
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
        extended = {
            "layer_norm": (self.layer_norm, False),
            "recurrent_dropout": (self.recurrent_dropout, 0.0),
            "zoneout": (self.zoneout, 0.0),
            "weight_drop": (self.weight_drop, 0.0),
        }
        for option, (value, default) in extended.items():
            if value != default:
                raise NotImplementedError(
                    f"{type(self).__name__}: {option}={value!r} is not implemented yet; "
                    f"use {option}={default!r}"
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

    def forward(
        self,
        x: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """Runs the layers over a batch of sequences; see the module docstring for shapes."""
        if isinstance(x, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths must be None when the input is a PackedSequence")
            return self._forward_packed(x, hx)
        name = type(self).__name__
        if x.dim() not in (2, 3):
            raise ValueError(
                f"{name}: expected input of 3 dimensions (batched) or 2 (unbatched), "
                f"got shape {tuple(x.shape)}"
            )
        batched = x.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            if lengths is not None:
                raise ValueError(
                    f"{name}: lengths need batched 3-D input, got shape {tuple(x.shape)}"
                )
            x = x.unsqueeze(batch_dim)
        self._check_input(x)
        batch_size, steps = x.size(batch_dim), x.size(1 - batch_dim)
        states = self._initial_states(hx, x, batch_size, batched)
        lengths_cpu = None if lengths is None else _check_lengths(lengths, batch_size, steps)
        if lengths_cpu is not None and bool((lengths_cpu == steps).all()):
            lengths_cpu = None  # nothing is padded: the unpacked kernels are faster

        if self._resolve_impl() == "fused":
            output, states = self._run_fused(x, states, lengths_cpu)
        elif self.batch_first:
            output, states = self._run_reference(x.transpose(0, 1), states, lengths_cpu)
            output = output.transpose(0, 1)
        else:
            output, states = self._run_reference(x, states, lengths_cpu)

        if not batched:
            output = output.squeeze(batch_dim)
            states = tuple(s.squeeze(1) for s in states)
        return output, self._user_state(states)

    def _check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        if x.size(-1) != self.input_size:
            raise ValueError(
                f"{name}: input has {x.size(-1)} features, expected input_size={self.input_size}"
            )
        weight = self.weight_ih_l0
        if x.dtype != weight.dtype:
            raise ValueError(f"{name}: input dtype is {x.dtype}, the weights' is {weight.dtype}")

    def _initial_states(
        self, hx: Tensor | tuple[Tensor, Tensor] | None, x: Tensor, batch_size: int, batched: bool
    ) -> State:
        """hx as a tuple of (L*D, B, H) tensors; zeros when None."""
        shape = (self.num_layers * self.num_directions, batch_size, self.hidden_size)
        if hx is None:
            zeros = x.new_zeros(shape)
            return (zeros,) * self.num_states
        given = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(given) != self.num_states:
            expected = "a pair (h_0, c_0)" if self.num_states == 2 else "one tensor h_0"
            raise ValueError(
                f"{type(self).__name__}: hx must be {expected}, got {len(given)} tensors"
            )
        expected_shape = shape if batched else (shape[0], shape[2])  # unbatched: (L*D, H)
        for state in given:
            if tuple(state.shape) != expected_shape:
                raise ValueError(
                    f"{type(self).__name__}: initial state has shape {tuple(state.shape)}, "
                    f"expected {expected_shape}"
                )
        if not batched:
            given = tuple(s.unsqueeze(1) for s in given)
        return given

    def _user_state(self, states: State) -> Tensor | tuple[Tensor, Tensor]:
        return states if self.num_states == 2 else states[0]

    # ----------------------------------------------------------------- fused path

    def _fused_kernel(self) -> Callable[..., tuple]:
        raise NotImplementedError

    def _call_kernel(self, data: Tensor, batch_sizes: Tensor | None, states: State) -> tuple:
        """torch's sequence kernel on the layer's own parameters (no copies on CPU)."""
        kernel = self._fused_kernel()
        weights = [getattr(self, name) for name in self._flat_weight_names]
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
        self, x_proj: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None
    ) -> State:
        """One time step of the cell: x_proj (B, G*H) and state -> next state."""
        raise NotImplementedError

    def _run_reference(
        self, x: Tensor, states: State, lengths: Tensor | None
    ) -> tuple[Tensor, State]:
        """The layers as loops over the cell: x (T, B, I) -> output (T, B, D*H), final states."""
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
                    layer_input, start, layer, direction, mask, reverse=direction == 1
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
    ) -> tuple[Tensor, State]:
        """Time loop of one layer and direction: x (T, B, I) -> outputs (T, B, H), last state."""
        weight_ih, weight_hh, bias_ih, bias_hh = self._direction_weights(layer, direction)
        x_proj = F.linear(x, weight_ih, bias_ih)  # (T, B, G*H): all steps in one product
        steps = x.size(0)
        outputs = []  # in the order the loop visits the steps
        for t in reversed(range(steps)) if reverse else range(steps):
            new_state = self._step(x_proj[t], state, weight_hh, bias_hh)
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

    # ----------------------------------------------------------------- packed input

    def _forward_packed(
        self, packed: PackedSequence, hx: Tensor | tuple[Tensor, Tensor] | None
    ) -> tuple[PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        self._check_input(packed.data)
        batch_size = int(packed.batch_sizes[0])
        states = self._initial_states(hx, packed.data, batch_size, batched=True)
        if packed.sorted_indices is not None:
            states = tuple(s.index_select(1, packed.sorted_indices) for s in states)
        if self._resolve_impl() == "fused":
            result = self._call_kernel(packed.data, packed.batch_sizes, states)
            data, final = result[0], tuple(result[1:])
        else:
            # Work in the packed (sorted) batch order so the output packs back identically.
            sorted_packed = PackedSequence(packed.data, packed.batch_sizes)
            padded, lengths = pad_packed_sequence(sorted_packed)  # (T, B, I), sorted
            output, final = self._run_reference(padded, states, lengths)
            data = pack_padded_sequence(output, lengths).data
        if packed.unsorted_indices is not None:
            final = tuple(s.index_select(1, packed.unsorted_indices) for s in final)
        output_packed = PackedSequence(
            data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )
        return output_packed, self._user_state(final)


class RNN(_RecurrentBase):
    """Elman RNN layers: h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh or relu.

    Drop-in for ``torch.nn.RNN``; see the module docstring for ``forward`` and ``impl``.
    """

    num_gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        nonlinearity: str = "tanh",
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        impl: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(
                f"RNN: unknown nonlinearity {nonlinearity!r}: expected 'tanh' or 'relu'"
            )
        # Set before the base constructor, which asks the subclass about its kernel.
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            weight_drop=weight_drop,
            impl=impl,
            device=device,
            dtype=dtype,
        )

    @property
    def mode(self) -> str:
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text

    def _fused_kernel(self) -> Callable[..., tuple]:
        return _VF.rnn_tanh if self.nonlinearity == "tanh" else _VF.rnn_relu

    def _step(
        self, x_proj: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None
    ) -> State:
        return (rnn_step(x_proj, state[0], weight_hh, bias_hh, self.nonlinearity),)


class LSTM(_RecurrentBase):
    """LSTM layers (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000).

    Gates (i, f, g, o) in torch.nn's order; equations in :func:`rnnkit.nn.cells.lstm_step`.
    Drop-in for ``torch.nn.LSTM`` (without ``proj_size``); ``hx`` and the returned state
    are pairs (h, c).
    """

    num_gates = 4
    num_states = 2
    mode = "LSTM"

    def _fused_kernel(self) -> Callable[..., tuple]:
        return _VF.lstm

    def _step(
        self, x_proj: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None
    ) -> State:
        return lstm_step(x_proj, state[0], state[1], weight_hh, bias_hh)


class GRU(_RecurrentBase):
    """GRU layers (Cho et al. 2014); equations in :func:`rnnkit.nn.cells.gru_step`.

    Gates (r, z, n) in torch.nn's order. ``reset_after=True`` (default) is torch's and
    cuDNN's formulation and runs on their kernels; ``reset_after=False`` (the paper's)
    has the same parameters and runs on the reference loop.
    """

    num_gates = 3
    mode = "GRU"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        reset_after: bool = True,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        impl: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        # Set before the base constructor, which asks the subclass about its kernel.
        self.reset_after = reset_after
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            layer_norm=layer_norm,
            recurrent_dropout=recurrent_dropout,
            zoneout=zoneout,
            weight_drop=weight_drop,
            impl=impl,
            device=device,
            dtype=dtype,
        )

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if not self.reset_after:
            text += ", reset_after=False"
        return text

    def _fused_unsupported(self) -> str | None:
        if not self.reset_after:
            return "torch's GRU kernels implement reset_after=True only; use impl='auto' or 'reference'"
        return None

    def _fused_kernel(self) -> Callable[..., tuple]:
        return _VF.gru

    def _step(
        self, x_proj: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None
    ) -> State:
        return (gru_step(x_proj, state[0], weight_hh, bias_hh, self.reset_after),)


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


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
