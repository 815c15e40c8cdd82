"""Sentence pairs: tables, aligned files, catalog datasets, cleaning, filters, splits."""

from __future__ import annotations

import gzip

import pytest

from rnnkit.data import catalog
from rnnkit.data.pairs import (
    ENGLISH_PREFIXES,
    PairCleaning,
    SentencePairs,
    filter_pairs,
    load_pairs,
    read_aligned_files,
    read_pair_table,
    sentence_groups,
    split_pairs,
    tutorial_normalize,
)
from rnnkit.errors import ConfigError, DataError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_tsv_without_header_reads_columns_by_index(tmp_path):
    path = write(tmp_path / "p.tsv", 'ein Hund\ta dog\t1\n"Hallo"\t"hello"\t2\n')
    pairs = read_pair_table(path)
    assert pairs.source == ["ein Hund", '"Hallo"']  # TSV: quotes are part of the sentence
    assert pairs.target == ["a dog", '"hello"']
    swapped = read_pair_table(path, source_column=1, target_column=0)
    assert swapped.source == ["a dog", '"hello"']


def test_csv_with_header_reads_columns_by_name_with_quoting(tmp_path):
    path = write(tmp_path / "p.csv", 'id,en,de\n1,"a dog, running",ein Hund\n2,hi,hallo\n')
    pairs = read_pair_table(path, source_column="de", target_column="en")
    assert pairs.source == ["ein Hund", "hallo"]
    assert pairs.target == ["a dog, running", "hi"]
    with pytest.raises(
        DataError,
        match=r"data.source_column 'fr' is not a column of p.csv; its header names 'id', 'en', 'de'",
    ):
        read_pair_table(path, source_column="fr", target_column="en")


def test_gzipped_table_is_read(tmp_path):
    path = tmp_path / "p.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("a\tb\nc\td\n")
    assert list(read_pair_table(path)) == [("a", "b"), ("c", "d")]


def test_one_column_file_is_one_clear_error(tmp_path):
    path = write(tmp_path / "p.tsv", "just one sentence\nanother\n")
    with pytest.raises(DataError) as err:
        read_pair_table(path)
    assert str(err.value) == (
        "p.tsv has one column (line 1: 'just one sentence'); a pairs file needs a source and a "
        "target column separated by TAB"
    )


def test_short_row_and_empty_source_name_the_line(tmp_path):
    path = write(tmp_path / "p.tsv", "a\tb\nc\n")
    with pytest.raises(DataError, match=r"^line 2 of p.tsv has 1 column\(s\)"):
        read_pair_table(path)
    path = write(tmp_path / "q.tsv", "a\tb\n \td\n")
    with pytest.raises(DataError, match=r"^line 2 of q.tsv: the source sentence is empty"):
        read_pair_table(path)


def test_aligned_files_pair_lines_and_refuse_mismatched_counts(tmp_path):
    de = write(tmp_path / "c.de", "ein Hund\nzwei Katzen\n")
    en = write(tmp_path / "c.en", "a dog\ntwo cats\n")
    assert list(read_aligned_files(de, en)) == [("ein Hund", "a dog"), ("zwei Katzen", "two cats")]
    short = write(tmp_path / "d.en", "a dog\n")
    with pytest.raises(DataError) as err:
        read_aligned_files(de, short)
    assert str(err.value).startswith(
        "aligned files differ in length: c.de has 2 lines, d.en has 1;"
    )
    empty = write(tmp_path / "e.de", "ein Hund\n\n")
    with pytest.raises(DataError, match=r"^line 2 of e.de: the source sentence is empty"):
        read_aligned_files(empty, en)


def test_load_pairs_from_a_prefix_and_a_folder(tmp_path):
    write(tmp_path / "corpus.de", "ein Hund\n")
    write(tmp_path / "corpus.en", "a dog\n")
    loaded = load_pairs(str(tmp_path / "corpus"), source_lang="en", target_lang="de")
    assert list(loaded.splits["all"]) == [("a dog", "ein Hund")]
    with pytest.raises(
        DataError, match=r"^unknown language code 'fr' for .*corpus: it has de, en$"
    ):
        load_pairs(str(tmp_path / "corpus"), source_lang="fr", target_lang="en")
    with pytest.raises(ConfigError, match=r"set data.source_lang and data.target_lang"):
        load_pairs(str(tmp_path / "corpus"))
    folder = tmp_path / "folder"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        write(folder / f"{split}.de", f"{split} de\n")
        write(folder / f"{split}.en", f"{split} en\n")
    loaded = load_pairs(str(folder), source_lang="de", target_lang="en")
    assert sorted(loaded.splits) == ["test", "train", "val"]
    assert list(loaded.splits["val"]) == [("dev de", "dev en")]


def test_language_codes_are_checked():
    with pytest.raises(ConfigError, match=r"^data.source_lang = 'German' is not a language code"):
        load_pairs("multi30k", source_lang="German")
    with pytest.raises(
        ConfigError,
        match=r"^data.source_lang = 'fr' is not a language of multi30k: use one of de, en$",
    ):
        load_pairs("multi30k", source_lang="fr")
    with pytest.raises(ConfigError, match="are both 'en'"):
        load_pairs("multi30k", source_lang="en", target_lang="en")


