"""Unpacking under faults: size limits (zip bombs), staging left by a killed process, damaged,
encrypted and self-contradicting archives, a full disk. (Path escapes: test_download.py.)"""

from __future__ import annotations

import errno
import io
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import pytest

from rnnkit.data import archives
from rnnkit.data.archives import UnpackLimits, extract
from rnnkit.errors import ConfigError, DownloadError, UnsafeArchiveError

ZEROS = bytes(200_000)


def make_tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def leftovers(folder: Path) -> list[str]:
    """What an unpacking left in ``folder`` besides its lock file."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


# ----------------------------------------------------------------------------- size limits


@pytest.mark.parametrize("maker", [make_zip, make_tar_gz], ids=["zip", "tar.gz"])
def test_archive_over_the_size_limit_is_refused_before_writing(tmp_path, maker):
    archive = maker(tmp_path / f"bomb.{'zip' if maker is make_zip else 'tar.gz'}", {"z": ZEROS})
    out = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as err:
        extract(archive, out / "bomb", UnpackLimits(max_bytes=100_000))
    message = str(err.value)
    assert "refusing to unpack bomb" in message and "97.7 KiB" in message
    assert "RNNKIT_UNPACK_MAX_BYTES" in message and "\n" not in message
    assert leftovers(out) == []


@pytest.mark.parametrize("maker", [make_zip, make_tar_gz], ids=["zip", "tar.gz"])
def test_archive_over_the_ratio_limit_is_refused(tmp_path, maker):
    archive = maker(tmp_path / "bomb.arc", {"z": ZEROS})  # 200 KB of zeros pack to < 1 KB
    assert ZEROS.__len__() / archive.stat().st_size > 100
    with pytest.raises(UnsafeArchiveError, match=r"over 100 times its size \(a zip bomb"):
        extract(archive, tmp_path / "out" / "b", UnpackLimits(max_ratio=100, ratio_floor=0))
    assert leftovers(tmp_path / "out") == []
    # Within the limits it unpacks.
    dest = extract(archive, tmp_path / "ok" / "b", UnpackLimits(max_ratio=0, max_bytes=300_000))
    assert (dest / "z").read_bytes() == ZEROS


def test_limits_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_UNPACK_MAX_BYTES", "100K")
    monkeypatch.setenv("RNNKIT_UNPACK_MAX_RATIO", "0")
    assert UnpackLimits.from_env() == UnpackLimits(max_bytes=100 * 1024, max_ratio=0.0)
    archive = make_zip(tmp_path / "a.zip", {"z": ZEROS})
    with pytest.raises(UnsafeArchiveError, match=r"more than 100\.0 KiB"):
        extract(archive, tmp_path / "out" / "a")  # no limits given: the environment's
    monkeypatch.setenv("RNNKIT_UNPACK_MAX_BYTES", "lots")
    with pytest.raises(ConfigError, match=r"RNNKIT_UNPACK_MAX_BYTES='lots'.*such as 500M"):
        UnpackLimits.from_env()


def test_zip_larger_than_the_free_space_is_refused_up_front(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "a.zip", {"z": ZEROS})
    usage = archives.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        archives.shutil, "disk_usage", lambda p: usage._replace(free=1000), raising=True
    )
    with pytest.raises(DownloadError, match=r"needs 195\.3 KiB and .* has 1000 B free"):
        extract(archive, tmp_path / "out" / "a")
    assert leftovers(tmp_path / "out") == []


def test_full_disk_while_unpacking_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    archive = make_tar_gz(tmp_path / "a.tar.gz", {"d/x.txt": b"x" * 10})

    def no_space(source, target, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archives.shutil, "copyfileobj", no_space)
    with pytest.raises(DownloadError) as err:
        extract(archive, tmp_path / "out" / "a")
    assert (
        str(err.value) == f"cannot unpack a.tar.gz into {tmp_path / 'out'}: No space left on device"
    )
    assert leftovers(tmp_path / "out") == []


# ----------------------------------------------------------------------------- odd archives


def test_truncated_archive_is_called_damaged(tmp_path):
    whole = make_tar_gz(tmp_path / "a.tar.gz", {"x.bin": bytes(range(256)) * 400})
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DownloadError, match=r"cannot unpack cut\.tar\.gz: damaged or truncated"):
        extract(cut, tmp_path / "out" / "cut")
    assert leftovers(tmp_path / "out") == []


def test_encrypted_zip_is_refused_with_what_to_do(tmp_path):
    archive = make_zip(tmp_path / "secret.zip", {"a.txt": b"hidden"})
    raw = bytearray(archive.read_bytes())
    # Set the "encrypted" flag bit in the local header and in the central directory.
    raw[6] |= 1
    central = raw.find(b"PK\x01\x02")
    raw[central + 8] |= 1
    archive.write_bytes(bytes(raw))
    with pytest.raises(UnsafeArchiveError, match=r"'a\.txt' is encrypted: unpack it yourself"):
        extract(archive, tmp_path / "out" / "secret")


def test_zip_whose_file_and_folder_names_collide_is_refused(tmp_path):
    archive = make_zip(tmp_path / "clash.zip", {"a": b"file", "a/b.txt": b"under a file"})
    with pytest.raises(UnsafeArchiveError, match=r"'a/b\.txt' lies under 'a', which is a file"):
        extract(archive, tmp_path / "out" / "clash")
    assert leftovers(tmp_path / "out") == []


def test_tar_whose_file_and_folder_names_collide_is_one_line(tmp_path):
    archive = make_tar_gz(tmp_path / "clash.tar.gz", {"a": b"file", "a/b.txt": b"x"})
    with pytest.raises(DownloadError, match=r"^cannot unpack clash\.tar\.gz into .*: "):
        extract(archive, tmp_path / "out" / "clash")
    assert leftovers(tmp_path / "out") == []


# ----------------------------------------------------------------------------- killed unpacking


def test_stale_staging_of_this_destination_is_removed_and_nothing_else(tmp_path):
    archive = make_tar_gz(tmp_path / "a.tar.gz", {"x.txt": b"x"})
    out = tmp_path / "out"
    stale = out / ".a.k3x_9q2z.tmp"  # the form tempfile.mkdtemp gives
    (stale / "aclImdb").mkdir(parents=True)
    (stale / "aclImdb" / "half.txt").write_text("half")
    kept = [out / ".a.mine.tmp", out / ".b.k3x_9q2z.tmp", out / "a.k3x_9q2z.tmp"]
    for folder in kept:
        folder.mkdir()
    dest = extract(archive, out / "a")
    assert (dest / "x.txt").read_bytes() == b"x"
    assert not stale.exists()
    assert all(folder.is_dir() for folder in kept)


def test_staging_of_a_live_unpacking_is_kept_until_its_process_dies(tmp_path):
    archive = make_tar_gz(tmp_path / "a.tar.gz", {"x.txt": b"x"})
    dest = tmp_path / "out" / "a"
    dest.parent.mkdir()
    staging = dest.parent / ".a.live1234.tmp"
    # Another process in the middle of unpacking: it holds the lock and has a staging folder.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import fcntl, os, sys, time
                lock = open({str(archives.lock_path(dest))!r}, "a")
                fcntl.flock(lock, fcntl.LOCK_EX)
                os.mkdir({str(staging)!r})
                print("ready", flush=True)
                time.sleep(60)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        done = threading.Event()
        worker = threading.Thread(target=lambda: (extract(archive, dest), done.set()))
        worker.start()
        time.sleep(0.5)
        assert staging.is_dir() and not done.is_set()  # waits for the live process
        holder.kill()  # SIGKILL: the kernel drops its lock, its staging folder stays behind
        holder.wait()
        worker.join(timeout=10)
        assert done.is_set()
    finally:
        holder.kill()
        holder.wait()
    assert not staging.exists()
    assert (dest / "x.txt").read_bytes() == b"x"
