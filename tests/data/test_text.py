"""Text preprocessing: cleaning, tokenizers, Vocab, TextPipeline, cached corpus ids."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data import text
from rnnkit.data.text import (
    STOP_WORDS,
    BPETokenizer,
    CharTokenizer,
    TextPipeline,
    Vocab,
    WhitespaceTokenizer,
    WordTokenizer,
    clean_text,
    encode_corpus,
    tokenizer_from_json,
)
from rnnkit.errors import DataError, UserError
from rnnkit.tasks.classification.config import ClassificationData as DataConfig

# ----------------------------------------------------------------------------- cleaning


def test_clean_text_strips_html_and_collapses_whitespace() -> None:
    raw = "A <b>fine</b> film.<br /><br />Really &amp; truly\t\n good."
    assert clean_text(raw, strip_html=True) == "A fine film. Really & truly good."
    # Without strip_html the tags stay: cleaning does only what it is asked to.
    assert clean_text(raw) == "A <b>fine</b> film.<br /><br />Really &amp; truly good."


def test_clean_text_lowercase_numbers_and_stopwords() -> None:
    raw = "The 3 films cost $1,250.50 and I did NOT like them"
    assert clean_text(raw, lowercase=True) == raw.lower()
    assert clean_text(raw, mask_numbers=True) == (
        "The <num> films cost $<num> and I did NOT like them"
    )
    # Stop words go case-insensitively; negations are kept on purpose.
    assert clean_text(raw, remove_stopwords=True) == "3 films cost $1,250.50 NOT like"
    assert "not" not in STOP_WORDS and "the" in STOP_WORDS


def test_clean_text_unicode_normalization() -> None:
    assert clean_text("ﬁne café", unicode_normalization="NFKC") == "fine café"
    assert clean_text("e\u0301", unicode_normalization="NFC") == "\u00e9"
    with pytest.raises(UserError, match=r"'NFX' is not one of NFC, NFKC, NFD, NFKD"):
        clean_text("x", unicode_normalization="NFX")  # type: ignore[arg-type]


def test_clean_text_can_keep_whitespace_for_characters() -> None:
    assert clean_text(" a\n  b ", collapse_whitespace=False) == " a\n  b "


# ----------------------------------------------------------------------------- tokenizers


def test_word_tokenizer_keeps_punctuation_and_specials() -> None:
    tokens = WordTokenizer().tokenize("Don't stop, <unk> costs 3.5 (really)!")
    assert tokens == [
        "Don't",
        "stop",
        ",",
        "<unk>",
        "costs",
        "3",
        ".",
        "5",
        "(",
        "really",
        ")",
        "!",
    ]
    assert WordTokenizer().detokenize(["Hello", ",", "world", "(", "yes", ")", "!"]) == (
        "Hello, world (yes)!"
    )


def test_char_and_whitespace_tokenizers_round_trip() -> None:
    assert CharTokenizer().tokenize("ab c\n") == ["a", "b", " ", "c", "\n"]
    assert CharTokenizer().detokenize(list("ab c\n")) == "ab c\n"
    assert WhitespaceTokenizer().tokenize(" the <unk> cat  sat ") == ["the", "<unk>", "cat", "sat"]


def test_bpe_round_trips_any_text_and_reloads_from_json() -> None:
    corpus = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs"] * 20
    bpe = BPETokenizer.train(corpus, vocab_size=300)
    sample = "the cat sat on a naïve dog 🐈"
    tokens = bpe.tokenize(sample)
    assert bpe.detokenize(tokens) == sample  # byte-level: nothing is unknown
    assert len(bpe.tokenize("the cat sat")) < len("the cat sat")  # merges were learnt
    again = tokenizer_from_json(json.loads(json.dumps(bpe.to_json())))
    assert again.tokenize(sample) == tokens
    # Training is deterministic: the same corpus gives the same model.
    assert BPETokenizer.train(corpus, vocab_size=300).to_json() == bpe.to_json()


def test_bpe_vocab_size_too_small() -> None:
    with pytest.raises(UserError, match="bpe vocab_size 100 is too small"):
        BPETokenizer.train(["abc"], vocab_size=100)


def test_unknown_tokenizer_type() -> None:
    with pytest.raises(DataError, match="tokenizer type 'spaces' is not one of char, word"):
        tokenizer_from_json({"type": "spaces"})


# ----------------------------------------------------------------------------- vocabulary


def test_vocab_fixed_specials_and_deterministic_order() -> None:
    vocab = Vocab.build([["b", "a", "b"], ["c", "a", "d", "e", "e"]])
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    # b, a, e twice (in order of first appearance), then c and d once.
    assert vocab.itos == ["<pad>", "<unk>", "<bos>", "<eos>", "b", "a", "e", "c", "d"]
    assert len(vocab) == 9 and "e" in vocab and "z" not in vocab
    assert vocab.encode(["a", "z", "b"]) == [5, 1, 4]
    assert vocab.decode([5, 1, 4]) == ["a", "<unk>", "b"]


def test_vocab_min_freq_and_max_size() -> None:
    sequences = [["x"] * 5 + ["y"] * 3 + ["z"] * 1]
    assert Vocab.build(sequences, min_freq=2).itos[4:] == ["x", "y"]
    assert Vocab.build(sequences, max_size=5).itos[4:] == ["x"]  # max_size counts specials
    with pytest.raises(UserError, match="max_size 3 cannot hold the 4 special tokens"):
        Vocab.build(sequences, max_size=3)


def test_vocab_maps_corpus_specials_to_the_fixed_ids() -> None:
    # PTB writes <unk> and <eos> literally; they must not become ordinary words.
    vocab = Vocab.build([["the", "<unk>", "cat", "<eos>", "<unk>"]])
    assert vocab.itos == ["<pad>", "<unk>", "<bos>", "<eos>", "the", "cat"]
    assert vocab.encode(["<unk>", "<eos>"]) == [1, 3]


def test_vocab_errors_name_the_bad_value() -> None:
    with pytest.raises(DataError, match="empty corpus"):
        Vocab.build([[], []])
    vocab = Vocab.build([["a"]])
    with pytest.raises(UserError, match=r"token id 7 is outside the vocabulary \(0\.\.4\)"):
        vocab.decode([4, 7])
    with pytest.raises(UserError, match="must include '<unk>'"):
        Vocab.build([["a"]], specials=("<pad>",))


def test_vocab_save_load(tmp_path: Path) -> None:
    vocab = Vocab.build([["ü", "b", "ü", '"q"']])
    path = vocab.save(tmp_path / "vocab.json")
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"][4:] == ["ü", "b", '"q"']
    assert Vocab.load(path) == vocab
    (tmp_path / "bad.json").write_text('{"tokens": []}')
    with pytest.raises(DataError, match=r"bad\.json: not an rnnkit vocabulary"):
        Vocab.load(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DataError, match=r"broken\.json: not valid JSON"):
        Vocab.load(tmp_path / "broken.json")


tokens_strategy = st.lists(
    st.text(alphabet="abc<>_é", min_size=1, max_size=3), min_size=1, max_size=30
)


@settings(max_examples=40, deadline=None)
@given(tokens_strategy, tokens_strategy)
def test_vocab_round_trip_property(train: list[str], other: list[str]) -> None:
    vocab = Vocab.build([train])
    specials = set(vocab.specials)
    # Every training token survives encode -> decode; the rest become <unk>.
    assert vocab.decode(vocab.encode(train)) == train
    expected = [t if t in set(train) | specials else "<unk>" for t in other]
    assert vocab.decode(vocab.encode(other)) == expected
    assert Vocab.from_json(json.loads(json.dumps(vocab.to_json()))) == vocab
    # Ids are dense and follow the counts.
    ordinary = vocab.itos[len(vocab.specials) :]
    counts = [train.count(t) for t in ordinary]
    assert counts == sorted(counts, reverse=True)


# ----------------------------------------------------------------------------- pipeline


def test_pipeline_from_config_fit_encode_decode() -> None:
    config = DataConfig(dataset="x", tokenizer="word", lowercase=True, min_freq=2)
    pipeline = TextPipeline.from_config(config).fit(["The film, the plot.", "THE film was fine."])
    assert pipeline.vocab is not None
    assert pipeline.vocab.itos[4:] == ["the", "film", "."]
    ids = pipeline.encode("The film was fine.", add_bos=True, add_eos=True)
    assert ids == [2, 4, 5, 1, 1, 6, 3]
    assert pipeline.decode([4, 5, 6, 3, 4, 0, 0]) == "the film.\nthe"


def test_pipeline_char_decodes_by_joining() -> None:
    pipeline = TextPipeline("char").fit(["ab a\nb"])
    ids = pipeline.encode("ba\n ab")
    assert pipeline.decode(ids) == "ba\n ab"
    assert pipeline.decode([*pipeline.encode("ab"), pipeline.vocab.eos_id]) == "ab\n"


@pytest.mark.parametrize("tokenizer", ["char", "word", "whitespace", "bpe"])
def test_pipeline_save_load_as_json(tmp_path: Path, tokenizer: str) -> None:
    texts = ["A <br />fine film, 10/10.", "A dull film.", "Fine fine fine!"] * 5
    config = DataConfig(dataset="x", tokenizer=tokenizer, strip_html=True, bpe_vocab_size=280)
    pipeline = TextPipeline.from_config(config).fit(texts)
    pipeline.save(tmp_path / "preprocess")
    written = sorted(p.name for p in (tmp_path / "preprocess").iterdir())
    expected = ["text_pipeline.json", "vocab.json"]
    if tokenizer == "bpe":
        expected = ["bpe_tokenizer.json", *expected]
    assert written == expected
    for path in (tmp_path / "preprocess").iterdir():
        json.loads(path.read_text(encoding="utf-8"))  # plain JSON, nothing pickled
    loaded = TextPipeline.load(tmp_path / "preprocess")
    sample = "A fine<br /> dull film!"
    assert loaded.encode(sample) == pipeline.encode(sample)
    assert loaded.decode(loaded.encode(sample)) == pipeline.decode(pipeline.encode(sample))
    assert loaded.fingerprint() == pipeline.fingerprint()
    assert loaded.encode_batch([sample, "Fine!"]) == [loaded.encode(sample), loaded.encode("Fine!")]
    if tokenizer == "word":
        # The rule is written out, so a user outside Python can reproduce the tokens.
        import re

        rule = json.loads((tmp_path / "preprocess" / "text_pipeline.json").read_text())
        regex = rule["tokenization"].split("regular expression ")[1].split(" (Python")[0]
        cleaned = "a fine film, 10/10."
        assert re.findall(regex, cleaned) == pipeline.tokenizer.tokenize(cleaned)


def test_pipeline_errors() -> None:
    with pytest.raises(DataError, match="empty corpus"):
        TextPipeline("word").fit(["", "   "])
    with pytest.raises(UserError, match="tokenizer 'sentencepiece' is not one of char, word"):
        TextPipeline("sentencepiece")
    with pytest.raises(RuntimeError, match="not fitted"):
        TextPipeline("word").encode("a")


# ----------------------------------------------------------------------------- corpora


def _word_pipeline(lines: list[str]) -> TextPipeline:
    return TextPipeline("whitespace").fit(lines)


def test_encode_corpus_appends_eos_per_line(tmp_path: Path) -> None:
    source = tmp_path / "data" / "train.txt"
    source.parent.mkdir()
    source.write_text(" the cat <unk> \n\n a cat\n", encoding="utf-8")
    pipeline = _word_pipeline(source.read_text().splitlines())
    ids = encode_corpus(source, pipeline, add_eos=True, cache_dir=tmp_path / "cache")
    vocab = pipeline.vocab
    expected = [*vocab.encode(["the", "cat", "<unk>"]), 3, 3, *vocab.encode(["a", "cat"]), 3]
    assert ids.tolist() == expected
    assert isinstance(ids, np.memmap) and ids.dtype == np.int32
    # The source is outside the cache, so the ids go to the cache's tokens/ folder.
    assert [p.parent.name for p in (tmp_path / "cache").rglob("*.npy")] == ["tokens"]
    no_eos = encode_corpus(source, pipeline, add_eos=False, cache_dir=tmp_path / "cache")
    assert no_eos.tolist() == [i for i in expected if i != 3]


def test_encode_corpus_second_run_reads_the_cache(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "train.txt"
    source.write_text("a b c\nb c\n", encoding="utf-8")
    pipeline = _word_pipeline(["a b c", "b c"])
    first = encode_corpus(source, pipeline, add_eos=True, cache_dir=tmp_path)
    # Cached next to the source (it lies inside the cache folder).
    assert len(list(tmp_path.glob("train.txt.*.ids.npy"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(text, "_write_ids", fail)
    assert encode_corpus(source, pipeline, add_eos=True, cache_dir=tmp_path).tolist() == (
        first.tolist()
    )
    # A different source (same name) or different settings is a different key.
    source.write_text("c c\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="tokenized again"):
        encode_corpus(source, pipeline, add_eos=True, cache_dir=tmp_path)


def test_encode_corpus_char_keeps_newlines(tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text("ab\nba\n", encoding="utf-8")
    pipeline = TextPipeline("char").fit([source.read_text()])
    ids = encode_corpus(source, pipeline, add_eos=False, cache_dir=tmp_path)
    assert pipeline.decode(ids) == "ab\nba\n"
    assert ids.tolist() == pipeline.encode("ab\nba\n")
    with_eos = encode_corpus(source, pipeline, add_eos=True, cache_dir=tmp_path)
    assert with_eos.tolist().count(pipeline.vocab.eos_id) == 2


def test_encode_corpus_reads_gzip_and_rejects_empty(tmp_path: Path) -> None:
    source = tmp_path / "train.en.gz"
    with gzip.open(source, "wt", encoding="utf-8") as handle:
        handle.write("x y\ny\n")
    pipeline = _word_pipeline(["x y", "y"])
    assert encode_corpus(source, pipeline, add_eos=True, cache_dir=tmp_path).tolist() == [
        *pipeline.vocab.encode(["x", "y"]),
        3,
        pipeline.vocab["y"],
        3,
    ]
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty.txt: the corpus is empty \(no tokens\)"):
        encode_corpus(empty, pipeline, add_eos=True, cache_dir=tmp_path)
    with pytest.raises(DataError, match=r"corpus file not found: .*missing\.txt"):
        encode_corpus(tmp_path / "missing.txt", pipeline, add_eos=True, cache_dir=tmp_path)


def test_encode_corpus_leaves_no_partial_file(tmp_path: Path) -> None:
    source = tmp_path / "latin1.txt"
    source.write_bytes(b"a b\n" * 5000 + b"caf\xe9\n")
    pipeline = _word_pipeline(["a b"])
    # 5000 lines of four bytes, then "caf": the seventh byte of the line is offset 20003.
    with pytest.raises(
        DataError, match=r"latin1\.txt is not a UTF-8 corpus: byte 0xe9 at offset 20003 is not"
    ):
        encode_corpus(source, pipeline, add_eos=True, cache_dir=tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


@pytest.mark.data
@pytest.mark.slow
def test_ptb_train_token_count(mirror: Path, tmp_path: Path) -> None:
    source = mirror / "ptb" / "ptb.train.txt"
    pipeline = TextPipeline("whitespace").fit(source.read_text(encoding="utf-8").splitlines())
    ids = encode_corpus(source, pipeline, add_eos=True, cache_dir=tmp_path)
    assert ids.shape == (929_589,)
    # 10,000 word types (<unk> and <eos> among them), plus the unused <pad> and <bos>.
    assert len(np.unique(ids)) == 10_000
    assert len(pipeline.vocab) == 10_002
    assert pipeline.decode(ids[-6:]) == "prominent according to mr. <unk>\n"
