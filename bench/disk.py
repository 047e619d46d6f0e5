"""The disk during a phase: how it answered (a small write and fsync every 50 ms), and what a server wrote.

A shared or cloud disk now and then takes a few hundred milliseconds to sync. With durability `full`
every server measured here waits for that, so a run's p99.9 can jump for a reason outside all of
them. The probe runs beside each server's fixed-rate phase, so a slow tail comes with the disk's own
figures for the same seconds, and a stall is told apart from a slow server. What each server wrote
meanwhile (its journal's WAL, checkpoints, logs) is the load it put on that disk itself.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.cpu import process_tree

INTERVAL = 0.05  # 20 syncs a second: next to a server's hundreds, negligible load
BLOCK = b"\0" * 4096


class FsyncProbe:
    """Times `write(4 KiB) + fsync` of a file in `directory`, every INTERVAL seconds, until the block ends."""

    def __init__(self, directory: Path, interval: float = INTERVAL) -> None:
        self.path = directory / "fsync-probe"
        self.interval = interval
        self.samples: list[float] = []  # seconds each sync took
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fsync-probe", daemon=True)

    def __enter__(self) -> FsyncProbe:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:  # one sync at least, however short the phase
                began = time.perf_counter()
                os.pwrite(fd, BLOCK, 0)
                os.fsync(fd)
                self.samples.append(time.perf_counter() - began)
                if self._stop.wait(self.interval):
                    break
        finally:
            os.close(fd)

    def summary(self) -> dict[str, Any]:
        """Syncs timed, their p50, p99 and slowest, and how many took 50 ms or more (times in ms)."""
        ordered = sorted(s * 1000 for s in self.samples)
        if not ordered:
            return {"syncs": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan"), "slow": 0}

        def at(percent: float) -> float:
            return ordered[min(len(ordered) - 1, int(percent / 100 * len(ordered)))]

        return {"syncs": len(ordered), "p50_ms": at(50), "p99_ms": at(99), "max_ms": ordered[-1],
                "slow": sum(1 for s in ordered if s >= 50)}  # fmt: skip


def _written(pid: int) -> int:
    """Bytes a process has caused to be written to storage so far (`write_bytes` of /proc/<pid>/io)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split(":", 1)[1])
    raise ValueError(f"/proc/{pid}/io has no write_bytes")


class WriteMeter:
    """Bytes a server's process tree wrote to storage over a `with` block (Linux; elsewhere NaN)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._start = math.nan
        self._end = math.nan

    def _read(self) -> float:
        try:
            return float(sum(_written(p) for p in process_tree(self.pid)))
        except (OSError, ValueError):
            return math.nan

    def __enter__(self) -> WriteMeter:
        self._start = self._read()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._end = self._read()

    def summary(self, requests: int) -> dict[str, Any]:
        """Bytes written over the block, and KiB per request of the `requests` it served meanwhile."""
        written = self._end - self._start
        return {"bytes": written, "kib_per_request": written / 1024 / requests if requests else math.nan}
