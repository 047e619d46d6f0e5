"""How busy a server was during a phase: the thread that runs its event loop, and the whole process.

Near a full core, the loop has no slack left: any slower moment of a shared CPU then shows in the
tail at once. Read from /proc (Linux); elsewhere the figures are NaN.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(stat: Path) -> float:
    """User plus system time of a process or thread, from its /proc stat file."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of the file)


def process_tree(pid: int) -> list[int]:
    """The process and its children (an intake process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(c) for c in (children.read_text().split() if children.exists() else []))]


class CpuMeter:
    """CPU time of a server's main thread (its event loop) and of its process tree over a `with` block."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._start: tuple[float, float, float] | None = None
        self._end: tuple[float, float, float] | None = None

    def _read(self) -> tuple[float, float, float]:
        try:
            loop = _cpu_seconds(Path(f"/proc/{self.pid}/task/{self.pid}/stat"))
            tree = sum(_cpu_seconds(Path(f"/proc/{p}/stat")) for p in process_tree(self.pid))
        except (OSError, IndexError, ValueError):
            return (time.monotonic(), math.nan, math.nan)
        return (time.monotonic(), loop, tree)

    def __enter__(self) -> CpuMeter:
        self._start = self._read()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._end = self._read()

    def summary(self) -> dict[str, Any]:
        """`loop_busy`: the main thread's share of one core; `cores`: the process tree's CPU, in cores.

        `loop_s` and `tree_s` are the same as CPU seconds spent over the block.
        """
        if self._start is None or self._end is None or self._end[0] <= self._start[0]:
            return {"loop_busy": math.nan, "cores": math.nan, "loop_s": math.nan, "tree_s": math.nan}
        wall = self._end[0] - self._start[0]
        loop, tree = self._end[1] - self._start[1], self._end[2] - self._start[2]
        return {"loop_busy": loop / wall, "cores": tree / wall, "loop_s": loop, "tree_s": tree}
