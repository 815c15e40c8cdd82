"""One string selects where the data comes from; :func:`load` reads it into splits.

Accepted forms of ``data.dataset``::

    ptb                                   a catalog name (rnnkit data list)
    hf://owner/name[:config][@revision]   Hugging Face `datasets` (extra: hub)
    uci://ID                              the UCI ML Repository's download endpoint
    kaggle://owner/dataset[/file]         the official `kaggle` client (extra: kaggle)
    https://host/file.csv[#sha256=HEX]    any URL; without a hash it is unverified
    path/to/file.csv | file:///abs/path   CSV, TSV, TXT, JSONL, Parquet, archive, or a
                                          folder of text files, one subfolder per label

:func:`load` returns a :class:`LoadedDataset` of one of these kinds:

- ``corpus``: ``splits`` maps split names to UTF-8 text files (language models);
- ``labelled_text``: split names to DataFrames with str columns ``text`` and ``label``;
- ``series``: ``{"all": DataFrame}`` with the columns as read (no parsing, no filling);
- ``sequences``: ``{"all": DataFrame}`` with ``sequence`` (float32 array (T, F)),
  ``label`` and ``group``;
- ``tagged``: split names to CoNLL-U files (read by :mod:`rnnkit.data.conll`).
- ``audio_classes`` / ``transcribed_audio``: split names to DataFrames of clip paths with
  ``label`` and ``speaker`` / ``text`` (see :mod:`rnnkit.data.audio_datasets`).

Splitting, tokenizing, date parsing, gap filling and scaling belong to preprocessing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from rnnkit.data import catalog, download
from rnnkit.data.local_files import read_csv, read_folder, read_table, split_name, table_dataset
from rnnkit.data.types import LoadedDataset
from rnnkit.errors import (
    CredentialsError,
    DataError,
    DownloadError,
    MissingExtraError,
    OfflineError,
)

log = logging.getLogger(__name__)

UCI_API_URL = "https://archive.ics.uci.edu/api/dataset"
TEXT_SUFFIXES = (".txt", ".tokens", ".raw")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar.xz", ".tar")
_TASK_OF_KIND = {
    "corpus": "language_model",
    "labelled_text": "classification",
    "sequences": "classification",
    "series": "forecasting",
    "audio_classes": "classification",
    "transcribed_audio": "speech_recognition",
}


class UnsupportedSourceError(DataError):
    """A dataset string whose scheme or form is not one rnnkit reads."""


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class CatalogSpec:
    name: str


@dataclass(frozen=True)
class HubSpec:
    repo: str
    config: str | None
    revision: str | None


@dataclass(frozen=True)
class UciSpec:
    dataset_id: int


@dataclass(frozen=True)
class KaggleSpec:
    owner: str
    dataset: str
    file: str | None


@dataclass(frozen=True)
class UrlSpec:
    url: str
    sha256: str | None


@dataclass(frozen=True)
class LocalSpec:
    path: Path


Spec = CatalogSpec | HubSpec | UciSpec | KaggleSpec | UrlSpec | LocalSpec

_HUB = re.compile(r"^hf://(?P<repo>[\w.-]+(?:/[\w.-]+)?)(?::(?P<config>[^@]+))?(?:@(?P<rev>.+))?$")
_UCI = re.compile(r"^uci://(?P<id>\d+)$")
_KAGGLE = re.compile(r"^kaggle://(?P<owner>[\w.-]+)/(?P<dataset>[\w.-]+)(?:/(?P<file>.+))?$")
_SHA256 = re.compile(r"^sha256=(?P<hex>[0-9a-fA-F]{64})$")


def parse(spec: str) -> Spec:
    """Which source ``spec`` names; a malformed or unknown one is a one-line UserError."""
    if not isinstance(spec, str):
        # Never the value itself: a DataFrame would print as a page.
        raise UnsupportedSourceError(
            f"a dataset is named by a string (a catalog name, URI or path), not a "
            f"{type(spec).__name__}"
        )
    if not spec.strip():
        # An empty name would otherwise be read as the current directory.
        raise UnsupportedSourceError(
            f"empty dataset name {spec!r}: give a catalog name (see `rnnkit data list`), "
            "hf://, uci://, kaggle://, an https:// URL or a local path"
        )
    spec = spec.strip()
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme == "hf":
        if not (match := _HUB.match(spec)):
            raise UnsupportedSourceError(
                f"bad Hugging Face dataset {spec!r}: use hf://owner/name[:config][@revision]"
            )
        return HubSpec(match["repo"], match["config"], match["rev"])
    if scheme == "uci":
        if not (match := _UCI.match(spec)):
            raise UnsupportedSourceError(
                f"bad UCI dataset {spec!r}: use uci://ID with the numeric id from the "
                "dataset's page (e.g. uci://381)"
            )
        return UciSpec(int(match["id"]))
    if scheme == "kaggle":
        if not (match := _KAGGLE.match(spec)):
            raise UnsupportedSourceError(
                f"bad Kaggle dataset {spec!r}: use kaggle://owner/dataset[/file]"
            )
        return KaggleSpec(match["owner"], match["dataset"], match["file"])
    if scheme in {"http", "https"}:
        url, _, fragment = spec.partition("#")
        sha256 = None
        if fragment:
            if not (match := _SHA256.match(fragment)):
                raise UnsupportedSourceError(
                    f"bad URL fragment {fragment!r} in {spec!r}: the only one accepted is "
                    "#sha256=<64 hex digits>"
                )
            sha256 = match["hex"].lower()
        if not urlparse(url).netloc:
            raise UnsupportedSourceError(f"bad URL {spec!r}: it has no host")
        return UrlSpec(url, sha256)
    if scheme == "file":
        return LocalSpec(Path(unquote(urlparse(spec).path)))
    if scheme:
        raise UnsupportedSourceError(
            f"unsupported scheme {scheme + '://'!r} in {spec!r}: use a catalog name, hf://, "
            "uci://, kaggle://, https:// or a local path"
        )
    if catalog.is_catalog_name(spec):
        return CatalogSpec(spec)
    path = Path(spec).expanduser()
    if path.exists() or os.sep in spec or "/" in spec or path.suffix:
        return LocalSpec(path)
    raise catalog.unknown_name_error(spec)


# ----------------------------------------------------------------------------- public


def load(
    spec: str,
    *,
    cache_dir: str | Path | None = None,
    offline: bool = False,
    text_column: str | None = None,
    label_column: str | None = None,
) -> LoadedDataset:
    """Read the dataset ``spec`` names into its splits (see the module docstring)."""
    source = parse(spec)
    columns = (text_column, label_column)
    if isinstance(source, CatalogSpec):
        return _load_catalog(catalog.lookup(source.name), cache_dir, offline)
    if isinstance(source, HubSpec):
        return _load_hub(source, spec, cache_dir, offline, *columns)
    if isinstance(source, UciSpec):
        path, meta = _fetch_uci(source, cache_dir, offline)
        return _load_path(path, f"uci-{source.dataset_id}", *columns, meta, cache_dir)
    if isinstance(source, KaggleSpec):
        path = _pick_kaggle_file(source, _fetch_kaggle(source, cache_dir, offline))
        meta = {"homepage": f"https://www.kaggle.com/datasets/{source.owner}/{source.dataset}"}
        return _load_path(path, source.dataset, *columns, meta, cache_dir)
    if isinstance(source, UrlSpec):
        path = _fetch_url(source, cache_dir, offline)
        return _load_path(path, _stem(path), *columns, {"homepage": source.url}, cache_dir)
    return _load_path(_existing(source.path), _stem(source.path), *columns, {}, cache_dir)


def resolve(
    spec: str,
    *,
    cache_dir: str | Path | None = None,
    offline: bool = False,
    copy: bool = False,
) -> list[Path]:
    """Local paths of the dataset's files, fetched and verified; archives are unpacked.

    Files found in a mirror folder are used where they lie (and said so at INFO level)
    unless ``copy``, which copies them into the cache so that they are found without it.
    """
    source = parse(spec)
    if isinstance(source, CatalogSpec):
        entry = catalog.lookup(source.name)
        if entry.loader == "statsmodels_co2":
            return [_write_co2_csv(cache_dir)]
        if not entry.files:  # generated in memory: nothing on disk
            return []
        paths = download.fetch_all(entry.files, cache_dir=cache_dir, offline=offline, copy=copy)
        _say_if_read_from_mirror(paths, spec, cache_dir)
        if entry.loader == "fsdd_connected":  # the generated utterances, not the recordings
            from rnnkit.data.audio_datasets import read_fsdd

            fsdd = _unpacked(paths[0], cache_dir, PurePosixPath("fsdd"))
            return [_fsdd_connected_folder(read_fsdd(fsdd), cache_dir)]
        # Archives unpack beside where the cache keeps them (e.g. imdb/aclImdb_v1/).
        folders = [PurePosixPath(f.mirror_path).parent for f in entry.files]
        return [_unpacked(p, cache_dir, folder) for p, folder in zip(paths, folders, strict=True)]
    if isinstance(source, HubSpec):
        loaded = _hub_dataset(source, cache_dir, offline)
        return sorted({Path(f["filename"]) for split in loaded.values() for f in split.cache_files})
    if isinstance(source, UciSpec):
        return [_fetch_uci(source, cache_dir, offline)[0]]
    if isinstance(source, KaggleSpec):
        files = _fetch_kaggle(source, cache_dir, offline)
        return [_pick_kaggle_file(source, files)] if source.file else files
    if isinstance(source, UrlSpec):
        path = _fetch_url(source, cache_dir, offline, copy=copy)
        _say_if_read_from_mirror([path], spec, cache_dir)
        return [_unpacked(path, cache_dir)]
    return [_existing(source.path).resolve()]


def _say_if_read_from_mirror(paths: list[Path], spec: str, cache_dir) -> None:
    root = download.cache_root(cache_dir)
    outside = [p for p in paths if not download.in_folder(p, root)]
    if outside:
        log.info(
            "%d file(s) are read from the mirror %s and were not copied into the cache %s: "
            "a later --offline run without %s needs the mirror again "
            "(`rnnkit data get %s --copy` keeps a copy in the cache)",
            len(outside),
            download.mirror_location(),
            root,
            download.MIRROR_ENV,
            spec,
        )


# ----------------------------------------------------------------------------- catalog


def _catalog_meta(entry: catalog.Dataset) -> dict:
    return {
        "description": entry.description,
        "task": entry.task,
        "licence": entry.licence,
        "citation": entry.citation,
        "homepage": entry.homepage,
        **dict(entry.defaults),
    }


def _load_catalog(entry: catalog.Dataset, cache_dir, offline: bool) -> LoadedDataset:
    meta = _catalog_meta(entry)
    if callable(entry.loader):
        # Synthetic tasks generate their data; they have no files to fetch.
        loaded = entry.loader()
        return dataclasses.replace(loaded, meta={**meta, **loaded.meta})
    if entry.loader == "statsmodels_co2":
        return LoadedDataset(entry.name, "series", {"all": _co2_frame()}, meta)
    paths = download.fetch_all(entry.files, cache_dir=cache_dir, offline=offline)
    if entry.loader == "text":
        splits = {
            split_name(file.split): path for file, path in zip(entry.files, paths, strict=True)
        }
        return LoadedDataset(entry.name, "corpus", splits, meta)
    if entry.loader == "conllu":  # read by rnnkit.data.conll, with the task's tag column
        splits = {file.split: path for file, path in zip(entry.files, paths, strict=True)}
        return LoadedDataset(entry.name, "tagged", splits, meta)
    if entry.loader == "csv":
        return LoadedDataset(entry.name, "series", {"all": read_csv(paths[0])}, meta)
    if entry.loader == "imdb":
        return LoadedDataset(entry.name, "labelled_text", read_imdb_archive(paths[0]), meta)
    if entry.loader == "indoor_movement":
        return LoadedDataset(entry.name, "sequences", {"all": read_indoor_movement(paths[0])}, meta)
    if entry.loader == "pairs":
        # Sentence pairs: each split's files (rnnkit.data.pairs reads them).
        files: dict[str, list[Path]] = {}
        for file, path in zip(entry.files, paths, strict=True):
            files.setdefault(split_name(file.split), []).append(path)
        return LoadedDataset(entry.name, "pairs", files, meta)
    if entry.loader in {"fsdd", "fsdd_connected"}:
        kind, splits = _fsdd_splits(entry, paths[0], cache_dir)
        return LoadedDataset(entry.name, kind, splits, meta)
    raise ValueError(f"catalog entry {entry.name!r} has an unknown loader {entry.loader!r}")


def _fsdd_splits(entry: catalog.Dataset, archive: Path, cache_dir) -> tuple[str, dict]:
    """FSDD's official split, or the connected-digit utterances made from it."""
    from rnnkit.data import audio_datasets

    recordings = audio_datasets.read_fsdd(_unpacked(archive, cache_dir, PurePosixPath("fsdd")))
    if entry.loader == "fsdd":
        return "audio_classes", audio_datasets.fsdd_official_split(recordings)
    folder = _fsdd_connected_folder(recordings, cache_dir)
    return "transcribed_audio", audio_datasets.read_transcribed_folder(folder)


