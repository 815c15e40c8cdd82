"""Export of a translation run: an encoder graph and a decoder-step graph that, run in a
greedy loop outside PyTorch (onnxruntime, TorchScript), translate as the predictor does.

One tiny run is trained; the other variants (Luong with input feeding on a two-layer
LSTM, no attention) reuse its data and pipelines with freshly initialised weights, which
is enough to compare two runtimes token for token.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch
import yaml

import rnnkit
from rnnkit import export as export_module
from rnnkit import rundir as checkpoint
from rnnkit.cli import main
from rnnkit.data.text import TextPipeline
from rnnkit.engine.api import train
from rnnkit.errors import UserError
from rnnkit.export import ExportMismatchError, export, export_files
from rnnkit.tasks import get_spec, load_config

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")

SENTENCES = ["eins zwei", "drei vier", "fünf eins", "zwei", "vier drei"]

VARIANTS: dict[str, dict[str, Any]] = {
    "bahdanau_gru": {},  # the fixture's model, trained
    "luong_lstm": {"attention": "luong", "cell": "lstm", "num_layers": 2},
    "none_gru": {"attention": "none", "bidirectional": False},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("translation-export")
    config = get_spec("translation").tiny_config(root)
    trained = train(config, run_dir=root / "bahdanau_gru")
    result = {"bahdanau_gru": trained}
    for name, options in VARIANTS.items():
        if not options:
            continue
        result[name] = _variant(trained, root / name, options)
    return result


def _variant(trained: Path, run_dir: Path, options: dict[str, Any]) -> Path:
    """A run directory like ``trained`` with another model, freshly initialised."""
    shutil.copytree(trained / checkpoint.PREPROCESS_DIR, run_dir / checkpoint.PREPROCESS_DIR)
    raw = yaml.safe_load((trained / "config.yaml").read_text(encoding="utf-8"))
    raw["model"] = {**raw["model"], **options}
    config = load_config(raw)
    checkpoint.save_config(run_dir, config)
    info = checkpoint.load_info(run_dir)
    torch.manual_seed(3)
    model = get_spec("translation").build_model(config, info)
    checkpoint.save_weights(model, run_dir / checkpoint.WEIGHTS_FILE)
    return run_dir


# ----------------------------------------------------------------------------- runtimes

Graph = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def onnx_graph(path: Path, spec: dict[str, Any]) -> Graph:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output["name"] for output in spec["outputs"]]

    def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(None, feed), strict=True))

    return run


def torchscript_graph(path: Path, spec: dict[str, Any]) -> Graph:
    module = torch.jit.load(str(path))
    inputs = [item["name"] for item in spec["inputs"]]
    names = [output["name"] for output in spec["outputs"]]

    def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            result = module(*(torch.from_numpy(feed[name]) for name in inputs))
        result = result if isinstance(result, tuple) else (result,)
        return {name: value.numpy() for name, value in zip(names, result, strict=True)}

    return run


def greedy_with_graphs(
    export_dir: Path, fmt: str, source_ids: list[list[int]]
) -> list[tuple[list[int], float, np.ndarray | None]]:
    """Greedy decoding driven by io.json alone: tokens, summed log-prob and attention."""
    io = json.loads((export_dir / "io.json").read_text(encoding="utf-8"))
    graphs = {graph["name"]: graph for graph in io["graphs"]}
    files = io["exports"][fmt]["files"]
    make = onnx_graph if fmt == "onnx" else torchscript_graph
    encoder = make(export_dir / files["encoder"], graphs["encoder"])
    step = make(export_dir / files["decoder_step"], graphs["decoder_step"])
    decoding = io["decoding"]
    pad, bos, eos = decoding["pad_id"], decoding["bos_id"], decoding["eos_id"]

    results = []
    for ids in source_ids:  # one sentence per call: the result must not depend on batching
        source = np.array([ids], dtype=np.int64)
        state = encoder({"source": source, "lengths": np.array([len(ids)], dtype=np.int64)})
        limit = math.floor(decoding["max_length_ratio"] * len(ids)) + decoding["max_length_offset"]
        feed = {name: state[name] for name in state}
        token, tokens, score, attention = bos, [], 0.0, []
        for t in range(limit + 1):
            step_inputs = {"tokens": np.array([token], dtype=np.int64)}
            for spec in graphs["decoder_step"]["inputs"][1:]:
                step_inputs[spec["name"]] = feed[spec["name"]]
            out = step(step_inputs)
            log_probs = out["log_probs"][0].astype(np.float64).copy()
            log_probs[[pad, bos]] = -np.inf
            if t == limit:  # only <eos> is left
                log_probs[np.arange(len(log_probs)) != eos] = -np.inf
            token = int(log_probs.argmax())
            score += float(log_probs[token])
            if "attention" in out:
                attention.append(out["attention"][0])
            for produced, consumed in decoding["carry"].items():
                feed[consumed] = out[produced]
            if token == eos:
                break
            tokens.append(token)
        results.append((tokens, score, np.stack(attention) if attention else None))
    return results


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_greedy_decoding_with_the_two_graphs_matches_the_predictor(
    runs: dict[str, Path], name: str, fmt: str
) -> None:
    run_dir = runs[name]
    paths = export_files(run_dir, fmt)
    suffix = ".onnx" if fmt == "onnx" else ".pt"
    assert paths == [
        run_dir / "export" / f"encoder{suffix}",
        run_dir / "export" / f"decoder_step{suffix}",
    ]

    translator = rnnkit.load(run_dir).translator()
    source_ids = translator.encode(SENTENCES)
    expected = translator.decode_ids(source_ids, beam_size=1, return_attention=True)
    actual = greedy_with_graphs(run_dir / "export", fmt, source_ids)
    assert sum(len(t.tokens) for t in expected) >= len(SENTENCES)  # not all empty
    for want, (tokens, score, attention) in zip(expected, actual, strict=True):
        assert tokens == want.tokens
        assert score == pytest.approx(want.score, abs=1e-4)
        if want.attention is None:
            assert attention is None
        else:
            np.testing.assert_allclose(attention, want.attention.numpy(), atol=1e-5)
    # The pipelines beside the graphs turn the tokens into the predictor's text.
    target = TextPipeline.load(run_dir / "export" / "preprocess" / "target")
    assert [target.decode(t) for t, _, _ in actual] == translator.translate(SENTENCES, beam_size=1)


def test_io_json_names_each_graph_its_tensors_and_the_decoding_rules(
    runs: dict[str, Path],
) -> None:
    for name in ("luong_lstm", "none_gru"):
        export(runs[name], "onnx")
    luong = json.loads((runs["luong_lstm"] / "export" / "io.json").read_text())
    assert luong["task"] == "translation"
    assert [graph["name"] for graph in luong["graphs"]] == ["encoder", "decoder_step"]
    encoder, step = luong["graphs"]
    assert [(s["name"], s["dtype"], s["shape"]) for s in encoder["inputs"]] == [
        ("source", "int64", ["batch", "time"]),
        ("lengths", "int64", ["batch"]),
    ]
    assert [s["name"] for s in encoder["outputs"]] == ["memory", "keys", "mask", "h", "c", "feed"]
    assert [s["name"] for s in step["inputs"]] == [
        *("tokens", "h", "c", "feed", "memory", "keys", "mask")
    ]
    assert [s["name"] for s in step["outputs"]] == [
        *("log_probs", "h_next", "c_next", "feed_next", "attention")
    ]
    hidden = luong["graphs"][0]["outputs"][3]["shape"]
    assert hidden == [2, "batch", 8]  # two layers, hidden_size 8
    assert luong["decoding"]["carry"] == {"h_next": "h", "c_next": "c", "feed_next": "feed"}
    assert (luong["decoding"]["bos_id"], luong["decoding"]["eos_id"]) == (2, 3)
    assert luong["decoding"]["cleaning"] == {
        "lowercase": False,
        "unicode_normalization": None,
        "normalize": "none",
    }
    assert (luong["source_lang"], luong["target_lang"]) == ("de", "en")
    # Both pipelines are copied beside the graphs, byte for byte.
    for side in ("source", "target"):
        relative = f"preprocess/{side}/text_pipeline.json"
        assert relative in luong["preprocessing"]
        copied = runs["luong_lstm"] / "export" / relative
        assert copied.read_bytes() == (runs["luong_lstm"] / relative).read_bytes()

    plain = json.loads((runs["none_gru"] / "export" / "io.json").read_text())
    encoder, step = plain["graphs"]
    assert [s["name"] for s in encoder["outputs"]] == ["h"]
    assert [s["name"] for s in step["inputs"]] == ["tokens", "h"]
    assert [s["name"] for s in step["outputs"]] == ["log_probs", "h_next"]


def test_a_padded_batch_encodes_each_source_as_alone(runs: dict[str, Path]) -> None:
    path = export(runs["bahdanau_gru"], "onnx")
    session = onnxruntime.InferenceSession(str(path))
    short, long = [5, 6, 3], [7, 4, 5, 8, 6, 3]
    alone = session.run(None, {"source": np.array([short]), "lengths": np.array([3])})
    padded = np.zeros((2, 6), dtype=np.int64)
    padded[0, :3], padded[1] = short, long
    batch = session.run(None, {"source": padded, "lengths": np.array([3, 6])})
    names = [output.name for output in session.get_outputs()]
    for name, one, many in zip(names, alone, batch, strict=True):
        if name in ("memory", "keys", "mask"):
            np.testing.assert_allclose(many[0, :3], one[0], atol=1e-6)
        else:  # states: (layers, batch, hidden)
            np.testing.assert_allclose(many[:, 0], one[:, 0], atol=1e-6)


def test_the_cli_prints_one_path_per_graph(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        main(["export", str(runs["none_gru"]), "--format", "onnx", "--output", str(tmp_path)])
    except SystemExit as stop:
        assert stop.code in (0, None)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [str(tmp_path / "encoder.onnx"), str(tmp_path / "decoder_step.onnx")]


def test_a_mismatch_in_the_second_graph_leaves_no_file(
    runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = export_module._check

    def check(reference, runner, batch, steps, inputs):  # type: ignore[no-untyped-def]
        result = original(reference, runner, batch, steps, inputs)
        if reference.name == "decoder_step":
            result["max_abs_diff"] = 1.0
        return result

    monkeypatch.setattr(export_module, "_check", check)
    with pytest.raises(ExportMismatchError, match="export of decoder_step differs"):
        export(runs["none_gru"], "onnx", output=tmp_path)
    assert list(tmp_path.iterdir()) == []  # the encoder, checked, was not kept either


def test_an_option_without_a_torch_kernel_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    run_dir = _variant(runs["bahdanau_gru"], tmp_path / "run", {"layer_norm": True})
    with pytest.raises(UserError, match=r"^model\.layer_norm=true cannot be exported: "):
        export(run_dir, "onnx")
    for option, named in (
        ({"layer_norm": True}, r"model\.decoder\.layer_norm=true"),
        ({"zoneout": 0.1}, r"model\.decoder\.zoneout=0\.1"),
    ):
        run_dir = _variant(runs["bahdanau_gru"], tmp_path / str(len(named)), {"decoder": option})
        with pytest.raises(UserError, match=f"^{named} cannot be exported: "):
            export(run_dir, "torchscript")
    assert not list(tmp_path.rglob("*.pt"))


def test_decoder_dropouts_drop_out_of_the_export(runs: dict[str, Path], tmp_path: Path) -> None:
    """Recurrent dropout and weight drop are off at inference: the export runs plain
    kernels and matches the model (export checks it)."""
    options = {"decoder": {"recurrent_dropout": 0.3, "weight_drop": 0.3}, "weight_drop": 0.2}
    run_dir = _variant(runs["bahdanau_gru"], tmp_path / "run", options)
    assert rnnkit.load(run_dir).model.decoder.weight_drop == 0.3
    paths = export_files(run_dir, "onnx")
    io = json.loads((paths[0].parent / "io.json").read_text())
    assert max(c["max_abs_diff"] for c in io["exports"]["onnx"]["checks"]["decoder_step"]) < 1e-5
