"""The catalog: entries, their facts, lookup errors, and (with the mirror) every hash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rnnkit.data import catalog, download
from rnnkit.data.catalog import Dataset, UnknownDatasetError

ISSUE_DATASETS = {
    "ptb",
    "ptb-char",
    "wikitext-2",
    "tinyshakespeare",
    "imdb",
    "airline-passengers",
    "daily-min-temperatures",
    "monthly-sunspots",
    "beijing-pm25",
    "indoor-movement",
    "co2",
}
RAW_GITHUB = re.compile(r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+$")
# GitHub's archive of a repository at a commit (fsdd): pinned, but GitHub publishes no hash.
GITHUB_ARCHIVE = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/archive/[0-9a-f]{40}\.tar\.gz$")


def all_files():
    files = [copy for entry in catalog.entries() for f in entry.files for copy in f.candidates]
    return list({file.mirror_path: file for file in files}.values())  # shared files once


def test_catalog_has_every_dataset_the_issue_names():
    assert set(catalog.names()) >= ISSUE_DATASETS


@pytest.mark.parametrize("name", sorted(ISSUE_DATASETS))
def test_entry_states_description_task_licence_and_citation(name):
    entry = catalog.lookup(name)
    assert entry.description and entry.homepage.startswith("https://")
    assert entry.task in {"classification", "language_model", "forecasting"}
    assert entry.kind in {"corpus", "labelled_text", "series", "sequences"}
    assert entry.licence and entry.citation and entry.licence_short


def test_files_have_pinned_urls_hashes_and_sizes():
    for file in all_files():
        assert file.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", file.sha256), file
        if file.url is not None:
            assert (
                RAW_GITHUB.match(file.url)
                or GITHUB_ARCHIVE.match(file.url)
                or file.url.startswith("https://ai.stanford.edu/")
            ), file.url
        assert file.mirror_path.endswith(file.name)
    # One path, one file (entries made from the same files, fsdd and fsdd-connected, share them).
    by_path: dict[str, object] = {}
    for entry in catalog.entries():
        for file in (copy for f in entry.files for copy in f.candidates):
            assert by_path.setdefault(file.mirror_path, file) == file, file.mirror_path


def test_known_figures_from_the_manifest():
    ptb = catalog.lookup("ptb")
    assert ptb.splits == ("train", "valid", "test")
    assert ptb.files[0].size == 5_101_618
    assert ptb.files[0].sha256.startswith("fcea919f")
    assert ptb.files[0].url.endswith("/data/ptb.train.txt")
    wiki = catalog.lookup("wikitext-2")
    # Upstream calls it train.txt; the cache and mirror keep the release name.
    assert wiki.files[0].url.endswith("/wikitext-2/train.txt")
    assert wiki.files[0].mirror_path == "wikitext-2/wiki.train.tokens"
    imdb = catalog.lookup("imdb").files[0]
    assert imdb.url == "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
    assert imdb.alternatives[0].mirror_path == "imdb/aclImdb_labelled.tar.xz"
    assert imdb.alternatives[0].url is None
    assert catalog.lookup("imdb").splits == ("train", "test")


@pytest.mark.parametrize(
    "name,date_column,target",
    [
        ("airline-passengers", "Month", "Passengers"),
        ("daily-min-temperatures", "Date", "Temp"),
        ("monthly-sunspots", "Month", "Sunspots"),
        ("beijing-pm25", ["year", "month", "day", "hour"], "pm2.5"),
        ("co2", "date", "co2"),
    ],
)
def test_series_defaults(name, date_column, target):
    defaults = catalog.lookup(name).defaults
    assert defaults["date_column"] == date_column and defaults["target"] == target


def test_sizes_sum_primary_files_and_bundled_has_none():
    assert catalog.lookup("ptb").size == 5_101_618 + 399_782 + 449_945
    assert catalog.lookup("co2").size is None and catalog.lookup("co2").files == ()


def test_unknown_name_suggests_close_matches_and_the_list_command():
    with pytest.raises(UnknownDatasetError) as err:
        catalog.lookup("wikitext2")
    message = str(err.value)
    assert "'wikitext2'" in message and "wikitext-2" in message
    assert "rnnkit data list" in message and "\n" not in message


def test_unknown_name_without_neighbours_still_says_what_is_valid():
    with pytest.raises(UnknownDatasetError, match=r"^unknown dataset 'zzzz': see `rnnkit"):
        catalog.lookup("zzzz")


def test_register_adds_a_synthetic_generator_and_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(catalog, "_CATALOG", dict(catalog._CATALOG))

    def generate():
        return "generated"

    entry = Dataset(
        name="adding-demo",
        description="adding problem",
        task="forecasting",
        kind="synthetic",
        files=(),
        loader=generate,
        homepage="https://example.org",
        licence="generated",
        citation="Hochreiter and Schmidhuber (1997)",
    )
    catalog.register(entry)
    assert catalog.lookup("adding-demo").loader() == "generated"
    with pytest.raises(ValueError, match="already"):
        catalog.register(entry)


@pytest.mark.data
def test_every_catalog_file_in_the_mirror_matches_its_sha256(mirror: Path, session_cache: Path):
    checked = 0
    for file in all_files():
        path = mirror / file.mirror_path
        if not path.is_file():
            continue
        assert download.file_sha256(path) == file.sha256, file.mirror_path
        fetched = download.fetch(file, cache_dir=session_cache, offline=True, progress=False)
        assert fetched == path  # used in place from the mirror, verified
        checked += 1
    # Everything but the Stanford archive, the uncompressed eng-fra.txt and GitHub's FSDD
    # archive (the mirror holds their repacked alternatives), and the three plain UD
    # English-EWT files (the mirror holds them xz-compressed).
    assert checked == len(all_files()) - 3 - 3


@pytest.mark.parametrize("name", ["adding", "copy"])
def test_synthetic_entries_have_no_files_and_a_generator(name):
    entry = catalog.lookup(name)
    assert entry.kind == "synthetic" and entry.files == () and callable(entry.loader)
    assert entry.splits == ("train", "val", "test") and entry.size is None
