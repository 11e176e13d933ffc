"""Model downloads against a local HTTP server: progress, resume, checksum, cancel, errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Assistant, Cancelled, CancelToken
from assistant.cli import main
from assistant.engine.download import download, probe
from assistant.errors import ChecksumMismatchError, DownloadError
from tests.assistant.http_fixtures import FileServer

PAYLOAD = bytes(range(256)) * 12_000  # ~3 MB: several read chunks


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as running:
        running.state.files["model.gguf"] = PAYLOAD
        yield running


def test_probe_reads_the_checksum_and_size_from_the_redirect(server: FileServer) -> None:
    remote = probe(server.resolve_url("org/repo", "model.gguf"))
    assert remote.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert remote.size == len(PAYLOAD)


def test_download_with_progress_and_verification(server: FileServer, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    result = download(
        server.resolve_url("org/repo", "model.gguf"),
        tmp_path / "model.gguf",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.verified and result.resumed_from == 0
    assert (tmp_path / "model.gguf").read_bytes() == PAYLOAD
    assert not (tmp_path / "model.gguf.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_interrupted_download_resumes_where_it_stopped(server: FileServer, tmp_path: Path) -> None:
    url = server.resolve_url("org/repo", "model.gguf")
    target = tmp_path / "model.gguf"
    server.state.drop_after, server.state.drops_left = 1_000_000, 1
    with pytest.raises(DownloadError, match="resume"):
        download(url, target, attempts=1)
    part = tmp_path / "model.gguf.part"
    assert part.stat().st_size == 1_000_000 and not target.exists()
    result = download(url, target)
    assert result.resumed_from == 1_000_000
    assert server.state.gets[-1] == "bytes=1000000-"
    assert target.read_bytes() == PAYLOAD and result.verified


def test_drops_within_one_run_are_retried_with_ranges(server: FileServer, tmp_path: Path) -> None:
    server.state.drop_after, server.state.drops_left = 700_000, 3
    result = download(server.resolve_url("org/repo", "model.gguf"), tmp_path / "m.gguf")
    assert server.state.gets == ["", "bytes=700000-", "bytes=1400000-", "bytes=2100000-"]
    assert (tmp_path / "m.gguf").read_bytes() == PAYLOAD and result.verified


def test_server_ignoring_ranges_restarts_cleanly(server: FileServer, tmp_path: Path) -> None:
    (tmp_path / "m.gguf.part").write_bytes(PAYLOAD[:5000])
    server.state.ignore_range = True
    result = download(server.resolve_url("org/repo", "model.gguf"), tmp_path / "m.gguf")
    assert (tmp_path / "m.gguf").read_bytes() == PAYLOAD and result.verified


def test_corrupt_bytes_fail_the_checksum_and_leave_no_model(
    server: FileServer, tmp_path: Path
) -> None:
    server.state.advertised_sha["model.gguf"] = "0" * 64
    with pytest.raises(ChecksumMismatchError, match="corrupt"):
        download(server.resolve_url("org/repo", "model.gguf"), tmp_path / "m.gguf")
    assert list(tmp_path.iterdir()) == []


def test_a_given_checksum_that_disagrees_with_the_server_is_refused(
    server: FileServer, tmp_path: Path
) -> None:
    with pytest.raises(ChecksumMismatchError):
        download(
            server.resolve_url("org/repo", "model.gguf"),
            tmp_path / "m.gguf",
            expected_sha256="1" * 64,
        )
    assert list(tmp_path.iterdir()) == []


def test_cancel_keeps_the_part_file_for_later(server: FileServer, tmp_path: Path) -> None:
    cancel = CancelToken()

    def progress(done: int, total: int | None) -> None:
        if done >= 1 << 20:
            cancel.cancel()

    with pytest.raises(Cancelled):
        download(
            server.resolve_url("org/repo", "model.gguf"),
            tmp_path / "m.gguf",
            progress=progress,
            cancel=cancel,
        )
    assert (tmp_path / "m.gguf.part").stat().st_size >= 1 << 20
    assert not (tmp_path / "m.gguf").exists()


def test_missing_file_and_unreachable_server(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        download(server.resolve_url("org/repo", "absent.gguf"), tmp_path / "x.gguf")
    with pytest.raises(DownloadError, match="Cannot reach"):
        download("http://127.0.0.1:9/org/repo/resolve/main/x.gguf", tmp_path / "x.gguf")


def test_models_download_command_registers_a_usable_model(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FileServer() as hub:
        hub.state.files["tiny.gguf"] = tiny_model.read_bytes()
        with Assistant() as assistant:
            assistant.update_settings(download_endpoint=hub.url)
        assert main(["models", "download", "someone/tiny-GGUF", "tiny.gguf"]) == 0
        out = capsys.readouterr().out
        assert "verified" in out
        assert main(["models", "download", "someone/tiny-GGUF", "missing.gguf"]) == 1
        assert "404" in capsys.readouterr().err
    assert main(["models", "list", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["active"] and Path(entry["location"]).read_bytes() == tiny_model.read_bytes()
    assert main(["ask", "--max-tokens", "3", "hello"]) == 0
    assert capsys.readouterr().out.strip()


def test_download_refuses_odd_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "download", "not a repo", "x.gguf"]) == 1
    assert "not a repository id" in capsys.readouterr().err
    assert main(["models", "download", "org/repo", "../../etc/passwd.gguf"]) == 1
    assert main(["models", "download", "org/repo", "weights.bin"]) == 1
