"""A local stand-in for the Hugging Face file endpoint, on 127.0.0.1 only.

It speaks the parts of the protocol the downloader relies on: HEAD on a `resolve` URL answers a
redirect carrying `X-Linked-Etag` (the SHA-256) and `X-Linked-Size`; the content URL honours `Range`.
It can cut connections mid-file to test resume.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FileServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    advertised_sha: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None  # bytes sent before a connection is cut
    drops_left: int = 0
    ignore_range: bool = False
    gets: list[str] = field(default_factory=list)  # Range headers seen ("" for none)
    # Stall: send the file up to this offset, then wait for `release` (a client's cancel is tested
    # against a connection that delivers nothing).
    hold_at: int | None = None
    release: threading.Event = field(default_factory=threading.Event)


class FileServer:
    def __init__(self) -> None:
        self.state = FileServerState()
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _resolve(self) -> str | None:
                parts = self.path.split("/resolve/", 1)
                if len(parts) != 2:
                    return None
                name = parts[1].split("/", 1)[1]
                return name if name in state.files else None

            def do_HEAD(self) -> None:
                if self.path.startswith("/cdn/"):
                    self._content(head=True)
                    return
                name = self._resolve()
                if name is None:
                    self.send_error(404)
                    return
                data = state.files[name]
                sha = state.advertised_sha.get(name, hashlib.sha256(data).hexdigest())
                self.send_response(302)
                self.send_header("Location", f"/cdn/{name}")
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                if self.path.startswith("/cdn/"):
                    self._content(head=False)
                    return
                name = self._resolve()
                if name is None:
                    self.send_error(404)
                    return
                self.send_response(302)
                self.send_header("Location", f"/cdn/{name}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _content(self, head: bool) -> None:
                name = self.path[len("/cdn/") :]
                data = state.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                range_header = self.headers.get("Range", "")
                if not head:
                    state.gets.append(range_header)
                if range_header.startswith("bytes=") and not state.ignore_range:
                    start = int(range_header[6:].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return
                if state.drop_after is not None and state.drops_left > 0:
                    state.drops_left -= 1
                    self.wfile.write(body[: state.drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if state.hold_at is not None and start < state.hold_at:
                    cut = state.hold_at - start
                    try:
                        self.wfile.write(body[:cut])
                        self.wfile.flush()
                        state.release.wait(30)
                        self.wfile.write(body[cut:])
                    except OSError:
                        pass  # the client gave up on the stalled connection
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.release.set()
        self.server.shutdown()
        self.server.server_close()

    def resolve_url(self, repo: str, name: str) -> str:
        return f"{self.url}/{repo}/resolve/main/{name}"
