"""Download a model file over HTTP with progress, resume and SHA-256 verification.

Hugging Face's `resolve` URLs answer HEAD with the file's SHA-256 (`X-Linked-Etag` for LFS files) and
size (`X-Linked-Size`) before redirecting to the content; a GET with `Range` resumes a partial file.
Bytes go to `NAME.part` beside the destination; only a complete, verified file is renamed into place,
so an interrupted or corrupt download never looks like a model. A cancelled or failed download keeps
its `.part` file, and the next attempt resumes from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import BinaryIO

from assistant.cancel import Cancelled, CancelToken
from assistant.errors import ChecksumMismatchError, DownloadError

Progress = Callable[[int, int | None], None]
"""Called with (bytes on disk, total bytes or None) as the download advances."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str
    verified: bool  # False only when neither the server nor the user gave a checksum
    resumed_from: int


def huggingface_url(
    repo_id: str, filename: str, *, revision: str = "main", endpoint: str | None = None
) -> str:
    from huggingface_hub import hf_hub_url

    return str(hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def probe(url: str, *, token: str | None = None, timeout: float = 30.0) -> RemoteFile:
    """HEAD `url` without following the redirect, to read the checksum headers Hugging Face sets."""
    request = urllib.request.Request(url, method="HEAD")
    request.add_header("Accept-Encoding", "identity")
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response = opener.open(request, timeout=timeout)
        headers = response.headers
        response.close()
    except urllib.error.HTTPError as error:
        if error.code in (301, 302, 303, 307, 308):
            headers = error.headers
        else:
            raise _http_error(url, error) from None
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"Cannot reach {url}: {getattr(error, 'reason', error)}.") from None
    etag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").strip('W/"').lower()
    size_text = headers.get("X-Linked-Size") or headers.get("Content-Length")
    size = int(size_text) if size_text and size_text.isdigit() else None
    return RemoteFile(url, size, etag if _SHA256.match(etag) else None)


def download(
    url: str,
    destination: Path,
    *,
    expected_sha256: str | None = None,
    token: str | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    attempts: int = 5,
    timeout: float = 30.0,
) -> Downloaded:
    """Fetch `url` into `destination`, resuming `destination.part` if present.

    Side effects: writes `destination.part`, then renames it to `destination`. Raises Cancelled
    (keeping the part file), ChecksumMismatchError (deleting it: its bytes are wrong), or
    DownloadError after `attempts` interrupted tries.
    """
    if expected_sha256 is not None:
        expected_sha256 = expected_sha256.lower()
        if not _SHA256.match(expected_sha256):
            raise DownloadError("A SHA-256 checksum is 64 hexadecimal digits.")
    remote = probe(url, token=token, timeout=timeout)
    expected = expected_sha256 or remote.sha256
    if remote.sha256 and expected_sha256 and remote.sha256 != expected_sha256:
        raise ChecksumMismatchError(
            f"The server says {url} has SHA-256 {remote.sha256}, not the expected {expected_sha256}."
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    resumed_from = part.stat().st_size if part.exists() else 0
    if remote.size is not None and resumed_from > remote.size:
        part.unlink()
        resumed_from = 0

    partial = _PartFile(part)
    failures = 0
    total = remote.size
    while True:
        if total is not None and partial.size >= total:
            break
        try:
            total, finished = _fetch(url, partial, token, total, progress, cancel, timeout)
        except (ConnectionError, TimeoutError, urllib.error.URLError) as error:
            failures += 1
            if failures >= attempts:
                raise DownloadError(
                    f"The download of {url} kept failing ({getattr(error, 'reason', error)}); "
                    f"run the same command again to resume from {partial.size} bytes."
                ) from None
            if cancel is not None and cancel.wait(min(2.0, 0.2 * failures)):
                raise Cancelled() from None
            continue
        if finished:
            break

    size = partial.size
    actual = partial.digest.hexdigest()
    if total is not None and size != total:
        raise DownloadError(f"The download of {url} ended at {size} of {total} bytes.")
    if expected is not None and actual != expected:
        part.unlink()
        raise ChecksumMismatchError(
            f"The file downloaded from {url} is corrupt (SHA-256 {actual}, expected {expected}); "
            "it was deleted, download it again."
        )
    os.replace(part, destination)
    return Downloaded(destination, size, actual, expected is not None, resumed_from)


class _PartFile:
    """The `.part` file and the running SHA-256 of its bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.size = 0
        if path.exists():
            with path.open("rb") as existing:
                for block in iter(lambda: existing.read(_CHUNK), b""):
                    self.digest.update(block)
                    self.size += len(block)

    def restart(self) -> None:
        self.path.write_bytes(b"")
        self.digest = hashlib.sha256()
        self.size = 0


def _fetch(
    url: str,
    partial: _PartFile,
    token: str | None,
    total: int | None,
    progress: Progress | None,
    cancel: CancelToken | None,
    timeout: float,
) -> tuple[int | None, bool]:
    """One GET from where the part file ends. Returns (total size, reached the end)."""
    have = partial.size
    request = urllib.request.Request(url)
    request.add_header("Accept-Encoding", "identity")
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have and total in (None, have):
            return have, True
        raise _http_error(url, error) from None
    with contextlib.closing(response):
        if have and response.status != 206:
            # The server ignored the range: start over rather than append a second copy.
            partial.restart()
            have = 0
        length = response.headers.get("Content-Length")
        if total is None and length and length.isdigit():
            total = have + int(length)
        unregister = cancel.on_cancel(_interrupter(response)) if cancel is not None else None
        try:
            with partial.path.open("ab") as sink:
                last_report = 0.0
                while True:
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled()
                    try:
                        block = response.read(_CHUNK)
                    except (ValueError, AttributeError):
                        if cancel is not None and cancel.cancelled:
                            raise Cancelled() from None
                        raise ConnectionError("connection closed") from None
                    if cancel is not None and cancel.cancelled:
                        # The bytes that did arrive are good: keep them for the resume.
                        _append(sink, partial, block)
                        raise Cancelled()
                    if not block:
                        break
                    _append(sink, partial, block)
                    have = partial.size
                    now = time.monotonic()
                    if progress is not None and now - last_report >= 0.1:
                        last_report = now
                        progress(have, total)
        finally:
            if unregister is not None:
                unregister()
    if progress is not None:
        progress(have, total)
    if total is not None and have < total:
        raise ConnectionError(f"connection closed at {have} of {total} bytes")
    return total, True


def _append(sink: BinaryIO, partial: _PartFile, block: bytes) -> None:
    sink.write(block)
    partial.digest.update(block)
    partial.size += len(block)


def _interrupter(response: HTTPResponse) -> Callable[[], None]:
    """A cancel callback that wakes a read blocked on a stalled connection.

    Not `response.close()`: the buffered reader's close waits for the lock the blocked read holds,
    so the cancelling thread (the UI's) would hang until the network delivered. Shutting the socket
    down makes the blocked read return at once with what it has.
    """
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)

    def interrupt() -> None:
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, also for TLS: the SSL layer's would drop its state
                # under the reading thread.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    return interrupt


def _http_error(url: str, error: urllib.error.HTTPError) -> DownloadError:
    if error.code in (401, 403):
        return DownloadError(
            f"{url} needs permission ({error.code}): log in with `hf auth login` for gated models."
        )
    if error.code == 404:
        return DownloadError(f"{url} does not exist (404): check the repository and file name.")
    return DownloadError(f"Downloading {url} failed with HTTP {error.code} {error.reason}.")
