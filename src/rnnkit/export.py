"""Export a trained run to ONNX or TorchScript, checked against a second runtime.

``export(run_dir, "onnx")`` writes ``run_dir/export/``::

    model.onnx | model.pt   the network, batch and time axes dynamic
    io.json                 inputs and outputs (names, dtypes, shapes), the checks made
    preprocess/**.json      the run's vocabulary, scaler and labels, to prepare inputs

A model that runs as several graphs (an encoder-decoder: the encoder once, then one
decoder step per output token, with the search between the steps in the caller's hands)
has its spec return one signature per graph, each with a ``name``: each graph is a file
of that name (``encoder.onnx``, ``decoder_step.onnx``), io.json lists them under
``graphs`` in order, and the files are renamed into place only once all are checked.

What each task exports is its spec's ``export`` signature (``rnnkit/tasks/<name>/export.py``;
batch-first everywhere, ``batch`` and ``time`` dynamic):

* language model: one chunk step ``(tokens (B, T), h0, c0) -> (logits (B, T, V), h_n,
  c_n)`` (no ``c0``/``c_n`` for GRU and RNN cells), so a caller carries the state from
  chunk to chunk and generates one token at a time;
* classifier: ``(inputs (B, T) ids | (B, T, F) features, lengths (B,)) -> logits (B, C)``;
* forecaster: ``window (B, L, F) -> forecast (B, horizon, K)``, in scaled units;
* synthetic sequence tasks: ``inputs (B, T, F) -> outputs``;
* translation: ``encoder`` and ``decoder_step`` graphs (see
  ``rnnkit/tasks/translation/export.py``).

Only torch's own recurrent kernels export with a dynamic time axis (they become ONNX
LSTM/GRU/RNN nodes, or ``aten::lstm`` calls in TorchScript): a Python time loop, which
the reference path and the extended-option kernels of :mod:`rnnkit.nn.fused` are, would
be unrolled to the traced length. Before tracing, each rnnkit.nn layer is rebuilt as a
plain layer on torch's kernels with the same weights. Recurrent dropout and weight drop
are off at inference, so they drop out; layer norm, zoneout and the GRU's
``reset_after=False`` change the inference function and have no such kernel: exporting
them is a :class:`~rnnkit.errors.UserError` naming the option.

After writing, the file is loaded back (onnxruntime for ONNX, ``torch.jit.load`` for
TorchScript) and run on inputs with a batch size and length other than the traced ones;
its outputs must match the PyTorch model's within :data:`TOLERANCE`, or nothing is left
in place. Files are written to a temporary name and renamed once checked.

ONNX goes through torch's TorchScript-based exporter (``dynamo=False``): on torch 2.13
the torch.export-based one fixes the LSTM's sequence length at the traced value, and
onnxruntime then rejects any other length.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit import __version__
from rnnkit import rundir as checkpoint
from rnnkit.errors import MissingExtraError, UserError
from rnnkit.tasks import get_spec
from rnnkit.tasks.signature import Signature, TensorSpec
from rnnkit.tasks.spec import TaskSpec, resolve

__all__ = [
    "FORMATS",
    "Signature",
    "TensorSpec",
    "export",
    "export_files",
    "exportable_copy",
    "signature",
    "signatures",
]

log = logging.getLogger(__name__)

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}  # a one-graph model's file
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}  # a graph's file: its name + suffix
EXPORT_DIR = "export"
IO_FILE = "io.json"
ONNX_OPSET = 17
#: Largest absolute difference allowed between the exported model and PyTorch.
TOLERANCE = 1e-4

# Shapes traced and checked: the check uses other sizes, and a one-token step (the
# shape generation feeds), so a size baked into the graph cannot pass unnoticed.
TRACE_BATCH, TRACE_STEPS = 2, 5
CHECK_SHAPES = ((3, 11), (1, 1))


class ExportMismatchError(RuntimeError):
    """An exported model whose outputs differ from the PyTorch model's."""


# ----------------------------------------------------------------------------- public


def export(run_dir: str | Path, format: str, output: str | Path | None = None) -> Path:
    """Export a finished run's model as ONNX or TorchScript and check it; returns its path.

    Args:
        run_dir: a run directory from :func:`rnnkit.train`.
        format: ``"onnx"`` (needs the ``export`` extra: onnx, onnxruntime) or
            ``"torchscript"``.
        output: the folder to write into (default ``run_dir/export``).

    Writes ``model.onnx`` or ``model.pt``, ``io.json`` and ``preprocess/**.json`` there
    (for a model of several graphs, one file per graph: the path returned is the first
    one's, :func:`export_files` returns all).
    Raises :class:`~rnnkit.errors.UserError` for an unknown format or a model option
    that cannot be exported, :class:`~rnnkit.errors.MissingExtraError` when ONNX is asked
    for without onnx/onnxruntime, and :class:`ExportMismatchError` when the exported
    model's outputs differ from PyTorch's by more than :data:`TOLERANCE`.
    """
    return export_files(run_dir, format, output)[0]


