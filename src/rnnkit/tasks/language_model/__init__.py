"""Language modelling: next-token prediction over a text corpus with (truncated) BPTT,
against a unigram baseline; generation with temperature, top-k and top-p."""

from rnnkit.tasks.language_model.config import LanguageModelExperiment
from rnnkit.tasks.spec import TaskSpec

_HERE = "rnnkit.tasks.language_model"

SPEC = TaskSpec(
    name="language_model",
    summary="predict the next token of a text; generate text",
    config=LanguageModelExperiment,
    metrics={"loss": "min", "perplexity": "min", "bpc": "min"},
    training=f"{_HERE}.task:LanguageModelTask",
    model=f"{_HERE}.model:build_model",
    predictor=f"{_HERE}.predictor:LanguageModelPredictor",
    export=f"{_HERE}.export:signature",
    cli=f"{_HERE}.cli:register",
    report=f"{_HERE}.report:sections",
    fixture=f"{_HERE}.fixture:tiny_config",
    logged=("loss", "ppl", "bpc"),
    dataset_kinds=("corpus",),
)
