"""Export: ONNX and TorchScript files that match PyTorch at shapes other than the traced.

Run directories are written the way training writes them (config.yaml, info.json,
model.safetensors, preprocess/*.json) from freshly initialised models, which keeps the
file fast; one slow test trains a real run and generates text through onnxruntime.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import rnnkit
from rnnkit import export as export_module
from rnnkit import rundir as checkpoint
from rnnkit.cli import main
from rnnkit.data.text import TextPipeline
from rnnkit.engine.api import train
from rnnkit.errors import MissingExtraError, UserError
from rnnkit.export import ExportMismatchError, export
from rnnkit.tasks import get_spec, load_config

# torch.jit.load is deprecated on torch 2.13 but still loads the files export writes.
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")

TEXT = "the cat sat on the mat\nthe dog ran to the cat\na mat, a cat and a dog\n"
FORECAST_INFO = {
    "input_size": 3,
    "num_targets": 2,
    "lookback": 12,
    "horizon": 4,
    "columns": ["y1", "y2", "x"],
    "target_columns": ["y1", "y2"],
    "frequency": "D",
    "season_length": 7,
}


def make_run(
    run_dir: Path,
    task: str,
    model: dict[str, Any],
    info: dict[str, Any],
    *,
    data: dict[str, Any] | None = None,
    text_pipeline: bool = False,
) -> Path:
    """A finished run directory as rnnkit.train leaves it, with untrained weights."""
    config = load_config(
        {"name": "tiny", "task": task, "data": data or {"dataset": "corpus.txt"}, "model": model}
    )
    if text_pipeline:
        pipeline = TextPipeline("char").fit([TEXT])
        pipeline.save(run_dir / checkpoint.PREPROCESS_DIR)
        info = {**info, "vocab_size": len(pipeline.vocab)}
    checkpoint.save_config(run_dir, config)
    checkpoint.save_info(run_dir, info)
    torch.manual_seed(0)
    built = get_spec(task).build_model(config, info)
    checkpoint.save_weights(built, run_dir / checkpoint.WEIGHTS_FILE)
    return run_dir


LM_INFO = {"tokenizer": "char", "char_level": True}

RUNS: dict[str, dict[str, Any]] = {
    # Two stacked layers, tied weights and weight drop (off at inference).
    "lm_lstm": {
        "task": "language_model",
        "model": {
            "hidden_size": 12,
            "embedding_size": 12,
            "num_layers": 2,
            "tie_weights": True,
            "weight_drop": 0.3,
        },
        "info": LM_INFO,
        "text_pipeline": True,
    },
    "lm_gru": {
        "task": "language_model",
        "model": {"cell": "gru", "hidden_size": 10, "embedding_size": 6},
        "info": LM_INFO,
        "text_pipeline": True,
    },
    # Padded text through a bidirectional GRU with attention pooling.
    "text_classifier": {
        "task": "classification",
        "model": {
            "cell": "gru",
            "hidden_size": 8,
            "bidirectional": True,
            "pooling": "attention",
            "recurrent_dropout": 0.2,
        },
        "info": {"input": "text", "num_classes": 3, "classes": ["neg", "neu", "pos"]},
        "text_pipeline": True,
    },
    "sequence_classifier": {
        "task": "classification",
        "model": {"hidden_size": 8, "num_layers": 2, "pooling": "last"},
        "info": {"input": "numeric", "input_size": 4, "num_classes": 2, "classes": ["a", "b"]},
    },
    "forecaster": {
        "task": "forecasting",
        "model": {"cell": "rnn", "hidden_size": 8, "strategy": "recursive"},
        "info": FORECAST_INFO,
    },
    # A second output: the Student-t parameters (location, scale, degrees of freedom).
    "student_t_forecaster": {
        "task": "forecasting",
        "model": {"cell": "gru", "hidden_size": 8, "likelihood": "student_t"},
        "info": FORECAST_INFO,
    },
    "adding": {
        "task": "adding",
        "model": {"hidden_size": 8},
        "info": {"dataset": "adding", "input_size": 2, "output_size": 1, "length": 10},
        "data": {"dataset": "adding"},
    },
    # One output per step, bidirectional.
    "copy": {
        "task": "copy",
        "model": {"cell": "gru", "hidden_size": 8, "bidirectional": True},
        "info": {"dataset": "copy", "input_size": 10, "output_size": 10, "length": 5},
        "data": {"dataset": "copy"},
    },
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        name: make_run(
            root / name,
            spec["task"],
            spec["model"],
            spec["info"],
            data=spec.get("data"),
            text_pipeline=spec.get("text_pipeline", False),
        )
        for name, spec in RUNS.items()
    }


FORMATS = ("onnx", "torchscript")


class Exports(dict[tuple[str, str], Path]):
    """``exports[name, format]``: the run exported on first use (each export checks
    itself on the way), so a test worker exports only what its tests read."""

    def __init__(self, runs: dict[str, Path]) -> None:
        super().__init__()
        self.runs = runs

    def __missing__(self, key: tuple[str, str]) -> Path:
        name, fmt = key
        self[key] = export(self.runs[name], fmt)
        return self[key]


@pytest.fixture(scope="module")
def exported(runs: dict[str, Path]) -> Exports:
    return Exports(runs)


def new_inputs(name: str, run_dir: Path, batch: int, steps: int) -> dict[str, torch.Tensor]:
    """Inputs by the names io.json gives, at a batch size and length never traced."""
    generator = torch.Generator().manual_seed(7)
    info = checkpoint.load_info(run_dir)
    if name.startswith("lm_"):
        model = rnnkit.load(run_dir).model
        shape = (model.config.num_layers, batch, model.config.hidden_size)
        inputs = {
            "tokens": torch.randint(0, info["vocab_size"], (batch, steps), generator=generator),
            "h0": torch.randn(shape, generator=generator),
        }
        if model.config.cell == "lstm":
            inputs["c0"] = torch.randn(shape, generator=generator)
        return inputs
    if name.endswith("classifier"):
        if info["input"] == "text":
            values = torch.randint(1, info["vocab_size"], (batch, steps), generator=generator)
        else:
            values = torch.randn((batch, steps, info["input_size"]), generator=generator)
        lengths = torch.tensor([steps, 1, steps - 3, steps, 2][:batch])
        return {"inputs": values, "lengths": lengths}
    if name.endswith("forecaster"):
        return {"window": torch.randn((batch, steps, 3), generator=generator)}
    features = info["input_size"]
    return {"inputs": torch.randn((batch, steps, features), generator=generator)}


def pytorch_outputs(name: str, run_dir: Path, inputs: dict[str, torch.Tensor]) -> list[np.ndarray]:
    """The run's own model through rnnkit.load, called the way the export is."""
    model = rnnkit.load(run_dir).model
    with torch.no_grad():
        if name.startswith("lm_"):
            state = (inputs["h0"], inputs["c0"]) if "c0" in inputs else inputs["h0"]
            logits, state = model(inputs["tokens"].T, state)  # time-major inside
            states = state if isinstance(state, tuple) else (state,)
            outputs = [logits.transpose(0, 1), *states]
        elif name.endswith("classifier"):
            outputs = [model(inputs["inputs"], inputs["lengths"])]
        elif name.endswith("forecaster"):
            outputs = [model(inputs["window"])]
            if model.likelihood != "none":
                outputs.append(model.distribution(inputs["window"]))
        else:
            outputs = [model(inputs["inputs"])]
    return [output.numpy() for output in outputs]


