"""A local HTTP server for download tests: serves files, fails, truncates, honours Range.

Nothing leaves 127.0.0.1. Each test configures what the server does per path and reads
back the requests it received.
"""

from __future__ import annotations

import threading
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
            if route.fail_times > 0:
                route.fail_times -= 1
                self.send_error(500)
                return
            if route.status != 200:
                self.send_error(route.status)
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
            self.send_header("Content-Length", str(len(payload)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if route.truncate_times > 0:
                route.truncate_times -= 1
                self.wfile.write(payload[: route.truncate_at])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler


def start_server() -> tuple[LocalServer, ThreadingHTTPServer]:
    """Start a server on 127.0.0.1 (free port) in a daemon thread."""
    state = LocalServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return state, httpd
