"""Diagnostics: gradients through time, gate saturation, and gradient norms in training.

``rnnkit diagnose RUN_DIR`` loads a trained run, runs a few batches of one split through
the model with every recurrent layer unrolled step by step on its own weights, and
measures:

* ||dL/dh_t||, the norm of the gradient of the task's loss L with respect to the hidden
  state h_t of every layer and direction, for t = 1..T (averaged over the sequences of
  the batches, padded steps excluded). It shows how much of the loss's signal reaches
  each step through time. The verdict reads the ratio ||dL/dh_{T-d}|| / ||dL/dh_T||
  (mirrored for a reverse direction) over the distance d the task needs to remember
  (``Config.memory_span``: a forecaster's horizon or season; the whole sequence, d =
  T - 1, for the other tasks): ``vanishing`` below :data:`VANISHING_BELOW`,
  ``exploding`` above :data:`EXPLODING_ABOVE`, ``healthy`` between. A forecaster that
  reads 60 days to forecast 14 needs its gradient to reach 14 steps back, not 60: the
  ratio over the whole window is reported beside it but does not decide. The ratio
  measures the gradient that travels through time when the loss sits at the end of the
  sequence (many-to-one tasks, forecasting); where every step has its own loss (language
  models) each h_t also gets a local gradient, and the ratio stays near 1 whatever the
  memory.
* gate statistics for LSTM and GRU layers: the fraction of saturated activations per
  gate (a sigmoid gate below 0.05 or above 0.95; a tanh candidate with |a| > 0.9, the
  same band mapped to [-1, 1]) and their histograms;
* hidden-state saturation, the fraction of |h_t| > 0.99;
* the spectral norm (largest singular value) of each recurrent weight matrix, per gate.

Results go to ``diagnostics.json``, ``gradient_norms.png`` (log scale) and
``gate_histograms.png`` in the run directory.

During training, :class:`rnnkit.tasks.module.RecurrentModule` logs the total gradient
norm before clipping and the fraction of steps where clipping fired, per epoch; the run
report plots them.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ConfigError, RunDirError
from rnnkit.nn.cells import gru_step, lstm_step, project_input, rnn_step
from rnnkit.nn.fused import CellWeights, StepMasks

log = logging.getLogger(__name__)

DIAGNOSTICS_FILE = "diagnostics.json"
GRADIENT_PLOT = "gradient_norms.png"
GATES_PLOT = "gate_histograms.png"

#: first/last gradient-norm ratio below which gradients are called vanishing.
VANISHING_BELOW = 1e-3
#: first/last gradient-norm ratio above which gradients are called exploding.
EXPLODING_ABOVE = 1e3
#: a sigmoid gate is saturated outside [0.05, 0.95]; a tanh activation outside [-0.9, 0.9].
GATE_SATURATION = (0.05, 0.95)
#: a hidden-state entry is saturated when |h| > 0.99.
HIDDEN_SATURATION = 0.99

GATE_NAMES = {
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "new"),
    "rnn": (),
}
# Short names for tables: the usual symbols of the equations.
GATE_SYMBOLS = {
    "input": "i",
    "forget": "f",
    "cell": "g",
    "output": "o",
    "reset": "r",
    "update": "z",
    "new": "n",
}
# The gates with tanh values; every other gate is a sigmoid.
TANH_GATES = {"cell", "new"}
HISTOGRAM_BINS = 40


# ----------------------------------------------------------------------------- tracing


@dataclass
class DirectionTrace:
    """Running sums for one layer and direction of one recurrent module."""

    module: str  # the module's path in the model, e.g. "recurrent"
    cell: str  # lstm | gru | rnn
    layer: int
    reverse: bool
    grad_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (T,)
    grad_count: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (T,)
    gate_saturated: dict[str, float] = field(default_factory=dict)
    gate_total: dict[str, float] = field(default_factory=dict)
    gate_histogram: dict[str, np.ndarray] = field(default_factory=dict)
    hidden_saturated: float = 0.0
    hidden_total: float = 0.0
    # The current batch: h_t tensors in time order, with retained gradients, and masks.
    hidden: list[Tensor] = field(default_factory=list)
    masks: list[Tensor | None] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.module}.l{self.layer}" + (".reverse" if self.reverse else "")

    def add_gates(self, gates: dict[str, Tensor], valid: Tensor | None) -> None:
        for gate, values in gates.items():
            values = values if valid is None else values[valid.squeeze(-1)]
            low, high = GATE_SATURATION
            # tanh values map from [-1, 1] to [0, 1], so one saturation band serves all.
            scaled = (values + 1) / 2 if gate in TANH_GATES else values
            saturated = ((scaled < low) | (scaled > high)).sum().item()
            self.gate_saturated[gate] = self.gate_saturated.get(gate, 0.0) + saturated
            self.gate_total[gate] = self.gate_total.get(gate, 0.0) + values.numel()
            counts = torch.histc(scaled.float(), bins=HISTOGRAM_BINS, min=0.0, max=1.0).numpy()
            previous = self.gate_histogram.get(gate)
            self.gate_histogram[gate] = counts if previous is None else previous + counts

    def add_hidden(self, h: Tensor, valid: Tensor | None) -> None:
        values = h if valid is None else h[valid.squeeze(-1)]
        self.hidden_saturated += (values.abs() > HIDDEN_SATURATION).sum().item()
        self.hidden_total += values.numel()
        counts = torch.histc(values.float(), bins=HISTOGRAM_BINS, min=-1.0, max=1.0).numpy()
        previous = self.gate_histogram.get("hidden")
        self.gate_histogram["hidden"] = counts if previous is None else previous + counts

    def collect_gradients(self) -> None:
        """Add ||dL/dh_t|| per sequence of the batch just back-propagated; forget it."""
        steps = len(self.hidden)
        if len(self.grad_sum) < steps:
            self.grad_sum = np.pad(self.grad_sum, (0, steps - len(self.grad_sum)))
            self.grad_count = np.pad(self.grad_count, (0, steps - len(self.grad_count)))
        for t, (h, valid) in enumerate(zip(self.hidden, self.masks, strict=True)):
            grad = h.grad if h.grad is not None else torch.zeros_like(h)
            norms = grad.detach().double().norm(dim=-1)  # (B,)
            if valid is not None:
                norms = norms[valid.squeeze(-1)]
            self.grad_sum[t] += norms.sum().item()
            self.grad_count[t] += norms.numel()
        self.hidden.clear()
        self.masks.clear()


def _cell_kind(layer: nn.Module) -> str:
    mode = getattr(layer, "mode", "")
    if mode == "LSTM":
        return "lstm"
    if mode == "GRU":
        return "gru"
    if mode in ("RNN_TANH", "RNN_RELU"):
        return "rnn"
    raise ConfigError(f"diagnose: {type(layer).__name__} is not an RNN, LSTM or GRU layer")


class TracedRecurrent(nn.Module):
    """Stands in for a recurrent layer: the same function, unrolled step by step.

    It runs each layer and direction of ``layer`` (an ``rnnkit.nn`` or ``torch.nn`` RNN,
    LSTM or GRU) through the step functions of :mod:`rnnkit.nn.cells` on the layer's own
    parameters, keeps every h_t in the graph with its gradient retained, and records gate
    and hidden-state statistics. Only the first call per batch is traced (a recursive
    forecaster calls its layer again for each forecast step). The extended options of
    ``rnnkit.nn`` layers take part as the layer itself applies them: layer norm always,
    and in evaluation mode zoneout as its expectation, recurrent dropout and weight drop
    not at all.
    """

    def __init__(self, layer: nn.Module, module_name: str) -> None:
        super().__init__()
        self.layer = layer
        self.cell = _cell_kind(layer)
        self.traces = [
            DirectionTrace(module_name, self.cell, index, direction == 1)
            for index in range(layer.num_layers)
            for direction in range(2 if layer.bidirectional else 1)
        ]
        self.traced_this_batch = False

    def forward(self, x: Tensor, hx: Any = None, lengths: Any = None) -> tuple[Tensor, Any]:
        layer = self.layer
        if not isinstance(x, Tensor) or x.dim() != 3:
            raise ConfigError("diagnose traces batched padded inputs (B, T, F) or (T, B, F) only")
        record = not self.traced_this_batch
        self.traced_this_batch = True
        if layer.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        steps, batch = x.shape[0], x.shape[1]
        num_states = 2 if self.cell == "lstm" else 1
        directions = 2 if layer.bidirectional else 1
        if hx is None:
            zeros = x.new_zeros(layer.num_layers * directions, batch, layer.hidden_size)
            states: tuple[Tensor, ...] = (zeros,) * num_states
        else:
            states = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        mask = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths).to(torch.long).cpu()
            mask = (torch.arange(steps)[:, None] < lengths[None, :]).unsqueeze(-1).to(x.device)
        nonlinearity = getattr(layer, "nonlinearity", "tanh")
        reset_after = getattr(layer, "reset_after", True)
        extended = _is_rnnkit_layer(layer)

        layer_input = x
        finals: list[list[Tensor]] = [[] for _ in range(num_states)]
        for index in range(layer.num_layers):
            outputs = []
            for direction in range(directions):
                if extended:
                    # The weights and masks the layer's own forward would use (weight drop,
                    # dropout masks and zoneout weights depend on its training mode).
                    weights = layer._direction_weights(index, direction)
                    masks = layer._step_masks(steps, batch, layer_input)
                else:
                    weights = _torch_weights(layer, index, direction)
                    masks = StepMasks()
                trace = self.traces[index * directions + direction]
                state = tuple(s[index * directions + direction] for s in states)  # (B, H) each
                x_proj = project_input(
                    layer_input, weights.weight_ih, weights.bias_ih, weights.ln_ih_weight
                )  # (T, B, G*H)
                order = reversed(range(steps)) if direction == 1 else range(steps)
                per_step: dict[int, Tensor] = {}  # outputs (zero at padded steps)
                kept: dict[int, Tensor] = {}  # the h_t whose gradients are read
                for t in order:
                    valid = None if mask is None else mask[t]  # (B, 1)
                    # The cells report the gates they computed: no second copy of
                    # the equations here.
                    gates: dict[str, Tensor] | None = {} if record else None
                    if extended:  # the layer's own step, with its options
                        new_state = layer._step(x_proj[t], state, weights, masks, t, gates)
                    else:
                        new_state = _torch_step(
                            self.cell, x_proj[t], state, weights, nonlinearity, reset_after, gates
                        )
                    if gates:
                        trace.add_gates(gates, valid)
                    if valid is not None:
                        new_state = tuple(
                            torch.where(valid, new, old)
                            for new, old in zip(new_state, state, strict=True)
                        )
                    state = new_state
                    h = state[0]
                    if record and h.requires_grad:
                        h.retain_grad()
                        kept[t] = h
                        with torch.no_grad():
                            trace.add_hidden(h, valid)
                    per_step[t] = h if valid is None else h.masked_fill(~valid, 0.0)
                if record and kept:
                    trace.hidden.extend(kept[t] for t in range(steps))
                    trace.masks.extend(None if mask is None else mask[t] for t in range(steps))
                outputs.append(torch.stack([per_step[t] for t in range(steps)]))  # (T, B, H)
                for k, s in enumerate(state):
                    finals[k].append(s)
            layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if layer.dropout > 0 and layer.training and index < layer.num_layers - 1:
                layer_input = F.dropout(layer_input, layer.dropout, training=True)

        output = layer_input.transpose(0, 1) if layer.batch_first else layer_input
        final = tuple(torch.stack(s) for s in finals)
        return output, (final if num_states == 2 else final[0])


def _is_rnnkit_layer(module: nn.Module) -> bool:
    from rnnkit.nn.recurrent import _RecurrentBase

    return isinstance(module, _RecurrentBase)


def _torch_weights(layer: nn.Module, index: int, direction: int) -> CellWeights:
    """One layer and direction of a ``torch.nn`` RNN, LSTM or GRU as :class:`CellWeights`."""
    suffix = f"_l{index}" + ("_reverse" if direction == 1 else "")
    return CellWeights(
        weight_ih=getattr(layer, f"weight_ih{suffix}"),
        weight_hh=getattr(layer, f"weight_hh{suffix}"),
        bias_ih=getattr(layer, f"bias_ih{suffix}", None),
        bias_hh=getattr(layer, f"bias_hh{suffix}", None),
    )


def _torch_step(
    cell: str,
    x_proj: Tensor,
    state: tuple[Tensor, ...],
    weights: CellWeights,
    nonlinearity: str,
    reset_after: bool,
    gates_out: dict[str, Tensor] | None = None,
) -> tuple[Tensor, ...]:
    """One step of :mod:`rnnkit.nn.cells` for a ``torch.nn`` layer (no extended options)."""
    weight_hh, bias_hh = weights.weight_hh, weights.bias_hh
    if cell == "lstm":
        return lstm_step(x_proj, state[0], state[1], weight_hh, bias_hh, gates_out=gates_out)
    if cell == "gru":
        return (gru_step(x_proj, state[0], weight_hh, bias_hh, reset_after, gates_out=gates_out),)
    return (rnn_step(x_proj, state[0], weight_hh, bias_hh, nonlinearity),)


def _is_recurrent(module: nn.Module) -> bool:
    from rnnkit.nn.recurrent import _RecurrentBase

    return isinstance(module, _RecurrentBase | nn.RNNBase)


def _nothing_to_trace(model: nn.Module) -> str:
    """Why a model has no layer to trace, naming a parallel-scan cell if it holds one."""
    from rnnkit.nn.scan_layers import MINIMAL_CELLS

    for cell, kind in MINIMAL_CELLS.items():
        if any(isinstance(module, kind) for module in model.modules()):
            return (
                f"diagnose found no RNN, LSTM or GRU layer in the model: model.cell={cell} is "
                "a parallel-scan layer, which diagnose does not trace step by step"
            )
    return "diagnose found no RNN, LSTM or GRU layer in the model"


@contextmanager
def traced(model: nn.Module) -> Iterator[list[TracedRecurrent]]:
    """Swap every recurrent layer of ``model`` for a :class:`TracedRecurrent`; restore after."""
    swapped: list[tuple[nn.Module, str, nn.Module, TracedRecurrent]] = []
    for path, module in list(model.named_modules()):
        if not _is_recurrent(module) or not path:
            continue
        parent_path, _, attribute = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        tracer = TracedRecurrent(module, path)
        swapped.append((parent, attribute, module, tracer))
    if not swapped:
        raise ConfigError(_nothing_to_trace(model))
    for parent, attribute, _, tracer in swapped:
        setattr(parent, attribute, tracer)
    try:
        yield [tracer for *_, tracer in swapped]
    finally:
        for parent, attribute, original, _ in swapped:
            setattr(parent, attribute, original)


# ----------------------------------------------------------------------------- diagnose


def verdict(ratio: float) -> str:
    """``vanishing``, ``exploding`` or ``healthy`` for a first/last gradient-norm ratio."""
    if not math.isfinite(ratio) or ratio > EXPLODING_ABOVE:
        return "exploding"
    if ratio < VANISHING_BELOW:
        return "vanishing"
    return "healthy"


def diagnose(
    run_dir: str | Path, split: str = "val", batches: int = 4, *, plots: bool = True
) -> dict[str, Any]:
    """Diagnose a trained run on ``batches`` batches of ``split`` (train, val or test;
    ``valid`` is read as val).

    Writes ``diagnostics.json`` (and the PNG plots unless ``plots=False``) into the run
    directory and returns the same dictionary.
    """
    from rnnkit import rundir
    from rnnkit.tasks import get_spec, load_run_config

    run_dir = Path(run_dir)
    splits = {"train": "train", "valid": "val", "val": "val", "validation": "val", "test": "test"}
    if split not in splits:
        raise ConfigError(f"--split {split!r} is not one of train, val, test")
    if batches < 1:
        raise ConfigError(f"--batches {batches} must be at least 1")
    config = load_run_config(run_dir)
    rundir.check_writable(run_dir, "diagnose writes diagnostics.json there")
    spec = get_spec(config.task)
    _, model = rundir.load_model(run_dir, config, spec.build_model)
    task = spec.load_training()
    prepared = task.prepare(config, run_dir)
    span = config.memory_span(prepared.info)
    loader = getattr(prepared, splits[split])
    if loader is None:
        raise RunDirError(f"{run_dir}: the dataset has no {split} split to diagnose on")
    module = task.build_module(config, model, prepared)
    model.eval()  # no dropout: the measurement is of the trained function itself
    seen = 0
    with traced(model) as tracers, warnings.catch_warnings():
        # step_loss logs through Lightning, which warns that no Trainer is attached.
        warnings.simplefilter("ignore")
        for index, batch in enumerate(loader):
            if index == batches:
                break
            for tracer in tracers:
                tracer.traced_this_batch = False
            model.zero_grad(set_to_none=True)
            loss = module.step_loss(batch, index)
            loss.backward()
            for tracer in tracers:
                for trace in tracer.traces:
                    trace.collect_gradients()
            seen += 1
    model.zero_grad(set_to_none=True)
    result = {
        "run": config.name,
        **summarize([t for tracer in tracers for t in tracer.traces], split, seen, model, span),
    }
    rundir.write_json(run_dir / DIAGNOSTICS_FILE, result)
    if plots:
        plot_gradient_norms(result, run_dir / GRADIENT_PLOT)
        plot_gate_histograms(result, run_dir / GATES_PLOT)
    return result


def _ratio(first: float, last: float) -> float:
    return float(first / last) if last > 0 else float("inf") if first > 0 else 1.0


def summarize(
    traces: list[DirectionTrace],
    split: str,
    batches: int,
    model: nn.Module,
    span: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """The JSON-serialisable diagnostics of accumulated traces.

    ``span`` is ``(d, why)``: the verdict reads the gradient ratio over d steps back from
    the last step (``Config.memory_span``); None reads it over the whole sequence.
    """
    steps = max((len(t.grad_sum) for t in traces), default=0)
    distance = steps - 1 if span is None else max(1, min(span[0], steps - 1))
    layers = []
    for trace in traces:
        norms = trace.grad_sum / np.maximum(trace.grad_count, 1)  # (T,)
        first, last = (norms[-1], norms[0]) if trace.reverse else (norms[0], norms[-1])
        ratio = _ratio(first, last)
        # The step `distance` steps before the one processed last.
        back = norms[distance] if trace.reverse else norms[len(norms) - 1 - distance]
        span_ratio = _ratio(back, last)
        original = model.get_submodule(trace.module)
        suffix = f"_l{trace.layer}" + ("_reverse" if trace.reverse else "")
        weight_hh = getattr(original, f"weight_hh{suffix}").detach()
        names = GATE_NAMES[trace.cell] or ("hidden",)
        blocks = weight_hh.chunk(len(names), dim=0)
        spectral = {
            name: float(torch.linalg.matrix_norm(block.double(), ord=2))
            for name, block in zip(names, blocks, strict=True)
        }
        gates = {
            gate: {
                "saturated": trace.gate_saturated[gate] / max(trace.gate_total[gate], 1.0),
                "histogram": trace.gate_histogram[gate].astype(int).tolist(),
                "range": [-1.0, 1.0] if gate in TANH_GATES else [0.0, 1.0],
            }
            for gate in GATE_NAMES[trace.cell]
            if gate in trace.gate_total
        }
        layers.append(
            {
                "name": trace.name,
                "module": trace.module,
                "cell": trace.cell,
                "layer": trace.layer,
                "direction": "reverse" if trace.reverse else "forward",
                "grad_norm": [float(v) for v in norms],
                "first_last_ratio": ratio,
                "span_ratio": span_ratio,
                "verdict": verdict(span_ratio),
                "hidden_saturation": trace.hidden_saturated / max(trace.hidden_total, 1.0),
                "hidden_histogram": trace.gate_histogram.get("hidden", np.zeros(HISTOGRAM_BINS))
                .astype(int)
                .tolist(),
                "spectral_norm": spectral,
                "gates": gates,
            }
        )
    verdicts = {layer["verdict"] for layer in layers}
    overall = next((v for v in ("exploding", "vanishing") if v in verdicts), "healthy")
    return {
        "split": split,
        "batches": batches,
        "steps": len(layers[0]["grad_norm"]) if layers else 0,
        "span": {
            "steps": distance,
            "why": span[1] if span is not None else "the whole sequence the model reads",
        },
        "verdict": overall,
        "thresholds": {
            "vanishing_below": VANISHING_BELOW,
            "exploding_above": EXPLODING_ABOVE,
            "gate_saturation": list(GATE_SATURATION),
            "hidden_saturation": HIDDEN_SATURATION,
        },
        "layers": layers,
    }


def thresholds_text(result: dict[str, Any]) -> str:
    """One line stating how the verdict and the saturation figures were decided."""
    limits = result["thresholds"]
    low, high = limits["gate_saturation"]
    span = result.get("span") or {"steps": result["steps"] - 1, "why": "the whole sequence"}
    steps, distance = result["steps"], span["steps"]
    measured = (
        f"verdict on ratio d = ||dL/dh_{{T-{distance}}}|| / ||dL/dh_T||, d = {distance} steps "
        f"back: {span['why']}"
    )
    if distance < steps - 1:
        measured += f" (ratio T, over all T = {steps} steps, does not decide)"
    return (
        f"{measured}: vanishing < {limits['vanishing_below']:g}, "
        f"exploding > {limits['exploding_above']:g}, healthy between; saturated gates: sigmoid "
        f"< {low:g} or > {high:g}, tanh |a| > {2 * high - 1:g}; saturated h: "
        f"|h| > {limits['hidden_saturation']:g}"
    )


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """Rows of the short table ``rnnkit diagnose`` prints, one per layer and direction."""
    rows = []
    for layer in result["layers"]:
        norms = layer["grad_norm"]
        gates = " ".join(
            f"{GATE_SYMBOLS[name]} {stats['saturated']:.0%}"
            for name, stats in layer["gates"].items()
        )
        spectral = max(layer["spectral_norm"].values())
        rows.append(
            [
                layer["name"],
                layer["cell"],
                f"{norms[0]:.3g}",
                f"{norms[-1]:.3g}",
                f"{layer['first_last_ratio']:.3g}",
                f"{layer.get('span_ratio', layer['first_last_ratio']):.3g}",
                layer["verdict"],
                gates or "-",
                f"{layer['hidden_saturation']:.1%}",
                f"{spectral:.3g}",
            ]
        )
    return rows


TABLE_COLUMNS = (
    "layer",
    "cell",
    "|dL/dh_1|",
    "|dL/dh_T|",
    "ratio T",
    "ratio d",
    "verdict",
    "saturated gates",
    "|h|>.99",
    "|W_hh|_2",
)


# ----------------------------------------------------------------------------- plots


def plot_gradient_norms(result: dict[str, Any], path: Path, title: str | None = None) -> Path:
    """||dL/dh_t|| against t on a log scale, one line per layer and direction."""
    from rnnkit.evaluate.plots import _figure, _save

    figure = _figure(6.5, 3.8)
    axes = figure.add_subplot()
    for layer in result["layers"]:
        norms = np.asarray(layer["grad_norm"], dtype=np.float64)
        steps = np.arange(1, len(norms) + 1)
        positive = norms > 0
        axes.plot(
            steps[positive],
            norms[positive],
            lw=1.4,
            label=f"{layer['name']} ({layer['cell']}): {layer['verdict']}",
        )
    span = result.get("span")
    if span and span["steps"] < result["steps"] - 1:  # where the verdict reads the ratio
        where = result["steps"] - span["steps"]
        axes.axvline(where, ls="--", lw=1, color="grey", label=f"t = T-{span['steps']} (needed)")
    axes.set_yscale("log")
    axes.set_xlabel("time step t")
    axes.set_ylabel("||dL/dh_t||")
    run = f"{result['run']}: " if result.get("run") else ""
    axes.set_title(title or f"{run}gradient norm through time ({result['split']} split)")
    axes.grid(alpha=0.3, which="both")
    axes.legend(loc="best", fontsize="small")
    return _save(figure, path)


def plot_gate_histograms(result: dict[str, Any], path: Path) -> Path:
    """Histograms of every gate and of h, one row per layer and direction."""
    from rnnkit.evaluate.plots import _figure, _save

    layers = result["layers"]
    columns = max(len(layer["gates"]) for layer in layers) + 1
    figure = _figure(2.6 * columns, 2.2 * len(layers))
    for row, layer in enumerate(layers):
        panels = [
            (name, stats["histogram"], stats["range"], stats["saturated"])
            for name, stats in layer["gates"].items()
        ]
        panels.append(("h", layer["hidden_histogram"], [-1.0, 1.0], layer["hidden_saturation"]))
        for column, (name, counts, value_range, saturated) in enumerate(panels):
            axes = figure.add_subplot(len(layers), columns, row * columns + column + 1)
            edges = np.linspace(value_range[0], value_range[1], len(counts) + 1)
            axes.stairs(np.asarray(counts, dtype=np.float64), edges, fill=True, color="tab:blue")
            axes.set_title(f"{layer['name']} {name}: {saturated:.0%} sat.", fontsize="small")
            axes.tick_params(labelsize="x-small")
            axes.set_yticks([])
    figure.tight_layout()
    return _save(figure, path)
