"""Dataset strings and their sources: parsing, local files, URLs, hub, UCI, Kaggle, and
(with the mirror) the catalog's split sizes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnnkit.data
from rnnkit.data import catalog, sources
from rnnkit.data.sources import CatalogSpec, HubSpec, KaggleSpec, LocalSpec, UciSpec, UrlSpec
from rnnkit.errors import (
    CredentialsError,
    DataError,
    MissingExtraError,
    OfflineError,
    UserError,
)


@pytest.fixture(autouse=True)
def _no_mirror(request, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("data") is None:
        monkeypatch.delenv("RNNKIT_MIRROR", raising=False)


# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("ptb", CatalogSpec("ptb")),
        ("hf://stanfordnlp/imdb", HubSpec("stanfordnlp/imdb", None, None)),
        (
            "hf://Salesforce/wikitext:wikitext-2-v1@main",
            HubSpec("Salesforce/wikitext", "wikitext-2-v1", "main"),
        ),
        ("uci://381", UciSpec(381)),
        ("kaggle://owner/set", KaggleSpec("owner", "set", None)),
        ("kaggle://owner/set/sub/file.csv", KaggleSpec("owner", "set", "sub/file.csv")),
        ("https://example.org/a.csv", UrlSpec("https://example.org/a.csv", None)),
        (
            f"https://example.org/a.csv#sha256={'AB' * 32}",
            UrlSpec("https://example.org/a.csv", "ab" * 32),
        ),
        ("file:///tmp/some%20file.csv", LocalSpec(Path("/tmp/some file.csv"))),
        ("data/train.csv", LocalSpec(Path("data/train.csv"))),
    ],
)
def test_parse_recognises_every_source(spec, expected):
    assert sources.parse(spec) == expected


@pytest.mark.parametrize(
    "spec,message",
    [
        ("hf://", r"bad Hugging Face dataset 'hf://': use hf://owner/name"),
        ("uci://abc", r"bad UCI dataset 'uci://abc': use uci://ID"),
        ("kaggle://onlyowner", r"bad Kaggle dataset 'kaggle://onlyowner'"),
        ("https://x.org/a.csv#md5=00", r"bad URL fragment 'md5=00'.*#sha256="),
        ("s3://bucket/key", r"unsupported scheme 's3://'.*hf://, uci://"),
        ("ptbb", r"unknown dataset 'ptbb': did you mean ptb"),
        ("", r"empty dataset name '': give a catalog name"),
        ("  ", r"empty dataset name '  ': give a catalog name"),
    ],
)
def test_bad_specs_are_one_line_user_errors(spec, message):
    with pytest.raises(UserError, match=message) as err:
        sources.parse(spec)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- local files


def test_text_file_is_a_corpus(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("once upon a time\n", encoding="utf-8")
    loaded = sources.load(str(path))
    assert loaded.kind == "corpus" and loaded.splits == {"train": path}
    assert loaded.meta["task"] == "language_model" and "licence" in loaded.meta


def test_folder_of_split_text_files_is_a_corpus(tmp_path):
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text(split, encoding="utf-8")
    loaded = sources.load(f"file://{tmp_path}")
    names = {"train": "train", "val": "valid", "test": "test"}
    assert loaded.splits == {s: tmp_path / f"{f}.txt" for s, f in names.items()}


def test_csv_is_read_faithfully_as_a_series(tmp_path):
    # CRLF, quoted header, no final newline: as the TSDL copies are written.
    path = tmp_path / "s.csv"
    path.write_bytes(b'"Month","Passengers"\r\n"1949-01",112\r\n"1949-02",118')
    loaded = sources.load(str(path))
    assert loaded.kind == "series"
    frame = loaded.splits["all"]
    assert list(frame.columns) == ["Month", "Passengers"]
    assert frame["Month"].tolist() == ["1949-01", "1949-02"]
    assert frame["Passengers"].tolist() == [112, 118]


def test_csv_with_named_columns_is_labelled_text(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"review": ["good", "bad"], "stars": [5, 1], "x": [0, 0]}).to_csv(
        path, index=False
    )
    loaded = sources.load(str(path), text_column="review", label_column="stars")
    assert loaded.kind == "labelled_text"
    frame = loaded.splits["all"]
    assert list(frame.columns) == ["text", "label"]
    assert frame.to_dict("list") == {"text": ["good", "bad"], "label": ["5", "1"]}


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".parquet"])
def test_tsv_jsonl_parquet_with_text_and_label_columns(tmp_path, suffix):
    frame = pd.DataFrame({"text": ["a b", "c"], "label": ["x", "y"]})
    path = tmp_path / f"t{suffix}"
    if suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    loaded = sources.load(str(path))
    assert loaded.kind == "labelled_text"
    assert loaded.splits["all"].to_dict("list") == frame.to_dict("list")


def test_missing_column_names_the_columns_there_are(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame({"body": ["a"], "y": [1]}).to_csv(path, index=False)
    with pytest.raises(
        DataError, match=r"text_column 'text' is not a column of r\.csv; its columns are body, y"
    ):
        sources.load(str(path), label_column="y")


def test_folder_of_text_files_by_label(tmp_path):
    for label, texts in {"neg": ["bad", "awful"], "pos": ["fine"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(text, encoding="utf-8")
    loaded = sources.load(str(tmp_path))
    assert loaded.kind == "labelled_text"
    assert loaded.splits["all"].to_dict("list") == {
        "text": ["bad", "awful", "fine"],
        "label": ["neg", "neg", "pos"],
    }


def test_folder_by_split_then_label(tmp_path):
    for split in ("train", "test"):
        for label in ("a", "b"):
            (tmp_path / "top" / split / label).mkdir(parents=True)
            (tmp_path / "top" / split / label / "1.txt").write_text(f"{split}-{label}")
    loaded = sources.load(str(tmp_path))
    assert set(loaded.splits) == {"train", "test"}
    assert loaded.splits["test"]["text"].tolist() == ["test-a", "test-b"]


def test_missing_path_and_unsupported_file_are_user_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        sources.load(str(tmp_path / "nope.csv"))
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(DataError, match=r"cannot read x\.bin: supported files are \.txt"):
        sources.load(str(tmp_path / "x.bin"))


def test_get_returns_a_local_path_unchanged(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    assert rnnkit.data.get(str(tmp_path / "a.csv")) == [(tmp_path / "a.csv").resolve()]


# ----------------------------------------------------------------------------- https://


def test_url_with_hash_is_fetched_verified_and_read(server, tmp_path):
    body = b"text,label\nnice,pos\n"
    url = server.serve("/d/reviews.csv", body)
    spec = f"{url}#sha256={hashlib.sha256(body).hexdigest()}"
    loaded = sources.load(spec, cache_dir=tmp_path)
    assert loaded.kind == "labelled_text" and loaded.meta["homepage"] == url
    assert loaded.splits["all"].to_dict("list") == {"text": ["nice"], "label": ["pos"]}
    assert rnnkit.data.get(spec, cache_dir=tmp_path, offline=True)[0].read_bytes() == body
    assert server.hits("/d/reviews.csv") == 1


def test_url_without_hash_warns_that_it_is_unverified(server, tmp_path, caplog):
    url = server.serve("/series.csv", b"t,v\n1,2\n")
    with caplog.at_level(logging.WARNING, logger="rnnkit.data"):
        paths = rnnkit.data.get(url, cache_dir=tmp_path)
    assert paths[0].read_bytes() == b"t,v\n1,2\n"
    assert "unverified" in caplog.text


def test_url_offline_miss_is_an_offline_error(tmp_path):
    with pytest.raises(OfflineError, match="offline and not cached"):
        rnnkit.data.get(
            f"https://example.org/a.csv#sha256={'0' * 64}", cache_dir=tmp_path, offline=True
        )


# ----------------------------------------------------------------------------- hf://


def fake_hub(monkeypatch, calls):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    data = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(
                {"text": ["bad", "good"], "label": [0, 1]}, features=features
            ),
            "validation": datasets.Dataset.from_dict(
                {"text": ["meh"], "label": [0]}, features=features
            ),
        }
    )

    def load_dataset(repo, config, *, revision, cache_dir):
        calls.append((repo, config, revision, cache_dir))
        return data

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def test_hub_dataset_becomes_labelled_text_with_label_names(monkeypatch, tmp_path):
    calls = []
    fake_hub(monkeypatch, calls)
    loaded = sources.load("hf://owner/reviews:plain@v1", cache_dir=tmp_path)
    assert calls == [("owner/reviews", "plain", "v1", str(tmp_path / "hf"))]
    assert loaded.kind == "labelled_text" and set(loaded.splits) == {"train", "val"}
    assert loaded.splits["train"].to_dict("list") == {
        "text": ["bad", "good"],
        "label": ["neg", "pos"],
    }


def test_hub_missing_label_column_lists_the_columns(monkeypatch, tmp_path):
    fake_hub(monkeypatch, [])
    with pytest.raises(
        DataError, match=r"no column 'stars'; set data\.label_column to one of text, label"
    ):
        sources.load("hf://owner/reviews", cache_dir=tmp_path, label_column="stars")


def test_hub_corpus_writes_each_split_to_a_text_file(monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")
    data = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": [" a b", " c"]})})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: data)
    loaded = sources.load("hf://owner/corpus", cache_dir=tmp_path)
    assert loaded.kind == "corpus"
    assert loaded.splits["train"].read_text(encoding="utf-8") == " a b\n c\n"


def test_hub_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'rnnkit\[hub\]'"):
        sources.load("hf://owner/name")


# ----------------------------------------------------------------------------- uci://


def test_uci_metadata_and_data_through_the_download_endpoint(server, monkeypatch, tmp_path, caplog):
    data_url = server.serve(
        "/static/public/381/data.csv", b"No,year,pm2.5\n1,2010,NA\n2,2010,129\n"
    )
    metadata = {
        "status": 200,
        "data": {
            "uci_id": 381,
            "name": "Beijing PM2.5",
            "abstract": "Hourly PM2.5 in Beijing",
            "data_url": data_url,
            "repository_url": "https://archive.ics.uci.edu/dataset/381/beijing+pm2+5+data",
            "intro_paper": {"authors": "Liang et al.", "title": "Assessing", "year": 2015},
        },
    }
    server.serve("/api/dataset?id=381", json.dumps(metadata).encode())
    monkeypatch.setattr(sources, "UCI_API_URL", f"{server.url}/api/dataset")
    with caplog.at_level(logging.WARNING, logger="rnnkit.data"):
        loaded = sources.load("uci://381", cache_dir=tmp_path)
    assert "unverified" in caplog.text
    assert loaded.kind == "series"
    assert loaded.splits["all"]["pm2.5"].isna().tolist() == [True, False]
    assert loaded.meta["description"] == "Hourly PM2.5 in Beijing"
    assert loaded.meta["citation"] == "Liang et al., Assessing, 2015"
    # Cached: offline works and no further request is made.
    before = len(server.requests)
    assert rnnkit.data.get("uci://381", cache_dir=tmp_path, offline=True)[0].name == "data.csv"
    assert len(server.requests) == before


def test_uci_unknown_id_and_offline_miss(server, monkeypatch, tmp_path):
    server.serve("/api/dataset?id=999999", json.dumps({"status": 404, "message": "nope"}).encode())
    monkeypatch.setattr(sources, "UCI_API_URL", f"{server.url}/api/dataset")
    with pytest.raises(DataError, match="no UCI dataset with id 999999"):
        sources.load("uci://999999", cache_dir=tmp_path)
    with pytest.raises(OfflineError, match=r"uci://5 is not cached"):
        sources.load("uci://5", cache_dir=tmp_path, offline=True)


# ----------------------------------------------------------------------------- kaggle://


@pytest.fixture
def no_kaggle_credentials(monkeypatch, tmp_path):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_kaggle_without_credentials_says_what_to_do(no_kaggle_credentials, tmp_path):
    with pytest.raises(CredentialsError, match=r"set KAGGLE_USERNAME and KAGGLE_KEY.*kaggle\.json"):
        sources.load("kaggle://owner/set", cache_dir=tmp_path / "cache")


def test_kaggle_json_file_counts_as_credentials(no_kaggle_credentials, tmp_path):
    (tmp_path / "home" / ".kaggle").mkdir(parents=True)
    (tmp_path / "home" / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    sources.check_kaggle_credentials()


def test_kaggle_download_goes_through_the_client_boundary(
    no_kaggle_credentials, monkeypatch, tmp_path
):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    calls = []

    def fake_download(ref, file, dest):
        calls.append((ref, file))
        (dest / "sales.csv").write_text("month,sales\n1,10\n2,12\n")

    monkeypatch.setattr(sources, "_kaggle_download", fake_download)
    loaded = sources.load("kaggle://owner/shop", cache_dir=tmp_path / "cache")
    assert calls == [("owner/shop", None)]
    assert loaded.kind == "series" and loaded.splits["all"]["sales"].tolist() == [10, 12]
    # Cached now: offline works without the client.
    monkeypatch.setattr(sources, "_kaggle_download", None)
    paths = rnnkit.data.get("kaggle://owner/shop", cache_dir=tmp_path / "cache", offline=True)
    assert [p.name for p in paths] == ["sales.csv"]


def test_kaggle_without_the_extra_says_how_to_install_it(
    no_kaggle_credentials, monkeypatch, tmp_path
):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    monkeypatch.setitem(sys.modules, "kaggle", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'rnnkit\[kaggle\]'"):
        sources.load("kaggle://owner/shop", cache_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------- catalog


def test_co2_is_bundled_weekly_with_gaps_and_a_date_column():
    loaded = sources.load("co2")
    frame = loaded.splits["all"]
    assert loaded.kind == "series" and list(frame.columns) == ["date", "co2"]
    assert len(frame) == 2284 and frame["co2"].isna().sum() == 59
    assert loaded.meta["date_column"] == "date" and loaded.meta["target"] == "co2"
    assert rnnkit.data.get("co2")[0].read_text().startswith("date,co2\n1958-03-29,316.1\n")


def test_get_of_an_empty_name_is_a_data_error_not_the_current_directory(tmp_path):
    with pytest.raises(DataError, match=r"^empty dataset name ''"):
        rnnkit.data.get("", cache_dir=tmp_path)


def test_imdb_offline_miss_names_the_archive_and_the_mirror_repack(tmp_path):
    with pytest.raises(OfflineError) as err:
        rnnkit.data.get("imdb", cache_dir=tmp_path, offline=True)
    assert "imdb/aclImdb_v1.tar.gz or imdb/aclImdb_labelled.tar.xz" in str(err.value)


@pytest.fixture
def mirrored_demo(tmp_path, monkeypatch) -> Path:
    """A catalog entry 'mirror-demo' whose one file lies only in a mirror folder."""
    body = b"a b c\n"
    (tmp_path / "mirror" / "demo").mkdir(parents=True)
    (tmp_path / "mirror" / "demo" / "train.txt").write_bytes(body)
    monkeypatch.setenv("RNNKIT_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setattr(catalog, "_CATALOG", dict(catalog._CATALOG))
    file = catalog.RemoteFile(
        "train.txt", None, hashlib.sha256(body).hexdigest(), len(body), "demo/train.txt", "train"
    )
    ptb = catalog.lookup("ptb")
    catalog.register(dataclasses.replace(ptb, name="mirror-demo", files=(file,)))
    return tmp_path / "mirror"


def test_get_from_a_mirror_folder_says_the_files_are_not_cached(mirrored_demo, tmp_path, caplog):
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="rnnkit.data.sources"):
        assert rnnkit.data.get("mirror-demo", cache_dir=cache) == [
            mirrored_demo / "demo" / "train.txt"
        ]
    assert f"1 file(s) are read from the mirror {mirrored_demo}" in caplog.text
    assert f"not copied into the cache {cache}" in caplog.text
    assert "rnnkit data get mirror-demo --copy" in caplog.text


def test_get_with_copy_fills_the_cache_for_later_offline_runs(mirrored_demo, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (path,) = rnnkit.data.get("mirror-demo", cache_dir=cache, copy=True)
    assert path == cache / "demo" / "train.txt" and path.read_bytes() == b"a b c\n"
    monkeypatch.delenv("RNNKIT_MIRROR")
    assert rnnkit.data.get("mirror-demo", cache_dir=cache, offline=True) == [path]
    loaded = sources.load("mirror-demo", cache_dir=cache, offline=True)
    assert loaded.splits["train"] == path


def test_catalog_offline_miss_names_the_files(tmp_path):
    with pytest.raises(
        OfflineError, match=r"ptb/ptb\.train\.txt, ptb/ptb\.valid\.txt, ptb/ptb\.test\.txt"
    ):
        sources.load("ptb", cache_dir=tmp_path, offline=True)


def count_tokens(path: Path) -> int:
    # Whitespace tokens plus one <eos> per newline-terminated line.
    text = path.read_text(encoding="utf-8")
    return len(text.split()) + text.count("\n")


@pytest.mark.data
@pytest.mark.parametrize(
    "name,expected",
    [
        ("ptb", {"train": 929_589, "val": 73_760, "test": 82_430}),
        ("wikitext-2", {"train": 2_088_628, "val": 217_646, "test": 245_569}),
    ],
)
def test_word_corpora_have_their_published_token_counts(name, expected):
    loaded = sources.load(name, offline=True)
    assert loaded.kind == "corpus"
    assert {split: count_tokens(path) for split, path in loaded.splits.items()} == expected


@pytest.mark.data
def test_tinyshakespeare_has_its_character_count():
    loaded = sources.load("tinyshakespeare", offline=True)
    assert list(loaded.splits) == ["train"]
    assert len(loaded.splits["train"].read_text(encoding="utf-8")) == 1_115_394


@pytest.fixture(scope="session")
def imdb():
    return sources.load("imdb", offline=True)


@pytest.mark.data
@pytest.mark.slow  # decompresses 70 MB and reads 50,000 members: 4-15 s
def test_imdb_has_25000_train_and_25000_test_reviews(imdb):
    assert imdb.kind == "labelled_text"
    for split in ("train", "test"):
        frame = imdb.splits[split]
        assert list(frame.columns) == ["text", "label"] and len(frame) == 25_000
        assert frame["label"].value_counts().to_dict() == {"neg": 12_500, "pos": 12_500}
    assert imdb.meta["citation"].startswith("Maas")


def test_get_unpacks_a_catalog_archive_from_a_mirror_into_the_cache(tmp_path, monkeypatch):
    # The IMDB path (an archive only the mirror has) on a small archive: unpacking the
    # real 50,007-file IMDB takes half a minute or more, too slow for the suite.
    import io
    import tarfile

    from rnnkit.data import catalog

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name in ("aclImdb/train/pos/1_9.txt", "aclImdb/test/neg/2_1.txt"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"nice"))
    body = buffer.getvalue()
    (tmp_path / "mirror" / "reviews").mkdir(parents=True)
    (tmp_path / "mirror" / "reviews" / "small.tar.xz").write_bytes(body)
    monkeypatch.setenv("RNNKIT_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setattr(catalog, "_CATALOG", dict(catalog._CATALOG))
    small = catalog.RemoteFile(
        "small.tar.xz", None, hashlib.sha256(body).hexdigest(), len(body), "reviews/small.tar.xz"
    )
    imdb = catalog.lookup("imdb")
    catalog.register(dataclasses.replace(imdb, name="imdb-small", files=(small,)))
    cache = tmp_path / "cache"
    (folder,) = rnnkit.data.get("imdb-small", cache_dir=cache, offline=True)
    assert folder == cache / "reviews" / "small"
    assert (folder / "aclImdb" / "train" / "pos" / "1_9.txt").read_bytes() == b"nice"
    loaded = sources.load("imdb-small", cache_dir=cache, offline=True)
    assert loaded.splits["test"].to_dict("list") == {"text": ["nice"], "label": ["neg"]}


@pytest.mark.data
def test_indoor_movement_sequences_labels_and_groups():
    loaded = sources.load("indoor-movement", offline=True)
    frame = loaded.splits["all"]
    assert loaded.kind == "sequences" and len(frame) == 314
    assert {"sequence", "label", "group"} <= set(frame.columns)
    assert all(s.dtype == np.float32 and s.ndim == 2 and s.shape[1] == 4 for s in frame["sequence"])
    assert frame["label"].value_counts().to_dict() == {"1": 158, "-1": 156}
    assert set(frame["group"]) == {1, 2, 3}
    first = frame["sequence"].iloc[0]
    assert first[0].tolist() == pytest.approx([-0.90476, -0.48, 0.28571, 0.3])


@pytest.mark.data
@pytest.mark.parametrize(
    "name,rows,columns",
    [
        ("airline-passengers", 144, ["Month", "Passengers"]),
        ("daily-min-temperatures", 3_650, ["Date", "Temp"]),
        ("monthly-sunspots", 2_820, ["Month", "Sunspots"]),
        (
            "beijing-pm25",
            43_824,
            [
                "No",
                "year",
                "month",
                "day",
                "hour",
                "pm2.5",
                "DEWP",
                "TEMP",
                "PRES",
                "cbwd",
                "Iws",
                "Is",
                "Ir",
            ],
        ),
    ],
)
def test_catalog_series_are_read_faithfully(name, rows, columns):
    loaded = sources.load(name, offline=True)
    frame = loaded.splits["all"]
    assert loaded.kind == "series" and len(frame) == rows and list(frame.columns) == columns
    assert loaded.meta["target"] in columns


def test_synthetic_catalog_entry_is_generated_with_catalog_meta():
    loaded = sources.load("adding")
    assert loaded.kind == "synthetic" and set(loaded.splits) == {"train", "val", "test"}
    assert loaded.meta["citation"].startswith("Hochreiter") and loaded.meta["seed"] == 0
    assert rnnkit.data.get("adding") == []


def test_hub_offline_miss_is_an_offline_error(monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")
    seen = []

    def unreachable(*args, **kwargs):
        seen.append(datasets.config.HF_HUB_OFFLINE)
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(OfflineError, match=r"hf://owner/name is not in the cache"):
        sources.load("hf://owner/name", cache_dir=tmp_path, offline=True)
    assert seen == [True]


def test_dataset_that_is_not_a_string_is_named_by_its_type_only():
    frame = pd.DataFrame({"text": ["a"] * 100, "label": ["x"] * 100})
    with pytest.raises(DataError) as err:
        sources.parse(frame)
    assert str(err.value) == (
        "a dataset is named by a string (a catalog name, URI or path), not a DataFrame"
    )


def test_unwritable_cache_for_a_bundled_dataset_is_one_line(tmp_path):
    (tmp_path / "co2").write_text("a file where the folder should be")
    with pytest.raises(DataError, match=r"^cannot write .*co2\.csv .*--cache-dir"):
        rnnkit.data.get("co2", cache_dir=tmp_path)


def test_uci_metadata_from_a_trickling_server_stops_at_the_deadline(server, monkeypatch, tmp_path):
    answer = json.dumps({"status": 200, "data": {"name": "x" * 5000}}).encode()
    server.serve("/api/dataset?id=7", answer, trickle_s=0.05, trickle_bytes=10)
    monkeypatch.setattr(sources, "UCI_API_URL", f"{server.url}/api/dataset")
    monkeypatch.setenv("RNNKIT_DOWNLOAD_DEADLINE", "0.5")
    with pytest.raises(DataError, match=r"within 0\.5 s.*RNNKIT_DOWNLOAD_DEADLINE"):
        sources.load("uci://7", cache_dir=tmp_path)


def test_uci_damaged_metadata_in_the_cache_is_fetched_again(server, monkeypatch, tmp_path):
    data_url = server.serve("/static/public/9/d.csv", b"a,b\n1,2\n")
    answer = {"status": 200, "data": {"uci_id": 9, "name": "Nine", "data_url": data_url}}
    server.serve("/api/dataset?id=9", json.dumps(answer).encode())
    monkeypatch.setattr(sources, "UCI_API_URL", f"{server.url}/api/dataset")
    (tmp_path / "uci" / "9").mkdir(parents=True)
    (tmp_path / "uci" / "9" / "metadata.json").write_text('{"data_url": ')  # cut short
    assert sources.load("uci://9", cache_dir=tmp_path).splits["all"].shape == (1, 2)
    (tmp_path / "uci" / "9" / "metadata.json").write_text("[]")  # JSON, but no object
    with pytest.raises(OfflineError, match=r"uci://9 is not cached"):
        sources.load("uci://9", cache_dir=tmp_path, offline=True)
