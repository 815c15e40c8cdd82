"""Tagged sentences from CoNLL-U and column files: words, tags, splits, errors, schemes."""

from __future__ import annotations

import gzip
import lzma
from collections import Counter

import pytest

from rnnkit.data import catalog, conll, sources
from rnnkit.data.conll import Sentence
from rnnkit.errors import ConfigError, DataError

# Two sentences; the first has a multi-word token (1-2) and an empty node (3.1).
CONLLU = """\
# newdoc id = d1
# sent_id = s1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
3.1\tgo\t_\t_\t_\t_\t_\t_\t0:root\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = s2
1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_conllu_keeps_syntactic_words_and_skips_ranges_and_empty_nodes(tmp_path):
    path = write(tmp_path / "a.conllu", CONLLU)
    assert conll.read_tagged(path) == [
        Sentence(("Do", "n't", "go", "."), ("AUX", "PART", "VERB", "PUNCT"), 1),
        Sentence(("Hi",), ("INTJ",), 11),
    ]
    xpos = conll.read_tagged(path, tag_column="xpos")
    assert [s.tags for s in xpos] == [("VBP", "RB", "VB", "."), ("UH",)]


def test_compressed_files_read_like_plain_ones(tmp_path):
    plain = conll.read_tagged(write(tmp_path / "a.conllu", CONLLU))
    with lzma.open(tmp_path / "a.conllu.xz", "wt", encoding="utf-8") as handle:
        handle.write(CONLLU)
    with gzip.open(tmp_path / "b.conllu.gz", "wt", encoding="utf-8") as handle:
        handle.write(CONLLU)
    assert conll.read_tagged(tmp_path / "a.conllu.xz") == plain
    assert conll.read_tagged(tmp_path / "b.conllu.gz") == plain


def test_conllu_errors_name_file_and_line(tmp_path):
    ragged = write(
        tmp_path / "r.conllu",
        CONLLU.replace("3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_", "3\tgo\tgo\tVERB"),
    )
    with pytest.raises(
        DataError, match=r"r\.conllu, line 7: 4 tab-separated columns; CoNLL-U has 10"
    ):
        conll.read_tagged(ragged)
    path = write(tmp_path / "a.conllu", CONLLU)
    with pytest.raises(ConfigError, match=r"data\.tag_column='pos' .* use upos or xpos"):
        conll.read_tagged(path, tag_column="pos")
    empty = write(
        tmp_path / "e.conllu", CONLLU + "\n# sent_id = s3\n1-2\tAb\t_\t_\t_\t_\t_\t_\t_\t_\n"
    )
    with pytest.raises(DataError, match=r"e\.conllu, line 14: a sentence of zero words"):
        conll.read_tagged(empty)
    untagged = write(tmp_path / "u.conllu", CONLLU.replace("INTJ\tUH", "INTJ\t_"))
    with pytest.raises(DataError, match=r"u\.conllu, line 12: the word 'Hi' has no xpos tag"):
        conll.read_tagged(untagged, tag_column="xpos")


COLUMNS = """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC


Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_column_files_skip_docstart_and_split_at_blank_lines(tmp_path):
    path = write(tmp_path / "train.txt", COLUMNS)
    assert conll.read_tagged(path) == [
        Sentence(("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC"), 3),
        Sentence(("Peter", "Blackburn"), ("B-PER", "I-PER"), 8),
    ]
    chunks = conll.read_tagged(path, tag_column=2)
    assert chunks[1].tags == ("B-NP", "I-NP")
    pos = conll.read_tagged(path, token_column=0, tag_column=1)
    assert pos[0].tags == ("NNP", "VBZ", "JJ")
    # Tabs separate columns when present: a token may then hold spaces.
    tabs = write(tmp_path / "t.tsv", "New York\tB-LOC\nis\tO\n")
    assert conll.read_tagged(tabs) == [Sentence(("New York", "is"), ("B-LOC", "O"), 1)]


