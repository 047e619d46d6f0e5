"""Fixtures of the notification tests: an in-process bridge as the reload tests start one."""

from tests.reload.conftest import running  # noqa: F401 - a fixture, registered by being here
from tests.security.conftest import start_daemon  # noqa: F401 - a daemon subprocess, as the security tests start one
