"""The reliability tests use the same hand-written-config daemons as the security tests."""

from __future__ import annotations

from tests.security.conftest import start_daemon

__all__ = ["start_daemon"]
