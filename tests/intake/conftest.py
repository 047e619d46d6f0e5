"""The intake tests start daemons the way the security tests do, and in-process bridges as the reload tests do."""

from tests.reload.conftest import running  # noqa: F401 - a fixture, registered by being here
from tests.security.conftest import start_daemon  # noqa: F401 - a fixture, registered by being here
