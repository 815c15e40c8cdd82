"""Errors a user can fix.

Every mistake a user can make (an unknown dataset, a bad config value, a malformed
file, missing credentials) is raised as a :class:`UserError` subclass at the boundary
where the bad value enters. The CLI prints ``str(error)`` as one line on stderr and
exits with code 2; anything else is a bug and exits with 1 and a traceback.
"""

from __future__ import annotations

import errno
import os


class UserError(Exception):
    """A mistake the user can fix; the message names the bad value and what is valid."""

    exit_code = 2


class ConfigError(UserError):
    """A config file, key or value that is not valid."""


class DataError(UserError):
    """A dataset, file, column or value that cannot be used as given."""


class DownloadError(DataError):
    """A file that could not be fetched, verified or unpacked."""


class ChecksumError(DownloadError):
    """A file whose sha256 is not the one expected."""


class OfflineError(DownloadError):
    """A file that is needed but is neither cached nor mirrored, in offline mode."""


class UnsafeArchiveError(DownloadError):
    """An archive member that would be written outside the extraction folder."""


class MissingExtraError(UserError):
    """An optional dependency that is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs the '{package}' package: pip install 'rnnkit[{extra}]'")


class CredentialsError(UserError):
    """Credentials for a data source are missing or invalid."""


class RunDirError(UserError):
    """A run directory that is missing files or was written by something else."""


class TrainingError(UserError):
    """Training stopped because it cannot go on (a NaN or infinite loss)."""


class WrongTaskError(UserError, AttributeError):
    """A predictor asked for another task's verb (``generate()`` on a classifier).

    Also an AttributeError, so ``hasattr(predictor, "generate")`` stays a plain question.
    """


#: File-system failures that come from the machine, not from rnnkit: a folder the user
#: cannot write, a read-only file system, a full disk or quota, a path through a file.
_ENVIRONMENT_ERRNOS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}
_FULL = {errno.ENOSPC, errno.EDQUOT}


def environment_error(err: OSError) -> UserError | None:
    """A one-line :class:`UserError` for a file-system failure the user can fix (a
    read-only folder, a full disk), naming the path; ``None`` for any other OSError."""
    reason = _ENVIRONMENT_ERRNOS.get(err.errno)
    if reason is None:
        return None
    path = err.filename if err.filename is not None else "a file"
    if err.filename2 is not None:
        path = f"{path} -> {err.filename2}"
    folder = os.path.dirname(os.fspath(err.filename)) if err.filename is not None else None
    where = f" in {folder}" if folder else ""
    if err.errno in _FULL:
        advice = f"free some space{where}, or write somewhere else"
    else:
        advice = "make it writable, or write somewhere else (--run-dir, --output, --cache-dir)"
    return UserError(f"{reason}: {path}; {advice}")
