"""The classification task end to end on a tiny labelled-text CSV (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.engine.api import train
from rnnkit.errors import ConfigError, DataError, UserError
from rnnkit.tasks import load_config
from rnnkit.tasks.classification.predictor import predict_inputs
from rnnkit.tasks.classification.task import class_weights, split_frames


def _cli(args: list[str]) -> int:
    """Run the command line as the console script does; return its exit code."""
    try:
        main(args)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


POSITIVE = ["good", "great", "fine", "lovely"]
NEGATIVE = ["bad", "awful", "dull", "poor"]


def _reviews(count: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        label = "pos" if i % 3 else "neg"  # two positives per negative: imbalanced
        words = POSITIVE if label == "pos" else NEGATIVE
        filler = rng.choice(["the", "film", "was", "and", "plot"], size=4).tolist()
        rows.append({"text": " ".join([*filler, *rng.choice(words, size=2)]), "label": label})
    return pd.DataFrame(rows)


def _config(csv: Path, **model: object) -> dict:
    return {
        "name": "reviews",
        "task": "classification",
        "data": {"dataset": str(csv), "batch_size": 16, "split": {"valid": 0.2, "test": 0.2}},
        "model": {"hidden_size": 8, "embedding_size": 8, **model},
        "train": {
            "max_epochs": 3,
            "progress_bar": False,
            "accelerator": "cpu",
            "optimizer": {"lr": 0.02},
        },
    }


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reviews")
    _reviews(150).to_csv(folder / "reviews.csv", index=False)
    config = _config(folder / "reviews.csv", bidirectional=True, pooling="max")
    return train(config, run_dir=folder / "run")


def test_metrics_and_baselines(text_run: Path) -> None:
    metrics = json.loads((text_run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "precision", "recall", "f1"}
    assert set(metrics["baselines"]) == {"majority_class", "bag_of_words_logistic"}
    # 30 test rows, stratified: 20 pos, 10 neg; the majority class is right on 20.
    assert metrics["baselines"]["majority_class"]["accuracy"] == pytest.approx(20 / 30)
    assert metrics["baselines"]["bag_of_words_logistic"]["accuracy"] == 1.0
    matrix = np.array(metrics["confusion_matrix"]["test"])
    assert matrix.sum() == 30 and matrix.sum(1).tolist() == [10, 20]
    assert metrics["confusion_matrix"]["classes"] == ["neg", "pos"]
    assert metrics["test"]["accuracy"] == pytest.approx(np.trace(matrix) / 30)
    assert (text_run / "test_confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_round_trip_is_identical(text_run: Path) -> None:
    texts = ["the film was great and lovely", "a dull and awful plot"]
    first = rnnkit.load(text_run).predict(texts)
    again = rnnkit.load(text_run).predict(texts)
    assert first == again
    assert [set(r["probabilities"]) for r in first] == [{"neg", "pos"}] * 2
    assert sum(first[0]["probabilities"].values()) == pytest.approx(1.0)
    assert rnnkit.load(text_run).predict("the film was great")[0]["label"] in {"neg", "pos"}


def test_predict_rejects_empty_input(text_run: Path) -> None:
    with pytest.raises(DataError, match="no inputs to predict"):
        rnnkit.load(text_run).predict([])
    assert _cli(["predict", str(text_run)]) == 2


def test_predict_command_reads_arguments_lines_and_csv_columns(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = tmp_path / "inputs.txt"
    lines.write_text("a great film\n\na poor film\n")
    table = tmp_path / "inputs.csv"
    pd.DataFrame({"review": ["lovely", "awful"]}).to_csv(table, index=False)
    assert _cli(["predict", str(text_run), "good film"]) == 0
    assert _cli(["predict", str(text_run), "--file", str(lines)]) == 0
    assert _cli(["predict", str(text_run), "--file", str(table), "--column", "review"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5
    assert all(line.split("\t")[0] in {"neg", "pos"} for line in printed)
    assert printed[0].endswith("good film") and "pos=" in printed[0]
    assert _cli(["predict", str(text_run), "--file", str(table)]) == 2  # no 'text' column
    assert "column 'text' is not in" in capsys.readouterr().err


def test_an_unknown_test_label_is_a_clear_error(tmp_path: Path) -> None:
    frames = {"train": _reviews(30), "test": _reviews(6).assign(label="meh")}
    from rnnkit.data.batches import LabelEncoder

    encoder = LabelEncoder.fit(frames["train"]["label"])
    with pytest.raises(DataError, match=r"label 'meh' .* is not one of the training classes"):
        encoder.encode(split_frames(_config_object(tmp_path), frames)["test"]["label"])


def _config_object(tmp_path: Path):
    return load_config(_config(tmp_path / "x.csv"))


def test_split_frames_keeps_a_shipped_test_split_and_groups(tmp_path: Path) -> None:
    config = _config_object(tmp_path)
    frames = split_frames(config, {"train": _reviews(50), "test": _reviews(7)})
    assert len(frames["test"]) == 7 and len(frames["train"]) + len(frames["val"]) == 50
    grouped = _reviews(60).assign(group=np.repeat(np.arange(12), 5))
    config = load_config(config, {"data.split.group_column": "group"})
    parts = split_frames(config, {"all": grouped})
    seen = [set(parts[name]["group"]) for name in ("train", "val", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    config = load_config(config, {"data.split.group_column": "speaker"})
    with pytest.raises(ConfigError, match="'speaker' is not a column"):
        split_frames(config, {"all": grouped})


def test_balanced_class_weights() -> None:
    config = load_config(_config(Path("x.csv"), class_weights="balanced"))
    weights = class_weights(config, np.array([0, 1, 1, 1]), 2)
    torch.testing.assert_close(weights, torch.tensor([2.0, 4 / 6]))
    config = load_config(config, {"model.class_weights": [1.0, 2.0, 3.0]})
    with pytest.raises(ConfigError, match="3 values; the data has 2 classes"):
        class_weights(config, np.array([0, 1]), 2)


def test_numeric_sequences_are_scaled_and_checked(tmp_path: Path) -> None:
    from rnnkit.tasks.classification.config import ClassificationModel as ModelConfig
    from rnnkit.tasks.classification.model import SequenceClassifier

    (tmp_path / "preprocess").mkdir()
    (tmp_path / "preprocess" / "scaler.json").write_text(
        json.dumps({"type": "standard", "offset": [1.0, 2.0], "scale": [2.0, 4.0]})
    )
    info = {"input": "numeric", "input_size": 2, "classes": ["a", "b", "c"], "num_classes": 3}
    torch.manual_seed(0)
    model = SequenceClassifier(3, ModelConfig(hidden_size=4), input_size=2)
    raw = np.array([[3.0, 6.0], [1.0, 2.0], [5.0, -2.0]], dtype=np.float32)
    results = predict_inputs(tmp_path, info, model, [raw, raw[:2]])
    scaled = torch.tensor((raw - [1.0, 2.0]) / [2.0, 4.0], dtype=torch.float32)
    with torch.no_grad():
        expected = torch.softmax(model(scaled[None]), 1)[0]
    assert results[0]["probabilities"]["b"] == pytest.approx(float(expected[1]), abs=1e-6)
    with pytest.raises(UserError, match=r"shape \(3, 3\); this run needs sequences of shape"):
        predict_inputs(tmp_path, info, model, [np.zeros((3, 3))])
    with pytest.raises(UserError, match=r"input 2 holds NaN or infinite values"):
        predict_inputs(tmp_path, info, model, [raw, np.full_like(raw, np.nan)])


@pytest.mark.data
def test_indoor_movement_split_keeps_environments_apart(tmp_path: Path, mirror: Path) -> None:
    from rnnkit.tasks.classification.task import ClassificationTask

    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "configs" / "indoor-movement.yaml")
    prepared = ClassificationTask().prepare(config, tmp_path)
    frames = prepared.artifacts["frames"]
    assert sum(len(frames[name]) for name in ("train", "val", "test")) == 314
    train_groups, test_groups = set(frames["train"]["group"]), set(frames["test"]["group"])
    assert len(test_groups) == 1 and not train_groups & test_groups
    assert prepared.info["input_size"] == 4 and prepared.info["classes"] == ["-1", "1"]
    batch, lengths, _ = next(iter(prepared.train))
    assert batch.shape[2] == 4 and lengths.max() == batch.shape[1]


def test_evaluate_reloads_the_run_and_gives_the_same_metrics(text_run: Path) -> None:
    from rnnkit.engine.api import evaluate

    saved = json.loads((text_run / "metrics.json").read_text())
    again = evaluate(text_run, "test")
    assert again["test"] == pytest.approx(saved["test"])