def _fsdd_connected_folder(recordings, cache_dir) -> Path:
    from rnnkit.data import audio_datasets

    spec = audio_datasets.ConnectedDigits()
    folder = download.cache_root(cache_dir) / "fsdd-connected" / spec.key()
    return audio_datasets.make_connected_digits(recordings, folder, spec)


def _co2_frame():
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data  # weekly, DatetimeIndex, column co2, with NaN gaps
    return frame.rename_axis("date").reset_index()


def _write_co2_csv(cache_dir) -> Path:
    path = download.cache_root(cache_dir) / "co2" / "co2.csv"
    if not path.is_file():
        download.write_cache_text(path, _co2_frame().to_csv(index=False))
    return path


_IMDB_MEMBER = re.compile(
    r"^aclImdb/(?P<split>train|test)/(?P<label>pos|neg)/(?P<id>\d+)_\d+\.txt$"
)


def read_imdb_archive(path: str | Path) -> dict[str, Any]:
    """IMDB's labelled reviews straight from the tar archive (nothing unpacked to disk).

    Returns ``{"train": df, "test": df}``, each with ``text`` and ``label`` (``pos`` or
    ``neg``), ordered by label and review id so both archive layouts give the same frames.
    """
    import pandas as pd

    rows: dict[str, list[tuple[str, int, str]]] = {"train": [], "test": []}
    log.info("reading the IMDB reviews from %s (seconds: the archive is decompressed)", path)
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            match = _IMDB_MEMBER.match(member.name)
            if match is None or not member.isfile():
                continue
            text = archive.extractfile(member).read().decode("utf-8")
            rows[match["split"]].append((match["label"], int(match["id"]), text))
    if not rows["train"] or not rows["test"]:
        raise DataError(f"{path} holds no aclImdb/{{train,test}}/{{pos,neg}}/*.txt reviews")
    splits = {}
    for split, items in rows.items():
        items.sort(key=lambda row: (row[0], row[1]))
        splits[split] = pd.DataFrame(
            {"text": [row[2] for row in items], "label": [row[0] for row in items]}
        )
    return splits


