"""Fetch files into a local cache, safely and repeatably.

A file is looked for, in order: in the cache (verified against its sha256), in the
mirror named by ``RNNKIT_MIRROR`` (a folder or a base URL; a copy is used only if its
sha256 matches), and at its upstream URL. Downloads go to ``<name>.part`` and are renamed
into place only after the hash matches, so the cache never holds a half-written or wrong
file; a mismatch deletes the download and names the expected and actual hash.

pooch supplies the default cache location and the hashing. Its downloader cannot resume a
partial transfer with an HTTP Range request, retry on 5xx answers with backoff, bound a
transfer's time and rate, or show a rich progress bar, so the transfer itself is driven
with ``requests`` here. Archives are unpacked by :mod:`rnnkit.data.archives`.

Verifying a 70 MB file takes a while, so every verified cache file's (size, mtime, ctime,
inode, sha256) is remembered in ``<cache>/verified.json``; an unchanged file is not hashed
again. The ctime cannot be set back by a user (setting the mtime back updates it), so a
file edited in place is hashed again even when its size and mtime are restored. Files of a
mirror folder are hashed on every use: rnnkit does not own them (about 0.1 s per 20 MB).

Limits of one file's download (``RetryPolicy``; environment variables, ``0`` turns a limit
off): ``RNNKIT_DOWNLOAD_DEADLINE`` seconds for all attempts together (default 3600) and
``RNNKIT_DOWNLOAD_MIN_RATE`` bytes per second, averaged over a minute (default 1024).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from rnnkit.data.archives import EXTRACTED_MARKER, archive_stem, extract
from rnnkit.data.catalog import RemoteFile
from rnnkit.data.files import atomic_write_text, env_number, file_lock
from rnnkit.data.watchdog import SocketWatch, watched_session
from rnnkit.errors import ChecksumError, DownloadError, OfflineError

log = logging.getLogger(__name__)

CACHE_ENV = "RNNKIT_CACHE"
MIRROR_ENV = "RNNKIT_MIRROR"
DEADLINE_ENV = "RNNKIT_DOWNLOAD_DEADLINE"
MIN_RATE_ENV = "RNNKIT_DOWNLOAD_MIN_RATE"
MEMO_NAME = "verified.json"
# Files at least this large get a progress bar.
PROGRESS_MIN_BYTES = 1 << 20
_CHUNK = 1 << 16
_FIX_WRITABLE = f"set {CACHE_ENV} or --cache-dir to a writable folder with free space"

__all__ = [
    "EXTRACTED_MARKER",
    "RetryPolicy",
    "archive_stem",
    "atomic_write_text",
    "availability",
    "cache_path",
    "cache_root",
    "download",
    "extract",
    "fetch",
    "fetch_all",
    "file_sha256",
    "in_folder",
    "mirror_location",
    "write_cache_text",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard and how long to try one file.

    ``attempts`` in all, sleeping ``backoff_s * 2**k`` after the k-th failure;
    ``timeout_s`` for connecting and for each read; ``deadline_s`` for the whole file,
    all attempts together; a transfer averaging less than ``min_rate_bps`` bytes/s over
    ``rate_window_s`` is dropped and retried (resuming). ``0`` turns the last two off.
    """

    attempts: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 30.0
    deadline_s: float = 3600.0
    min_rate_bps: float = 1024.0
    rate_window_s: float = 60.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The defaults, with ``RNNKIT_DOWNLOAD_DEADLINE`` / ``_MIN_RATE`` applied."""
        return cls(
            deadline_s=env_number(DEADLINE_ENV, cls.deadline_s),
            min_rate_bps=env_number(MIN_RATE_ENV, cls.min_rate_bps),
        )


DEFAULT_RETRY = RetryPolicy()


class _RetryableError(Exception):
    """A failure worth another attempt: 5xx, a dropped connection, a short transfer."""


# ----------------------------------------------------------------------------- locations


def _os_reason(err: OSError) -> str:
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or err}{where}"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The download cache: ``cache_dir``, else ``$RNNKIT_CACHE``, else the user cache dir."""
    if cache_dir is not None:
        root = Path(cache_dir).expanduser()
    elif os.environ.get(CACHE_ENV):
        root = Path(os.environ[CACHE_ENV]).expanduser()
    else:
        import pooch

        root = Path(pooch.os_cache("rnnkit"))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(
            f"cannot use the cache folder {root} ({_os_reason(err)}): {_FIX_WRITABLE}"
        ) from None
    return root


