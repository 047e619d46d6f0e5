"""A flood faster than execution: the queue of signals waiting to run stops at max_queued_signals.

Past it, each signal is still journaled at once, and only its answer waits until execution takes the
next one: memory holds a bounded queue, however long the flood lasts. Execution is held still here by
a venue that takes no order until the test opens its gate, so "waits" is proven by order, not timing.
"""

from __future__ import annotations

import json
import re
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from tests.conftest import ADMIN, GUARD, Daemon
from tests.intake.test_intake_process import gone, intake_pid
from tests.security.conftest import RELAXED, rows, strategy

GATED = '''
import asyncio
from pathlib import Path

from bridge.brokers.paper import PaperBroker

HERE = Path(__file__).parent


class GatedPaper(PaperBroker):
    """The paper book behind a venue that takes no order until `open.gate` exists; each call is noted as it starts."""

    async def create_order(self, request):
        (HERE / "started").touch()
        while not (HERE / "open.gate").exists():
            await asyncio.sleep(0.02)
        return await super().create_order(request)
'''
ADDING = strategy(extra=RELAXED + "    subscriptions:\n      - broker: paper\n        allow_add: true\n")
LIMIT = 3


def _start(start_daemon: Any, server: str = "") -> Daemon:
    daemon: Daemon = start_daemon({"sq": ADDING}, server=server, top=f"max_queued_signals: {LIMIT}\n",
                                  plugin="gated:GatedPaper", files={"gated.py": GATED})  # fmt: skip
    return daemon


def _hold_execution(daemon: Daemon) -> str:
    """Post one signal and wait until its order is held at the venue: every later one of its ticker queues."""
    first = daemon.post({"ticker": "AMD", "action": "buy", "price": 10, "n": 0})
    assert first.status_code == 200, first.text
    deadline = time.monotonic() + GUARD
    while not (daemon.config.parent / "started").exists():
        assert time.monotonic() < deadline, daemon.output()[-2000:]
        time.sleep(0.01)
    return str(first.json()["id"])


def _signals(daemon: Daemon) -> int:
    return int(rows(daemon.db, "SELECT count(*) FROM signals")[0][0])


def _wait_signals(daemon: Daemon, count: int) -> None:
    deadline = time.monotonic() + GUARD
    while _signals(daemon) < count:
        assert time.monotonic() < deadline, daemon.output()[-2000:]
        time.sleep(0.01)