def run_export(path: Path, inputs: dict[str, torch.Tensor]) -> list[np.ndarray]:
    if path.suffix == ".onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {name: value.numpy() for name, value in inputs.items()})
    module = torch.jit.load(str(path))
    with torch.no_grad():
        result = module(*inputs.values())
    result = result if isinstance(result, tuple) else (result,)
    return [output.numpy() for output in result]


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(RUNS))
def test_export_matches_pytorch_at_a_new_batch_size_and_length(
    name: str, fmt: str, runs: dict[str, Path], exported: Exports
) -> None:
    path = exported[name, fmt]
    assert path == runs[name] / "export" / ("model.onnx" if fmt == "onnx" else "model.pt")
    inputs = new_inputs(name, runs[name], batch=5, steps=9)
    expected = pytorch_outputs(name, runs[name], inputs)
    actual = run_export(path, inputs)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # The export checked itself, and says so in io.json.
    io = json.loads((path.parent / "io.json").read_text())
    checks = io["exports"][fmt]["checks"]
    assert {(c["batch"], c["time"]) for c in checks} == {(3, 11), (1, 1)}
    assert all(0 <= c["max_abs_diff"] <= 1e-4 for c in checks)


def test_padding_does_not_change_a_classification(runs: dict[str, Path], exported: Exports) -> None:
    """A text padded into a longer batch gets the logits it gets alone (lengths honoured)."""
    session = onnxruntime.InferenceSession(str(exported["text_classifier", "onnx"]))
    tokens = np.array([[5, 3, 8, 2]], dtype=np.int64)
    alone = session.run(None, {"inputs": tokens, "lengths": np.array([4])})[0]
    padded = np.zeros((2, 10), dtype=np.int64)
    padded[0, :4] = tokens[0]
    padded[1] = np.arange(1, 11) % 7 + 1
    batch = session.run(None, {"inputs": padded, "lengths": np.array([4, 10])})[0]
    np.testing.assert_allclose(batch[0], alone[0], atol=1e-6)


