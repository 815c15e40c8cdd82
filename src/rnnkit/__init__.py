"""rnnkit: recurrent neural networks from open dataset to tuned, evaluated model.

The public API is small on purpose::

    import rnnkit
    run_dir = rnnkit.train("configs/ptb-word-small.yaml", overrides={"train.max_epochs": 1})
    predictor = rnnkit.load(run_dir)
    rnnkit.nn.LSTM(...)          # drop-in for torch.nn.LSTM
    rnnkit.data.get("ptb")       # local paths of a dataset's files
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rnnkit import errors

__version__ = "0.1.0"

__all__ = ["__version__", "data", "errors", "evaluate", "load", "nn", "train", "tune"]

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path


def __getattr__(name: str) -> Any:
    # Submodules are imported on first use: `import rnnkit` stays fast for the CLI.
    if name in {"nn", "data"}:
        import importlib

        return importlib.import_module(f"rnnkit.{name}")
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")


def train(
    config: str | Path | dict,
    overrides: dict | list[str] | None = None,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
) -> Path:
    """Train the experiment a config describes; returns the run directory.

    ``config`` is a YAML path or a mapping; in a mapping, ``data.dataset`` may be a pandas
    DataFrame (forecasting, classification): it is saved into the run directory as
    ``data/dataset.csv``, which the run's config.yaml names.

    Progress and INFO lines go to stderr as with ``rnnkit train`` (``quiet=True``, or
    logging configured by the caller, turns them off).
    """
    from rnnkit.console import api_logging
    from rnnkit.engine.api import train as _train

    with api_logging(quiet):
        return _train(config, overrides=overrides, run_dir=run_dir)


def evaluate(run_dir: str | Path, split: str = "test", *, quiet: bool = False) -> dict:
    """Evaluate a trained run on ``split`` (val or test); updates its metrics.json and
    returns ``{split: metrics, "baselines": {...}}``."""
    from rnnkit.console import api_logging
    from rnnkit.engine.api import evaluate as _evaluate

    with api_logging(quiet):
        return _evaluate(run_dir, split)


def load(run_dir: str | Path):
    """Load a run directory for inference (safetensors and JSON only)."""
    from rnnkit.predictor import load as _load

    return _load(run_dir)


def tune(
    config: str | Path | dict,
    overrides: dict | list[str] | None = None,
    *,
    trials: int | None = None,
    workers: int = 1,
    storage: str | None = None,
    quiet: bool = False,
):
    """Run a hyperparameter search over a config; returns the study summary."""
    from rnnkit.console import api_logging
    from rnnkit.search import tune as _tune

    with api_logging(quiet):
        return _tune(config, overrides=overrides, trials=trials, workers=workers, storage=storage)
