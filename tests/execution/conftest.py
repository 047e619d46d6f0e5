"""Execution tests that need a whole in-process bridge use the reload tests' `running` factory."""

from tests.reload.conftest import running  # noqa: F401 - a fixture, registered by being here
