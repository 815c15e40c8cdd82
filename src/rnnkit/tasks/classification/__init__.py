"""Classification: one label per text or numeric sequence, against the majority class
and (for text) a bag-of-words logistic regression."""

from rnnkit.tasks.classification.config import ClassificationConfig
from rnnkit.tasks.spec import TaskSpec

_HERE = "rnnkit.tasks.classification"

SPEC = TaskSpec(
    name="classification",
    summary="label texts or numeric sequences",
    config=ClassificationConfig,
    metrics={"loss": "min", "accuracy": "max", "precision": "max", "recall": "max", "f1": "max"},
    training=f"{_HERE}.task:ClassificationTask",
    model=f"{_HERE}.model:build_model",
    predictor=f"{_HERE}.predictor:ClassificationPredictor",
    export=f"{_HERE}.export:signature",
    cli=f"{_HERE}.cli:register",
    fixture=f"{_HERE}.fixture:tiny_config",
    dataset_kinds=("labelled_text", "sequences"),
)
