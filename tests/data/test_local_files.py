"""Local files that are not what they claim: binary or UTF-16 CSVs, empty tables, a folder
with one class. Each is one short line naming the file, before any parsing goes wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data import sources
from rnnkit.errors import DataError


def load_error(path: Path) -> str:
    with pytest.raises(DataError) as err:
        sources.load(str(path))
    message = str(err.value)
    assert "\n" not in message and len(message) < 400
    return message


def test_binary_file_given_as_csv_is_refused_in_one_short_line(tmp_path):
    # 30,000 NUL bytes parse as one column named by all of them: 120,000 characters.
    path = tmp_path / "data.csv"
    path.write_bytes(bytes(30_000))
    assert load_error(path) == (
        f"{path} is not a UTF-8 CSV: it holds NUL bytes (a binary file, or UTF-16 text: "
        "save it as UTF-8)"
    )


def test_utf16_csv_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("text\tlabel\nhello\tpos\n", encoding="utf-16")
    assert "is not a UTF-8 TSV" in load_error(path) and "UTF-16" in load_error(path)


def test_csv_with_a_header_and_no_rows_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("date,value\n")
    assert load_error(path) == f"{path} has no data rows (columns: date, value)"


def test_parser_error_is_one_line(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n1,2,3,4\n")
    message = load_error(path)
    assert message.startswith(f"cannot parse {path} as CSV: Error tokenizing data")
    assert message.endswith("saw 4")


def test_folder_with_one_label_subfolder_says_so(tmp_path):
    (tmp_path / "reviews" / "pos").mkdir(parents=True)
    (tmp_path / "reviews" / "pos" / "1.txt").write_text("good")
    (tmp_path / "reviews" / "pos" / "2.txt").write_text("fine")
    message = load_error(tmp_path / "reviews")
    assert message.startswith(
        f"{tmp_path / 'reviews'} holds only one class (one label subfolder, pos):"
    )
    assert "at least two" in message


def test_folder_with_one_class_beside_other_folders_says_so(tmp_path):
    (tmp_path / "reviews" / "pos").mkdir(parents=True)
    (tmp_path / "reviews" / "pos" / "1.txt").write_text("good")
    (tmp_path / "reviews" / "neg").mkdir()  # empty: no second class
    message = load_error(tmp_path / "reviews")
    assert "files in one label subfolder only, 'pos'" in message


def test_two_classes_still_load(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / "r" / label).mkdir(parents=True)
        (tmp_path / "r" / label / "1.txt").write_text(label)
    loaded = sources.load(str(tmp_path / "r"))
    assert sorted(loaded.splits["all"]["label"]) == ["neg", "pos"]