def export_files(run_dir: str | Path, format: str, output: str | Path | None = None) -> list[Path]:
    """:func:`export`, returning the path of every graph written, in the spec's order."""
    if format not in FORMATS:
        raise UserError(f"format={format!r} is not an export format; use one of: onnx, torchscript")
    if format == "onnx":
        _require_onnx()
    from rnnkit.predictor import load

    run_dir = Path(run_dir)
    predictor = load(run_dir)
    if output is not None:
        out_dir = Path(output)
    else:
        # The default folder is inside the run: a link there must not send files elsewhere.
        out_dir = checkpoint.inside(run_dir, run_dir / EXPORT_DIR)
    checkpoint.check_writable(
        out_dir, "export writes the model there", "make it writable, or give --output DIR"
    )
    out_dir.mkdir(parents=True, exist_ok=True)

    spec = get_spec(predictor.task)
    if format == "onnx" and _has_scan_layers(predictor.model):
        raise UserError(
            "model.cell=mingru/minlstm/rglru exports with --format torchscript; ONNX has no "
            "logcumsumexp operator for torch's TorchScript-based exporter, which export uses"
        )
    references = signatures(predictor.model, predictor.info, spec)
    exportables = signatures(exportable_copy(predictor.model), predictor.info, spec)
    paths = [out_dir / f"{graph.name}{SUFFIXES[format]}" for graph in exportables]

    checks: dict[str, list[dict[str, Any]]] = {}
    # Every graph is written and checked before any is renamed into place.
    with ExitStack() as pending:
        for reference, exportable, path in zip(references, exportables, paths, strict=True):
            temporary = pending.enter_context(checkpoint.atomic_path(path))
            checks[exportable.name] = _write_and_check(reference, exportable, format, temporary)
    for name, results in checks.items():
        log.info(
            "%s export of %s checked against PyTorch: max abs diff %.3g at (batch, time) %s",
            format,
            name,
            max(result["max_abs_diff"] for result in results),
            ", ".join(f"({r['batch']}, {r['time']})" for r in results),
        )
    if format == "torchscript":
        log.info(
            "TorchScript is deprecated in torch %s; %s loads with torch.jit.load",
            torch.__version__,
            ", ".join(path.name for path in paths),
        )
    files = _copy_preprocessing(run_dir, out_dir)
    written = {graph.name: path.name for graph, path in zip(exportables, paths, strict=True)}
    _write_io(out_dir, predictor.task, exportables, files, format, written, checks)
    return paths


def signature(model: nn.Module, info: dict[str, Any], spec: TaskSpec) -> Signature:
    """The traced interface of a one-graph task model, as its task declares it."""
    graphs = signatures(model, info, spec)
    if len(graphs) != 1:
        names = ", ".join(graph.name for graph in graphs)
        raise ValueError(f"{spec.name} models export as several graphs ({names}): use signatures")
    return graphs[0]


def signatures(model: nn.Module, info: dict[str, Any], spec: TaskSpec) -> tuple[Signature, ...]:
    """The traced interface of every graph of a task model, in the order the task gives."""
    if spec.export is None:
        raise UserError(f"{spec.name} models cannot be exported: {spec.export_refusal}")
    declared = resolve(spec.export)(model, info)
    graphs = (declared,) if isinstance(declared, Signature) else tuple(declared)
    names = [graph.name for graph in graphs]
    if not graphs or len(set(names)) != len(names):
        raise ValueError(f"{spec.name}: export graphs need distinct names, got {names}")
    return graphs


def _write_and_check(
    reference: Signature, exportable: Signature, format: str, path: Path
) -> list[dict[str, Any]]:
    """Write one graph to ``path``, run it at new shapes; the checks, or a mismatch error."""
    generator = torch.Generator().manual_seed(0)
    trace_inputs = exportable.sample(TRACE_BATCH, TRACE_STEPS, generator)
    checks = [(b, t, reference.sample(b, t, generator)) for b, t in CHECK_SHAPES]
    if format == "onnx":
        _write_onnx(exportable, trace_inputs, path)
        runner = _onnx_runner(path, exportable)
    else:
        _write_torchscript(exportable, trace_inputs, path)
        runner = _torchscript_runner(path)
    results = [_check(reference, runner, b, t, inputs) for b, t, inputs in checks]
    worst = max(result["max_abs_diff"] for result in results)
    if worst > TOLERANCE:
        graph = "" if exportable.name == "model" else f" of {exportable.name}"
        raise ExportMismatchError(
            f"the {format} export{graph} differs from the PyTorch model by {worst:.3g} "
            f"(tolerance {TOLERANCE:g}); nothing was written"
        )
    return results


