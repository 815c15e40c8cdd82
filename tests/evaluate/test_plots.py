from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from rnnkit.evaluate.plots import confusion_matrix_png, forecast_png


def test_confusion_matrix_png_is_a_readable_image(tmp_path: Path) -> None:
    path = confusion_matrix_png([[5, 1], [2, 7]], ["neg", "pos"], tmp_path / "cm.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(path).ndim == 3
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_forecast_png_is_written_with_dates(tmp_path: Path) -> None:
    index = pd.date_range("2000-01-01", periods=30, freq="MS")
    values = np.arange(30.0)
    path = forecast_png(
        index[:24],
        values[:24],
        index[24:],
        values[24:] + 1,
        tmp_path / "plots" / "f.png",
        truth=values[24:],
        baselines={"naive": np.full(6, 23.0)},
        title="t",
    )
    assert path.exists() and imread(path).shape[0] > 100


def test_forecast_png_shades_the_interval_band(tmp_path: Path) -> None:
    index = np.arange(30)
    values = np.zeros(30)
    common = (index[:24], values[:24], index[24:], values[24:])
    plain = imread(forecast_png(*common, tmp_path / "plain.png"))
    banded = imread(
        forecast_png(*common, tmp_path / "band.png", band=(values[24:] - 1, values[24:] + 1))
    )
    assert plain.shape == banded.shape

    # The band is a translucent red: pixels with more red than green and blue appear.
    def reddish(image: np.ndarray) -> int:
        rgb = image[..., :3].astype(float)
        return int(((rgb[..., 0] - rgb[..., 1:].max(-1)) > 0.1).sum())

    assert reddish(banded) > reddish(plain) + 500


def test_attention_png_draws_a_heatmap_and_checks_its_shape(tmp_path: Path) -> None:
    from rnnkit.evaluate.plots import attention_png

    weights = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    path = attention_png(weights, ["ein", "Hund", "<eos>"], ["a", "dog"], tmp_path / "a.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(ValueError, match=r"weights of shape \(2, 3\) do not match 2 target and 2"):
        attention_png(weights, ["ein", "Hund"], ["a", "dog"], tmp_path / "b.png")