def test_language_model_step_carries_state_between_chunks(
    runs: dict[str, Path], exported: Exports
) -> None:
    """Two chunks with the state carried give the logits of one pass over both."""
    export_dir = exported["lm_lstm", "onnx"].parent
    pipeline = TextPipeline.load(export_dir / "preprocess")  # the copy beside the model
    ids = np.array([pipeline.encode("the cat sat on the mat")], dtype=np.int64)  # (1, T)
    session = onnxruntime.InferenceSession(str(export_dir / "model.onnx"))
    zeros = np.zeros((2, 1, 12), dtype=np.float32)
    whole, *_ = session.run(None, {"tokens": ids, "h0": zeros, "c0": zeros})
    first, h, c = session.run(None, {"tokens": ids[:, :7], "h0": zeros, "c0": zeros})
    second, _, _ = session.run(None, {"tokens": ids[:, 7:], "h0": h, "c0": c})
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-5)


def test_onnx_file_is_valid_with_named_dynamic_axes(
    exported: Exports,
) -> None:
    path = exported["lm_gru", "onnx"]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    dims = {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in (*model.graph.input, *model.graph.output)
    }
    assert dims["tokens"] == ["batch", "time"]
    assert dims["h0"] == [1, "batch", 10]
    assert dims["logits"][:2] == ["batch", "time"]
    assert set(dims) == {"tokens", "h0", "logits", "h_n"}


def test_io_json_describes_both_exports_and_the_preprocessing(
    runs: dict[str, Path], exported: Exports
) -> None:
    for key in [("text_classifier", fmt) for fmt in FORMATS] + [
        ("forecaster", "onnx"),
        ("copy", "torchscript"),
    ]:
        exported[key]  # exports on first use
    export_dir = runs["text_classifier"] / "export"
    io = json.loads((export_dir / "io.json").read_text())
    assert io["task"] == "classification"
    assert [(s["name"], s["dtype"], s["shape"]) for s in io["inputs"]] == [
        ("inputs", "int64", ["batch", "time"]),
        ("lengths", "int64", ["batch"]),
    ]
    assert [(s["name"], s["shape"]) for s in io["outputs"]] == [("logits", ["batch", 3])]
    assert io["classes"] == ["neg", "neu", "pos"]
    assert sorted(io["exports"]) == ["onnx", "torchscript"]
    assert io["exports"]["onnx"]["file"] == "model.onnx"
    assert "preprocess/text_pipeline.json" in io["preprocessing"]
    for relative in io["preprocessing"]:
        copied, original = export_dir / relative, runs["text_classifier"] / relative
        assert copied.read_bytes() == original.read_bytes()
    forecast_io = json.loads((runs["forecaster"] / "export" / "io.json").read_text())
    assert forecast_io["outputs"][0]["shape"] == ["batch", 4, 2]
    assert forecast_io["inputs"][0]["shape"] == ["batch", "time", 3]
    copy_io = json.loads((runs["copy"] / "export" / "io.json").read_text())
    assert copy_io["outputs"][0]["shape"] == ["batch", "time", 10]


def test_a_probabilistic_forecaster_exports_its_distribution(
    runs: dict[str, Path], exported: Exports
) -> None:
    exported[("student_t_forecaster", "onnx")]  # exports on first use
    io = json.loads((runs["student_t_forecaster"] / "export" / "io.json").read_text())
    assert [(s["name"], s["shape"]) for s in io["outputs"]] == [
        ("forecast", ["batch", 4, 2]),
        ("distribution", ["batch", 4, 2, 3]),
    ]
    assert "location, scale and degrees of freedom" in io["outputs"][1]["description"]
    assert io["likelihood"] == "student_t"


