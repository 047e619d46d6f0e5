"""The daemon's log handler: secrets redacted from messages and tracebacks, every record written, in order."""

from __future__ import annotations

import io
import logging

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
