"""One daemon per journal: `bridge run` holds an exclusive lock beside the journal for as long as it serves.

Two daemons on one journal would each recover the other's signals in flight, poll, time out and cancel the same
orders, and run the same flattens: a second `bridge run` (a manual start beside the service, the demo left
running in another terminal) must stop before it touches the journal. The lock is an `flock`, so the kernel
lets go of it when the process ends, however it ends. Where `fcntl` does not exist, nothing is checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bridge.store.migrations import JournalUnusable

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class JournalInUse(JournalUnusable):
    """Another daemon serves this journal; the message names it and says what to do."""


def lock_path(database: Path) -> Path:
    """The lock file beside the journal (it holds the serving daemon's pid)."""
    return database.with_name(database.name + ".daemon")


@contextmanager
def sole_daemon(database: Path, fix: str = "check `database` in the config") -> Iterator[None]:
    """Hold the journal for this daemon, or raise `JournalInUse` at once if another daemon holds it.

    A journal whose folder cannot be made or written is `JournalUnusable`, with `fix`: one line, not a traceback.
    """
    if fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise JournalUnusable(
            f"cannot create the journal {database} ({exc.strerror or exc}): {fix}, or let this user write to its folder"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise JournalInUse(
                f"another bridge daemon (pid {holder}) is serving the journal {database}: stop it first, or give "
                "this config a `database` of its own (two daemons on one journal would both act on its orders)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def serving(database: Path) -> str | None:
    """The pid of the daemon serving `database` (`unknown` if unsaid), or None when none does or it cannot be told.

    A shared lock taken for a moment: two commands asking at once do not stand in each other's way.
    """
    if fcntl is None:  # pragma: no cover - not POSIX
        return None
    try:
        fd = os.open(lock_path(database), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file: no daemon has served this journal
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        except OSError:
            return None
        return None
    finally:
        os.close(fd)  # releases the lock, if taken
