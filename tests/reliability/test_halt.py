"""The kill switch: once a halt is acknowledged no order is sent, it survives restarts, resume trades again.

"No order after the halt" is proven by ordering, not by timing: the broker below records each
create_order call the moment it starts, and the count taken right after the halt call returned
never grows afterwards.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN, GUARD, Daemon, patient_bridge
from tests.security.conftest import RELAXED, rows, strategy

BEARER = {"Authorization": f"Bearer {ADMIN}"}
RECORDER = '''
import asyncio
from pathlib import Path

from bridge.brokers.paper import PaperBroker

LOG = Path(__file__).with_name("create_order.log")
HOLD_AT = 10  # the call the venue holds until a file `go` is beside it (the test's halt has landed by then)


class RecordingPaper(PaperBroker):
    """The paper book behind a venue that takes 100 ms per order; each call is logged as it starts."""

    async def create_order(self, request):
        with LOG.open("a") as log:
            log.write(request.client_order_id + "\\n")
        await asyncio.sleep(0.1)
        while len(LOG.read_text().split()) == HOLD_AT and not LOG.with_name("go").exists():
            await asyncio.sleep(0.02)
        return await super().create_order(request)
'''


def calls(daemon: Daemon) -> list[str]:
    log = daemon.config.parent / "create_order.log"
    return log.read_text().split() if log.exists() else []


def cli(daemon: Daemon, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    return patient_bridge(*args, "--config", str(config or daemon.config), cwd=daemon.config.parent)


def health(daemon: Daemon) -> dict[str, Any]:
    return dict(httpx.get(f"{daemon.base}/health", timeout=GUARD).json())


def test_halt_blocks_every_order_survives_a_restart_and_resume_trades_again(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()})
    resting = daemon.post({"ticker": "REST", "action": "buy", "orderType": "limit", "limitPrice": 1, "price": 50})
    assert daemon.wait_final(resting.json()["id"])["state"] == "executed"

    refused = httpx.post(f"{daemon.base}/api/halt", json={"reason": "news"})
    assert refused.status_code == 401, "the kill switch needs the admin token"
    halted = httpx.post(f"{daemon.base}/api/halt", json={"reason": "broker outage"}, headers=BEARER)
    assert halted.status_code == 200 and halted.json()["halted"] is True
    assert health(daemon)["halted"] is True and health(daemon)["kill_switch"]["reason"] == "broker outage"

    during = daemon.post({"ticker": "AMD", "action": "buy", "price": 10})
    assert during.status_code == 200, "signals are still journaled and acknowledged while halted"
    final = daemon.wait_final(during.json()["id"])
    assert final["state"] == "rejected"
    assert "trading is halted (broker outage)" in final["decision"] and "nothing was sent" in final["decision"]
    cancel = daemon.post({"ticker": "REST", "action": "cancel"})
    assert daemon.wait_final(cancel.json()["id"])["state"] == "executed", "cancels still run while halted"

    daemon.stop()
    daemon.start()
    assert health(daemon)["halted"] is True, "the halt survives a restart"
    after_restart = daemon.post({"ticker": "SQ", "action": "buy", "price": 10})
    assert daemon.wait_final(after_restart.json()["id"])["state"] == "rejected"

    resumed = cli(daemon, "resume")
    assert resumed.returncode == 0 and "confirmed" in resumed.stdout, resumed.stderr
    assert health(daemon)["halted"] is False
    trades = daemon.post({"ticker": "TSLA", "action": "buy", "price": 10})
    assert daemon.wait_final(trades.json()["id"])["state"] == "executed"

    orders = {r["symbol"]: r["status"] for r in rows(daemon.db, "SELECT symbol, status FROM orders")}
    assert orders == {"REST": "canceled", "TSLA": "filled"}, "nothing but the resting order and the resumed one"
    sent = {r[0] for r in rows(daemon.db, "SELECT symbol FROM paper_orders")}
    assert sent == {"REST", "TSLA"}


def test_bridge_halt_without_a_running_daemon_holds_from_the_next_start(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()}, start=False)
    result = cli(daemon, "halt", "--reason", "weekend")
    assert result.returncode == 0 and "in force from its next start" in result.stdout, result.stderr
    daemon.start()
    assert health(daemon)["kill_switch"]["reason"] == "weekend" and health(daemon)["halted"] is True
    signal = daemon.post({"ticker": "AMD", "action": "buy", "price": 10})
    assert daemon.wait_final(signal.json()["id"])["state"] == "rejected"
    assert rows(daemon.db, "SELECT count(*) FROM paper_orders")[0][0] == 0
    assert cli(daemon, "resume").returncode == 0


def test_no_create_order_starts_after_the_halt_call_returns(start_daemon: Any) -> None:
    # One ticker, one queue: the orders go out one after another, 100 ms apart, while the halt lands. However slow
    # the machine (the 30 requests may take longer to send than their orders take to go out), the venue holds the
    # 10th until the halt has landed: signals are still queued when it does.
    adding = strategy(extra=RELAXED + "    subscriptions:\n      - broker: paper\n        allow_add: true\n")
    daemon: Daemon = start_daemon({"sq": adding}, plugin="recorder:RecordingPaper", files={"recorder.py": RECORDER})
    ids = [daemon.post({"ticker": "AMD", "action": "buy", "price": 10, "n": n}).json()["id"] for n in range(30)]
    deadline = time.monotonic() + GUARD
    while len(calls(daemon)) < 3:  # wait until orders are flowing
        assert time.monotonic() < deadline, daemon.output()[-2000:]
        time.sleep(0.01)
    assert httpx.post(f"{daemon.base}/api/halt", headers=BEARER, timeout=GUARD).status_code == 200
    seen_at_halt = len(calls(daemon))
    (daemon.config.parent / "go").touch()
    finals = [daemon.wait_final(signal_id) for signal_id in ids]
    assert len(calls(daemon)) == seen_at_halt, "create_order was called after the halt was acknowledged"
    assert seen_at_halt < len(ids), "the halt must land while signals were still queued (else this proves nothing)"
    refused = [f for f in finals if f["state"] != "executed"]
    assert refused and all("trading is halted" in f["decision"] for f in refused)
    sent = {r[0] for r in rows(daemon.db, "SELECT client_order_id FROM paper_orders")}
    assert sent == set(calls(daemon)), "the broker holds exactly the orders that were sent before the halt"


def test_bridge_halt_that_the_daemon_does_not_confirm_still_halts_through_the_journal(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()})
    # The same journal, but an admin token the daemon does not know (rotated in one file, not the other):
    # the API answers 401, and the halt must hold anyway.
    wrong = daemon.config.with_name("wrong-token.yaml")
    wrong.write_text(daemon.config.read_text().replace(ADMIN, "f" * len(ADMIN)))
    assert wrong.read_text() != daemon.config.read_text()
    halted = cli(daemon, "halt", "--reason", "drill", config=wrong)
    assert halted.returncode == 0, halted.stderr
    assert "answered 401" in halted.stdout and "trading halted in" in halted.stdout
    signal = daemon.post({"ticker": "AMD", "action": "buy", "price": 10})
    final = daemon.wait_final(signal.json()["id"])
    assert final["state"] == "rejected" and "trading is halted (drill)" in final["decision"]
    assert rows(daemon.db, "SELECT count(*) FROM paper_orders")[0][0] == 0
    # A resume is not forced past the API: trading stays halted until the daemon confirms one.
    resumed = cli(daemon, "resume", config=wrong)
    assert resumed.returncode == 1 and "answered 401" in resumed.stderr
    again = daemon.post({"ticker": "AMD", "action": "buy", "price": 11})
    assert daemon.wait_final(again.json()["id"])["state"] == "rejected"
    assert cli(daemon, "resume").returncode == 0


def test_a_halt_whose_body_cannot_be_read_as_json_still_halts(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()})
    # The reason is optional: a body json cannot read (nested deeper than its recursion limit) must not stop a halt.
    answer = httpx.post(f"{daemon.base}/api/halt", content=b"[" * 100_000, headers=BEARER, timeout=GUARD)
    assert (answer.status_code, health(daemon)["halted"]) == (200, True), answer.text[:200]
