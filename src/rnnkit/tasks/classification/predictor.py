"""Inference for classifiers: label and class probabilities of texts or sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.errors import DataError
from rnnkit.rundir import PREPROCESS_DIR, read_json
from rnnkit.tasks.predictor import Predictor

LABELS_FILE = "labels.json"
SCALER_FILE = "scaler.json"


class ClassificationPredictor(Predictor):
    _text_pipeline: Any = None

    def text_pipeline(self) -> Any:
        """The run's fitted :class:`rnnkit.data.text.TextPipeline` (from JSON)."""
        if self._text_pipeline is None:
            from rnnkit.data.text import TextPipeline

            self._text_pipeline = TextPipeline.load(self.run_dir / PREPROCESS_DIR)
        return self._text_pipeline

    def predict(self, inputs: Any) -> list[dict[str, Any]]:
        """Label and class probabilities for each input.

        ``inputs`` is a text or a list of texts (text classifiers), one or more arrays
        of shape (steps, channels) (sequence classifiers), or audio file paths (audio
        classifiers: read, resampled and featurised as in training). Returns one
        ``{"label": name, "probabilities": {name: p, ...}}`` per input.
        """
        pipeline = self.text_pipeline() if self.info.get("input") == "text" else None
        return predict_inputs(self.run_dir, self.info, self.model, inputs, pipeline=pipeline)


def predict_inputs(
    run_dir: Path, info: dict[str, Any], model: nn.Module, inputs: Any, *, pipeline: Any = None
) -> list[dict[str, Any]]:
    """Label and class probabilities for each input (texts, or (T, F) arrays).

    Texts go through the run's text pipeline; numeric sequences through its scaler.
    """
    if isinstance(inputs, (str, Path, np.ndarray)):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise DataError("no inputs to predict: give at least one text or sequence")
    if info["input"] == "audio":
        from rnnkit.tasks.classification.audio import features_of_files

        if not all(isinstance(item, str | Path) for item in inputs):
            raise DataError("this run classifies audio clips: give audio file paths")
        tensors = [torch.from_numpy(f) for f in features_of_files(Path(run_dir), inputs)]
    elif info["input"] == "text":
        if not all(isinstance(item, str) for item in inputs):
            raise DataError("this run classifies texts: give strings")
        encoded = [pipeline.encode(text) or [pipeline.vocab.pad_id] for text in inputs]
        tensors = [torch.tensor(ids, dtype=torch.long) for ids in encoded]
    else:
        from rnnkit.data.timeseries import scaler_from_json

        scaler = scaler_from_json(read_json(Path(run_dir) / PREPROCESS_DIR / SCALER_FILE))
        tensors = []
        for row, item in enumerate(inputs):
            array = np.asarray(item, dtype=np.float32)
            if array.ndim != 2 or array.shape[1] != info["input_size"] or len(array) == 0:
                raise DataError(
                    f"input {row + 1} has shape {array.shape}; this run needs sequences of "
                    f"shape (steps, {info['input_size']})"
                )
            if not np.isfinite(array).all():
                raise DataError(
                    f"input {row + 1} holds NaN or infinite values; the model needs finite numbers"
                )
            tensors.append(torch.from_numpy(scaler.transform(array).astype(np.float32)))
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    padded = nn.utils.rnn.pad_sequence(tensors, batch_first=True, padding_value=0)
    model.eval()
    with torch.no_grad():
        probabilities = torch.softmax(model(padded, lengths), dim=1).numpy()
    classes = info["classes"]
    return [
        {
            "label": classes[int(row.argmax())],
            "probabilities": {name: float(p) for name, p in zip(classes, row, strict=True)},
        }
        for row in probabilities
    ]


def read_predict_inputs(
    info: dict[str, Any], arguments: list[str], file: Path | None, column: str | None
) -> list[Any]:
    """The inputs of ``rnnkit predict``: arguments, lines of a file, or a CSV column.

    For sequence classifiers every argument is a CSV file holding one sequence
    (rows are steps, numeric columns are channels).
    """
    # pandas only where a CSV is read: its import takes longer than classifying a text.
    items: list[Any] = list(arguments)
    if file is not None:
        file = Path(file)
        if not file.is_file():
            raise DataError(f"input file not found: {file}")
        if file.suffix.lower() == ".csv" and info["input"] == "text":
            import pandas as pd

            frame = pd.read_csv(file)
            name = column or "text"
            if name not in frame.columns:
                raise DataError(
                    f"column {name!r} is not in {file}; its columns are "
                    f"{', '.join(map(str, frame.columns))} (choose one with --column)"
                )
            items.extend(frame[name].astype(str).tolist())
        elif info["input"] in ("text", "audio"):  # one text, or one audio path, per line
            lines = file.read_text(encoding="utf-8").splitlines()
            items.extend(line for line in lines if line.strip())
        else:
            items.append(str(file))
    if not items:
        raise DataError("no inputs to predict: give texts as arguments or --file FILE")
    if info["input"] in ("text", "audio"):  # texts, or audio file paths
        return items
    import pandas as pd

    sequences = []
    for path in items:
        if not Path(path).is_file():
            raise DataError(f"sequence file not found: {path} (one CSV per sequence)")
        sequences.append(pd.read_csv(path).select_dtypes("number").to_numpy(np.float32))
    return sequences


def predict_command_rows(
    run_dir: Path, arguments: list[str], *, file: Path | None = None, column: str | None = None
) -> list[str]:
    """One printed line per input: the label, then each class's probability."""
    from rnnkit.predictor import load

    predictor = load(run_dir)
    if not isinstance(predictor, ClassificationPredictor):
        raise DataError(f"{run_dir} is a {predictor.task} run; predict needs a classification run")
    inputs = read_predict_inputs(predictor.info, arguments, file, column)
    lines = []
    for item, result in zip(inputs, predictor.predict(inputs), strict=True):
        probabilities = "  ".join(f"{k}={v:.3f}" for k, v in result["probabilities"].items())
        shown = str(item) if isinstance(item, str | Path) else f"sequence of {len(item)} steps"
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        lines.append(f"{result['label']}\t{probabilities}\t{shown}")
    return lines
