"""The long-range synthetic tasks: the adding problem and the copy memory task
(see :mod:`rnnkit.tasks.synthetic.task`)."""

from rnnkit.tasks.spec import TaskSpec
from rnnkit.tasks.synthetic.config import AddingConfig, CopyConfig

_HERE = "rnnkit.tasks.synthetic"

ADDING = TaskSpec(
    name="adding",
    summary="the adding problem: regress the sum of two marked numbers in a long sequence",
    config=AddingConfig,
    metrics={"loss": "min", "mse": "min", "rmse": "min", "mae": "min"},
    training=f"{_HERE}.task:AddingTask",
    model=f"{_HERE}.model:build_adding_model",
    predictor=f"{_HERE}.predictor:SequencePredictor",
    export=f"{_HERE}.export:signature",
    fixture=f"{_HERE}.fixture:adding_config",
    dataset_kinds=("synthetic",),
)

COPY = TaskSpec(
    name="copy",
    summary="the copy memory task: recall 10 symbols after a long blank stretch",
    config=CopyConfig,
    metrics={"loss": "min", "accuracy": "max"},
    training=f"{_HERE}.task:CopyTask",
    logged=("loss", "accuracy"),
    model=f"{_HERE}.model:build_copy_model",
    predictor=f"{_HERE}.predictor:SequencePredictor",
    export=f"{_HERE}.export:signature",
    fixture=f"{_HERE}.fixture:copy_config",
    dataset_kinds=("synthetic",),
)
