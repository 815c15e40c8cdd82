"""Unpack zip and tar archives inside a cache folder, safely and only once.

Every member is checked before it is written: an absolute path, a ``..`` or a link that
points outside the destination raises :class:`UnsafeArchiveError`, and so does an archive
that would unpack to more than a size limit (a "zip bomb": a few MB that expand to GBs).
Members go to a staging folder beside the destination that is renamed into place when all
are unpacked, or removed on any error, so nothing is written outside and nothing half-done
stays. Processes take turns on one destination (a lock file beside it); a staging folder
that a killed process left behind is removed by the next one that holds the lock.

Limits (environment variables; ``0`` turns one off):

- ``RNNKIT_UNPACK_MAX_BYTES``: unpacked bytes in all (default 20G);
- ``RNNKIT_UNPACK_MAX_RATIO``: unpacked bytes per archive byte, checked once more than
  256 MiB are unpacked (default 200; text compresses about 4-10 times).
"""

from __future__ import annotations

import logging
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rnnkit.data.files import env_number, file_lock, umask
from rnnkit.errors import DownloadError, UnsafeArchiveError

log = logging.getLogger(__name__)

EXTRACTED_MARKER = ".rnnkit-extracted"
MAX_BYTES_ENV = "RNNKIT_UNPACK_MAX_BYTES"
MAX_RATIO_ENV = "RNNKIT_UNPACK_MAX_RATIO"
ARCHIVE_SUFFIXES = (".tar.gz", ".tar.xz", ".tgz", ".zip", ".tar")
_GIB = 2**30
_MIB = 2**20
# What a damaged or truncated archive raises while it is read.
_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class UnpackLimits:
    """How much an archive may unpack to; ``0`` (or less) turns a limit off."""

    max_bytes: float = 20 * _GIB
    max_ratio: float = 200.0  # unpacked / archive bytes
    ratio_floor: float = 256 * _MIB  # the ratio is checked only past this many bytes

    @classmethod
    def from_env(cls) -> UnpackLimits:
        """The defaults, with ``RNNKIT_UNPACK_MAX_BYTES`` / ``_MAX_RATIO`` applied."""
        return cls(
            max_bytes=env_number(MAX_BYTES_ENV, cls.max_bytes, size=True),
            max_ratio=env_number(MAX_RATIO_ENV, cls.max_ratio),
        )

    def check(self, name: str, packed: int, unpacked: int) -> None:
        """Raise :class:`UnsafeArchiveError` if an archive of ``packed`` bytes breaks a
        limit by unpacking to ``unpacked`` bytes."""
        if self.max_bytes > 0 and unpacked > self.max_bytes:
            raise UnsafeArchiveError(
                f"refusing to unpack {name}: it unpacks to more than "
                f"{_size(self.max_bytes)} (the limit; raise it with {MAX_BYTES_ENV})"
            )
        packed = max(packed, 1)
        if (
            self.max_ratio > 0
            and unpacked > self.ratio_floor
            and unpacked / packed > self.max_ratio
        ):
            raise UnsafeArchiveError(
                f"refusing to unpack {name}: {_size(packed)} unpack to more than "
                f"{_size(unpacked)}, over {self.max_ratio:g} times its size (a zip bomb? "
                f"raise the limit with {MAX_RATIO_ENV})"
            )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def archive_stem(name: str) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def lock_path(dest: Path) -> Path:
    """The lock file that serialises unpacking into ``dest``."""
    return dest.with_name(f".{dest.name}.lock")


def _staging_pattern(dest: Path) -> re.Pattern[str]:
    # Exactly what tempfile.mkdtemp(prefix=".NAME.", suffix=".tmp") creates: 8 characters
    # from its alphabet in the middle. Nothing else beside dest is ever removed.
    return re.compile(rf"^\.{re.escape(dest.name)}\.[a-z0-9_]{{8}}\.tmp$")


def remove_stale_staging(dest: Path) -> list[Path]:
    """Remove staging folders of ``dest`` left by a killed unpacking; returns them.

    Call only while holding :func:`lock_path`'s lock: every unpacking holds it while its
    staging folder exists, so any staging folder found then belongs to a dead process.
    """
    pattern = _staging_pattern(dest)
    removed = []
    for entry in dest.parent.iterdir():
        if pattern.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            log.info("removing %s, left by an unpacking that was interrupted", entry)
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _stamp(archive: Path) -> str:
    info = archive.stat()
    return f"{archive.name} {info.st_size} {info.st_mtime_ns}"


def _unpacked_already(dest: Path, stamp: str) -> bool:
    try:
        return (dest / EXTRACTED_MARKER).read_text(encoding="utf-8") == stamp
    except (OSError, ValueError):  # missing, or damaged: unpack again
        return False


def _os_reason(err: OSError) -> str:
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or err}{where}"