def test_column_file_errors_name_file_and_line(tmp_path):
    ragged = write(tmp_path / "r.txt", COLUMNS.replace("rejects VBZ B-VP O", "rejects VBZ O"))
    with pytest.raises(
        DataError, match=r"r\.txt, line 4: 3 columns where the file's first token line has 4"
    ):
        conll.read_tagged(ragged)
    path = write(tmp_path / "a.txt", COLUMNS)
    with pytest.raises(
        ConfigError,
        match=r"a\.txt, line 3: data\.tag_column=4 is out of range; the file has 4 columns \(use 0\.\.3 or -4\.\.-1\)",
    ):
        conll.read_tagged(path, tag_column=4)
    with pytest.raises(
        ConfigError, match=r"data\.tag_column='upos': a column file takes a 0-based column number"
    ):
        conll.read_tagged(path, tag_column="upos")
    with pytest.raises(DataError, match=r"b\.txt: no sentences"):
        conll.read_tagged(write(tmp_path / "b.txt", "-DOCSTART- O\n\n\n"))
    with pytest.raises(DataError, match=r"missing\.txt: no such file"):
        conll.read_tagged(tmp_path / "missing.txt")


def test_a_folder_gives_train_val_test_and_a_file_gives_train(tmp_path):
    folder = tmp_path / "ner"
    folder.mkdir()
    write(folder / "eng.train.txt", COLUMNS)
    write(folder / "eng-dev.txt", "A O\n")
    write(folder / "eng_test.txt", "B O\n\nC O\n")
    write(folder / "README.md", "not a split\n")
    splits = conll.read_splits(folder)
    assert list(splits) == ["train", "val", "test"]
    assert [len(splits[s]) for s in splits] == [2, 1, 2]
    assert list(conll.read_splits(folder / "eng.train.txt")) == ["train"]
    write(folder / "other-train.txt", COLUMNS)
    with pytest.raises(
        DataError, match=r"two files for the train split \(eng\.train\.txt, other-train\.txt\)"
    ):
        conll.read_splits(folder)
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    write(lonely / "dev.txt", "A O\n")
    with pytest.raises(DataError, match="no training file"):
        conll.read_splits(lonely)


@pytest.mark.parametrize(
    "tags,scheme",
    [
        (["O", "B-PER", "I-PER", "B-LOC"], "BIO"),
        (["O", "B-PER", "E-PER", "S-LOC"], "BIOES"),
        (["S-LOC", "O"], "BIOES"),
        (["NOUN", "VERB"], None),
        (["O", "I-PER"], None),  # IOB1 starts chunks with I-: not recognised
        (["O"], None),
        (["B-PER", "X"], None),
    ],
)
def test_tag_scheme_recognises_bio_and_bioes(tags, scheme):
    assert conll.tag_scheme(tags) == scheme


def test_catalog_entry_points_at_the_treebank_release_files():
    entry = catalog.lookup("ud-english-ewt")
    assert entry.task == "tagging" and entry.kind == "tagged" and entry.loader == "conllu"
    assert entry.splits == ("train", "val", "test")
    assert [f.alternatives[0].mirror_path for f in entry.files] == [
        "ud-english-ewt/en_ewt-ud-train.conllu.xz",
        "ud-english-ewt/en_ewt-ud-dev.conllu.xz",
        "ud-english-ewt/en_ewt-ud-test.conllu.xz",
    ]
    assert entry.files[0].url.endswith(
        "15d613d8447b3478787d4c278730a1e48a945efb/en_ewt-ud-train.conllu"
    )
    assert entry.size == 14_203_025 + 1_805_545 + 1_804_515


@pytest.mark.data
@pytest.mark.slow  # parses 254,818 words with conllu: about 8 s
def test_ud_english_ewt_has_its_published_counts():
    loaded = sources.load("ud-english-ewt", offline=True)
    assert loaded.kind == "tagged"
    splits = {split: conll.read_tagged(path) for split, path in loaded.splits.items()}
    assert {s: len(v) for s, v in splits.items()} == {"train": 12_544, "val": 2_001, "test": 2_077}
    words = {s: sum(len(x.tokens) for x in v) for s, v in splits.items()}
    assert words == {"train": 204_577, "val": 25_147, "test": 25_094}
    upos = Counter(tag for v in splits.values() for s in v for tag in s.tags)
    assert len(upos) == 17
    assert upos["NOUN"] == 43_084 and upos["X"] == 501 and upos["PUNCT"] == 29_767
