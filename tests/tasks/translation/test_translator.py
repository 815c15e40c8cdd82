"""Translator: a trained tiny model translates text, deterministically, in any batch."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.errors import UserError
from rnnkit.tasks.translation.config import TranslationData, TranslationModel
from rnnkit.tasks.translation.data import make_loader, prepare_pairs
from rnnkit.tasks.translation.model import Seq2Seq, sequence_loss
from rnnkit.tasks.translation.translator import Translator, baseline_scores, evaluate_split

LEXICON = {"eins": "one", "zwei": "two", "drei": "three", "vier": "four"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained to translate number words and reverse their order."""
    folder = tmp_path_factory.mktemp("numbers")
    sources = [" ".join(words) for words in itertools.permutations(LEXICON, 3)]
    targets = [" ".join(LEXICON[w] for w in reversed(s.split())) + "." for s in sources]
    for split in ("train", "test"):
        (folder / f"{split}.de").write_text("\n".join(sources) + "\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("\n".join(targets) + "\n", encoding="utf-8")
    data = TranslationData(dataset=str(folder), source_lang="de", target_lang="en", batch_size=8)
    prepared = prepare_pairs(data)
    torch.manual_seed(0)
    config = TranslationModel(hidden_size=32, embedding_size=16, beam_size=3)
    model = Seq2Seq(
        config, len(prepared.source_pipeline.vocab), len(prepared.target_pipeline.vocab)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    loader = make_loader(prepared.splits["train"], prepared.target_pipeline, data, train=True)
    for _ in range(30):
        for source, lengths, target_in, target_out in loader:
            optimizer.zero_grad()
            sequence_loss(model(source, lengths, target_in), target_out, 0).backward()
            optimizer.step()
    translator = Translator(
        model, prepared.source_pipeline, prepared.target_pipeline, prepared.cleaning, batch_size=5
    )
    return translator, prepared, data


def test_translates_and_detokenizes(trained):
    translator, _, _ = trained
    assert translator.translate(["eins zwei drei", "vier drei eins"]) == [
        "three two one.",
        "one three four.",
    ]
    assert translator.translate(["eins zwei vier"], beam_size=1) == ["four two one."]


def test_same_sentence_same_translation_in_any_batch(trained):
    translator, prepared, _ = trained
    sentences = prepared.splits["test"].raw.source
    together = translator.translate(sentences)
    alone = [translator.translate([s])[0] for s in sentences[:4]]
    assert together[:4] == alone


def test_evaluation_reports_metrics_and_baselines(trained):
    translator, prepared, data = trained
    metrics, signatures, hypotheses = evaluate_split(translator, prepared.splits["test"], data)
    assert metrics["exact_match"] == 1.0 and metrics["bleu"] == pytest.approx(100.0)
    assert metrics["perplexity"] < 1.5 and metrics["loss"] >= 0
    assert signatures["bleu"].startswith("nrefs:1|case:mixed")
    assert len(hypotheses) == 24
    baselines = baseline_scores(prepared.splits["train"], prepared.splits["test"])
    assert set(baselines) == {"copy_source", "word_dictionary"}
    assert baselines["copy_source"]["bleu"] < metrics["bleu"]


def test_empty_source_and_bad_beam_size_are_one_line_errors(trained):
    translator, _, _ = trained
    with pytest.raises(UserError, match=r"^source sentence 2 is empty \('  '\); give one"):
        translator.translate(["eins", "  "])
    with pytest.raises(UserError, match=r"^beam size 0 is not valid: use 1 \(greedy\) or more$"):
        translator.translate(["eins"], beam_size=0)


def test_attention_is_cut_to_each_sentences_own_length(trained):
    translator, _, _ = trained
    ids = translator.encode(["eins zwei drei", "vier", "zwei drei"])
    decoded = translator.decode_ids(ids, beam_size=2, return_attention=True)
    for source_ids, translation in zip(ids, decoded, strict=True):
        assert translation.attention.shape == (len(translation.tokens) + 1, len(source_ids))
        torch.testing.assert_close(
            translation.attention.sum(-1), torch.ones(len(translation.tokens) + 1)
        )
