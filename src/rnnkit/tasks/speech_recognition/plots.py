"""The report's picture of a CTC model at work: each clip's features, and above its
frames, the probability the model gives each symbol (the blank dashed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.evaluate.plots import _figure, _save


@dataclass(frozen=True)
class CTCExample:
    """One clip: features ``(T, F)``, posteriors ``(T', S)`` (probabilities, not logs),
    the reference and decoded transcripts."""

    features: np.ndarray
    posteriors: np.ndarray
    reference: str
    hypothesis: str


def ctc_outputs_png(
    examples: Sequence[CTCExample], symbols: Sequence[str], path: Path, hop_ms: float
) -> Path:
    """Two panels per example: the features over time and the frame-wise CTC outputs.

    Output frame ``t'`` covers input frames ``t' * T / T'`` onwards (the subsampling), so
    both panels share the time axis in seconds.
    """
    if not examples:
        raise ValueError("no examples to plot")
    figure = _figure(10.0, 3.2 * len(examples))
    axes = figure.subplots(2 * len(examples), 1, squeeze=False)[:, 0]
    for i, example in enumerate(examples):
        spectrum, outputs = axes[2 * i], axes[2 * i + 1]
        steps = example.features.shape[0]
        seconds = steps * hop_ms / 1000
        spectrum.imshow(
            example.features.T,
            aspect="auto",
            origin="lower",
            extent=(0.0, seconds, 0, example.features.shape[1]),
            cmap="magma",
        )
        spectrum.set_ylabel("feature")
        spectrum.set_title(f"reference: {example.reference!r}   decoded: {example.hypothesis!r}")
        out_steps = example.posteriors.shape[0]
        times = (np.arange(out_steps) + 0.5) * seconds / max(out_steps, 1)
        outputs.plot(times, example.posteriors[:, 0], "k--", linewidth=1, label=symbols[0])
        for symbol in range(1, example.posteriors.shape[1]):
            curve = example.posteriors[:, symbol]
            if curve.max() < 0.2:  # symbols the model never considers stay off the legend
                continue
            outputs.plot(times, curve, linewidth=1.5, label=repr(symbols[symbol]))
        outputs.set_xlim(0.0, seconds)
        outputs.set_ylim(0.0, 1.05)
        outputs.set_ylabel("p(symbol)")
        outputs.legend(loc="upper right", fontsize="x-small", ncol=6)
    axes[-1].set_xlabel("time (s)")
    figure.tight_layout()
    return _save(figure, path)


__all__ = ["CTCExample", "ctc_outputs_png"]
