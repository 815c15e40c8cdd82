"""The base of every task's predictor: a trained model with its preprocessing.

``rnnkit.load(run_dir)`` (see :mod:`rnnkit.predictor`) returns the predictor class the
run's task declares. Predictors are built from ``config.yaml``, ``preprocess/*.json``
and ``model.safetensors`` only, and import neither Lightning nor Optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.config import Config
from rnnkit.errors import WrongTaskError


class Predictor:
    """A trained model with its preprocessing, ready for inference on CPU.

    Each task's subclass adds its verb (``generate``, ``predict``, ``forecast``...).
    Asking a predictor for another task's verb is a :class:`WrongTaskError` naming the task
    that has it.
    """

    def __init__(self, run_dir: Path, config: Config, info: dict[str, Any], model: nn.Module):
        self.run_dir = run_dir
        self.config = config
        self.info = info
        self.model = model

    @property
    def task(self) -> str:
        return self.config.task

    def __repr__(self) -> str:
        return f"Predictor(task={self.task!r}, run_dir={str(self.run_dir)!r})"

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes the task's predictor lacks.
        from rnnkit.tasks import specs

        if not name.startswith("_"):
            owners = [s.name for s in specs() if hasattr(s.predictor_class(), name)]
            if owners:
                raise WrongTaskError(
                    f"{name}() needs a {' or '.join(owners)} run; "
                    f"{self.run_dir} is a {self.task} run"
                )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
