"""Datasets: catalog, downloads, sources, text and time-series preprocessing, batches."""

from __future__ import annotations

from pathlib import Path


def get(
    spec: str,
    *,
    cache_dir: str | Path | None = None,
    offline: bool = False,
    copy: bool = False,
) -> list[Path]:
    """Local paths of a dataset's files: fetched, sha256-verified, archives unpacked.

    ``spec`` is a catalog name (``rnnkit data list``), ``hf://``, ``uci://``, ``kaggle://``,
    an ``https://`` URL (optionally ``#sha256=HEX``) or a local path. Offline, nothing is
    downloaded and a file that is neither cached nor mirrored is an error naming it.
    Files of a mirror folder (``RNNKIT_MIRROR``) are used where they lie; ``copy=True``
    copies them into the cache, so a later offline run finds them without the mirror.
    An empty ``spec`` is a :class:`~rnnkit.errors.DataError`.

    Example: ``rnnkit.data.get("ptb")`` returns the train, valid and test files.
    """
    from rnnkit.data.sources import resolve

    return resolve(spec, cache_dir=cache_dir, offline=offline, copy=copy)