def test_output_folder_is_honoured(runs: dict[str, Path], tmp_path: Path) -> None:
    path = export(runs["adding"], "torchscript", output=tmp_path / "elsewhere")
    assert path == tmp_path / "elsewhere" / "model.pt"
    assert (tmp_path / "elsewhere" / "io.json").is_file()
    assert (tmp_path / "elsewhere" / "preprocess" / "info.json").is_file()


# ----------------------------------------------------------------------------- errors


def test_an_unknown_format_is_a_one_line_user_error(runs: dict[str, Path]) -> None:
    with pytest.raises(UserError) as caught:
        export(runs["adding"], "tflite")
    assert (
        str(caught.value)
        == "format='tflite' is not an export format; use one of: onnx, torchscript"
    )


@pytest.mark.parametrize(
    ("model", "option"),
    [
        ({"layer_norm": True}, "model.layer_norm=true"),
        ({"zoneout": 0.1}, "model.zoneout=0.1"),
        ({"cell": "gru", "reset_after": False}, "model.reset_after=false"),
    ],
)
def test_an_option_without_a_torch_kernel_is_refused_by_name(
    tmp_path: Path, model: dict[str, Any], option: str
) -> None:
    run_dir = make_run(tmp_path / "run", "forecasting", {"hidden_size": 4, **model}, FORECAST_INFO)
    with pytest.raises(UserError, match=f"^{option} cannot be exported: ") as caught:
        export(run_dir, "onnx")
    assert "\n" not in str(caught.value)
    assert not (run_dir / "export" / "model.onnx").exists()


def test_onnx_without_onnxruntime_is_a_missing_extra(
    runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if absent
    with pytest.raises(MissingExtraError, match=r"pip install 'rnnkit\[export\]'"):
        export(runs["adding"], "onnx", output=runs["adding"] / "no-runtime")
    assert not (runs["adding"] / "no-runtime" / "model.onnx").exists()


def test_a_mismatch_is_an_error_and_leaves_no_file(
    runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # no difference passes
    with pytest.raises(ExportMismatchError, match="differs from the PyTorch model"):
        export(runs["forecaster"], "onnx", output=tmp_path)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- command line


def cli(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def test_cli_export_prints_the_path(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cli"
    code = cli(["export", str(runs["lm_gru"]), "--format", "onnx", "--output", str(output)])
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == str(output / "model.onnx")
    onnx.checker.check_model(str(output / "model.onnx"))


def test_cli_unknown_format_exits_2_with_one_line(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["export", str(runs["lm_gru"]), "--format", "coreml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: format='coreml' is not an export format; use one of: onnx, torchscript"


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_greedy_generation_through_onnxruntime_matches_the_predictor(tmp_path: Path) -> None:
    """A trained character model: greedy decoding with the ONNX step, state carried
    token by token, writes the text Predictor.generate writes."""
    lines = ["the cat sat on the mat", "a dog ran to the cat"] * 30
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "name": "tiny",
        "seed": 1,
        "task": "language_model",
        "data": {
            "dataset": str(tmp_path / "corpus.txt"),
            "tokenizer": "char",
            "batch_size": 4,
            "bptt": 10,
            "split": {"valid": 0.1, "test": 0.1},
        },
        "model": {"hidden_size": 16, "embedding_size": 8},
        "train": {"max_epochs": 1, "progress_bar": False, "optimizer": {"lr": 0.01}},
    }
    run_dir = train(config, run_dir=tmp_path / "run")
    predictor = rnnkit.load(run_dir)
    expected = predictor.generate("the ", length=20, temperature=0.0)

    path = export(run_dir, "onnx")
    pipeline = TextPipeline.load(path.parent / "preprocess")
    session = onnxruntime.InferenceSession(str(path))
    banned = [pipeline.vocab.pad_id, pipeline.vocab.bos_id]  # as Predictor.generate
    state = np.zeros((1, 1, 16), dtype=np.float32)
    feed = {"tokens": np.array([pipeline.encode("the ")]), "h0": state, "c0": state}
    generated = []
    for _ in range(20):
        logits, h, c = session.run(None, feed)
        next_logits = logits[0, -1].copy()
        next_logits[banned] = -np.inf
        token = int(next_logits.argmax())
        generated.append(token)
        feed = {"tokens": np.array([[token]]), "h0": h, "c0": c}
    assert "the " + pipeline.decode(generated) == expected
