"""Word vectors files: the two text formats, compression, limits, lookups and errors."""

from __future__ import annotations

import gzip
import lzma

import numpy as np
import pytest

from rnnkit.data.vectors import read_word_vectors
from rnnkit.errors import DataError

# word2vec/fastText: a "count dim" header; fastText rows end with a space.
VEC = "4 3\nthe 0.1 0.2 0.3 \n, -1 0 1e-3\nParis 2.5 -0.5 7\nrun 1 1 1\n"
EXPECTED = {
    "the": [0.1, 0.2, 0.3],
    ",": [-1.0, 0.0, 0.001],
    "Paris": [2.5, -0.5, 7.0],
    "run": [1.0, 1.0, 1.0],
}


def _check(vectors) -> None:
    assert vectors.words == tuple(EXPECTED)  # file order
    assert vectors.dim == 3 and len(vectors) == 4
    assert vectors.vectors.dtype == np.float32
    np.testing.assert_array_equal(
        vectors.vectors, np.array(list(EXPECTED.values()), dtype=np.float32)
    )


def test_vec_with_header(tmp_path):
    path = tmp_path / "w.vec"
    path.write_text(VEC, encoding="utf-8")
    _check(read_word_vectors(path))


def test_glove_without_header_takes_the_size_from_the_first_row(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text(VEC.split("\n", 1)[1] + "\n", encoding="utf-8")  # and a blank last line
    _check(read_word_vectors(path))


@pytest.mark.parametrize("suffix, opener", [(".vec.gz", gzip.open), (".vec.xz", lzma.open)])
def test_compressed_files_read_the_same(tmp_path, suffix, opener):
    path = tmp_path / f"w{suffix}"
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write(VEC)
    _check(read_word_vectors(path))


def test_max_words_keeps_the_first_rows_and_a_repeated_word_its_first_vector(tmp_path):
    path = tmp_path / "w.vec"
    path.write_text(VEC + "the 9 9 9\n", encoding="utf-8")
    assert read_word_vectors(path, max_words=2).words == ("the", ",")
    vectors = read_word_vectors(tmp_path / "w.vec")
    assert vectors.words == tuple(EXPECTED)
    np.testing.assert_allclose(vectors.vectors[0], [0.1, 0.2, 0.3])


def test_match_exact_then_lowercased_and_specials_skipped(tmp_path):
    path = tmp_path / "w.vec"
    path.write_text(VEC, encoding="utf-8")
    vectors = read_word_vectors(path)
    tokens = ["<pad>", "<unk>", "The", "Paris", "paris", "walk", ","]
    match = vectors.match(tokens, skip=("<pad>", "<unk>"))
    assert match.ids.tolist() == [2, 3, 4, 6]  # "paris" takes the vector of "Paris"
    assert (match.exact, match.lowercased, match.found) == (2, 2, 4)
    expected = [EXPECTED["the"], EXPECTED["Paris"], EXPECTED["Paris"], EXPECTED[","]]
    np.testing.assert_array_equal(match.vectors, np.array(expected, np.float32))


def test_match_prefers_the_lowercased_word_then_the_first_of_its_spellings(tmp_path):
    path = tmp_path / "w.vec"
    path.write_text("3 1\nApple 1\nAPPLE 2\napple 3\n", encoding="utf-8")
    match = read_word_vectors(path).match(["APPLE", "aPPle", "apple", "pear"])
    assert match.ids.tolist() == [0, 1, 2]
    assert match.vectors[:, 0].tolist() == [2.0, 3.0, 3.0]


def test_new_words_in_file_order_merged_when_lowercased(tmp_path):
    path = tmp_path / "w.vec"
    path.write_text("3 1\nParis 1\nthe 2\nparis 3\n", encoding="utf-8")
    vectors = read_word_vectors(path)
    assert vectors.new_words(["<pad>", "the"]) == ["Paris", "paris"]
    assert vectors.new_words(["<pad>", "the"], lowercase=True) == ["paris"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("2 3\na 1 2 3\nb 1 2\n", r"w\.vec, line 3: 2 values after the word, expected 3"),
        ("a 1 2 3\nb 1 2 3 4\n", r"w\.vec, line 2: 4 values after the word, expected 3"),
        ("2 3\na 1 2 3\nb 1 x 3\n", r"w\.vec, line 3: 'x' is not a number"),
        ("a 1 nan 3\n", r"w\.vec, line 1: 'nan' is not a finite number"),
        ("5 3\na 1 2 3\nb 1 2 3\n", r"w\.vec: the header promises 5 words but the file ends"),
        ("2 0\n", r"w\.vec, line 1: header gives dimension 0"),
        ("\n\n", r"w\.vec: no word vectors in the file"),
    ],
)
def test_bad_files_are_one_line_errors_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "w.vec"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as error:
        read_word_vectors(path)
    assert "\n" not in str(error.value)


def test_a_missing_file_and_a_damaged_archive_are_named(tmp_path):
    with pytest.raises(DataError, match=r"word vectors file .*nope\.vec does not exist"):
        read_word_vectors(tmp_path / "nope.vec")
    path = tmp_path / "w.vec.gz"
    path.write_bytes(gzip.compress(VEC.encode())[:-12])  # cut short
    with pytest.raises(DataError, match=r"w\.vec\.gz, line \d+: cannot be read"):
        read_word_vectors(path)
