"""The task interface: what the engine asks of language modelling, classification and
forecasting.

The engine (:mod:`rnnkit.train.api`) is the same for every task. It seeds, creates the
run directory, asks the task for data, a model and a LightningModule, trains with a
Trainer built from ``config.train``, then asks the task to evaluate. A task is any
object with the methods of :class:`Task`, registered in :data:`TASKS` under the name
``config.task`` uses::

    TASKS["classification"] = "rnnkit.train.classification:ClassificationTask"

Entries are ``"module:attribute"`` strings so that ``import rnnkit`` and the CLI stay
fast; :func:`get_task` imports the one a config asks for and instantiates it with no
arguments.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from rnnkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from rnnkit.config import Config
    from rnnkit.train.module import RecurrentModule


@dataclass
class PreparedData:
    """What :meth:`Task.prepare` hands to the engine.

    ``train``, ``val`` and ``test`` are iterables of batches (DataLoaders, or any
    iterable with ``__len__``); ``val`` and ``test`` may be None where a split is empty.
    ``info`` is the JSON-serialisable description the model is built from (vocabulary
    size, number of classes, input channels...): the engine saves it as
    ``preprocess/info.json`` so that inference rebuilds the model without the data.
    ``artifacts`` holds whatever else the task fitted (a text pipeline, a scaler) for its
    own evaluation; the engine does not look inside.
    """

    train: Iterable[Any]
    val: Iterable[Any] | None
    test: Iterable[Any] | None
    info: dict[str, Any]
    artifacts: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    """One kind of experiment. Every method is called on every process of a run."""

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        """Load the dataset and turn it into batches.

        Preprocessing is fitted on the training split only and saved as JSON under
        ``run_dir/preprocess/``. When that folder already holds it (a resumed run, or
        ``rnnkit evaluate``), it is loaded instead of fitted again, so every process
        and every later command sees the same vocabulary or scaler.
        """
        ...

    def build_model(self, config: Config, info: dict[str, Any]) -> nn.Module:
        """The task's model, built from the config and ``PreparedData.info`` only."""
        ...

    def build_module(
        self, config: Config, model: nn.Module, prepared: PreparedData
    ) -> RecurrentModule:
        """The LightningModule that trains ``model`` (a :class:`RecurrentModule`)."""
        ...

    def evaluate(
        self, config: Config, model: nn.Module, prepared: PreparedData, split: str
    ) -> dict[str, float]:
        """Metrics of ``model`` on ``split`` ("val" or "test"), lower-case keys."""
        ...

    def baselines(
        self, config: Config, prepared: PreparedData, split: str
    ) -> dict[str, dict[str, float]]:
        """Metrics of simple reference predictors on ``split``, by baseline name."""
        ...


#: config.task -> "module:attribute" of a class implementing :class:`Task`.
TASKS: dict[str, str] = {
    "language_model": "rnnkit.train.language_model:LanguageModelTask",
    "sequence_regression": "rnnkit.train.long_range:AddingTask",
    "sequence_labeling": "rnnkit.train.long_range:CopyTask",
    "forecasting": "rnnkit.train.forecasting:ForecastingTask",
    "classification": "rnnkit.train.classification:ClassificationTask",
}


def get_task(name: str) -> Task:
    """The registered task called ``name`` (``config.task``)."""
    if name not in TASKS:
        valid = ", ".join(sorted(TASKS))
        raise ConfigError(f"task={name!r} is not available; available tasks: {valid}")
    module_name, _, attribute = TASKS[name].partition(":")
    task_class = getattr(importlib.import_module(module_name), attribute)
    return task_class()
