"""A download's deadline, enforced on the sockets themselves.

requests and urllib3 bound each read of a socket (``timeout``), not a whole exchange: a
server that sends its response headers one byte every few seconds keeps a download
waiting forever, each read well inside its timeout. :class:`SocketWatch` remembers the
sockets a session opens and, once the deadline passes, shuts them down: the blocked
read returns at once, requests raises a ConnectionError, and the caller's deadline
check turns that into its one-line error.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any


class SocketWatch:
    """The sockets a session opened; :meth:`armed` shuts them down at a deadline."""

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.fired = False

    def add(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._sockets.add(sock)

    def shut_down(self) -> None:
        with self._lock:
            self.fired = True
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def armed(self, deadline: float | None) -> Iterator[None]:
        """Shut the sockets down if the block is still running at ``deadline``
        (a ``time.monotonic()`` value; None: no deadline)."""
        if deadline is None:
            yield
            return
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), self.shut_down)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


def watched_session(watch: SocketWatch) -> Any:
    """A requests Session whose HTTP and HTTPS connections report their sockets to
    ``watch`` as they connect."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class Watched(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            watch.add(self.sock)

    class WatchedTLS(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            watch.add(self.sock)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Watched

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = WatchedTLS

    session = requests.Session()
    for prefix in ("http://", "https://"):
        adapter = HTTPAdapter()
        adapter.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}
        session.mount(prefix, adapter)
    return session
