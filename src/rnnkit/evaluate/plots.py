"""Task plots as PNG files, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnkit.data.files import umask


def _figure(width: float, height: float):
    # The object-oriented API with an Agg canvas never touches pyplot's global state, so
    # plotting works in threads, tests and on machines without a display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temp, format="png", bbox_inches="tight")
        # mkstemp's file is private (0600); a plot gets what any new file gets.
        os.chmod(temp, 0o666 & ~umask())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path


def confusion_matrix_png(
    matrix: Sequence[Sequence[int]] | np.ndarray, class_names: Sequence[str], path: Path
) -> Path:
    """Draw a confusion matrix (true classes in rows, predictions in columns) with counts."""
    counts = np.asarray(matrix, dtype=np.int64)
    size = max(3.0, 0.6 * len(class_names) + 2.0)
    figure = _figure(size, size)
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right")
    axes.set_yticks(ticks, labels=list(class_names))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = counts.max() / 2 if counts.size else 0
    for row in range(counts.shape[0]):
        for col in range(counts.shape[1]):
            color = "white" if counts[row, col] > threshold else "black"
            axes.text(col, row, str(counts[row, col]), ha="center", va="center", color=color)
    return _save(figure, path)


def forecast_png(
    history_index: Sequence,
    history: np.ndarray,
    forecast_index: Sequence,
    forecast: np.ndarray,
    path: Path,
    *,
    truth: np.ndarray | None = None,
    baselines: dict[str, np.ndarray] | None = None,
    band: tuple[np.ndarray, np.ndarray] | None = None,
    band_label: str = "80% interval",
    title: str = "",
    target_name: str = "value",
) -> Path:
    """Plot the history, the forecast, the truth over the forecast span and baselines.

    ``history`` is (T,) and ``forecast``/``truth``/each baseline (H,), for one target;
    ``band`` (lower, upper), each (H,), is shaded around the forecast.
    """
    figure = _figure(10, 4)
    axes = figure.add_subplot()
    # Arrays, not lists of Timestamps: matplotlib converts datetime64 in one go.
    past, future = np.asarray(history_index), np.asarray(forecast_index)
    axes.plot(past, np.asarray(history), color="0.35", lw=1.0, label="history")
    if truth is not None:
        axes.plot(future, np.asarray(truth), color="black", lw=1.2, label="truth")
    for name, values in (baselines or {}).items():
        axes.plot(future, np.asarray(values), lw=0.9, ls="--", label=name)
    if band is not None:
        axes.fill_between(
            future,
            np.asarray(band[0]),
            np.asarray(band[1]),
            color="tab:red",
            alpha=0.2,
            lw=0,
            label=band_label,
        )
    axes.plot(future, np.asarray(forecast), color="tab:red", lw=1.6, label="forecast")
    axes.set_ylabel(target_name)
    axes.set_title(title)
    # A fixed corner: "best" tries every placement against every plotted point.
    axes.legend(loc="upper left", fontsize="small")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _save(figure, path)


def attention_png(
    weights: np.ndarray,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    path: Path,
    *,
    title: str = "",
) -> Path:
    """Draw attention weights (target tokens in rows, source tokens in columns)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(
            f"weights of shape {weights.shape} do not match {len(target_tokens)} target and "
            f"{len(source_tokens)} source tokens"
        )
    figure = _figure(
        max(3.0, 0.4 * len(source_tokens) + 1.5), max(3.0, 0.4 * len(target_tokens) + 1.5)
    )
    axes = figure.add_subplot()
    axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(
        np.arange(len(source_tokens)), labels=list(source_tokens), rotation=60, ha="right"
    )
    axes.set_yticks(np.arange(len(target_tokens)), labels=list(target_tokens))
    axes.set_xlabel("source")
    axes.set_ylabel("translation")
    axes.set_title(title, fontsize="small")
    return _save(figure, path)
