"""The intake tests start daemons the way the security tests do."""

from tests.security.conftest import start_daemon  # noqa: F401 - a fixture, registered by being here
