"""Translation: sentence pairs -> a recurrent encoder-decoder with attention, decoded
greedily or with beam search, scored with sacreBLEU against copy and word-dictionary
baselines."""

from rnnkit.tasks.spec import TaskSpec
from rnnkit.tasks.translation.config import TranslationConfig

_HERE = "rnnkit.tasks.translation"

SPEC = TaskSpec(
    name="translation",
    summary="translate sentences with an attention encoder-decoder",
    config=TranslationConfig,
    metrics={
        "loss": "min",
        "perplexity": "min",
        "bleu": "max",
        "bleu_lowercase": "max",
        "bleu_clean_reference": "max",
        "chrf": "max",
        "exact_match": "max",
    },
    logged=("loss", "perplexity"),
    training=f"{_HERE}.task:TranslationTask",
    model=f"{_HERE}.model:build_model",
    predictor=f"{_HERE}.predictor:TranslationPredictor",
    export=f"{_HERE}.export:signature",
    cli=f"{_HERE}.cli:register",
    fixture=f"{_HERE}.fixture:tiny_config",
    dataset_kinds=("pairs",),
)