def read_indoor_movement(path: str | Path):
    """The indoor-movement zip: one row per sequence, ``sequence`` (T, 4) float32,
    ``label`` ("1" or "-1"), ``group`` (the environment, 1-3) and ``path`` (path type)."""
    import numpy as np
    import pandas as pd

    def table(raw: bytes):
        # Headers are comments ("#sequence_ID, class_label"); values are plain numbers.
        return pd.read_csv(io.BytesIO(raw), comment="#", header=None, skipinitialspace=True)

    with zipfile.ZipFile(path) as archive:
        targets = table(archive.read("dataset/MovementAAL_target.csv"))
        groups = table(archive.read("groups/MovementAAL_DatasetGroup.csv"))
        paths = table(archive.read("groups/MovementAAL_Paths.csv"))
        sequences = {
            int(seq_id): table(archive.read(f"dataset/MovementAAL_RSS_{seq_id}.csv")).to_numpy(
                dtype=np.float32
            )
            for seq_id in targets[0]
        }
    frame = pd.DataFrame(
        {
            "sequence_id": targets[0].astype(int),
            "sequence": [sequences[int(i)] for i in targets[0]],  # (T, 4)
            "label": targets[1].astype(int).astype(str),
        }
    )
    frame["group"] = frame["sequence_id"].map(dict(zip(groups[0], groups[1], strict=True)))
    frame["path"] = frame["sequence_id"].map(dict(zip(paths[0], paths[1], strict=True)))
    return frame


