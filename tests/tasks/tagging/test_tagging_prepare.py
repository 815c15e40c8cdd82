"""Tagging data preparation: sources, carved splits, vocabulary on train, baselines."""

from __future__ import annotations

import pytest

from rnnkit.data.catalog import UnknownDatasetError
from rnnkit.errors import DataError
from rnnkit.tasks.tagging import prepare
from rnnkit.tasks.tagging.config import TaggingData

TRAIN = "".join(f"w{i} A\nx{i} B\n\n" for i in range(20))


def test_a_folder_without_test_file_gets_one_carved_from_train(tmp_path):
    (tmp_path / "train.txt").write_text(TRAIN, encoding="utf-8")
    (tmp_path / "dev.txt").write_text("w1 A\nnew B\n", encoding="utf-8")
    config = TaggingData(dataset=str(tmp_path), split={"valid": 0.1, "test": 0.25})
    data = prepare.prepare(config, seed=3)
    assert {k: len(v) for k, v in data.sentences.items()} == {"train": 15, "val": 1, "test": 5}
    # The vocabulary comes from the 15 training sentences only: "new" is unknown.
    assert len(data.vocab.words) == 2 + 30 and "new" not in data.vocab.words
    assert data.encoded["val"][0].words[1] == data.vocab.words.unk_id
    assert data.scheme is None and data.vocab.tags == ("A", "B")
    # The carve is seeded: the same seed gives the same test sentences.
    again = prepare.load_sentences(config, seed=3)
    assert again["test"] == data.sentences["test"]


def test_sources_that_are_not_tagged_sentences_are_refused(tmp_path):
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'no-such-treebank'"):
        prepare.load_sentences(TaggingData(dataset="no-such-treebank"))
    with pytest.raises(DataError, match=r"data\.dataset='co2' is a series dataset; tagging needs"):
        prepare.load_sentences(TaggingData(dataset="co2"))
    path = tmp_path / "one.txt"
    path.write_text("a A\n", encoding="utf-8")
    with pytest.raises(DataError, match="the val split is empty"):
        prepare.load_sentences(TaggingData(dataset=str(path)))


def test_baselines_are_fitted_on_train_and_scored_on_the_split(tmp_path):
    (tmp_path / "train.txt").write_text(
        "the DET\nrun NOUN\n\nthe DET\nrun VERB\n\nwe PRON\nwalked VERB\n\n", encoding="utf-8"
    )
    (tmp_path / "dev.txt").write_text("the DET\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("we PRON\nrun VERB\ntalked VERB\n", encoding="utf-8")
    data = prepare.prepare(TaggingData(dataset=str(tmp_path)))
    scores = prepare.baselines(data.sentences, "test")
    # most frequent: run -> NOUN (first of a tie), talked -> DET (most frequent overall).
    assert scores["most_frequent_tag"]["accuracy"] == pytest.approx(1 / 3)
    # suffix/shape: talked shares "ked" with walked -> VERB.
    assert scores["suffix_shape"]["accuracy"] == pytest.approx(2 / 3)
    assert prepare.unknown_rate(data.sentences, data.vocab, "test") == pytest.approx(1 / 3)


def test_bio_tags_are_detected_and_batches_are_bucketed(tmp_path):
    text = "".join("a B-X\n" + "b O\n" * (n - 1) + "\n" for n in range(1, 9))
    (tmp_path / "train.txt").write_text(text, encoding="utf-8")
    (tmp_path / "dev.txt").write_text("a B-X\nb O\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("a O\n", encoding="utf-8")
    data = prepare.prepare(TaggingData(dataset=str(tmp_path)))
    assert data.scheme == "BIO"
    loader = prepare.make_loader(data.encoded["train"], 2, shuffle=False)
    assert [b["lengths"].tolist() for b in loader] == [[1, 2], [3, 4], [5, 6], [7, 8]]


@pytest.mark.data
@pytest.mark.slow  # parses the whole treebank: about 10 s
def test_ud_english_ewt_upos_baselines():
    data = prepare.prepare(TaggingData(dataset="ud-english-ewt", offline=True))
    assert len(data.vocab.tags) == 17 and data.scheme is None
    assert len(data.vocab.words) == 2 + 19_674  # every training word form (min_freq 1)
    scores = prepare.baselines(data.sentences, "test")
    # 21,631 and 22,346 of the 25,094 test words.
    assert scores["most_frequent_tag"]["accuracy"] == pytest.approx(21_631 / 25_094)
    assert scores["suffix_shape"]["accuracy"] == pytest.approx(22_346 / 25_094)
