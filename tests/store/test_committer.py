"""The journal's commit thread: calls run in order, off the event loop, each outcome told back on it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from bridge.store.committer import CommitThread


async def test_calls_run_in_order_on_one_other_thread_and_each_outcome_is_told_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    committer = CommitThread(loop, "test-commit")
    ran: list[tuple[int, str]] = []
    told: list[tuple[int, Any, str | None, bool]] = []
    everything_told = asyncio.Event()

    def call(i: int) -> Any:
        def run() -> int:
            ran.append((i, threading.current_thread().name))
            if i == 3:
                raise OSError("disk I/O error")
            return i * 10

        return run

    def then(i: int) -> Any:
        def tell(result: Any, error: BaseException | None) -> None:
            told.append((i, result, None if error is None else str(error), threading.current_thread() is main))
            if len(told) == 6:
                everything_told.set()

        return tell

    main = threading.current_thread()
    for i in range(6):
        committer.submit(call(i), then(i))
    await asyncio.wait_for(everything_told.wait(), 10)
    committer.shutdown()
    assert ran == [(i, "test-commit") for i in range(6)]
    assert told == [(0, 0, None, True), (1, 10, None, True), (2, 20, None, True), (3, None, "disk I/O error", True),
                    (4, 40, None, True), (5, 50, None, True)]  # fmt: skip


async def test_shutdown_runs_what_was_submitted_and_refuses_more() -> None:
    committer = CommitThread(asyncio.get_running_loop(), "test-commit")
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []
    committer.submit(lambda: (started.set(), release.wait(10), ran.append("first")), lambda *_: None)
    committer.submit(lambda: ran.append("second"), lambda *_: None)
    started.wait(10)
    release.set()
    committer.shutdown()
    assert ran == ["first", "second"]
    with pytest.raises(RuntimeError, match="stopped"):
        committer.submit(lambda: None, lambda *_: None)