# ----------------------------------------------------------------------------- files


def _stem(path: Path) -> str:
    return download.archive_stem(path.name).removesuffix(path.suffix) or path.name


def _existing(path: Path) -> Path:
    if not path.exists():
        raise DataError(
            f"no such file or folder: {path} (nor a catalog name: see `rnnkit data list`)"
        )
    return path


def _unpacked(path: Path, cache_dir, folder: PurePosixPath | None = None) -> Path:
    """The folder an archive unpacks to (in the cache, under ``folder``), or ``path``."""
    if not path.name.endswith(ARCHIVE_SUFFIXES):
        return path
    root = download.cache_root(cache_dir)
    if folder is None:
        try:
            folder = PurePosixPath(path.resolve().relative_to(root.resolve()).parent)
        except ValueError:  # a local archive outside the cache
            folder = PurePosixPath("unpacked")
    return download.extract(path, root / folder / download.archive_stem(path.name))


def _load_path(
    path: Path,
    name: str,
    text_column: str | None,
    label_column: str | None,
    meta: dict,
    cache_dir,
) -> LoadedDataset:
    if path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
        path = _unpacked(path, cache_dir)
    if path.is_dir():
        kind, splits = read_folder(path)
    else:
        suffix = path.suffix.lower()
        if suffix in TEXT_SUFFIXES:
            kind, splits = "corpus", {"train": path}
        elif suffix in TABLE_SUFFIXES:
            kind, splits = table_dataset(read_table(path), path, text_column, label_column)
        else:
            raise DataError(
                f"cannot read {path.name}: supported files are "
                f"{', '.join(TEXT_SUFFIXES + TABLE_SUFFIXES + ARCHIVE_SUFFIXES)} or a folder"
            )
    base = {
        "description": f"{name} ({path})",
        "task": _TASK_OF_KIND[kind],
        "licence": "unknown: check the source's terms",
        "citation": "",
    }
    return LoadedDataset(name, kind, splits, {**base, **meta})


