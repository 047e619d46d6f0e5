"""The daemon's log handler: secrets redacted from messages and tracebacks, every record written, in order."""

from __future__ import annotations

import io
import logging
from typing import Any

from bridge.logs import BackgroundHandler, RedactSecrets

SECRET = "tok-" + "5566778899aabbccddee"


def test_a_secret_in_a_message_or_a_traceback_is_redacted_and_every_record_is_written_in_order() -> None:
    out = io.StringIO()
    stream = logging.StreamHandler(out)
    stream.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler = BackgroundHandler(stream)
    handler.addFilter(RedactSecrets([SECRET]))
    logger = logging.getLogger("tests.logs")
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    try:
        for i in range(500):
            logger.info("record %d with %s", i, SECRET)
        try:
            raise ValueError(f"bad token {SECRET}")
        except ValueError:
            logger.exception("failed")
    finally:
        handler.stop()
        logger.handlers[:] = []
    text = out.getvalue()
    assert SECRET not in text
    assert [line for line in text.splitlines() if line.startswith("INFO")] == [
        f"INFO record {i} with ***" for i in range(500)
    ]
    assert "ERROR failed" in text and "ValueError: bad token ***" in text


def test_after_the_switch_to_direct_writes_a_record_is_written_at_once_after_the_waiting_ones() -> None:
    out = io.StringIO()
    stream = logging.StreamHandler(out)
    stream.setFormatter(logging.Formatter("%(message)s"))
    handler = BackgroundHandler(stream)
    logger = logging.getLogger("tests.logs.direct")
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    try:
        logger.info("queued")
        handler.stop()  # what `write_directly` does at shutdown
        logger.info("at once")
        assert out.getvalue().splitlines() == ["queued", "at once"]  # no thread left to wait for
    finally:
        logger.handlers[:] = []


def test_a_daemon_stopped_by_sigterm_writes_its_last_log_lines(make_daemon: Any) -> None:
    """uvicorn ends the process with the signal itself once shut down, which runs no atexit handler."""
    daemon = make_daemon()
    answer = daemon.post({"ticker": "AMD", "action": "buy", "price": 10})
    assert answer.status_code == 200 and daemon.process is not None
    pid = daemon.process.pid
    daemon.stop()
    output = daemon.output()
    assert f"signal={answer.json()['id']}" in output  # the webhook's own line
    assert output.rstrip().endswith(f"Finished server process [{pid}]"), output[-500:]