def extract(archive: str | Path, dest: str | Path, limits: UnpackLimits | None = None) -> Path:
    """Unpack a zip, tar, tar.gz or tar.xz archive into ``dest``; returns ``dest``.

    The folder is reused while the archive is unchanged (same name, size and mtime).
    Errors are one line: :class:`UnsafeArchiveError` for a member that escapes or a size
    limit (``limits``, default :meth:`UnpackLimits.from_env`), :class:`DownloadError` for
    a damaged or encrypted archive, a full disk or a folder that cannot be written.
    """
    archive, dest = Path(archive), Path(dest)
    limits = UnpackLimits.from_env() if limits is None else limits
    try:
        stamp = _stamp(archive)
        if _unpacked_already(dest, stamp):
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(lock_path(dest)) as locked:
            if _unpacked_already(dest, stamp):  # another process finished it meanwhile
                return dest
            if locked:
                remove_stale_staging(dest)
            _unpack_into_place(archive, dest, stamp, limits)
    except OSError as err:
        raise DownloadError(
            f"cannot unpack {archive.name} into {dest.parent}: {_os_reason(err)}"
        ) from None
    except _DAMAGED as err:
        raise DownloadError(f"cannot unpack {archive.name}: damaged or truncated ({err})") from None
    except NotImplementedError as err:  # e.g. a zip compression method Python lacks
        raise DownloadError(f"cannot unpack {archive.name}: {err}") from None
    return dest


def _unpack_into_place(archive: Path, dest: Path, stamp: str, limits: UnpackLimits) -> None:
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        # mkdtemp makes it 0700; the unpacked folder gets what mkdir would give it.
        staging.chmod(0o777 & ~umask())
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, staging, limits)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, staging, limits)
        else:
            raise DownloadError(f"{archive} is not a zip or tar archive")
        (staging / EXTRACTED_MARKER).write_text(stamp, encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _unsafe(archive: Path, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"refusing to unpack {archive.name}: member {member!r} {why}")


def _check_relative(archive: Path, member: str, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (name[1:2] == ":"):
        raise _unsafe(archive, member, "has an absolute path")
    if ".." in path.parts:
        raise _unsafe(archive, member, "climbs out with '..'")


def _check_free_space(archive: Path, folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(
            f"cannot unpack {archive.name}: it needs {_size(needed)} and {folder} has "
            f"{_size(free)} free"
        )


def _extract_zip(archive: Path, dest: Path, limits: UnpackLimits) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        # A zip lists every member's size up front, and reading a member never yields
        # more than its listed size: the limits are checked before anything is written.
        total = sum(info.file_size for info in infos)
        limits.check(archive.name, archive.stat().st_size, total)
        _check_free_space(archive, dest, total)
        files = {info.filename.rstrip("/") for info in infos if not info.is_dir()}
        for info in infos:
            _check_relative(archive, info.filename, info.filename)
            if info.flag_bits & 0x1:
                raise _unsafe(
                    archive, info.filename, "is encrypted: unpack it yourself and give the folder"
                )
            parents = PurePosixPath(info.filename.rstrip("/")).parents
            clash = next((str(p) for p in parents if str(p) in files), None)
            if clash is not None:
                raise _unsafe(archive, info.filename, f"lies under {clash!r}, which is a file")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                # zipfile writes a link as a file holding its target; refuse one that
                # points out anyway, since other tools would create the link.
                target = zf.read(info).decode("utf-8", "replace")
                joined = os.path.normpath(PurePosixPath(info.filename).parent / target)
                if target.startswith("/") or ".." in PurePosixPath(joined).parts:
                    raise _unsafe(archive, info.filename, f"links outside to {target!r}")
        zf.extractall(dest)


def _extract_tar(archive: Path, dest: Path, limits: UnpackLimits) -> None:
    # One streaming pass (a compressed tar cannot seek cheaply): each member is checked
    # just before it is written into the staging folder, which the caller removes if a
    # later member is refused. Its header gives its size, so the limits hold before a
    # large member is written.
    unpacked, packed = 0, archive.stat().st_size
    with tarfile.open(archive, "r|*") as tf:
        for member in tf:
            # The "data" filter would strip a leading "/" silently: refuse it instead.
            _check_relative(archive, member.name, member.name)
            # The "data" filter also refuses '..', links pointing out, and devices; it
            # resolves paths against what is already unpacked, so chained links are caught.
            try:
                safe = tarfile.data_filter(member, str(dest))
            except tarfile.FilterError as err:
                raise _unsafe(archive, member.name, f"is unsafe ({err})") from None
            unpacked += member.size
            limits.check(archive.name, packed, unpacked)
            target = dest / safe.name
            if safe.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif safe.isfile():
                # Written directly: tarfile's extract() also sets owner, mode and times on
                # every file, which makes archives of many small files (IMDB's 50,000
                # reviews) about twice as slow to unpack.
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tf.extractfile(member)
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
            else:
                tf.extract(member, dest, filter="data")