def mirror_location() -> str | None:
    """``$RNNKIT_MIRROR``: a folder or an http(s) base URL, or ``None``."""
    return os.environ.get(MIRROR_ENV) or None


def _is_url(location: str) -> bool:
    return urlparse(location).scheme in {"http", "https"}


def _mirror_folder(mirror: str) -> Path:
    return Path(mirror.removeprefix("file://")).expanduser()


def cache_path(file: RemoteFile, cache_dir: str | Path | None = None) -> Path:
    """Where ``file`` lives in the cache (the cache mirrors the mirror's layout)."""
    return cache_root(cache_dir) / PurePosixPath(file.mirror_path)


def in_folder(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies inside ``folder`` (both resolved)."""
    return path.resolve().is_relative_to(folder.resolve())


def write_cache_text(path: Path, text: str) -> None:
    """Write a file of the cache atomically; an unwritable cache is a one-line error."""
    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise DownloadError(f"cannot write {path} ({_os_reason(err)}): {_FIX_WRITABLE}") from None


# ----------------------------------------------------------------------------- hashing


def file_sha256(path: str | Path) -> str:
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


class VerifiedMemo:
    """Remembers which files were hashed, keyed by path, size, mtime, ctime and inode.

    Writing the memo is best effort: a read-only cache still serves verified files.
    """

    KEYS = ("size", "mtime_ns", "ctime_ns", "inode")

    def __init__(self, root: Path) -> None:
        self.path = root / MEMO_NAME

    def _read(self) -> dict[str, dict]:
        try:
            memo = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return memo if isinstance(memo, dict) else {}

    def _write(self, memo: dict[str, dict]) -> None:
        try:
            atomic_write_text(self.path, json.dumps(memo, indent=1, sort_keys=True))
        except OSError as err:
            log.debug("cannot update %s (%s): files will be hashed again", self.path, err)

    @staticmethod
    def _fingerprint(path: Path) -> dict[str, int]:
        info = path.stat()
        return {
            "size": info.st_size,
            "mtime_ns": info.st_mtime_ns,
            "ctime_ns": info.st_ctime_ns,
            "inode": info.st_ino,
        }

    def known_hash(self, path: Path) -> str | None:
        """The remembered sha256 of ``path`` if it has not changed since it was hashed."""
        entry = self._read().get(str(path.resolve()))
        if not isinstance(entry, dict) or not path.is_file():
            return None
        if {k: entry.get(k) for k in self.KEYS} != self._fingerprint(path):
            return None
        return entry.get("sha256")

    def remember(self, path: Path, sha256: str) -> None:
        memo = self._read()
        memo[str(path.resolve())] = {**self._fingerprint(path), "sha256": sha256}
        self._write(memo)

    def forget(self, path: Path) -> None:
        memo = self._read()
        if memo.pop(str(path.resolve()), None) is not None:
            self._write(memo)

    def sha256(self, path: Path) -> str:
        """The file's sha256, from the memo when unchanged, else computed and remembered."""
        known = self.known_hash(path)
        if known is not None:
            return known
        actual = file_sha256(path)
        self.remember(path, actual)
        return actual


# ----------------------------------------------------------------------------- fetch


def fetch(
    file: RemoteFile,
    *,
    cache_dir: str | Path | None = None,
    offline: bool = False,
    progress: bool = True,
    retry: RetryPolicy | None = None,
    copy: bool = False,
) -> Path:
    """A verified local copy of ``file`` (or of one of its alternatives).

    Order: cache, mirror, upstream. A copy in a mirror folder is used where it lies,
    unless ``copy`` (then it is copied into the cache, so it is found without the mirror).
    Offline, the upstream and URL mirrors are skipped and a miss raises
    :class:`OfflineError` naming the file and how to provide it. ``retry`` defaults to
    :meth:`RetryPolicy.from_env`.
    """
    retry = RetryPolicy.from_env() if retry is None else retry
    root = cache_root(cache_dir)
    memo = VerifiedMemo(root)
    for candidate in file.candidates:
        hit = _from_cache(candidate, root, memo)
        if hit is not None:
            return hit
    mirror = mirror_location()
    if mirror is not None and not (offline and _is_url(mirror)):
        for candidate in file.candidates:
            hit = _from_mirror(candidate, mirror, root, memo, progress=progress, retry=retry)
            if hit is not None:
                if copy and not in_folder(hit, root):
                    return _copy_into_cache(hit, candidate, root, memo)
                return hit
    if offline:
        raise OfflineError(_offline_message([file], root, mirror))
    errors: list[str] = []
    for candidate in file.candidates:
        if candidate.url is None:
            continue
        if candidate.sha256 is None:
            log.warning("%s has no known sha256: the download is unverified", candidate.url)
        dest = root / PurePosixPath(candidate.mirror_path)
        try:
            download(
                candidate.url,
                dest,
                sha256=candidate.sha256,
                size=candidate.size,
                progress=progress,
                retry=retry,
            )
        except ChecksumError:
            raise
        except DownloadError as err:
            errors.append(str(err))
            continue
        if candidate.sha256 is not None:
            memo.remember(dest, candidate.sha256)
        return dest
    raise DownloadError("; ".join(errors) or f"no source for {file.name}")


def fetch_all(
    files: Iterable[RemoteFile],
    *,
    cache_dir: str | Path | None = None,
    offline: bool = False,
    progress: bool = True,
    retry: RetryPolicy | None = None,
    copy: bool = False,
) -> list[Path]:
    """:func:`fetch` for several files; offline, one error names every missing file."""
    files = list(files)
    paths: list[Path] = []
    missing: list[RemoteFile] = []
    for file in files:
        try:
            paths.append(
                fetch(
                    file,
                    cache_dir=cache_dir,
                    offline=offline,
                    progress=progress,
                    retry=retry,
                    copy=copy,
                )
            )
        except OfflineError:
            missing.append(file)
    if missing:
        raise OfflineError(_offline_message(missing, cache_root(cache_dir), mirror_location()))
    return paths


def _offline_message(missing: list[RemoteFile], root: Path, mirror: str | None) -> str:
    # Every acceptable copy is named (IMDB: the Stanford .tar.gz or a mirror's .tar.xz).
    wanted = ", ".join(" or ".join(c.mirror_path for c in f.candidates) for f in missing)
    where = f"the mirror {mirror} has no verified copy; " if mirror else ""
    return (
        f"offline and not cached: {wanted}; {where}put the files under {root}/ at those "
        f"paths or set {MIRROR_ENV} to a folder that holds them"
    )


def _from_cache(file: RemoteFile, root: Path, memo: VerifiedMemo) -> Path | None:
    path = root / PurePosixPath(file.mirror_path)
    if not path.is_file():
        return None
    if file.sha256 is None:
        return path
    actual = memo.sha256(path)
    if actual == file.sha256:
        return path
    log.warning(
        "cached %s is damaged (sha256 %s, expected %s): fetching it again",
        path,
        actual,
        file.sha256,
    )
    memo.forget(path)
    try:
        path.unlink()
    except OSError as err:
        raise DownloadError(
            f"cached {path} is damaged (sha256 {actual}, expected {file.sha256}) and cannot "
            f"be removed ({_os_reason(err)}): delete it or {_FIX_WRITABLE}"
        ) from None
    return None


def _from_mirror(
    file: RemoteFile,
    mirror: str,
    root: Path,
    memo: VerifiedMemo,
    *,
    progress: bool,
    retry: RetryPolicy,
) -> Path | None:
    if file.sha256 is None:
        return None  # nothing to check a mirror copy against: only the named URL is used
    # Searched by dataset folder + name (the mirror's layout) first, then by bare name.
    relatives = dict.fromkeys([file.mirror_path, file.name])
    if not _is_url(mirror):
        base = _mirror_folder(mirror)
        for relative in relatives:
            path = base / PurePosixPath(relative)
            if not path.is_file():
                continue
            # Hashed on every use, not remembered: the mirror is not ours to trust.
            actual = file_sha256(path)
            if actual == file.sha256:
                return path
            log.warning(
                "ignoring mirror copy %s: sha256 %s, expected %s", path, actual, file.sha256
            )
        return None
    dest = root / PurePosixPath(file.mirror_path)
    for relative in relatives:
        url = f"{mirror.rstrip('/')}/{relative}"
        try:
            download(url, dest, sha256=file.sha256, size=file.size, progress=progress, retry=retry)
        except ChecksumError as err:
            log.warning("ignoring mirror copy: %s", err)
            continue
        except DownloadError as err:
            log.debug("not in the mirror: %s", err)
            continue
        memo.remember(dest, file.sha256)
        return dest
    return None


def _copy_into_cache(source: Path, file: RemoteFile, root: Path, memo: VerifiedMemo) -> Path:
    """Copy a verified mirror file into the cache (checked again: it may change meanwhile)."""
    dest = root / PurePosixPath(file.mirror_path)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(dest.with_name(f".{dest.name}.lock")):
            shutil.copyfile(source, part)
            actual = file_sha256(part)
            if actual != file.sha256:
                part.unlink()
                raise ChecksumError(
                    f"sha256 mismatch for {file.name} copied from {source}: expected "
                    f"{file.sha256}, got {actual}"
                )
            os.replace(part, dest)
    except OSError as err:
        raise DownloadError(
            f"cannot copy {source} into the cache ({_os_reason(err)}): {_FIX_WRITABLE}"
        ) from None
    memo.remember(dest, actual)
    log.info("copied %s into the cache: %s", source, dest)
    return dest


# ----------------------------------------------------------------------------- transfer


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    retry: RetryPolicy | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming and retrying; checks ``sha256``.

    The bytes go to ``dest.part``; a later call resumes from it with an HTTP Range request
    (a server that ignores Range sends the whole file, which is then written afresh).
    Processes sharing a cache take turns on the same file (a lock beside it), and one
    that waited finds the file already there. A known ``size`` stops a transfer that
    announces or sends another size. Every failure is a one-line :class:`DownloadError`.
    """
    retry = RetryPolicy.from_env() if retry is None else retry
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(dest.with_name(f".{dest.name}.lock")):
            if sha256 is not None and dest.is_file() and file_sha256(dest) == sha256:
                return dest
            return _download_locked(
                url, dest, sha256=sha256, size=size, progress=progress, retry=retry
            )
    except OSError as err:  # requests' errors are OSErrors too, but are converted below
        raise DownloadError(f"cannot write {dest} ({_os_reason(err)}): {_FIX_WRITABLE}") from None


def _unresolved_host(err: BaseException) -> bool:
    """Whether ``err`` comes from a host name that does not resolve (DNS)."""
    import socket

    from urllib3.exceptions import NameResolutionError

    seen: set[int] = set()
    stack: list[BaseException] = [err]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NameResolutionError | socket.gaierror):
            return True
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None))
        stack.extend(e for e in (*linked, *current.args) if isinstance(e, BaseException))
    return False


def _download_locked(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    size: int | None,
    progress: bool,
    retry: RetryPolicy,
) -> Path:
    import requests

    part = dest.with_name(dest.name + ".part")
    pace = _Pace(url, part, retry)
    last_error: Exception | None = None
    # The deadline holds for every wait, the response headers' included (a server can
    # trickle those too, each read well inside its timeout).
    watch = SocketWatch()
    with watched_session(watch) as session, watch.armed(pace.deadline):
        session.headers["User-Agent"] = "rnnkit"
        for attempt in range(retry.attempts):
            try:
                _transfer(session, url, part, size=size, pace=pace, progress=progress)
                if watch.fired:
                    # The sockets were shut at the deadline: what arrived may look like a
                    # short but complete answer (HTTP/1.0 ends a body at the close).
                    pace.check_deadline(extra_s=1.0, why="the deadline passed mid-transfer")
                last_error = None
                break
            except (
                _RetryableError,
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,  # a body cut short
            ) as err:
                if _unresolved_host(err):
                    # No retries: a name that does not resolve now will not in 15 s.
                    raise DownloadError(
                        f"cannot download {url}: the host {urlparse(url).hostname} does not "
                        "resolve (no network, or a wrong name); work from the cache with "
                        f"--offline, or set {MIRROR_ENV} to a folder or URL holding the files"
                    ) from None
                last_error = err
            except requests.TooManyRedirects:
                raise DownloadError(
                    f"cannot download {url}: it redirects more than {session.max_redirects} "
                    "times (a redirect loop)"
                ) from None
            except requests.RequestException as err:  # a bad URL or redirect target
                raise DownloadError(f"cannot download {url}: {_first_line(err)}") from None
            if attempt + 1 < retry.attempts:
                delay = retry.backoff_s * 2**attempt
                pace.check_deadline(extra_s=delay, why=_first_line(last_error))
                log.info("retrying %s in %.1fs (%s)", url, delay, last_error)
                time.sleep(delay)
    if last_error is not None:
        raise DownloadError(
            f"could not download {url} after {retry.attempts} attempts: {_first_line(last_error)}"
        )
    actual = file_sha256(part)
    if sha256 is not None and actual != sha256:
        part.unlink()
        raise ChecksumError(
            f"sha256 mismatch for {dest.name} from {url}: expected {sha256}, got {actual}"
        )
    os.replace(part, dest)
    return dest


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class _Pace:
    """Holds one file's transfer to its deadline (all attempts) and minimum rate."""

    def __init__(self, url: str, part: Path, retry: RetryPolicy) -> None:
        self.url, self.part, self.retry = url, part, retry
        self.deadline = time.monotonic() + retry.deadline_s if retry.deadline_s > 0 else None
        self.window_start = time.monotonic()
        self.window_bytes = 0

    def start_attempt(self) -> None:
        self.window_start, self.window_bytes = time.monotonic(), 0

    def check_deadline(self, extra_s: float = 0.0, why: str = "") -> None:
        """Raise :class:`DownloadError` if the deadline passes within ``extra_s``."""
        if self.deadline is None or time.monotonic() + extra_s <= self.deadline:
            return
        kept = self.part.stat().st_size if self.part.exists() else 0
        because = f" (last error: {why})" if why else ""
        raise DownloadError(
            f"cannot download {self.url} within {self.retry.deadline_s:g} s{because}; "
            f"{kept} bytes kept to resume; allow more time with {DEADLINE_ENV}=SECONDS"
        )

    def advance(self, n: int) -> None:
        """Count ``n`` received bytes; raise when too slow or past the deadline."""
        self.check_deadline()
        self.window_bytes += n
        elapsed = time.monotonic() - self.window_start
        if self.retry.min_rate_bps <= 0 or elapsed < self.retry.rate_window_s:
            return
        rate = self.window_bytes / elapsed
        if rate < self.retry.min_rate_bps:
            raise _RetryableError(
                f"the transfer ran at {rate:.0f} B/s for {elapsed:.0f} s, under the minimum "
                f"{self.retry.min_rate_bps:g} B/s (lower it with {MIN_RATE_ENV})"
            )
        self.start_attempt()


def _content_length(url: str, response, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    try:
        count = int(length)
    except ValueError:
        count = -1
    if count < 0:
        raise DownloadError(
            f"cannot download {url}: the server sent an invalid Content-Length {length!r}"
        )
    return offset + count


def _transfer(session, url: str, part: Path, *, size: int | None, pace: _Pace, progress: bool):
    from urllib3.exceptions import HTTPError as Urllib3Error

    offset = part.stat().st_size if part.exists() else 0
    # Identity encoding: Content-Length and Range then count the bytes written to disk.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    pace.check_deadline()
    timeout = pace.retry.timeout_s
    with session.get(url, stream=True, timeout=timeout, headers=headers) as response:
        # Keep what arrived before a dropped connection (urllib3 would discard the last
        # read); the length check below turns the short transfer into a resumable retry.
        response.raw.enforce_content_length = False
        status = response.status_code
        if status == 416 and offset:
            # The partial file is no prefix the server recognises: start over.
            part.unlink()
            raise _RetryableError(f"HTTP 416 resuming at byte {offset}")
        if status >= 500:
            raise _RetryableError(f"HTTP {status}")
        if status >= 400:
            raise DownloadError(f"could not download {url}: HTTP {status}")
        resumed = offset > 0 and status == 206
        if offset and not resumed:
            log.debug("%s ignored the Range request: downloading from the start", url)
            offset = 0
        total = _content_length(url, response, offset)
        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)  # a resumed prefix of another file is no use
            raise ChecksumError(
                f"size mismatch for {part.name.removesuffix('.part')} from {url}: expected "
                f"{size} bytes, the server announces {total}"
            )
        pace.start_attempt()
        written = offset
        with (
            part.open("ab" if resumed else "wb") as out,
            _progress_bar(part.name.removesuffix(".part"), total, offset, progress) as advance,
        ):
            while True:
                # read1 returns what has arrived (at most one chunk) instead of waiting
                # for a full chunk: a trickling server is measured after every read.
                try:
                    chunk = response.raw.read1(_CHUNK, decode_content=True)
                except Urllib3Error as err:
                    raise _RetryableError(_first_line(err)) from None
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
                advance(len(chunk))
                if size is not None and written > size:
                    out.close()
                    part.unlink()
                    raise ChecksumError(
                        f"size mismatch for {part.name.removesuffix('.part')} from {url}: "
                        f"more than the expected {size} bytes arrived"
                    )
                pace.advance(len(chunk))
    if total is not None and written < total:
        raise _RetryableError(f"transfer ended at byte {written} of {total}")


@contextlib.contextmanager
def _progress_bar(
    name: str, total: int | None, done: int, enabled: bool
) -> Iterator[Callable[[int], None]]:
    if not enabled or (total is not None and total < PROGRESS_MIN_BYTES):
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from rnnkit.console import stderr_console

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr_console(), transient=True) as bar:
        task = bar.add_task(name, total=total, completed=done)
        yield lambda n: bar.advance(task, n)


# ----------------------------------------------------------------------------- status


def availability(files: Iterable[RemoteFile], cache_dir: str | Path | None = None) -> str:
    """Where a dataset's files are now: bundled, cached, mirror, partly, or no.

    Cheap: it only looks for the files (hashes are checked when they are used).
    """
    files = list(files)
    if not files:
        return "bundled"
    root = cache_root(cache_dir)
    mirror = mirror_location()
    folder = None if mirror is None or _is_url(mirror) else _mirror_folder(mirror)
    places = []
    for file in files:
        copies = file.candidates
        if any((root / PurePosixPath(c.mirror_path)).is_file() for c in copies):
            places.append("cached")
        elif folder is not None and any(
            (folder / PurePosixPath(c.mirror_path)).is_file() for c in copies
        ):
            places.append("mirror")
        else:
            places.append("no")
    if len(set(places)) == 1:
        return places[0]
    return "partly" if "no" in places else "mirror"
