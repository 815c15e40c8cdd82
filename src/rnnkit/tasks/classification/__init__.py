"""Classification: one label per text, numeric sequence or audio clip, against the majority
class and a logistic regression (bag of words for text; mean and std of the features for
sequences and audio)."""

from rnnkit.tasks.classification.config import ClassificationConfig
from rnnkit.tasks.spec import TaskSpec

_HERE = "rnnkit.tasks.classification"

SPEC = TaskSpec(
    name="classification",
    summary="label texts, numeric sequences or audio clips",
    config=ClassificationConfig,
    metrics={"loss": "min", "accuracy": "max", "precision": "max", "recall": "max", "f1": "max"},
    training=f"{_HERE}.task:ClassificationTask",
    model=f"{_HERE}.model:build_model",
    predictor=f"{_HERE}.predictor:ClassificationPredictor",
    export=f"{_HERE}.export:signature",
    cli=f"{_HERE}.cli:register",
    fixture=f"{_HERE}.fixture:tiny_config",
    logged=("loss", "accuracy"),
    dataset_kinds=("labelled_text", "sequences", "audio_classes"),
)
