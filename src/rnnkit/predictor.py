"""Inference from a run directory: ``rnnkit.load(run_dir) -> Predictor``.

The predictor is the class the run's task declares (its spec's ``predictor``), built
from ``config.yaml``, ``preprocess/*.json`` and ``model.safetensors`` only: nothing is
unpickled, so a run directory from elsewhere can be loaded without running its code
(``checkpoints/last.ckpt`` is a pickle and is read only to resume one's own training),
and neither Lightning nor Optuna is imported.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit import rundir
from rnnkit.tasks import get_spec, load_run_config
from rnnkit.tasks.predictor import Predictor

__all__ = ["Predictor", "load"]


def load(run_dir: str | Path) -> Predictor:
    """The Predictor of a finished run (safetensors and JSON only; nothing unpickled)."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    spec = get_spec(config.task)
    info, model = rundir.load_model(run_dir, config, spec.build_model)
    return spec.predictor_class()(run_dir, config, info, model)
