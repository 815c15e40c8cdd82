"""Fixtures shared by the data tests."""

from __future__ import annotations

import pytest
from http_server import start_server


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 (see http_server.py for what it can simulate)."""
    state, httpd = start_server()
    yield state
    httpd.shutdown()
    httpd.server_close()