# ----------------------------------------------------------------------------- https://


def _fetch_url(source: UrlSpec, cache_dir, offline: bool, copy: bool = False) -> Path:
    import hashlib

    name = PurePosixPath(unquote(urlparse(source.url).path)).name
    if name in {"", ".", ".."}:
        name = "download"
    # One folder per URL so two files called data.csv do not collide.
    key = hashlib.sha256(source.url.encode()).hexdigest()[:16]
    file = catalog.RemoteFile(name, source.url, source.sha256, None, f"url/{key}/{name}")
    # Without a hash, fetch() warns that the download is unverified.
    return download.fetch(file, cache_dir=cache_dir, offline=offline, copy=copy)


# ----------------------------------------------------------------------------- hf://


@contextlib.contextmanager
def _hub_offline(offline: bool):
    import datasets

    previous = datasets.config.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = previous or offline
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE = previous


def _hub_dataset(source: HubSpec, cache_dir, offline: bool):
    try:
        import datasets
    except ImportError:
        raise MissingExtraError("datasets", "hub", "hf:// datasets") from None
    cache = download.cache_root(cache_dir) / "hf"
    try:
        with _hub_offline(offline):
            loaded = datasets.load_dataset(
                source.repo, source.config, revision=source.revision, cache_dir=str(cache)
            )
    except (FileNotFoundError, ValueError) as err:
        # datasets raises these (DatasetNotFoundError is a FileNotFoundError) for a wrong
        # name, config or revision; the first line of its message says which.
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot load hf://{source.repo}: {first}") from None
    except ConnectionError as err:
        if offline:
            raise OfflineError(f"hf://{source.repo} is not in the cache {cache}") from None
        raise DownloadError(f"cannot reach the Hugging Face Hub for {source.repo}: {err}") from None
    if isinstance(loaded, datasets.Dataset):  # a single split
        loaded = datasets.DatasetDict({"train": loaded})
    return loaded


