"""Shared fixtures: a seeded random generator, closed figures, and no network access."""

from __future__ import annotations

import socket

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: tests are reproducible bit for bit."""
    return np.random.default_rng(20261126)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


class NetworkBlocked(RuntimeError):
    """Raised when a unit test tries to reach the network."""


@pytest.fixture(autouse=True)
def _no_network(request, monkeypatch):
    """Unit tests must not touch the network (loopback stays allowed for local test servers)."""
    if request.node.get_closest_marker("allow_network"):
        yield
        return
    real_connect = socket.socket.connect

    def guarded(self, address, *args, **kwargs):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127.")):
            return real_connect(self, address, *args, **kwargs)
        if self.family == socket.AF_UNIX:
            return real_connect(self, address, *args, **kwargs)
        raise NetworkBlocked(f"test tried to connect to {address!r}; tests run offline")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield
