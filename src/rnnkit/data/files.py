"""Small file-system helpers: atomic writes, cross-process locks, and reading UTF-8 text
with a message that says what the file is when it is not UTF-8."""

from __future__ import annotations

import contextlib
import gzip
import lzma
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def open_text(path: Path, *, newline: str | None = None) -> IO[str]:
    """A UTF-8 text handle on ``path``; ``.gz`` and ``.xz`` files are read decompressed.

    ``newline`` as for :func:`open` (``""`` keeps ``\r\n`` as written).
    """
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline=newline)
    if suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8", newline=newline)
    return path.open("r", encoding="utf-8", newline=newline)


def umask() -> int:
    """The process umask."""
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place.

    The file gets the permissions a plain ``open()`` would give (0666 less the umask), not
    mkstemp's 0600, so a cache can be shared.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if missing) while the block runs.

    Yields whether a real cross-process lock is held: ``False`` where the platform has no
    ``fcntl`` (the block then runs unlocked). The kernel drops the lock when its holder
    dies, even by SIGKILL, so a held lock always means a live process. With
    ``wait=False`` a lock held by another process raises :class:`BlockingIOError` at once.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield False
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def env_number(name: str, default: float, *, size: bool = False) -> float:
    """The number in environment variable ``name``, else ``default``.

    ``size=True`` also accepts a binary unit suffix: ``500M``, ``20G`` (``K``, ``M``, ``G``,
    ``T``, an optional trailing ``B`` or ``iB``). A value that is not a non-negative number
    is a :class:`~rnnkit.errors.ConfigError` naming the variable.
    """
    from rnnkit.errors import ConfigError

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    text = raw.lower().removesuffix("ib").removesuffix("b") if size else raw.lower()
    unit = text[-1:] if size and text[-1:] in _SIZE_UNITS else ""
    try:
        value = float(text.removesuffix(unit)) * _SIZE_UNITS[unit]
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        example = "a number of bytes such as 500M or 20G" if size else "a number >= 0"
        raise ConfigError(f"{name}={raw!r} is not valid: give {example} (0 turns the limit off)")
    return value


def not_utf8_reason(data: bytes, error: UnicodeDecodeError | None = None) -> str:
    """Why ``data`` (a file's bytes, or its first part) is not UTF-8 text, and what to do."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (
            "it is UTF-16 text (it starts with a UTF-16 byte-order mark); convert it "
            "(iconv -f utf-16 -t utf-8)"
        )
    if b"\0" in data[: 1 << 16]:
        return (
            "it holds NUL bytes (a binary file, or UTF-16 text without a byte-order mark); "
            "give a UTF-8 text file"
        )
    if error is not None:
        byte = error.object[error.start : error.start + 1]
        return (
            f"byte 0x{byte.hex()} at offset {error.start} is not UTF-8 (latin-1 or another "
            "8-bit encoding?); convert it (iconv -f latin1 -t utf-8)"
        )
    return "it is not UTF-8; convert it to UTF-8"


def read_utf8(path: Path, what: str = "text file") -> str:
    """The text of ``path``, which must be UTF-8; otherwise a one-line DataError naming
    the file and the problem (UTF-16, binary, latin-1), before any work is done on it."""
    from rnnkit.errors import DataError

    data = Path(path).read_bytes()
    try:
        if b"\0" in data[: 1 << 16]:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not a UTF-8 {what}: {not_utf8_reason(data, err)}") from None


def utf8_problem(path: Path) -> str:
    """:func:`not_utf8_reason` for a file known not to decode, from its first 64 KiB."""
    import codecs

    with Path(path).open("rb") as handle:
        head = handle.read(1 << 16)
    try:
        # Not final: a character cut at the end of the 64 KiB is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        error = None
    except UnicodeDecodeError as err:
        error = err
    return not_utf8_reason(head, error)
