"""Downloads against a local HTTP server: verification, retries, resume, mirror, offline,
cache repair, and safe unpacking. Nothing here touches the network."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import socket
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from rnnkit.data import download
from rnnkit.data.catalog import RemoteFile
from rnnkit.data.download import RetryPolicy
from rnnkit.errors import (
    ChecksumError,
    ConfigError,
    DownloadError,
    OfflineError,
    UnsafeArchiveError,
)

FAST = RetryPolicy(attempts=3, backoff_s=0.0, timeout_s=5.0)
BODY = bytes(range(256)) * 40  # 10,240 bytes
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def _no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNNKIT_MIRROR", raising=False)


def remote(url: str | None, sha256: str | None = SHA, name: str = "blob.bin") -> RemoteFile:
    return RemoteFile(name, url, sha256, len(BODY), f"demo/{name}", "train")


def fetch(file: RemoteFile, cache: Path, **kwargs) -> Path:
    return download.fetch(file, cache_dir=cache, retry=FAST, progress=False, **kwargs)


# ----------------------------------------------------------------------------- transfers


def test_download_writes_verified_file_and_remembers_its_hash(server, cache):
    url = server.serve("/blob.bin", BODY)
    path = fetch(remote(url), cache)
    assert path == cache / "demo" / "blob.bin"
    assert path.read_bytes() == BODY
    memo = json.loads((cache / "verified.json").read_text())
    assert memo[str(path.resolve())]["sha256"] == SHA
    assert memo[str(path.resolve())]["size"] == len(BODY)


def test_second_fetch_uses_cache_without_request_or_rehash(server, cache, monkeypatch):
    url = server.serve("/blob.bin", BODY)
    fetch(remote(url), cache)
    hashed = []
    monkeypatch.setattr(download, "file_sha256", lambda p: hashed.append(p) or SHA)
    assert fetch(remote(url), cache).read_bytes() == BODY
    assert server.hits("/blob.bin") == 1
    assert hashed == []  # size and mtime unchanged: the memo answers


def test_hash_mismatch_is_an_error_and_leaves_nothing_in_cache(server, cache):
    wrong = "0" * 64
    url = server.serve("/blob.bin", BODY)
    with pytest.raises(ChecksumError) as err:
        fetch(remote(url, sha256=wrong), cache)
    message = str(err.value)
    assert "blob.bin" in message and wrong in message and SHA in message
    # Only the memo and the (empty) lock that serialises downloads of this file remain.
    left = {p.name for p in cache.rglob("*") if p.is_file()}
    assert left <= {"verified.json", ".blob.bin.lock"}


def test_server_error_is_retried_until_success(server, cache):
    url = server.serve("/blob.bin", BODY, fail_times=2)
    assert fetch(remote(url), cache).read_bytes() == BODY
    assert server.hits("/blob.bin") == 3


def test_persistent_server_error_gives_up_after_the_attempts(server, cache):
    url = server.serve("/blob.bin", BODY, fail_times=10)
    with pytest.raises(DownloadError, match=r"after 3 attempts: HTTP 500"):
        fetch(remote(url), cache)
    assert server.hits("/blob.bin") == 3
    assert not (cache / "demo" / "blob.bin").exists()


def test_client_error_is_not_retried(server, cache):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(remote(f"{server.url}/missing.bin"), cache)
    assert server.hits("/missing.bin") == 1


def test_truncated_transfer_resumes_with_a_range_request(server, cache):
    url = server.serve("/blob.bin", BODY, truncate_times=1, truncate_at=3000)
    assert fetch(remote(url), cache).read_bytes() == BODY
    assert server.requests == [("/blob.bin", None), ("/blob.bin", "bytes=3000-")]


def test_transfer_that_never_completes_fails_without_a_final_file(server, cache):
    url = server.serve("/blob.bin", BODY, truncate_times=99, truncate_at=10, honour_range=False)
    with pytest.raises(DownloadError, match="after 3 attempts"):
        fetch(remote(url), cache)
    assert not (cache / "demo" / "blob.bin").exists()


def test_partial_file_from_an_earlier_run_is_resumed(server, cache):
    url = server.serve("/blob.bin", BODY)
    part = cache / "demo" / "blob.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY[:4096])
    assert fetch(remote(url), cache).read_bytes() == BODY
    assert server.requests == [("/blob.bin", "bytes=4096-")]
    assert not part.exists()


def test_server_that_ignores_range_gets_a_fresh_download(server, cache):
    url = server.serve("/blob.bin", BODY, honour_range=False)
    part = cache / "demo" / "blob.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from another file")
    assert fetch(remote(url), cache).read_bytes() == BODY


def test_unknown_hash_downloads_with_an_unverified_warning(server, cache, caplog):
    url = server.serve("/blob.bin", BODY)
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.download"):
        assert fetch(remote(url, sha256=None), cache).read_bytes() == BODY
    assert "unverified" in caplog.text


# ----------------------------------------------------------------------------- cache repair


def test_damaged_cache_file_is_fetched_again(server, cache, caplog):
    url = server.serve("/blob.bin", BODY)
    path = fetch(remote(url), cache)
    path.write_bytes(BODY[:-1] + b"\x00")  # same size, new mtime, wrong bytes
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.download"):
        again = fetch(remote(url), cache)
    assert again.read_bytes() == BODY
    assert server.hits("/blob.bin") == 2
    assert "damaged" in caplog.text


# ----------------------------------------------------------------------------- offline


def test_offline_hit_needs_no_server(cache):
    path = cache / "demo" / "blob.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(BODY)
    assert fetch(remote("http://127.0.0.1:9/never"), cache, offline=True) == path


def test_offline_miss_names_every_missing_file_and_how_to_provide_it(server, cache):
    files = [remote(server.serve(f"/{n}", BODY), name=n) for n in ("a.txt", "b.txt")]
    with pytest.raises(OfflineError) as err:
        download.fetch_all(files, cache_dir=cache, offline=True, retry=FAST, progress=False)
    message = str(err.value)
    assert "demo/a.txt" in message and "demo/b.txt" in message
    assert str(cache) in message and "RNNKIT_MIRROR" in message
    assert "\n" not in message
    assert server.requests == []


# ----------------------------------------------------------------------------- mirror


def test_mirror_folder_with_good_copy_is_used_without_network(tmp_path, cache, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "demo").mkdir(parents=True)
    (mirror / "demo" / "blob.bin").write_bytes(BODY)
    monkeypatch.setenv("RNNKIT_MIRROR", str(mirror))
    path = fetch(remote("http://127.0.0.1:9/never"), cache, offline=True)
    assert path == mirror / "demo" / "blob.bin"


def test_mirror_is_searched_by_bare_file_name_too(tmp_path, cache, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "blob.bin").write_bytes(BODY)
    monkeypatch.setenv("RNNKIT_MIRROR", str(mirror))
    assert fetch(remote(None), cache, offline=True) == mirror / "blob.bin"


def test_mirror_folder_with_bad_copy_is_ignored(server, tmp_path, cache, monkeypatch, caplog):
    mirror = tmp_path / "mirror"
    (mirror / "demo").mkdir(parents=True)
    (mirror / "demo" / "blob.bin").write_bytes(b"not the file")
    monkeypatch.setenv("RNNKIT_MIRROR", str(mirror))
    url = server.serve("/blob.bin", BODY)
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.download"):
        path = fetch(remote(url), cache)
    assert path == cache / "demo" / "blob.bin" and path.read_bytes() == BODY
    assert "ignoring mirror copy" in caplog.text
    with pytest.raises(OfflineError, match="mirror"):
        fetch(remote(url, name="other.bin"), cache, offline=True)


def test_mirror_base_url_is_tried_before_upstream(server, cache, monkeypatch):
    server.serve("/mirror/demo/blob.bin", BODY)
    upstream = server.serve("/upstream/blob.bin", BODY)
    monkeypatch.setenv("RNNKIT_MIRROR", f"{server.url}/mirror")
    assert fetch(remote(upstream), cache).read_bytes() == BODY
    assert server.hits("/upstream/blob.bin") == 0


def test_mirror_base_url_with_bad_copy_falls_back_to_upstream(server, cache, monkeypatch):
    server.serve("/mirror/demo/blob.bin", b"corrupt")
    upstream = server.serve("/upstream/blob.bin", BODY)
    monkeypatch.setenv("RNNKIT_MIRROR", f"{server.url}/mirror")
    assert fetch(remote(upstream), cache).read_bytes() == BODY
    assert server.hits("/upstream/blob.bin") == 1


def test_alternative_copy_in_mirror_replaces_the_upstream_file(tmp_path, cache, monkeypatch):
    other = b"repacked archive"
    alternative = RemoteFile(
        "repacked.tar.xz", None, hashlib.sha256(other).hexdigest(), None, "demo/repacked.tar.xz"
    )
    primary = RemoteFile("orig.tar.gz", "http://127.0.0.1:9/never", SHA, 1, "demo/orig.tar.gz")
    primary = RemoteFile(**{**primary.__dict__, "alternatives": (alternative,)})
    (tmp_path / "mirror" / "demo").mkdir(parents=True)
    (tmp_path / "mirror" / "demo" / "repacked.tar.xz").write_bytes(other)
    monkeypatch.setenv("RNNKIT_MIRROR", str(tmp_path / "mirror"))
    assert fetch(primary, cache, offline=True).read_bytes() == other


# ----------------------------------------------------------------------------- archives


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz", links=()) -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("mode,suffix", [("w:gz", ".tar.gz"), ("w:xz", ".tar.xz")])
def test_tar_archives_unpack_inside_the_cache(tmp_path, mode, suffix):
    archive = make_tar(tmp_path / f"a{suffix}", {"top/x.txt": b"x", "top/sub/y.txt": b"y"}, mode)
    dest = download.extract(archive, tmp_path / "cache" / "a")
    assert (dest / "top" / "x.txt").read_bytes() == b"x"
    assert (dest / "top" / "sub" / "y.txt").read_bytes() == b"y"
    assert download.extract(archive, dest) == dest  # reused, not unpacked again


def test_zip_archive_unpacks(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"d/x.csv": b"1,2"})
    assert (download.extract(archive, tmp_path / "out") / "d" / "x.csv").read_bytes() == b"1,2"


@pytest.mark.parametrize(
    "members,links,why",
    [
        ({"ok.txt": b"1", "../evil.txt": b"2"}, (), "evil"),
        ({"/abs/evil.txt": b"2"}, (), "evil"),
        ({"ok.txt": b"1"}, [("link", "../../evil.txt")], "link"),
        ({"ok.txt": b"1"}, [("link", "/etc/passwd")], "link"),
    ],
)
def test_tar_with_escaping_member_is_refused_and_nothing_is_written(tmp_path, members, links, why):
    archive = make_tar(tmp_path / "bad.tar.gz", members, links=links)
    dest = tmp_path / "cache" / "inner" / "bad"
    with pytest.raises(UnsafeArchiveError, match=why):
        download.extract(archive, dest)
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "cache" / "evil.txt").exists()
    # No staging folder left; only the (empty) lock file that serialises unpacking.
    assert [p.name for p in (tmp_path / "cache" / "inner").iterdir()] == [".bad.lock"]


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_with_escaping_member_is_refused(tmp_path, name):
    archive = make_zip(tmp_path / "bad.zip", {"ok.txt": b"1", name: b"2"})
    with pytest.raises(UnsafeArchiveError, match=r"refusing to unpack bad\.zip"):
        download.extract(archive, tmp_path / "out" / "bad")
    assert not (tmp_path / "out" / "bad").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_pointing_out_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("inside/link")
        info.external_attr = 0o120777 << 16  # a symbolic link
        zf.writestr(info, "../../outside")
    with pytest.raises(UnsafeArchiveError, match="links outside"):
        download.extract(archive, tmp_path / "out")


def test_fetch_then_unpack_via_catalog_style_entry(server, cache):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("data/values.csv", "a,b\n1,2\n")
    body = buffer.getvalue()
    url = server.serve("/pack.zip", body)
    file = RemoteFile("pack.zip", url, hashlib.sha256(body).hexdigest(), len(body), "demo/pack.zip")
    archive = fetch(file, cache)
    dest = download.extract(archive, cache / "demo" / "pack")
    assert (dest / "data" / "values.csv").read_text() == "a,b\n1,2\n"


def test_availability_reports_where_files_are(tmp_path, cache, monkeypatch):
    file = remote(None)
    assert download.availability([], cache_dir=cache) == "bundled"
    assert download.availability([file], cache_dir=cache) == "no"
    (tmp_path / "m" / "demo").mkdir(parents=True)
    (tmp_path / "m" / "demo" / "blob.bin").write_bytes(BODY)
    monkeypatch.setenv("RNNKIT_MIRROR", str(tmp_path / "m"))
    assert download.availability([file], cache_dir=cache) == "mirror"
    (cache / "demo").mkdir(parents=True)
    (cache / "demo" / "blob.bin").write_bytes(BODY)
    assert download.availability([file], cache_dir=cache) == "cached"


def test_cache_root_follows_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "env"))
    assert download.cache_root() == tmp_path / "env"
    assert download.cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert (tmp_path / "arg").is_dir()


def test_concurrent_fetches_of_one_file_download_it_once(server, cache):
    from concurrent.futures import ThreadPoolExecutor

    url = server.serve("/blob.bin", BODY)
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: fetch(remote(url), cache), range(4)))
    assert {p.read_bytes() for p in paths} == {BODY}
    assert server.hits("/blob.bin") == 1


def test_large_download_with_progress_bar(server, cache):
    body = bytes(range(256)) * (download.PROGRESS_MIN_BYTES // 256 + 1)
    url = server.serve("/big.bin", body)
    file = RemoteFile("big.bin", url, hashlib.sha256(body).hexdigest(), len(body), "demo/big.bin")
    path = download.fetch(file, cache_dir=cache, retry=FAST, progress=True)
    assert path.read_bytes() == body


def test_tar_link_inside_is_kept_and_chained_link_out_is_refused(tmp_path):
    archive = make_tar(tmp_path / "ok.tar", {"d/x.txt": b"x"}, "w", links=[("alias", "d/x.txt")])
    dest = download.extract(archive, tmp_path / "ok")
    assert (dest / "alias").is_symlink() and (dest / "alias").read_bytes() == b"x"
    chained = make_tar(tmp_path / "bad.tar", {}, "w", links=[("l1", "."), ("l2", "l1/../..")])
    with pytest.raises(UnsafeArchiveError, match="'l2'"):
        download.extract(chained, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_file_without_hash_is_never_taken_from_a_mirror(server, tmp_path, cache, monkeypatch):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "blob.bin").write_bytes(b"something else with the same name")
    monkeypatch.setenv("RNNKIT_MIRROR", str(tmp_path / "m"))
    url = server.serve("/blob.bin", BODY)
    assert fetch(remote(url, sha256=None), cache).read_bytes() == BODY


# ----------------------------------------------------------------------------- hostile servers


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_trickling_server_is_dropped_below_the_minimum_rate_in_bounded_time(server, cache):
    # One byte every 50 ms (20 B/s) would take over 8 minutes for the 10 KB body.
    url = server.serve("/blob.bin", BODY, trickle_s=0.05)
    slow = RetryPolicy(
        attempts=2, backoff_s=0.0, timeout_s=5.0, min_rate_bps=1000, rate_window_s=0.4
    )
    started = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download.fetch(remote(url), cache_dir=cache, retry=slow, progress=False)
    assert time.monotonic() - started < 4
    message = one_line(err)
    assert "after 2 attempts" in message and "under the minimum 1000 B/s" in message
    assert "RNNKIT_DOWNLOAD_MIN_RATE" in message
    # The second attempt resumed after the bytes the first one kept.
    assert server.requests[0] == ("/blob.bin", None)
    assert server.requests[1][1] is not None and server.requests[1][1].startswith("bytes=")
    assert not (cache / "demo" / "blob.bin").exists()


def test_deadline_bounds_a_download_that_keeps_a_fair_rate(server, cache):
    # 100 bytes every 50 ms (2 KB/s): fast enough for any rate floor, 5 s for the body.
    url = server.serve("/blob.bin", BODY, trickle_s=0.05, trickle_bytes=100)
    policy = RetryPolicy(attempts=3, backoff_s=0.0, timeout_s=5.0, deadline_s=0.6, min_rate_bps=0)
    started = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download.fetch(remote(url), cache_dir=cache, retry=policy, progress=False)
    assert time.monotonic() - started < 3
    message = one_line(err)
    assert f"cannot download {url} within 0.6 s" in message
    assert "RNNKIT_DOWNLOAD_DEADLINE" in message
    assert server.hits("/blob.bin") == 1  # a deadline is not retried


def test_deadline_bounds_response_headers_sent_a_byte_at_a_time(server, cache):
    # A header byte every 0.2 s: each read is well inside its 5 s timeout, so only the
    # deadline (on the sockets themselves) can end the wait for the headers.
    url = server.serve("/blob.bin", BODY, header_trickle_s=0.2)
    policy = RetryPolicy(attempts=3, backoff_s=0.0, timeout_s=5.0, deadline_s=1.0, min_rate_bps=0)
    started = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download.fetch(remote(url), cache_dir=cache, retry=policy, progress=False)
    assert time.monotonic() - started < 3
    assert f"cannot download {url} within 1 s" in one_line(err)
    assert not (cache / "demo" / "blob.bin").exists()


def test_download_limits_come_from_the_environment(server, cache, monkeypatch):
    monkeypatch.setenv("RNNKIT_DOWNLOAD_DEADLINE", "0.5")
    monkeypatch.setenv("RNNKIT_DOWNLOAD_MIN_RATE", "0")
    assert RetryPolicy.from_env() == RetryPolicy(deadline_s=0.5, min_rate_bps=0.0)
    url = server.serve("/blob.bin", BODY, trickle_s=0.05, trickle_bytes=100)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"within 0\.5 s"):
        download.fetch(remote(url), cache_dir=cache, progress=False)  # no retry= given
    assert time.monotonic() - started < 3
    monkeypatch.setenv("RNNKIT_DOWNLOAD_DEADLINE", "soon")
    with pytest.raises(ConfigError, match=r"RNNKIT_DOWNLOAD_DEADLINE='soon' is not valid"):
        RetryPolicy.from_env()


def test_redirect_loop_is_a_one_line_error(server, cache):
    server.serve("/a", b"", redirect_to="/b")
    server.serve("/b", b"", redirect_to="/a")
    with pytest.raises(DownloadError) as err:
        fetch(remote(f"{server.url}/a"), cache)
    assert "redirect loop" in one_line(err) and f"{server.url}/a" in str(err.value)
    assert server.hits("/a") + server.hits("/b") <= 40  # requests stops after 30


def test_invalid_content_length_is_a_one_line_error(server, cache):
    url = server.serve("/blob.bin", BODY, headers={"Content-Length": "abc"})
    with pytest.raises(DownloadError) as err:
        fetch(remote(url), cache)
    assert "invalid Content-Length 'abc'" in one_line(err)
    assert not (cache / "demo" / "blob.bin").exists()


def test_announced_size_other_than_the_catalog_size_stops_before_the_body(server, cache):
    url = server.serve("/blob.bin", BODY + b"more")
    with pytest.raises(ChecksumError) as err:
        fetch(remote(url), cache)
    assert f"expected {len(BODY)} bytes, the server announces {len(BODY) + 4}" in one_line(err)
    assert [p.name for p in (cache / "demo").iterdir()] == [".blob.bin.lock"]


def test_host_that_does_not_resolve_fails_at_once_suggesting_offline(cache, monkeypatch):
    real = socket.getaddrinfo
    asked = []

    def getaddrinfo(host, *args, **kwargs):
        if host == "no-such-host.invalid":
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    patient = RetryPolicy(attempts=5, backoff_s=10.0, timeout_s=5.0)  # 150 s if retried
    started = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download.fetch(
            remote("http://no-such-host.invalid/blob.bin"), cache_dir=cache, retry=patient
        )
    assert time.monotonic() - started < 2 and len(asked) == 1
    message = one_line(err)
    assert "no-such-host.invalid does not resolve" in message
    assert "--offline" in message and "RNNKIT_MIRROR" in message


def test_unwritable_cache_is_a_one_line_error(server, tmp_path):
    # A file where a folder should be fails for root too (a read-only folder would not).
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(DownloadError) as err:
        fetch(remote(server.serve("/blob.bin", BODY)), tmp_path / "cache")
    assert f"cannot use the cache folder {tmp_path / 'cache'}" in one_line(err)
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "demo").write_text("not a folder")
    with pytest.raises(DownloadError) as err:
        fetch(remote(server.url + "/blob.bin"), tmp_path / "ok")
    assert "cannot write" in one_line(err) and "--cache-dir" in str(err.value)


def test_cache_whose_memo_cannot_be_written_still_serves_verified_files(server, cache):
    url = server.serve("/blob.bin", BODY)
    (cache / "verified.json").mkdir(parents=True)  # as unwritable as a read-only cache
    assert fetch(remote(url), cache).read_bytes() == BODY
    assert fetch(remote(url), cache).read_bytes() == BODY  # hashed again, not fetched
    assert server.hits("/blob.bin") == 1


# ----------------------------------------------------------------------------- in-place edits


def edit_in_place(path: Path) -> None:
    """Change one byte, keeping the size and putting the mtime back (as `touch -r` would)."""
    before = path.stat()
    time.sleep(0.05)  # past the kernel's timestamp granularity, so the ctime moves
    with path.open("r+b") as handle:
        handle.seek(100)
        handle.write(bytes([path.read_bytes()[100] ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_mirror_file_edited_in_place_with_its_mtime_restored_is_not_served(
    tmp_path, cache, monkeypatch
):
    mirror = tmp_path / "mirror"
    (mirror / "demo").mkdir(parents=True)
    copy = mirror / "demo" / "blob.bin"
    copy.write_bytes(BODY)
    monkeypatch.setenv("RNNKIT_MIRROR", str(mirror))
    assert fetch(remote(None), cache, offline=True) == copy
    edit_in_place(copy)
    with pytest.raises(OfflineError, match="has no verified copy"):
        fetch(remote(None), cache, offline=True)


def test_cache_file_edited_in_place_with_its_mtime_restored_is_fetched_again(server, cache, caplog):
    url = server.serve("/blob.bin", BODY)
    path = fetch(remote(url), cache)
    edit_in_place(path)
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.download"):
        assert fetch(remote(url), cache).read_bytes() == BODY
    assert "damaged" in caplog.text and server.hits("/blob.bin") == 2


# ----------------------------------------------------------------------------- copy from mirror


def test_copy_fills_the_cache_so_a_later_offline_run_needs_no_mirror(tmp_path, cache, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "demo").mkdir(parents=True)
    (mirror / "demo" / "blob.bin").write_bytes(BODY)
    monkeypatch.setenv("RNNKIT_MIRROR", str(mirror))
    assert fetch(remote(None), cache, offline=True) == mirror / "demo" / "blob.bin"
    copied = fetch(remote(None), cache, offline=True, copy=True)
    assert copied == cache / "demo" / "blob.bin" and copied.read_bytes() == BODY
    monkeypatch.delenv("RNNKIT_MIRROR")
    assert fetch(remote(None), cache, offline=True) == copied


def test_offline_error_names_every_acceptable_copy(cache):
    alternative = RemoteFile("b.tar.xz", None, SHA, None, "demo/b.tar.xz")
    primary = RemoteFile("a.tar.gz", None, SHA, None, "demo/a.tar.gz", alternatives=(alternative,))
    with pytest.raises(OfflineError) as err:
        fetch(primary, cache, offline=True)
    assert "demo/a.tar.gz or demo/b.tar.xz" in one_line(err)