def _load_hub(
    source: HubSpec,
    spec: str,
    cache_dir,
    offline: bool,
    text_column: str | None,
    label_column: str | None,
) -> LoadedDataset:
    loaded = _hub_dataset(source, cache_dir, offline)
    first = next(iter(loaded.values()))
    columns = list(first.column_names)
    name = source.repo.rsplit("/", 1)[-1]
    meta = {
        "description": (first.info.description or spec).strip().splitlines()[0][:200]
        if first.info.description
        else spec,
        "task": "",
        "licence": first.info.license or "see the dataset card",
        "citation": (first.info.citation or "").strip(),
        "homepage": first.info.homepage or f"https://huggingface.co/datasets/{source.repo}",
    }
    text_column = text_column or ("text" if "text" in columns else None)
    if label_column is None and "label" in columns:
        label_column = "label"
    if text_column is None or text_column not in columns:
        raise DataError(
            f"hf://{source.repo} has no column {text_column or 'text'!r}; set data.text_column "
            f"to one of {', '.join(columns)}"
        )
    if label_column is None:
        return _hub_corpus(loaded, name, text_column, source, cache_dir, meta)
    if label_column not in columns:
        raise DataError(
            f"hf://{source.repo} has no column {label_column!r}; set data.label_column to "
            f"one of {', '.join(columns)}"
        )
    feature = first.features[label_column]
    to_name: Callable[[Any], str] = feature.int2str if hasattr(feature, "int2str") else str
    splits = {}
    for split, part in loaded.items():
        frame = part.select_columns([text_column, label_column]).to_pandas()
        frame = frame.set_axis(["text", "label"], axis=1)
        frame["text"] = frame["text"].astype(str)
        frame["label"] = [to_name(value) for value in frame["label"]]
        splits[split_name(split)] = frame
    return LoadedDataset(name, "labelled_text", splits, {**meta, "task": "classification"})


def _hub_corpus(loaded, name: str, text_column: str, source: HubSpec, cache_dir, meta: dict):
    # Language models read text files: write each split's lines once into the cache.
    tag = re.sub(r"[^\w.-]+", "_", f"{source.repo}-{source.config or ''}-{source.revision or ''}")
    folder = download.cache_root(cache_dir) / "hf-text" / tag
    splits = {}
    for split, part in loaded.items():
        path = folder / f"{split_name(split)}.txt"
        if not path.is_file():
            lines = (str(row[text_column]) for row in part)
            download.write_cache_text(path, "\n".join(lines) + "\n")
        splits[split_name(split)] = path
    return LoadedDataset(name, "corpus", splits, {**meta, "task": "language_model"})


# ----------------------------------------------------------------------------- uci://


def _fetch_uci(source: UciSpec, cache_dir, offline: bool) -> tuple[Path, dict]:
    folder = download.cache_root(cache_dir) / "uci" / str(source.dataset_id)
    meta_path = folder / "metadata.json"
    metadata = _json_object(meta_path) if meta_path.is_file() else None
    if metadata is None and offline:
        raise OfflineError(
            f"offline and uci://{source.dataset_id} is not cached under {folder}; "
            "fetch it once online with `rnnkit data get`"
        )
    if metadata is None:  # not cached, or the cached copy is damaged
        metadata = _uci_metadata(source.dataset_id, folder)
        download.write_cache_text(meta_path, json.dumps(metadata, indent=1))
    data_url = metadata.get("data_url")
    if not data_url:
        raise DataError(
            f"UCI dataset {source.dataset_id} ({metadata.get('name', '?')}) has no file the "
            f"UCI download endpoint serves; download it from its page "
            f"{metadata.get('repository_url') or 'https://archive.ics.uci.edu'}"
        )
    name = PurePosixPath(urlparse(data_url).path).name or "data.csv"
    file = catalog.RemoteFile(name, data_url, None, None, f"uci/{source.dataset_id}/{name}")
    path = download.cache_path(file, cache_dir)
    if not path.is_file():
        if offline:
            raise OfflineError(f"offline and {path} is not cached")
        # UCI publishes no checksums: fetch() warns that the download is unverified.
        path = download.fetch(file, cache_dir=cache_dir)
    return path, _uci_meta(metadata)


