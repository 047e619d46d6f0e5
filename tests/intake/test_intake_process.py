"""`server.intake_process`: webhooks answered by a second process, executed by the daemon, both as one daemon.

Every test runs the real `bridge run` with its two processes on loopback and checks what the user
sees: answers, the journal, positions, the admin listener, reloads, and how the pair stops.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN, GUARD, TOKEN, Daemon, free_port
from tests.security.conftest import rows, strategy

ON = "  intake_process: true\n"
BUY = {"ticker": "AMD", "action": "buy", "price": 10}
BEARER = {"Authorization": f"Bearer {ADMIN}"}
# Between tries of a token a reload is yet to bring: each 401 is a failed authentication, and twenty in a
# minute lock the test's address out; at this pace that takes a reload slower than five seconds.
POLL = 0.25


def intake_pid(daemon: Daemon) -> int:
    """The intake process: the daemon's only child."""
    assert daemon.process is not None
    children = Path(f"/proc/{daemon.process.pid}/task/{daemon.process.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def gone(pid: int, timeout: float = GUARD) -> bool:
    """True once `pid` no longer runs (a zombie of an exited child counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_webhook_answered_by_the_intake_process_is_executed_by_the_daemon(
    start_daemon: Callable[..., Daemon],
) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    assert daemon.process is not None and intake_pid(daemon) != daemon.process.pid
    answer = daemon.post(BUY)
    assert answer.status_code == 200, answer.text
    final = daemon.wait_final(answer.json()["id"])  # the API answers through the intake process too
    assert final["state"] == "executed"
    assert daemon.positions() == {"AMD": 1}
    # A repeat of the same alert (same body within the dedupe window) is answered as a duplicate, not traded.
    again = daemon.post(BUY)
    assert again.json().get("duplicate") is True and again.json()["id"] == answer.json()["id"]
    time.sleep(0.3)
    assert daemon.positions() == {"AMD": 1}
    assert rows(daemon.db, "SELECT count(*) FROM paper_orders")[0][0] == 1
    # The daemon's metrics count the answers the intake process gave.
    metrics = httpx.get(f"{daemon.base}/metrics", headers=BEARER).text
    assert 'bridge_webhooks_total{outcome="accepted"} 2.0' in metrics
    # ... and the journal COMMITs it made (and the answers waited for), told along with those answers.
    intake_commits = re.search(r'^bridge_journal_commit_seconds_count\{writer="intake"\} (\S+)$', metrics, re.M)
    assert intake_commits is not None and float(intake_commits.group(1)) >= 1, metrics


def test_a_wrong_token_is_refused_and_trades_nothing(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    refused = httpx.post(f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x", json=BUY)
    assert refused.status_code == 401 and refused.json()["messageCode"] == "unauthorized"
    journaled = rows(daemon.db, "SELECT status_code, signal_id FROM webhooks")
    assert [tuple(r) for r in journaled] == [(401, None)]
    assert rows(daemon.db, "SELECT count(*) FROM signals")[0][0] == 0
    metrics = httpx.get(f"{daemon.base}/metrics", headers=BEARER).text
    assert 'bridge_webhooks_total{outcome="unauthorized"} 1.0' in metrics


def test_the_admin_api_stays_on_the_admin_listener_and_a_forged_listener_header_is_dropped(
    start_daemon: Callable[..., Daemon],
) -> None:
    admin_port = free_port()
    daemon = start_daemon({"sq": strategy()}, server=ON + f"  admin_port: {admin_port}\n")
    admin = f"http://127.0.0.1:{admin_port}"
    assert httpx.get(f"{admin}/api/signals", headers=BEARER).status_code == 200
    public = httpx.get(f"{daemon.base}/api/signals", headers=BEARER)
    assert (public.status_code, public.json()["messageCode"]) == (404, "not-found")
    # A sender who knows how the intake process tells the daemon where a request came in cannot use it.
    forged = {**BEARER, "x-bridge-intake-listener": f"127.0.0.1|{admin_port}", "x-bridge-intake-peer": "10.0.0.1|1"}
    assert httpx.get(f"{daemon.base}/api/signals", headers=forged).status_code == 404
    assert httpx.post(f"{daemon.base}/api/halt", headers=forged).status_code == 404
    assert httpx.get(f"{daemon.base}/health").json()["halted"] is False


def test_a_reload_reaches_the_intake_process(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    new_token = "tok-" + "9f8e7d6c5b4a39281706"
    daemon.config.write_text(daemon.config.read_text().replace(TOKEN, new_token))
    deadline = time.monotonic() + GUARD
    while httpx.post(f"{daemon.base}/webhook/sq/{new_token}", json=BUY).status_code != 200:
        assert time.monotonic() < deadline, daemon.output()[-2000:]
        time.sleep(POLL)
    assert httpx.post(f"{daemon.base}/webhook/sq/{TOKEN}", json=BUY).status_code == 401, "the old token is gone"
    assert new_token not in daemon.output() and TOKEN not in daemon.output(), "neither token is ever logged"


def test_a_sighup_to_both_processes_reloads_and_stops_neither(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON, top="watch_config: false\n")
    assert daemon.process is not None
    child = intake_pid(daemon)
    new_token = "tok-" + "9f8e7d6c5b4a39281706"
    daemon.config.write_text(daemon.config.read_text().replace(TOKEN, new_token))
    # `systemctl kill -s HUP` signals every process of the unit, the intake process too.
    os.kill(daemon.process.pid, signal.SIGHUP)
    os.kill(child, signal.SIGHUP)
    deadline = time.monotonic() + GUARD
    while True:
        try:
            if httpx.post(f"{daemon.base}/webhook/sq/{new_token}", json=BUY).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, daemon.output()[-2000:]
        time.sleep(POLL)
    assert daemon.process.poll() is None and intake_pid(daemon) == child, daemon.output()[-2000:]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGKILL, 1), (signal.SIGTERM, 0)])
def test_the_daemon_stops_when_its_intake_process_ends(
    start_daemon: Callable[..., Daemon], sig: int, status: int
) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    assert daemon.process is not None
    os.kill(intake_pid(daemon), sig)
    assert daemon.process.wait(timeout=GUARD) == status  # a crash fails (systemd restarts it); a stop does not
    log = daemon.output()
    assert "the daemon stops too" in log


def test_stopping_the_daemon_stops_its_intake_process_and_nothing_accepted_is_lost(
    start_daemon: Callable[..., Daemon],
) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    child = intake_pid(daemon)
    ids = [daemon.post({**BUY, "ticker": f"T{i}"}).json()["id"] for i in range(20)]
    daemon.stop()
    assert gone(child), "the intake process outlived the daemon"
    states = dict(rows(daemon.db, "SELECT id, state FROM signals"))  # type: ignore[arg-type]
    assert set(states) == set(ids), "every acknowledged signal is journaled"
    daemon.start()  # whatever had not run yet runs after the restart
    for signal_id in ids:
        assert daemon.wait_final(signal_id)["state"] == "executed"
    assert len(daemon.positions()) == 20


def test_the_intake_process_stops_when_the_daemon_is_killed(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    child = intake_pid(daemon)
    daemon.kill()
    assert gone(child), "a killed daemon left its intake process answering webhooks nobody executes"


def test_the_intake_process_stops_when_the_daemon_is_killed_with_signals_it_had_not_read(
    start_daemon: Callable[..., Daemon],
) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    assert daemon.process is not None
    child = intake_pid(daemon)
    os.kill(daemon.process.pid, signal.SIGSTOP)  # the daemon reads nothing more from the link
    try:  # answered by the intake process; their hand-over waits in the daemon's socket
        ids = [daemon.post({**BUY, "ticker": f"T{i}"}).json()["id"] for i in range(3)]
        time.sleep(0.2)
    finally:
        os.kill(daemon.process.pid, signal.SIGKILL)  # a socket closed with data unread resets the link
        os.kill(daemon.process.pid, signal.SIGCONT)
    daemon.process.wait(timeout=GUARD)
    try:
        assert gone(child), "a killed daemon left its intake process answering webhooks nobody executes"
    finally:
        if not gone(child, timeout=0):
            os.kill(child, signal.SIGKILL)
    daemon.start()  # acknowledged, so journaled: they run at the next start
    for signal_id in ids:
        assert daemon.wait_final(signal_id)["state"] == "executed"


def test_an_answer_passed_on_from_the_daemon_carries_one_date(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    answer = httpx.get(f"{daemon.base}/health")
    assert answer.status_code == 200
    assert len(answer.headers.get_list("date")) == 1, answer.headers  # a singleton field (RFC 9110)


def test_webhooks_in_flight_when_the_daemon_dies_are_answered_as_journaled(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server=ON)
    child = intake_pid(daemon)
    bodies = [json.dumps({**BUY, "ticker": f"T{i}"}).encode() for i in range(3)]
    senders = [socket.create_connection(("127.0.0.1", daemon.port), timeout=15) for _ in bodies]
    try:
        for sender, body in zip(senders, bodies, strict=True):
            sender.sendall(f"POST /webhook/sq/{TOKEN} HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:5])  # fmt: skip
        daemon.kill()  # the link is gone: the intake process stops, and finishes the requests it is in
        deadline = time.monotonic() + GUARD
        while True:  # it has seen the link go once it takes no new connection
            try:
                socket.create_connection(("127.0.0.1", daemon.port), timeout=GUARD).close()
            except OSError:
                break
            assert time.monotonic() < deadline, "the intake process still takes connections"
            time.sleep(0.02)
        answers = []
        for sender, body in zip(senders, bodies, strict=True):  # one after the other: each finds the link gone
            sender.sendall(body[5:])
            answer = b""
            while chunk := sender.recv(65536):
                answer += chunk
            answers.append(answer)
    finally:
        for sender in senders:
            sender.close()
        if not gone(child, timeout=15):
            os.kill(child, signal.SIGKILL)
    # Journaled, so each answer says so (recovery executes them at the next start), not a bare 500.
    ids = []
    for answer in answers:
        head, _, content = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer
        ids.append(json.loads(content)["id"])
    daemon.start()
    for signal_id in ids:
        assert daemon.wait_final(signal_id)["state"] == "executed"


def test_an_intake_process_that_fails_at_start_stops_the_daemon_at_once_saying_so(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    # A broken install, as the intake process alone meets it: it ends before it can connect. The daemon's wait
    # for the connection is made longer than any test waits (GUARD), so that only its end can stop the daemon
    # within the test: ending after that whole wait cannot pass for ending at once on a fast machine, nor the
    # other way round on a slow one.
    site = ["import sys", 'if "bridge.intake" in sys.orig_argv:', "    sys.exit(3)", "import bridge.intake.process",
            f"bridge.intake.process.CONNECT_SECONDS = {10 * GUARD}"]  # fmt: skip
    (broken / "sitecustomize.py").write_text("\n".join(site) + "\n")
    path = os.pathsep.join(p for p in (str(broken), os.environ.get("PYTHONPATH", "")) if p)
    daemon = start_daemon({"sq": strategy()}, server=ON, start=False, env={"PYTHONPATH": path})
    with pytest.raises(RuntimeError, match="daemon exited"):
        daemon.start()  # not "did not start": the daemon ended by itself, long before the wait could
    assert re.search(r"the intake process ended \(exit status \d+\) before it connected", daemon.output())
