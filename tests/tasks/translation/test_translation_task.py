"""TranslationModule: trains with Lightning, logs token-weighted val/loss and perplexity."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from rnnkit.config import OptimizerConfig, TrainConfig
from rnnkit.tasks.translation.config import TranslationConfig, TranslationData, TranslationModel
from rnnkit.tasks.translation.data import make_loader, prepare_pairs
from rnnkit.tasks.translation.model import Seq2Seq, sequence_loss
from rnnkit.tasks.translation.task import TranslationModule


def test_translation_module_trains_and_logs_the_token_weighted_validation_loss(tmp_path):
    folder = tmp_path / "pairs"
    folder.mkdir()
    de = ["ein hund", "eine katze läuft", "zwei hunde", "ein vogel singt laut"] * 3
    en = ["a dog", "a cat runs", "two dogs", "a bird sings loudly"] * 3
    for split in ("train", "val"):
        (folder / f"{split}.de").write_text("\n".join(de) + "\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    data = TranslationData(dataset=str(folder), source_lang="de", target_lang="en", batch_size=5)
    prepared = prepare_pairs(data)
    torch.manual_seed(0)
    config = TranslationModel(hidden_size=16, embedding_size=8, label_smoothing=0.1)
    model = Seq2Seq(
        config, len(prepared.source_pipeline.vocab), len(prepared.target_pipeline.vocab)
    )
    experiment = TranslationConfig(
        data=data, model=config, train=TrainConfig(optimizer=OptimizerConfig(lr=0.02))
    )
    module = TranslationModule(model, experiment)
    train = make_loader(prepared.splits["train"], prepared.target_pipeline, data, train=True)
    val = make_loader(prepared.splits["val"], prepared.target_pipeline, data, train=False)
    trainer = L.Trainer(
        max_epochs=15,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, train, val)
    logged = trainer.callback_metrics
    # The same quantity by hand: mean cross entropy over every target token of val.
    model.eval()
    total = tokens = 0.0
    with torch.no_grad():
        for source, lengths, target_in, target_out in val:
            n = int((target_out != 0).sum())
            total += float(sequence_loss(model(source, lengths, target_in), target_out, 0)) * n
            tokens += n
    assert float(logged["val/loss"]) == pytest.approx(total / tokens, rel=1e-5)
    assert float(logged["val/perplexity"]) == pytest.approx(math.exp(total / tokens), rel=1e-5)
    assert float(logged["val/loss"]) < 1.0  # learned: it started near log(V) = 2.8
    assert float(logged["train/loss_epoch"]) < 1.5  # the smoothed loss, once per epoch
