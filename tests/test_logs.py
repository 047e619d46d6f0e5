"""The daemon's log handler: secrets redacted from messages and tracebacks, every record written, in order."""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

from bridge.logs import LINE_FORMAT, BackgroundHandler, RedactSecrets, _Lines

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


class Stuck(logging.Handler):
    """A stderr that takes no writes until released (a paused terminal, a pipe nobody reads, a blocking log driver)."""

    def __init__(self) -> None:
        super().__init__()
        self.unblocked = threading.Event()
        self.written: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.unblocked.wait(90)
        self.written.append(record.getMessage())


def test_the_backlog_is_bounded_while_the_output_is_stuck_and_the_drops_are_counted_once() -> None:
    """Every webhook logs a line: with stderr blocked, a flood must not grow the process without bound."""
    target = Stuck()
    handler = BackgroundHandler(target)
    record = logging.LogRecord("bridge.webhook", logging.INFO, __file__, 1, "POST /webhook/x/*** 401", None, None)
    try:
        for _ in range(50_000):
            handler.emit(record)
        assert len(handler._pending) <= 10_000, f"{len(handler._pending)} records held while stderr was blocked"
    finally:
        target.unblocked.set()
        handler.stop()
    *lines, note = target.written
    dropped = int(note.split()[0])
    assert note.endswith("log line(s) dropped: the log output was blocked and 10000 lines waited"), note
    assert len(lines) + dropped == 50_000 and set(lines) == {record.getMessage()}  # each line written or counted


def test_a_log_call_whose_arguments_do_not_fit_never_raises_into_its_caller_nor_shows_a_secret() -> None:
    """The stdlib reports such a call on stderr and carries on; the redacting filter formats it, so must it too."""
    out = io.StringIO()
    stream = logging.StreamHandler(out)
    stream.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler = BackgroundHandler(stream)
    handler.addFilter(RedactSecrets([SECRET]))
    logger = logging.getLogger("tests.logs.misfit")
    logger.handlers[:], logger.propagate = [handler], False
    try:
        logger.warning("order %d refused", SECRET)  # a %d given text (a library's or our own slip)
        logger.warning("next line")
    finally:
        handler.stop()
        logger.handlers[:] = []
    text = out.getvalue()
    assert SECRET not in text and "order %d refused" in text and "WARNING next line" in text, text


def test_stopping_while_the_output_is_stuck_returns_and_counts_what_it_could_not_write() -> None:
    """At shutdown with stderr blocked for good, `stop` wrote the backlog itself, and hung with the writer."""
    target = Stuck()
    handler = BackgroundHandler(target)
    handler.STOP_WAIT = 0.1  # how long `stop` waits for the writer: the stuck writer never finishes
    record = logging.LogRecord("bridge.webhook", logging.INFO, __file__, 1, "POST /webhook/x/*** 200", None, None)
    stopped = threading.Event()
    try:
        for _ in range(20):
            handler.emit(record)
        stopper = threading.Thread(target=lambda: (handler.stop(), handler.emit(record), stopped.set()), daemon=True)
        stopper.start()
        stopper.join(60)  # a guard, not a measure: a stop that waits on the stuck output never returns by itself
        assert stopped.is_set(), "stop (or a record logged after it) waited on the stuck output"
    finally:
        target.unblocked.set()
    assert handler._dropped >= 20, "what waited is counted as dropped"


def test_a_line_reads_as_the_stdlib_format_writes_it_across_seconds_and_with_an_exception() -> None:
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    assert fmt == LINE_FORMAT
    ours, stdlib = _Lines(fmt), logging.Formatter(fmt)
    # Out of order too (a record queued by another thread may be older than the last one written).
    for created in (1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.0005, 1_700_000_000.5, 1_700_003_600.25):
        record = logging.LogRecord("bridge.webhook", logging.INFO, "", 0, "POST /webhook/x 200 %s", ("s",), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert ours.format(record) == stdlib.format(record)
        record.exc_text = "Traceback: ..."
        assert ours.format(record) == stdlib.format(record)
        assert ours.formatTime(record, "%H:%M") == stdlib.formatTime(record, "%H:%M")
        # As `RedactSecrets` leaves every record: its text formatted (with a % in it), no arguments left.
        plain = logging.LogRecord("bridge.webhook", logging.WARNING, "", 0, "sold 100% of SQ", None, None)
        plain.created, plain.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert ours.format(plain) == stdlib.format(plain)


class Writes(io.StringIO):
    """A stream that counts its writes, and fails the ones holding `fail_on`."""

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__()
        self.writes = 0
        self.fail_on = fail_on

    def write(self, text: str) -> int:
        self.writes += 1
        if self.fail_on is not None and self.fail_on in text:
            raise OSError("no space left on device")
        return super().write(text)


def test_lines_that_piled_up_are_written_together_in_order_and_a_failed_write_loses_only_its_own(
    capsys: Any,
) -> None:
    out = Writes(fail_on="record 7\n")
    stream = logging.StreamHandler(out)
    stream.setFormatter(_Lines(LINE_FORMAT))
    handler = BackgroundHandler(stream)
    handler.addFilter(RedactSecrets([SECRET]))
    logger = logging.getLogger("tests.logs.batched")
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    try:
        logger.info("record 7")  # written alone: the writer wakes for the first record after a quiet spell
        for i in range(1000):
            logger.info("line %d of %s", i, SECRET)
    finally:
        handler.stop()
        logger.handlers[:] = []
    lines = out.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [f"line {i} of ***" for i in range(1000)]
    assert all(line.split()[2:4] == ["INFO", "tests.logs.batched:"] for line in lines)
    assert out.writes < 1000, "each line was written on its own"
    assert "OSError: no space left on device" in capsys.readouterr().err  # told as StreamHandler.emit tells it