def test_catalog_entries_describe_the_mirror_files():
    multi30k = catalog.lookup("multi30k")
    assert multi30k.task == "translation" and multi30k.kind == "pairs"
    assert multi30k.splits == ("train", "val", "test")
    assert {f.mirror_path for f in multi30k.files} == {
        f"multi30k/{split}.{lang}.gz"
        for split in ("train", "val", "test_2016_flickr")
        for lang in ("de", "en")
    }
    assert multi30k.size == 637_044 + 568_929 + 24_681 + 21_650 + 22_890 + 21_077
    eng_fra = catalog.lookup("eng-fra")
    assert eng_fra.splits == ("all",)
    assert [c.mirror_path for c in eng_fra.files[0].candidates] == [
        "eng-fra/eng-fra.txt",
        "eng-fra/eng-fra.txt.xz",
    ]


def test_tutorial_normalize_folds_accents_and_keeps_letters_and_marks():
    assert tutorial_normalize("  Ça va très bien!  ") == "ca va tres bien !"
    assert tutorial_normalize("I'm 25 years old.") == "i m years old"
    assert tutorial_normalize("Qui\u202f?") == "qui ?"


def test_pair_cleaning_lowercases_normalises_and_collapses_spaces():
    cleaning = PairCleaning(lowercase=True, unicode_normalization="NFKC")
    assert cleaning.apply("Nummer\u00a028  ist   HIER") == "nummer 28 ist hier"
    assert PairCleaning().apply("Nummer\u00a028") == "Nummer 28"
    assert PairCleaning(normalize="tutorial").apply("Élan!") == "elan !"


def test_filter_pairs_by_length_and_prefix():
    pairs = SentencePairs(
        ["a b c", "a", "je suis", "x y"],
        ["one two", "i am here", "i'm fine", "he is tall and more"],
    )
    assert filter_pairs(pairs, max_length=2) == [2]
    assert filter_pairs(pairs, max_length=3) == [0, 1, 2]
    assert filter_pairs(pairs, prefixes=ENGLISH_PREFIXES) == [1, 2, 3]
    assert filter_pairs(pairs, max_length=3, prefixes=ENGLISH_PREFIXES) == [1, 2]
    assert filter_pairs(pairs, prefixes=("je",), prefix_side="source") == [2]


def test_groups_join_pairs_that_share_a_sentence_on_either_side():
    pairs = SentencePairs(["a", "a", "b", "c", "d"], ["x", "y", "y", "z", "w"])
    groups = sentence_groups(pairs)
    assert groups[0] == groups[1] == groups[2]  # a-x, a-y share a; b-y shares y
    assert len({groups[0], groups[3], groups[4]}) == 3


def test_split_pairs_is_seeded_and_leaks_no_sentence():
    source = [f"s{i // 3}" for i in range(300)]  # each source sentence three times
    target = [f"t{i}" for i in range(300)]
    pairs = SentencePairs(source, target)
    splits = split_pairs(pairs, val=0.1, test=0.2, seed=3)
    assert sum(len(s) for s in splits.values()) == 300
    assert len(splits["test"]) == pytest.approx(60, abs=3)
    assert len(splits["val"]) == pytest.approx(30, abs=3)
    seen = [set(splits[name].source) for name in ("train", "val", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    again = split_pairs(pairs, val=0.1, test=0.2, seed=3)
    assert all(again[n].source == splits[n].source for n in splits)
    other = split_pairs(pairs, val=0.1, test=0.2, seed=4)
    assert other["test"].source != splits["test"].source


@pytest.mark.data
def test_multi30k_counts_and_directions():
    loaded = load_pairs("multi30k")
    assert (loaded.source_lang, loaded.target_lang) == ("de", "en")
    assert {k: len(v) for k, v in loaded.splits.items()} == {
        "train": 29_000,
        "val": 1_014,
        "test": 1_000,
    }
    train = loaded.splits["train"]
    assert sum(len(s.split()) for s in train.source) == 322_383  # MANIFEST: whitespace tokens
    assert sum(len(t.split()) for t in train.target) == 345_020
    reverse = load_pairs("multi30k", source_lang="en")
    assert reverse.splits["test"].source == loaded.splits["test"].target


@pytest.mark.data
def test_eng_fra_count_and_the_tutorials_filtered_set():
    loaded = load_pairs("eng-fra")  # French -> English, as in the tutorial
    pairs = loaded.splits["all"]
    assert len(pairs) == 135_842
    english = load_pairs("eng-fra", source_lang="en").splits["all"]
    assert english.source == pairs.target
    cleaned = PairCleaning(normalize="tutorial").apply_pairs(pairs)
    kept = filter_pairs(cleaned, max_length=9, prefixes=ENGLISH_PREFIXES)
    assert len(kept) == 11_445  # "Trimmed to 11445 sentence pairs" (MANIFEST)


@pytest.mark.data
def test_sources_load_names_pairs_datasets_by_kind():
    from rnnkit.data import sources

    loaded = sources.load("multi30k")
    assert loaded.kind == "pairs"
    assert sorted(loaded.splits) == ["test", "train", "val"]
    assert sorted(p.name for p in loaded.splits["val"]) == ["val.de.gz", "val.en.gz"]