def _queued(daemon: Daemon) -> float:
    text = httpx.get(f"{daemon.base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD).text
    found = re.search(r"^bridge_queued_signals (\S+)$", text, re.MULTILINE)
    assert found, text[:500]
    return float(found.group(1))


def _post_answered(daemon: Daemon, count: int) -> list[str]:
    """Post `count` more signals of the held ticker at once; their ids, once each is answered."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [pool.submit(daemon.post, {"ticker": "AMD", "action": "buy", "price": 10, "n": n})
                   for n in range(1, count + 1)]  # fmt: skip
        return [str(answer.result(timeout=GUARD).json()["id"]) for answer in answers]


def _open_gate_and_finish(daemon: Daemon, answers: list[Future[httpx.Response]], first: str) -> None:
    (daemon.config.parent / "open.gate").touch()
    responses = [answer.result(timeout=GUARD) for answer in answers]
    assert [r.status_code for r in responses] == [200] * len(responses)
    for signal_id in [first, *(r.json()["id"] for r in responses)]:
        assert daemon.wait_final(signal_id)["state"] == "executed"


def _sent_in_turn(daemon: Daemon) -> list[int]:
    """The signals' `n`, in the order their orders reached the venue."""
    sent = rows(daemon.db, "SELECT s.extras FROM paper_orders p JOIN orders o ON o.client_order_id = "
                           "p.client_order_id JOIN signals s ON s.id = o.signal_id ORDER BY p.rowid")  # fmt: skip
    return [json.loads(row[0])["n"] for row in sent]


def test_past_the_limit_a_signal_is_journaled_at_once_and_its_answer_waits_for_room(start_daemon: Any) -> None:
    daemon = _start(start_daemon)
    first = _hold_execution(daemon)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = []
        for n in range(1, 5):  # one at a time, so the queue is known when each arrives
            answers.append(pool.submit(daemon.post, {"ticker": "AMD", "action": "buy", "price": 10, "n": n}))
            _wait_signals(daemon, n + 1)
            if n < LIMIT:
                assert answers[-1].result(timeout=GUARD).status_code == 200  # the queue had room: answered as ever
        # n=3 filled the queue to the limit and n=4 went past it: both are journaled and queued, neither answered.
        assert _signals(daemon) == 5
        assert _queued(daemon) == 4
        assert [answer.done() for answer in answers] == [True, True, False, False]
        _open_gate_and_finish(daemon, answers, first)
    assert _sent_in_turn(daemon) == [0, 1, 2, 3, 4]  # the waits reordered nothing: one queue per ticker


def test_with_the_intake_process_the_daemon_queues_no_more_than_the_limit(start_daemon: Any) -> None:
    daemon = _start(start_daemon, server="  intake_process: true\n")
    first = _hold_execution(daemon)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [pool.submit(daemon.post, {"ticker": "AMD", "action": "buy", "price": 10, "n": n})
                   for n in range(1, 21)]  # fmt: skip
        _wait_signals(daemon, 21)
        # The rest wait in the link (a few hundred bytes each, and the intake's answers wait once it is full),
        # not in the daemon's queue.
        assert _queued(daemon) == LIMIT
        _open_gate_and_finish(daemon, answers, first)


def test_killed_with_its_queue_full_the_daemon_runs_every_signal_once_at_the_next_start(start_daemon: Any) -> None:
    daemon = _start(start_daemon, server="  intake_process: true\n")
    first = _hold_execution(daemon)
    child = intake_pid(daemon)
    ids = [first, *_post_answered(daemon, 20)]
    assert _queued(daemon) == LIMIT  # the rest wait in the link: journaled, not yet read by the daemon
    daemon.kill()
    assert gone(child), "a killed daemon left its intake process running"
    (daemon.config.parent / "open.gate").touch()
    daemon.start()  # recovery finds every signal in the journal, whether it was queued, in the link or at the venue
    assert [daemon.wait_final(signal_id)["state"] for signal_id in ids] == ["executed"] * len(ids)
    per_signal = rows(daemon.db, "SELECT o.signal_id, COUNT(*) FROM paper_orders p JOIN orders o "
                                 "ON o.client_order_id = p.client_order_id GROUP BY o.signal_id")  # fmt: skip
    assert sorted(count for _, count in per_signal) == [1] * len(ids)  # one order each: none lost, none doubled


def test_stopped_with_its_queue_full_the_daemon_lets_the_link_go_and_stops_by_itself(start_daemon: Any) -> None:
    daemon = _start(start_daemon, server="  intake_process: true\n")
    first = _hold_execution(daemon)
    ids = [first, *_post_answered(daemon, 10)]
    assert daemon.process is not None
    process = daemon.process
    process.terminate()
    # The link reader, waiting for room, lets the link go at once (before, it held the stop for 15 s, and the
    # intake process, its last writes unread, could not exit until killed).
    daemon.wait_output("the signals still in the link to the intake process are journaled")
    (daemon.config.parent / "open.gate").touch()  # the order in flight returns: the stop need not wait for it
    # Stopped by itself (it ends with the signal that stopped it, as uvicorn does), not killed
    assert process.wait(timeout=GUARD) == -signal.SIGTERM, daemon.output()[-2000:]
    daemon.process = None
    assert "did not stop within" not in daemon.output()
    daemon.start()  # what was left in the link runs now
    assert [daemon.wait_final(signal_id)["state"] for signal_id in ids] == ["executed"] * len(ids)