def _json_object(path: Path) -> dict | None:
    """The JSON object in ``path``, or ``None`` if it cannot be read as one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _uci_metadata(dataset_id: int, folder: Path) -> dict:
    """The UCI API's record of ``dataset_id``, fetched as a download (deadline, minimum
    rate, DNS and redirect errors in one line)."""
    url = f"{UCI_API_URL}?id={dataset_id}"
    answer_path = folder / ".metadata-answer.json"
    download.download(url, answer_path, progress=False)
    answer = _json_object(answer_path)
    answer_path.unlink(missing_ok=True)
    if answer is None:
        raise DownloadError(f"cannot read UCI metadata from {url}: the answer is not JSON")
    if answer.get("status") != 200 or not isinstance(answer.get("data"), dict):
        raise DataError(
            f"no UCI dataset with id {dataset_id}: find the id on https://archive.ics.uci.edu"
        )
    return answer["data"]


def _uci_meta(metadata: dict) -> dict:
    info = metadata.get("additional_info") or {}
    paper = metadata.get("intro_paper") or {}
    citation = ", ".join(
        str(paper[k]) for k in ("authors", "title", "venue", "year") if paper.get(k)
    )
    return {
        "description": metadata.get("abstract") or metadata.get("name", ""),
        "licence": metadata.get("license") or "see the UCI page",
        "citation": citation or (f"doi:{metadata['doi']}" if metadata.get("doi") else ""),
        "homepage": metadata.get("repository_url") or "https://archive.ics.uci.edu",
        "uci_id": metadata.get("uci_id"),
        "summary": info.get("summary", ""),
    }


# ----------------------------------------------------------------------------- kaggle://


def check_kaggle_credentials() -> None:
    """Raise :class:`CredentialsError` unless the Kaggle client can find credentials."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return
    if os.environ.get("KAGGLE_API_TOKEN"):
        return
    folders = [os.environ.get("KAGGLE_CONFIG_DIR"), "~/.kaggle", "~/.config/kaggle"]
    for folder in filter(None, folders):
        if (Path(folder).expanduser() / "kaggle.json").is_file():
            return
    raise CredentialsError(
        "kaggle:// needs Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY, or save the "
        "API token from https://www.kaggle.com/settings as ~/.kaggle/kaggle.json"
    )


def _kaggle_download(ref: str, file: str | None, dest: Path) -> None:
    """The only call into the kaggle client (tests replace it)."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise MissingExtraError("kaggle", "kaggle", "kaggle:// datasets") from None
    api = KaggleApi()
    api.authenticate()
    if file is None:
        api.dataset_download_files(ref, path=str(dest), unzip=True, quiet=True)
    else:
        api.dataset_download_file(ref, file, path=str(dest), quiet=True)


def _fetch_kaggle(source: KaggleSpec, cache_dir, offline: bool) -> list[Path]:
    ref = f"{source.owner}/{source.dataset}"
    folder = download.cache_root(cache_dir) / "kaggle" / source.owner / source.dataset
    done = folder / ".complete" if source.file is None else folder / source.file
    if not done.exists():
        if offline:
            raise OfflineError(
                f"offline and kaggle://{ref} is not cached under {folder}; fetch it once "
                "online with `rnnkit data get`"
            )
        check_kaggle_credentials()
        folder.mkdir(parents=True, exist_ok=True)
        _kaggle_download(ref, source.file, folder)
        for archive in [p for p in folder.iterdir() if p.suffix == ".zip"]:
            # A single file may arrive zipped; unpack it safely beside the others.
            download.extract(archive, folder / download.archive_stem(archive.name))
        if source.file is None:
            (folder / ".complete").write_text(ref, encoding="utf-8")
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix != ".zip"
    )
    if not files:
        raise DataError(f"kaggle://{ref} downloaded no files")
    return files


def _pick_kaggle_file(source: KaggleSpec, files: list[Path]) -> Path:
    ref = f"kaggle://{source.owner}/{source.dataset}"
    if source.file is not None:
        wanted = PurePosixPath(source.file).name
        wanted_stem = download.archive_stem(wanted)
        for path in files:
            if path.name in {wanted, wanted_stem}:
                return path
        raise DataError(f"{ref} has no file {source.file!r}")
    readable = [p for p in files if p.suffix.lower() in TABLE_SUFFIXES + TEXT_SUFFIXES]
    if len(readable) == 1:
        return readable[0]
    names = ", ".join(p.name for p in readable) or "none"
    raise DataError(f"{ref} has several or no readable files ({names}): name one, {ref}/FILE")


__all__ = [
    "LoadedDataset",
    "check_kaggle_credentials",
    "load",
    "parse",
    "read_imdb_archive",
    "read_indoor_movement",
    "resolve",
]
