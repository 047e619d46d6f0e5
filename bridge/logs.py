"""Logging to stderr with every configured secret redacted, including secrets a reload adds, in any writing of them."""

from __future__ import annotations

import atexit
import collections
import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, cast

from bridge.config.secrets import HeldSecrets, redact_encoded


class RedactSecrets(logging.Filter):
    """Replace every configured secret in every log line, whoever logs it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._held = HeldSecrets(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these secrets too; earlier ones stay redacted (an old token is still a secret)."""
        self._held.add(secrets)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret redacted, longest first."""
        return self._held.values()

    def filter(self, record: logging.LogRecord) -> bool:
        # The record leaves as plain text: formatted once, here, and a traceback too (it may quote a secret).
        # A line may quote what a sender wrote (a forwarded "address"), a secret in it percent-encoded or escaped.
        secrets = self._held.values()
        record.msg, record.args = redact_encoded(_message(record), secrets), None
        if record.exc_info:
            record.exc_text = redact_encoded(_TRACEBACKS.formatException(record.exc_info), secrets)
            record.exc_info = None
        return True


_TRACEBACKS = logging.Formatter()


def _message(record: logging.LogRecord) -> str:
    """The record's text; a call whose arguments do not fit its format is shown as it was made, never raised.

    Logging must not fail its caller (the stdlib reports such a call on stderr, its arguments unredacted).
    """
    try:
        return record.getMessage()
    except Exception as exc:
        try:
            return f"{record.msg} [log arguments {record.args!r} do not fit: {type(exc).__name__}: {exc}]"
        except Exception:  # an argument that cannot even show itself
            return f"{record.msg!r} [log arguments do not fit: {type(exc).__name__}]"


class BackgroundHandler(logging.Handler):
    """Collects records; a thread writes them out, so logging never blocks the event loop.

    Writing to stderr (a pipe or a journald socket) can block. The thread is woken only when it sleeps:
    under load it writes what piled up while it wrote the last batch, instead of being woken for every
    record (a wake-up per record cost more than the record). Records arrive as plain text:
    `RedactSecrets` formatted and redacted them.

    While the writer is stuck (a pipe nobody reads, a blocking log driver) at most MAX_PENDING records wait;
    later ones are dropped and counted, and the count is written once writing resumes: a flood of webhooks
    must not grow the process without bound.
    """

    PAUSE = 0.02
    MAX_PENDING = 10_000
    WRITE_BATCH = 256  # records written at once to a plain stream
    STOP_WAIT = 5.0  # seconds `stop` waits for the writer; past it the output is taken as stuck for good

    def __init__(self, target: logging.Handler) -> None:
        super().__init__()
        self.target = target
        self._pending: collections.deque[logging.LogRecord] = collections.deque()
        # Two counters, each written by one side only (emit, under the handler's lock; the writer): no lock shared.
        self._dropped = 0
        self._reported = 0
        self._writing = 0  # records taken from the queue and being written (the writer's)
        self._wake = threading.Event()
        self._stopping = False
        self._stuck = False  # the writer never came back from the output: nothing more is written
        self._thread = threading.Thread(target=self._run, name="bridge-log", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if self._stuck:  # writing would wait with the writer, for ever: the process could not even end
            self._dropped += 1
            return
        if self._stopping:  # no thread writes any more: this record is written now, after what was waiting
            self.drain()
            self.target.handle(record)
            return
        if len(self._pending) >= self.MAX_PENDING:
            self._dropped += 1
            return
        self._pending.append(record)
        if not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()  # before draining: a record added while it drains sets it again
            self.drain()
            # Records of the next moments are written together after this pause: under load, one wake-up
            # per pause instead of one per record. The first record after a quiet spell is written at once.
            time.sleep(self.PAUSE)

    def drain(self) -> None:
        """Write every waiting record now, then how many were dropped since the last such note, if any."""
        # A plain stream takes what piled up in one write (StreamHandler writes and flushes each line: a syscall
        # each under load); any other target one record at a time, its own way.
        most = self.WRITE_BATCH if type(self.target) is logging.StreamHandler and not self.target.filters else 1
        while True:
            records: list[logging.LogRecord] = []
            try:
                while len(records) < most:
                    records.append(self._pending.popleft())
            except IndexError:  # empty (or emptied by `stop` after a join that timed out)
                pass
            if not records:
                break
            self._writing = len(records)  # counted as dropped should the output never take them (`stop`)
            if len(records) == 1:
                self.target.handle(records[0])
            else:
                self._write(records)
            self._writing = 0
        dropped = self._dropped - self._reported
        if dropped:
            self._reported += dropped
            note = f"{dropped} log line(s) dropped: the log output was blocked and {self.MAX_PENDING} lines waited"
            self.target.handle(logging.LogRecord("bridge.logs", logging.WARNING, __file__, 0, note, None, None))

    def _write(self, records: list[logging.LogRecord]) -> None:
        """Write `records` to the target's stream in one write, in order, as its `emit` would one by one."""
        target = cast(logging.StreamHandler[Any], self.target)
        lines, kept = [], []
        for record in records:
            try:
                lines.append(target.format(record) + target.terminator)
                kept.append(record)
            except Exception:  # as StreamHandler.emit: told on stderr, the other lines still written
                target.handleError(record)
        target.acquire()
        try:
            target.stream.write("".join(lines))
            target.flush()
            written = True
        except RecursionError:  # as StreamHandler.emit
            raise
        except Exception:
            written = False
        finally:
            target.release()
        if not written:
            # One line at a time, each failure told as StreamHandler.emit tells it: a line that cannot be written
            # loses only itself (what of the batch got out before the failure is written twice).
            for record in kept:
                target.handle(record)

    def stop(self) -> None:
        """Write what is waiting and end the thread."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=self.STOP_WAIT)
        if self._thread.is_alive():
            # The output takes nothing (a pipe nobody reads, a stuck log driver): writing here would block this
            # thread too, and the daemon's stop with it, until killed. What waited is counted, not written.
            self._stuck = True
            self._dropped += len(self._pending) + self._writing
            self._pending.clear()
            return
        self.drain()


LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Lines(logging.Formatter):
    """logging's default line format, its time of day written out once a second rather than once a line.

    `formatTime` converts and formats the time (localtime, strftime) for every record: under load, the same
    second for hundreds of lines.
    """

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second: int | None = None
        self._text = ""
        self._plain = fmt == LINE_FORMAT

    def format(self, record: logging.LogRecord) -> str:
        # A record `RedactSecrets` made plain text (no arguments, its traceback gone): the line written at once,
        # where `Formatter.format` looks up every field of the record's dict and the format's own fields again.
        if self._plain and not record.args and isinstance(record.msg, str) and record.exc_info is None and \
                record.exc_text is None and record.stack_info is None:  # fmt: skip
            record.message = record.msg
            return f"{self.formatTime(record)} {record.levelname} {record.name}: {record.msg}"
        return super().format(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            # A time zone offset is whole seconds: the local second changes with the clock's.
            self._text, self._second = time.strftime(self.default_time_format, self.converter(second)), second
        return "%s,%03d" % (self._text, record.msecs)  # noqa: UP031 (logging.Formatter.default_msec_format)


_background: BackgroundHandler | None = None


def setup_logging(secrets: Iterable[str], level: int = logging.INFO) -> None:
    """Log to stderr from a background thread; secrets are redacted before a record is even queued."""
    global _background
    if _background is not None:
        _background.stop()
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(_Lines(LINE_FORMAT))
    handler = _background = BackgroundHandler(stream)
    handler.addFilter(RedactSecrets(secrets))
    atexit.register(handler.stop)  # write what is waiting on a normal exit
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
    # httpx logs every request's URL at INFO: a notification URL holds a token (normalised by httpx, so it may
    # escape the redaction of the URL as configured), and a line per proxied webhook says nothing new.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def write_directly() -> None:
    """From now on every record is written at once (shutdown): what was waiting is written first.

    uvicorn ends the process by raising SIGTERM (or SIGINT) again once it has shut down, and a process
    killed by a signal runs no `atexit` handler: without this, its last log lines would be lost.
    """
    if _background is not None:
        _background.stop()


class _Stderr(logging.StreamHandler[Any]):
    """Writes to `sys.stderr` as it is at each record (as logging's last resort does), not as it was at the start."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_masked(secrets: Iterable[str]) -> None:
    """For a command outside the daemon: warnings and errors go to stderr with every secret masked.

    Without a handler, logging's last resort writes them as they are, and a command that connects the brokers
    (`bridge positions`) runs their code and libraries, which log their requests, key included.
    """
    root = logging.getLogger()
    for handler in root.handlers:
        for found in handler.filters:
            if isinstance(found, RedactSecrets):  # already set up (the daemon, or an earlier command in-process)
                found.add(secrets)
                return
    handler = _Stderr()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root.addHandler(handler)


def redact_more(secrets: Iterable[str]) -> None:
    """Add secrets to every redacting handler of the root logger (after a reload brought new ones)."""
    wanted = list(secrets)
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, RedactSecrets):
                found.add(wanted)
