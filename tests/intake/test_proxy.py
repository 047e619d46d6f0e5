"""What the intake process passes on to the daemon: the request as sent.

Each test runs the real `bridge run` with `server.intake_process` and compares with one process where
the answer should be the same.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable

import pytest

from tests.conftest import TOKEN, Daemon
from tests.security.conftest import rows, strategy

ON = "  intake_process: true\n"


def raw_post(daemon: Daemon, path: str, payload: dict[str, object]) -> int:
    """POST to `path` exactly as written: http.client, unlike httpx, sends `.` and `..` segments as they are."""
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    try:
        connection.request("POST", path, body=json.dumps(payload), headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


@pytest.mark.parametrize("server", ["", ON], ids=["one-process", "intake-process"])
def test_a_webhook_path_with_dot_segments_is_not_found_and_passes_no_rate_limit_by(
    start_daemon: Callable[..., Daemon], server: str
) -> None:
    daemon = start_daemon({"sq": strategy(TOKEN, "    rate_limit: {per_minute: 1, per_hour: 500}\n")}, server=server)
    assert raw_post(daemon, f"/webhook/sq/{TOKEN}", {"ticker": "AMD", "action": "buy"}) == 200
    assert raw_post(daemon, f"/webhook/sq/{TOKEN}", {"ticker": "AMD", "action": "sell"}) == 429
    # Behind the intake process these reached the daemon as `/webhook/sq/<token>` (its HTTP client resolves
    # dot segments), where its own rate limit and lockout, not the intake's, judged them: one more trade each.
    for path in (f"/x/../webhook/sq/{TOKEN}", f"/webhook/sq/./{TOKEN}", f"/webhook/./sq/{TOKEN}"):
        assert raw_post(daemon, path, {"ticker": "AMD", "action": "sell"}) == 404, path
    assert rows(daemon.db, "SELECT count(*) FROM signals")[0][0] == 1
