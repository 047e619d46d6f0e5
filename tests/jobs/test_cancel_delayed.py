"""`bridge cancel` / `POST /api/signals/{id}/cancel`: a delayed signal canceled while it waits never executes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.cli import main
from tests.conftest import ADMIN, Daemon, patient_bridge
from tests.jobs.conftest import Clock, config_text

BEARER = {"Authorization": f"Bearer {ADMIN}"}


async def cancel(r: Any, signal_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await r.client.post(f"/api/signals/{signal_id}/cancel", headers=BEARER if headers is None else headers)


async def test_a_delayed_signal_canceled_while_it_waits_never_executes_not_even_after_a_restart(
    bridges: Any,
) -> None:
    clock = Clock()
    r = await bridges(config_text(), clock)
    signal_id = await r.accepted(delay=60)
    execute_at = datetime.fromisoformat(r.signal(signal_id)["execute_at"])
    response = await cancel(r, signal_id)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "canceled" and response.json()["canceled"] == ["paper"]
    assert r.signal(signal_id)["state"] == "canceled"
    assert "canceled by the admin API" in r.signal(signal_id)["decision"]
    assert r.bridge.jobs.next_runs("delay:") == {}, "its wake-up is gone"

    clock.now = execute_at
    assert await r.bridge.jobs.delayed.release_due() == 0
    await r.bridge.queues.join()
    await r.bridge.stop()
    again = await bridges(config_text(), clock)  # start-up recovery at its time
    await again.bridge.queues.join()
    assert await again.bridge.jobs.delayed.release_due() == 0
    assert again.rows("SELECT * FROM orders") == [] and again.signal(signal_id)["state"] == "canceled"
    assert (await cancel(again, signal_id)).status_code == 409, "canceled once"


async def test_canceling_an_unknown_or_no_longer_waiting_signal_says_why_and_changes_nothing(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text(), clock)
    unknown = await cancel(r, "no-such-id")
    assert unknown.status_code == 404 and unknown.json()["messageCode"] == "unknown-signal"
    assert "bridge signals" in unknown.json()["message"]

    now = await r.accepted(ticker="TSLA")  # no delay: it runs on arrival
    await r.bridge.queues.join()
    refused = await cancel(r, now)
    assert refused.status_code == 409 and refused.json()["messageCode"] == "not-waiting"
    assert "no `delay`" in refused.json()["message"] and r.signal(now)["state"] == "executed"

    delayed = await r.accepted(delay=60)
    assert (await cancel(r, delayed, headers={})).status_code == 401
    clock.now = datetime.fromisoformat(r.signal(delayed)["execute_at"])
    assert await r.bridge.jobs.delayed.release_due() == 1  # released at its time: it runs, whatever comes next
    late = await cancel(r, delayed)
    assert late.status_code == 409 and late.json()["messageCode"] == "not-waiting", late.text
    await r.bridge.queues.join()
    assert r.signal(delayed)["state"] == "executed"


def test_bridge_cancel_without_a_running_daemon_cancels_in_the_journal(make_daemon: Any, tmp_path: Path) -> None:
    daemon: Daemon = make_daemon()
    response = daemon.post({"ticker": "AMD", "action": "buy", "price": 100, "delay": 3600})
    signal_id = response.json()["id"]
    daemon.stop()
    assert main(["cancel", "no-such-id", "--config", str(daemon.config)]) == 1
    assert main(["cancel", signal_id, "--config", str(daemon.config)]) == 0
    assert main(["cancel", signal_id, "--config", str(daemon.config)]) == 1, "no longer waiting"
    daemon.start()
    assert daemon.wait_final(signal_id)["state"] == "canceled"
    assert daemon.api("orders") == []


def test_bridge_cancel_asks_the_running_daemon(make_daemon: Any) -> None:
    daemon: Daemon = make_daemon()
    signal_id = daemon.post({"ticker": "AMD", "action": "buy", "price": 100, "delay": 3600}).json()["id"]
    result = patient_bridge("cancel", signal_id, "--config", str(daemon.config), cwd=daemon.config.parent)
    assert result.returncode == 0 and "confirmed" in result.stdout, result.stderr
    assert daemon.wait_final(signal_id)["state"] == "canceled"


def test_bridge_cancel_never_writes_a_journal_a_daemon_it_cannot_ask_serves(
    make_daemon: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon: Daemon = make_daemon()
    signal_id = daemon.post({"ticker": "AMD", "action": "buy", "price": 100, "delay": 3600}).json()["id"]
    tokenless = daemon.config.with_name("tokenless.yaml")
    tokenless.write_text(daemon.config.read_text().replace(f"admin_token: {ADMIN}", "admin_token: null"))
    assert main(["cancel", signal_id, "--config", str(tokenless)]) == 1
    said = capsys.readouterr().err
    assert "a bridge daemon serves the journal" in said and "nothing was canceled" in said, said
    assert [s["state"] for s in daemon.api("signals") if s["id"] == signal_id] == ["received"]
