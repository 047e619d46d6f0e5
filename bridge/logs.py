"""Logging to stderr with every configured secret redacted, including secrets a reload adds."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterable

from bridge.config.secrets import redact


class RedactSecrets(logging.Filter):
    """Replace every configured secret in every log line, whoever logs it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these secrets too; earlier ones stay redacted (an old token is still a secret)."""
        known = set(self.secrets)
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted(known | {s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        # The record leaves as plain text: formatted once, here, and a traceback too (it may quote a secret).
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        if record.exc_info:
            record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info), self.secrets)
            record.exc_info = None
        return True


_TRACEBACKS = logging.Formatter()


class BackgroundHandler(logging.handlers.QueueHandler):
    """Queues records for the writer thread as they are: `RedactSecrets` already made them plain text.

    QueueHandler's own `prepare` formats and copies every record again, for queues that cross processes.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


_listener: logging.handlers.QueueListener | None = None


def setup_logging(secrets: Iterable[str], level: int = logging.INFO) -> None:
    """Log to stderr from a background thread; secrets are redacted before a record is even queued."""
    global _listener
    if _listener is not None:
        _listener.stop()
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Writing to stderr (a pipe or a journald socket) can block; the event loop must not wait for it.
    handler = BackgroundHandler(queue.SimpleQueue())
    handler.addFilter(RedactSecrets(secrets))
    _listener = logging.handlers.QueueListener(handler.queue, stream, respect_handler_level=False)
    _listener.start()
    atexit.register(_listener.stop)  # flush what is queued on a normal exit
    # What the format never shows is not gathered for every record (the logging HOWTO's "Optimization").
    logging._srcfile = None  # the caller's file and line: a stack walk per record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # APScheduler logs every job run at INFO; the bridge logs what the jobs lead to.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def redact_more(secrets: Iterable[str]) -> None:
    """Add secrets to every redacting handler of the root logger (after a reload brought new ones)."""
    wanted = list(secrets)
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, RedactSecrets):
                found.add(wanted)
