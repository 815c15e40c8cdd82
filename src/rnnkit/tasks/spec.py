"""The task plug-in contract: what a task declares (:class:`TaskSpec`) and what its
training side implements (:class:`Task`).

A task is one folder ``rnnkit/tasks/<name>/`` whose ``__init__.py`` defines a
:class:`TaskSpec`, plus one line in :data:`rnnkit.tasks.TASKS`. The spec names
everything generic code needs, so none of it switches on task names:

* ``config``: the task's :class:`rnnkit.config.Config` subclass (its ``data:`` and
  ``model:`` sections); loading a config picks it by ``task:`` before parsing fields;
* ``metrics``: metric name -> direction ("min" or "max"), for tuning and early stopping;
  "near" for a metric that should be close to its ``nominal`` value (interval coverage);
* ``training``: the :class:`Task` implementation (data, LightningModule, evaluation,
  baselines). It imports Lightning and is loaded only to train or evaluate;
* ``model``: ``build_model(config, info) -> nn.Module`` (torch only: inference uses it);
* ``predictor``: the :class:`rnnkit.tasks.predictor.Predictor` subclass ``rnnkit.load``
  returns (no Lightning, no Optuna);
* ``export``: ``signature(model, info) -> rnnkit.export.Signature`` (or a tuple of
  named signatures, one per graph, for a model that runs as several), or None when the
  task's models cannot be exported (``export_refusal`` says why);
* ``cli``: ``register(app)`` adding the task's own command (``rnnkit forecast``...);
* ``report``: ``sections(run_dir, config) -> [(title, html)]`` for report.html, or None;
* ``fixture``: ``tiny_config(folder) -> dict``, a config that trains in seconds on data
  it writes into ``folder`` or generates: the contract test runs every task through it.

Heavy parts are ``"module:attribute"`` strings imported on first use, so that reading a
spec (``rnnkit --help``, config errors) costs no torch or Lightning import.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from rnnkit.config import Config
    from rnnkit.tasks.module import RecurrentModule

Direction = Literal["min", "max", "near"]


def resolve(reference: str) -> Any:
    """The object a ``"package.module:attribute"`` string names."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class TaskSpec:
    """Everything rnnkit's generic code asks of one task (see the module docstring)."""

    name: str
    summary: str
    config: type[Config]
    metrics: dict[str, Direction]
    training: str
    model: str
    predictor: str
    fixture: str
    export: str | None = None
    export_refusal: str = ""
    cli: str | None = None
    #: ``sections(run_dir, config_dict) -> [(title, html)]`` the task adds to report.html.
    report: str | None = None
    #: Metrics its LightningModule logs at every validation (``val/<name>``): what early
    #: stopping can monitor and a pruner can compare during training.
    logged: tuple[str, ...] = ("loss",)
    #: The kinds of :class:`rnnkit.data.types.LoadedDataset` the task reads.
    dataset_kinds: tuple[str, ...] = ()
    #: The value each "near" metric should have (``coverage_80``: 0.8): closer is better.
    nominal: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "loss" not in self.metrics:
            raise ValueError(f"task {self.name}: metrics must include 'loss'")
        near = {name for name, direction in self.metrics.items() if direction == "near"}
        if near != set(self.nominal):
            raise ValueError(f"task {self.name}: 'near' metrics {near} need a nominal value")

    def load_training(self) -> Task:
        return resolve(self.training)()

    def build_model(self, config: Config, info: dict[str, Any]) -> nn.Module:
        return resolve(self.model)(config, info)

    def predictor_class(self) -> type:
        return resolve(self.predictor)

    def tiny_config(self, folder: Path) -> dict[str, Any]:
        return resolve(self.fixture)(folder)


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
    """The training side of a task. Every method is called on every process of a run."""

    def prepare(self, config: Config, run_dir: Path) -> PreparedData:
        """Load the dataset and turn it into batches.

        Preprocessing is fitted on the training split only and saved as JSON under
        ``run_dir/preprocess/``. When that folder already holds it (a resumed run, or
        ``rnnkit evaluate``), it is loaded instead of fitted again, so every process
        and every later command sees the same vocabulary or scaler.
        """
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
