"""The CTC output plot is written as a PNG."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.tasks.speech_recognition.plots import CTCExample, ctc_outputs_png


def test_ctc_outputs_png_is_written(tmp_path):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20, 4)) * 3
    posteriors = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    example = CTCExample(rng.normal(size=(40, 13)), posteriors, "one two", "one")
    path = ctc_outputs_png(
        [example, example], ["<blank>", "one", "two", "three"], tmp_path / "c.png", 10.0
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]
    with pytest.raises(ValueError, match="no examples"):
        ctc_outputs_png([], ["<blank>"], tmp_path / "d.png", 10.0)
