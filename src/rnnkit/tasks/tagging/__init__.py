"""Sequence labelling: one tag per token (part-of-speech tags, BIO chunks and named
entities) with a word + character BiLSTM and a softmax or CRF output, against the
most-frequent-tag and suffix/shape baselines."""

from rnnkit.tasks.spec import TaskSpec
from rnnkit.tasks.tagging.config import TaggingConfig

_HERE = "rnnkit.tasks.tagging"

SPEC = TaskSpec(
    name="tagging",
    summary="tag every token of a sentence (POS tags, named entities)",
    config=TaggingConfig,
    metrics={
        "loss": "min",
        "accuracy": "max",
        "f1": "max",
        "entity_precision": "max",
        "entity_recall": "max",
        "entity_f1": "max",
    },
    logged=("loss", "accuracy"),
    training=f"{_HERE}.task:TaggingTask",
    model=f"{_HERE}.model:build_model",
    predictor=f"{_HERE}.predictor:TaggingPredictor",
    export=None,
    export_refusal=(
        "the character encoder groups words by length and the CRF decodes with Viterbi, "
        "both data-dependent Python loops that a traced graph would freeze; tag with "
        "rnnkit.load(run_dir).tag(...) or `rnnkit tag RUN_DIR TEXT`"
    ),
    cli=f"{_HERE}.cli:register",
    report=f"{_HERE}.report:sections",
    fixture=f"{_HERE}.fixture:tiny_config",
    dataset_kinds=("tagged",),
)
