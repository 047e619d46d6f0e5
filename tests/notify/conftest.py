"""Fixtures of the notification tests: an in-process bridge as the reload tests start one."""

from tests.reload.conftest import running  # noqa: F401 - a fixture, registered by being here