def _has_scan_layers(model: nn.Module) -> bool:
    from rnnkit.nn.scan_layers import MINIMAL_CELLS

    kinds = tuple(MINIMAL_CELLS.values())
    return any(isinstance(module, kinds) for module in model.modules())


def exportable_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in evaluation mode whose rnnkit.nn layers run torch's kernels.

    Each rnnkit.nn layer is rebuilt as a plain layer (``impl="fused"``) with the same
    weights; options that are off at inference (recurrent dropout, weight drop) are
    dropped. Raises :class:`UserError` for an option that changes the inference function
    and has no torch kernel.
    """
    import rnnkit.nn as rnn

    model = copy.deepcopy(model).eval()
    layers = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, rnn.RNN | rnn.LSTM | rnn.GRU)
    ]
    for name, layer in layers:
        _refuse_unexportable(layer)
        options: dict[str, Any] = {}
        if isinstance(layer, rnn.RNN):
            options["nonlinearity"] = layer.nonlinearity
        if isinstance(layer, rnn.LSTM):
            options["proj_size"] = layer.proj_size
        plain = type(layer)(
            input_size=layer.input_size,
            hidden_size=layer.hidden_size,
            num_layers=layer.num_layers,
            bias=layer.bias,
            batch_first=layer.batch_first,
            dropout=0.0,  # dropout between layers is off at inference
            bidirectional=layer.bidirectional,
            impl="fused",
            **options,
        )
        plain.load_state_dict(layer.state_dict())
        parent_name, _, attribute = name.rpartition(".")
        setattr(model.get_submodule(parent_name), attribute, plain.eval())
    return model


# ----------------------------------------------------------------------------- options


def _refuse_unexportable(layer: nn.Module) -> None:
    """UserError for a layer option that changes inference and has no torch kernel."""
    why = "torch's recurrent kernels, which export with a dynamic time axis, do not have it"
    if layer.layer_norm:
        raise UserError(f"model.layer_norm=true cannot be exported: {why}")
    zoneout = layer.zoneout if isinstance(layer.zoneout, tuple) else (layer.zoneout,)
    if any(zoneout):
        raise UserError(f"model.zoneout={layer.zoneout} cannot be exported: {why}")
    if getattr(layer, "reset_after", True) is False:
        raise UserError(f"model.reset_after=false cannot be exported: {why}")


# ----------------------------------------------------------------------------- writing


@contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence the tracer's notes on Python values (the layers' shape checks) and the
    exporters' deprecation notes: the check after export is what proves a trace general."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*torch.jit.*is deprecated.*")
        warnings.filterwarnings("ignore", message=".*The feature will be removed.*")
        warnings.filterwarnings("ignore", message=".*variable length with (LSTM|GRU|RNN).*")
        # The classifier indexes the step lengths - 1, never negative (lengths >= 1).
        warnings.filterwarnings("ignore", message=".*aten::index operator of advanced indexing.*")
        yield


def _write_onnx(signature: Signature, inputs: tuple[Tensor, ...], path: Path) -> None:
    import onnx

    with _quiet_tracing(), torch.no_grad():
        torch.onnx.export(
            signature.module,
            inputs,
            str(path),
            dynamo=False,
            input_names=[spec.name for spec in signature.inputs],
            output_names=[spec.name for spec in signature.outputs],
            dynamic_axes=signature.dynamic_axes(),
            opset_version=ONNX_OPSET,
        )
    onnx.checker.check_model(str(path), full_check=True)


def _write_torchscript(signature: Signature, inputs: tuple[Tensor, ...], path: Path) -> None:
    with _quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(signature.module, inputs, check_trace=False)
        torch.jit.save(traced, str(path))


Runner = Callable[[tuple[Tensor, ...]], tuple[Tensor, ...]]


def _onnx_runner(path: Path, signature: Signature) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [spec.name for spec in signature.inputs]

    def run(inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        feed = {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}
        return tuple(torch.from_numpy(array) for array in session.run(None, feed))

    return run


def _torchscript_runner(path: Path) -> Runner:
    with _quiet_tracing():
        loaded = torch.jit.load(str(path), map_location="cpu")

    def run(inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        with torch.no_grad():
            result = loaded(*inputs)
        return result if isinstance(result, tuple) else (result,)

    return run


def _check(
    reference: Signature, runner: Runner, batch: int, steps: int, inputs: tuple[Tensor, ...]
) -> dict[str, Any]:
    """Run the exported model and PyTorch on ``inputs``; the largest difference."""
    with torch.no_grad():
        expected = reference.module(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = runner(inputs)
    if len(actual) != len(expected):
        raise ExportMismatchError(
            f"the export returns {len(actual)} outputs, the PyTorch model {len(expected)}"
        )
    diff = 0.0
    for name, got, want in zip(
        (spec.name for spec in reference.outputs), actual, expected, strict=True
    ):
        if got.shape != want.shape:
            raise ExportMismatchError(
                f"output {name!r} has shape {tuple(got.shape)} in the export, "
                f"{tuple(want.shape)} in PyTorch (batch {batch}, time {steps})"
            )
        diff = max(diff, float((got.float() - want.float()).abs().max()))
    return {"batch": batch, "time": steps, "max_abs_diff": diff}


def _copy_preprocessing(run_dir: Path, out_dir: Path) -> list[str]:
    """Copy the run's preprocess/**.json beside the model (subfolders too, such as one
    text pipeline per side of a pair); their paths relative to it."""
    source = run_dir / checkpoint.PREPROCESS_DIR
    target = out_dir / checkpoint.PREPROCESS_DIR
    copied = []
    for path in sorted(source.rglob("*.json")):
        checkpoint.inside(run_dir, path)  # a linked file from elsewhere is not copied
        relative = path.relative_to(source).as_posix()
        destination = target / relative
        if path.resolve() != destination.resolve():
            with checkpoint.atomic_path(destination) as temporary:
                shutil.copyfile(path, temporary)
        copied.append(f"{checkpoint.PREPROCESS_DIR}/{relative}")
    return copied


def _entry_files(entry: dict[str, Any]) -> list[str]:
    """The files an io.json export entry names: ``file``, or every one of ``files``."""
    files = entry.get("files")
    if isinstance(files, dict):
        return [str(name) for name in files.values()]
    return [str(entry.get("file", ""))]


def _write_io(
    out_dir: Path,
    task: str,
    graphs: tuple[Signature, ...],
    preprocessing: list[str],
    format: str,
    files: dict[str, str],
    checks: dict[str, list[dict[str, Any]]],
) -> None:
    """Write io.json; entries of the other format stay while its files are there.

    One graph: its ``inputs`` and ``outputs`` at the top, ``file`` and ``checks`` in the
    format's entry. Several: ``graphs`` (name, inputs, outputs each, in order), and
    ``files`` and ``checks`` by graph name in the format's entry.
    """
    path = out_dir / IO_FILE
    exports: dict[str, Any] = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
            exports = {
                name: entry
                for name, entry in previous.get("exports", {}).items()
                if name != format
                and all((out_dir / file).is_file() for file in _entry_files(entry))
            }
        except (json.JSONDecodeError, AttributeError):
            exports = {}
    single = len(graphs) == 1
    entry: dict[str, Any] = (
        {"file": files[graphs[0].name], "checks": checks[graphs[0].name]}
        if single
        else {"files": files, "checks": checks}
    )
    exports[format] = {**entry, "runtime": _runtime(format), "tolerance": TOLERANCE}
    if format == "onnx":
        exports[format]["opset"] = ONNX_OPSET
    if single:
        interface: dict[str, Any] = {
            "inputs": [spec.as_json() for spec in graphs[0].inputs],
            "outputs": [spec.as_json() for spec in graphs[0].outputs],
        }
    else:
        interface = {
            "graphs": [
                {
                    "name": graph.name,
                    "inputs": [spec.as_json() for spec in graph.inputs],
                    "outputs": [spec.as_json() for spec in graph.outputs],
                }
                for graph in graphs
            ]
        }
    extra = {
        key: value for graph in graphs for key, value in graph.extra.items() if value is not None
    }
    description = {
        "task": task,
        **interface,
        "dynamic_axes": {"batch": "sequences per call", "time": "steps per sequence"},
        "preprocessing": preprocessing,
        **extra,
        "rnnkit": __version__,
        "torch": torch.__version__,
        "exports": dict(sorted(exports.items())),
    }
    checkpoint.write_json(path, description)


def _runtime(format: str) -> str:
    if format == "onnx":
        return f"onnxruntime {importlib.metadata.version('onnxruntime')}"
    return f"torch.jit {torch.__version__}"


def _require_onnx() -> None:
    for package in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(package)
        except ImportError:
            raise MissingExtraError(package, "export", "ONNX export") from None
