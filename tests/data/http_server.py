"""A local HTTP server for download tests: serves files, fails, truncates, honours Range,
trickles (the body, or the header lines), redirects, and sends malformed headers.

Nothing leaves 127.0.0.1. Each test configures what the server does per path and reads
back the requests it received.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes
    fail_times: int = 0  # answer 500 this many times first
    truncate_times: int = 0  # then send only truncate_at bytes (full Content-Length) this often
    truncate_at: int = 0
    honour_range: bool = True
    status: int = 200
    trickle_s: float = 0.0  # send the body in trickle_bytes pieces, sleeping this long between
    trickle_bytes: int = 1
    redirect_to: str | None = None  # answer 302 with this Location
    header_trickle_s: float = 0.0  # send the header lines one byte per this many seconds
    headers: dict[str, str] = field(default_factory=dict)  # replace or add response headers


@dataclass
class LocalServer:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)

    def serve(self, path: str, body: bytes, **behaviour) -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        self.routes[path] = Route(body, **behaviour)
        return f"{self.url}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


def _handler(state: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            byte_range = self.headers.get("Range")
            state.requests.append((self.path, byte_range))
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            if route.header_trickle_s > 0:
                self._trickle_headers(route.header_trickle_s)
                return
            if route.fail_times > 0:
                route.fail_times -= 1
                self.send_error(500)
                return
            if route.status != 200:
                self.send_error(route.status)
                return
            if route.redirect_to is not None:
                self.send_response(302)
                self.send_header("Location", route.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, status, start = route.body, 200, 0
            if byte_range and route.honour_range:
                start = int(byte_range.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                status = 206
            payload = body[start:]
            self.send_response(status)
            headers = {"Content-Length": str(len(payload)), "Accept-Ranges": "bytes"}
            if status == 206:
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            for name, value in {**headers, **route.headers}.items():
                self.send_header(name, value)
            self.end_headers()
            if route.trickle_s > 0:
                self._trickle(payload, route)
                return
            if route.truncate_times > 0:
                route.truncate_times -= 1
                self.wfile.write(payload[: route.truncate_at])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

        def _trickle_headers(self, pause_s: float) -> None:
            # A status line, then a header that never ends, a byte at a time (for at
            # most a minute): every read the client makes gets a byte within its timeout.
            try:
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                self.wfile.flush()
                for _ in range(int(60 / pause_s)):
                    time.sleep(pause_s)
                    self.wfile.write(b"a")
                    self.wfile.flush()
            except OSError:  # the client gave up
                pass
            self.close_connection = True

        def _trickle(self, payload: bytes, route: Route) -> None:
            try:
                for i in range(0, len(payload), route.trickle_bytes):
                    self.wfile.write(payload[i : i + route.trickle_bytes])
                    self.wfile.flush()
                    time.sleep(route.trickle_s)
            except OSError:  # the client gave up: what the slow-server tests expect
                self.close_connection = True

    return Handler


def start_server() -> tuple[LocalServer, ThreadingHTTPServer]:
    """Start a server on 127.0.0.1 (free port) in a daemon thread."""
    state = LocalServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return state, httpd
