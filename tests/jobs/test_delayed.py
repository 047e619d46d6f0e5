"""Delayed signals (`delay`) against a controlled clock: at their time and not before, once, across restarts."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from bridge.notify.events import Event
from bridge.store.db import iso, utcnow
from tests.conftest import ADMIN, TOKEN, write_config
from tests.jobs.conftest import Clock, config_text, two_strategies


async def test_a_delayed_signal_executes_at_its_time_and_not_before(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text(), clock)
    before = utcnow()
    response = await r.post(delay=60)
    after = utcnow()
    assert response.status_code == 200
    signal_id = response.json()["id"]
    execute_at = datetime.fromisoformat(response.json()["payload"]["delay"])
    # 60 s from its arrival, whenever (however late after the bridge started) it came.
    assert before + timedelta(seconds=60) <= execute_at <= after + timedelta(seconds=60), (before, execute_at)
    assert r.bridge.jobs.next_runs("delay:") == {f"delay:{signal_id}": execute_at}, "a wake-up at its time"
    assert r.signal(signal_id)["state"] == "received"
    assert r.signal(signal_id)["decision"].startswith("waiting until ")

    clock.now = execute_at.replace(microsecond=0)  # a moment before its time
    assert await r.bridge.jobs.delayed.release_due() == 0
    await r.bridge.queues.join()
    assert r.rows("SELECT * FROM orders") == [] and r.signal(signal_id)["state"] == "received"

    clock.now = execute_at
    assert await r.bridge.jobs.delayed.release_due() == 1
    await r.bridge.queues.join()
    assert r.signal(signal_id)["state"] == "executed"
    assert [(o["side"], o["status"]) for o in r.rows("SELECT * FROM orders")] == [("buy", "filled")]
    assert await r.bridge.jobs.delayed.release_due() == 0, "released once"


async def test_a_delayed_signal_survives_a_restart_and_runs_once(bridges: Any) -> None:
    clock = Clock()
    first = await bridges(config_text(), clock)
    signal_id = await first.accepted(delay=60)
    execute_at = datetime.fromisoformat(first.signal(signal_id)["execute_at"])
    await first.bridge.stop()

    clock.advance(30)  # the daemon comes back before the signal's time: recovery must neither run nor expire it
    second = await bridges(config_text(), clock)
    await second.bridge.queues.join()
    assert second.signal(signal_id)["state"] == "received" and second.rows("SELECT * FROM orders") == []
    assert second.bridge.jobs.next_runs("delay:") == {f"delay:{signal_id}": execute_at}, "rescheduled from the journal"

    clock.now = execute_at
    assert await second.bridge.jobs.delayed.release_due() == 1
    assert await second.bridge.jobs.delayed.release_due() == 0
    await second.bridge.queues.join()
    assert second.signal(signal_id)["state"] == "executed"
    await second.bridge.stop()

    clock.advance(1)
    third = await bridges(config_text(), clock)
    assert await third.bridge.jobs.delayed.release_due() == 0
    await third.bridge.queues.join()
    assert len(third.rows("SELECT * FROM orders")) == 1, "never executed twice"
    assert third.bridge.jobs.next_runs("delay:") == {}


async def test_a_delayed_signal_that_fell_due_while_the_daemon_was_down_runs_at_start_if_still_fresh(
    bridges: Any,
) -> None:
    clock = Clock()
    first = await bridges(config_text(), clock)
    fresh = await first.accepted(delay=30)
    stale = await first.accepted(ticker="TSLA", delay=5)
    await first.bridge.stop()

    # max_signal_age is 60: 40 s after `fresh` was due it still runs; `stale`, 65 s late, is expired.
    clock.now = datetime.fromisoformat(first.signal(stale)["execute_at"])
    clock.advance(65)
    second = await bridges(config_text(), clock)
    await second.bridge.queues.join()
    assert second.signal(fresh)["state"] == "executed"
    assert second.signal(stale)["state"] == "expired"
    assert "released 65s late" in second.signal(stale)["decision"]
    assert [o["symbol"] for o in second.rows("SELECT * FROM orders")] == ["AMD"]


async def test_a_signal_without_delay_is_not_held_back(bridges: Any) -> None:
    r = await bridges(config_text(), Clock())
    signal_id = await r.accepted()
    await r.bridge.queues.join()
    assert r.signal(signal_id)["state"] == "executed" and r.signal(signal_id)["execute_at"] is None


async def test_a_reload_keeps_the_wake_up_of_a_waiting_delayed_signal(bridges: Any) -> None:
    r = await bridges(config_text(), Clock())
    signal_id = await r.accepted(delay=300)
    assert r.bridge.loaded.path is not None
    r.bridge.loaded.path.write_text(config_text("cancel_after: 10"))
    assert (await r.bridge.reload("test")).ok
    assert list(r.bridge.jobs.next_runs("delay:")) == [f"delay:{signal_id}"], "config jobs are rebuilt, delays kept"


async def test_a_delayed_signal_that_cannot_be_rebuilt_fails_alone(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text(), clock)
    broken = await r.accepted(delay=60)
    intact = await r.accepted(delay=60, ticker="MSFT")
    # Its journaled payload no longer parses (a hand edit, a bug of an older version).
    r.bridge.store.conn.execute("UPDATE signals SET payload = '{\"price\": ***}' WHERE id = ?", (broken,))
    clock.now = max(datetime.fromisoformat(r.signal(s)["execute_at"]) for s in (broken, intact))
    assert await r.bridge.jobs.delayed.release_due() == 1  # the intact one
    await r.bridge.queues.join()
    assert r.signal(intact)["state"] == "executed"
    failed = r.signal(broken)
    assert failed["state"] == "failed" and "could not be rebuilt" in failed["decision"]


async def test_a_delayed_signal_is_not_traded_on_a_subscription_disabled_before_its_time(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text(), clock)
    signal_id = await r.accepted(delay=60)
    assert r.bridge.loaded.path is not None
    r.bridge.loaded.path.write_text(config_text("enabled: false"))  # it runs under the config in force at its time
    assert (await r.bridge.reload("test")).ok

    clock.now = datetime.fromisoformat(r.signal(signal_id)["execute_at"])
    assert await r.bridge.jobs.delayed.release_due() == 1
    await r.bridge.queues.join()
    assert r.rows("SELECT * FROM orders") == []
    row = r.signal(signal_id)
    assert (row["state"], row["decision"]) == ("ignored", "ignored: subscription paper is not enabled (enabled: false)")


AMD = "broker: paper\ncancel_after: 30"


async def test_adding_a_subscription_on_the_same_broker_does_not_fail_a_waiting_delayed_signal(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(two_strategies([AMD]), clock)
    signal_id = await r.accepted(delay=60)
    assert r.bridge.loaded.path is not None
    r.bridge.loaded.path.write_text(two_strategies([AMD, "broker: paper\ntickers: [TSLA]"]))  # AMD's is unchanged
    assert (await r.bridge.reload("test")).ok
    assert [key for key, _sub in r.bridge.runtime.subscriptions("sq")] == ["paper", "paper-2"]  # the first kept its

    clock.now = datetime.fromisoformat(r.signal(signal_id)["execute_at"])
    assert await r.bridge.jobs.delayed.release_due() == 1
    await r.bridge.queues.join()
    row = r.signal(signal_id)
    assert row["state"] == "executed", row["decision"]


async def test_a_delayed_signal_journaled_under_an_older_versions_key_still_executes(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(two_strategies([AMD, "broker: paper\ntickers: [TSLA]"]), clock)
    signal_id = await r.accepted(delay=60)
    # Older versions keyed the first of two unnamed subscriptions on one broker `paper-1` (it is `paper` now).
    r.bridge.store.conn.execute("UPDATE executions SET subscription = 'paper-1' WHERE subscription = 'paper'")

    clock.now = datetime.fromisoformat(r.signal(signal_id)["execute_at"])
    assert await r.bridge.jobs.delayed.release_due() == 2  # one per subscription (TSLA's ignores AMD)
    await r.bridge.queues.join()
    row = r.signal(signal_id)
    assert row["state"] == "executed", row["decision"]
    assert [(o["subscription"], o["broker"], o["status"]) for o in r.rows("SELECT * FROM orders")] == [
        ("paper-1", "paper", "filled")
    ]


async def test_a_delayed_signal_released_too_late_or_that_cannot_be_rebuilt_is_reported_like_any_execution(
    bridges: Any,
) -> None:
    clock = Clock()
    r = await bridges(config_text(), clock)
    heard: list[Event] = []
    r.bridge.executor.observers.append(heard.append)  # metrics and notifications listen here
    late = await r.accepted(delay=5)
    broken = await r.accepted(delay=60, ticker="MSFT")  # due 55 s after `late`: released on time
    r.bridge.store.conn.execute("UPDATE signals SET payload = '{\"price\": ***}' WHERE id = ?", (broken,))
    clock.now = datetime.fromisoformat(r.signal(late)["execute_at"]) + timedelta(seconds=65)  # max_signal_age 60
    assert await r.bridge.jobs.delayed.release_due() == 0
    assert (r.signal(late)["state"], r.signal(broken)["state"]) == ("expired", "failed")
    told = {e.data["signal_id"]: e for e in heard if e.kind.startswith("signal.")}
    assert told[late].kind == "signal.expired" and "released 65s late" in told[late].text
    assert told[broken].kind == "signal.failed" and told[broken].data["subscription"] == "paper"


async def test_a_delay_time_that_passed_on_the_way_runs_now_and_one_past_max_signal_age_is_refused(
    bridges: Any,
) -> None:
    """A delay sent as a time a few seconds ahead can arrive after it (TradingView takes seconds; the sender's clock
    may be behind): it is due, as a delayed signal released a few seconds late is. It was refused as in the past.
    """
    clock = Clock()
    r = await bridges(config_text(extra="max_signal_age: 60\n"), clock)
    passed = (utcnow() - timedelta(seconds=3)).isoformat()
    response = await r.post(delay=passed)
    assert response.status_code == 200, response.text
    signal_id = response.json()["id"]
    clock.now = utcnow()
    await r.bridge.jobs.delayed.release_due()
    await r.bridge.queues.join()
    assert r.signal(signal_id)["state"] == "executed", r.signal(signal_id)["decision"]

    # Past max_signal_age it would be expired at once: refused instead, with the reason.
    old = await r.post(delay=(utcnow() - timedelta(seconds=90)).isoformat())
    assert (old.status_code, old.json()["messageCode"]) == (400, "invalid-delay-format")
    assert "max_signal_age 60s" in old.json()["message"]


async def test_a_delayed_signal_whose_token_a_reload_then_changed_is_not_traded_at_its_time(bridges: Any) -> None:
    """A leaked token's `delay` signals for tomorrow must not outlive the rotation that revoked it."""
    clock = Clock()
    r = await bridges(config_text(), clock)
    signal_id = await r.accepted(delay=3600)
    assert r.bridge.loaded.path is not None
    r.bridge.loaded.path.write_text(config_text().replace(TOKEN, "tok-" + "rotated0rotated0rotated0"))
    assert (await r.bridge.reload("test")).ok

    clock.now = datetime.fromisoformat(r.signal(signal_id)["execute_at"])
    await r.bridge.jobs.delayed.release_due()
    await r.bridge.queues.join()
    assert r.rows("SELECT * FROM orders") == []
    row = r.signal(signal_id)
    assert row["state"] == "rejected" and "token" in row["decision"], tuple(row)


ROTATED = "tok-" + "rotated0rotated0rotated0"


async def test_a_delayed_signal_whose_token_was_changed_across_a_restart_is_not_traded_at_its_time(
    bridges: Any,
) -> None:
    """Rotated (it leaked) while the daemon was down: the restart must stop it as a reload would have."""
    clock = Clock()
    first = await bridges(config_text(), clock)
    signal_id = await first.accepted(delay=3600)
    await first.bridge.stop()

    second = await bridges(config_text().replace(TOKEN, ROTATED), clock)
    clock.now = datetime.fromisoformat(second.signal(signal_id)["execute_at"])
    await second.bridge.jobs.delayed.release_due()
    await second.bridge.queues.join()
    assert second.rows("SELECT * FROM orders") == [], "the old token's signal traded after the rotation"
    row = second.signal(signal_id)
    assert row["state"] == "rejected" and "token" in row["decision"], tuple(row)


async def test_a_delayed_signal_whose_strategy_was_removed_across_a_restart_is_rejected_saying_why(
    bridges: Any,
) -> None:
    clock = Clock()
    first = await bridges(config_text(), clock)
    signal_id = await first.accepted(delay=3600)
    await first.bridge.stop()

    second = await bridges(two_strategies([]), clock)  # strategy `sq` is gone
    clock.now = datetime.fromisoformat(second.signal(signal_id)["execute_at"])
    await second.bridge.jobs.delayed.release_due()
    await second.bridge.queues.join()
    assert second.rows("SELECT * FROM orders") == []
    row = second.signal(signal_id)
    assert row["state"] == "rejected" and "removed strategy sq" in row["decision"], tuple(row)


async def test_a_delayed_signal_with_its_token_unchanged_across_a_restart_still_trades(bridges: Any) -> None:
    clock = Clock()
    first = await bridges(config_text(), clock)
    signal_id = await first.accepted(delay=3600)
    await first.bridge.stop()

    second = await bridges(config_text().replace("cash: 100000", "cash: 90000"), clock)  # another change
    clock.now = datetime.fromisoformat(second.signal(signal_id)["execute_at"])
    assert await second.bridge.jobs.delayed.release_due() == 1
    await second.bridge.queues.join()
    assert second.signal(signal_id)["state"] == "executed"


def test_a_daemon_restarted_with_a_rotated_token_does_not_trade_what_the_old_token_delayed(make_daemon: Any) -> None:
    """The operator rotates a leaked token and restarts: nothing the old token sent may trade afterwards."""
    daemon = make_daemon()
    response = daemon.post({"ticker": "AMD", "action": "buy", "price": 100, "delay": 3600})
    assert response.status_code == 200, response.text
    signal_id = response.json()["id"]
    daemon.stop()
    with sqlite3.connect(daemon.db) as db:  # its time came while the daemon was down: released at start
        db.execute("UPDATE signals SET execute_at = ? WHERE id = ?", (iso(utcnow()), signal_id))
    write_config(daemon.config.parent, token=ROTATED, port=daemon.port)
    daemon.token = ROTATED
    daemon.start()

    row = daemon.wait_final(signal_id)
    assert daemon.api("orders") == [], "the old token's signal traded after the rotation and restart"
    assert row["state"] == "rejected" and "token" in row["decision"], row


async def test_a_delayed_signal_journaled_before_fingerprints_were_kept_runs_as_it_would_have(bridges: Any) -> None:
    """A row from before the journal kept a token's fingerprint (NULL) cannot be checked: it is not refused for it."""
    clock = Clock()
    first = await bridges(config_text(), clock)
    signal_id = await first.accepted(delay=3600)
    assert first.signal(signal_id)["token_fingerprint"] not in (None, "", TOKEN)
    first.bridge.store.conn.execute("UPDATE signals SET token_fingerprint = NULL WHERE id = ?", (signal_id,))
    await first.bridge.stop()

    second = await bridges(config_text(), clock)
    clock.now = datetime.fromisoformat(second.signal(signal_id)["execute_at"])
    assert await second.bridge.jobs.delayed.release_due() == 1
    await second.bridge.queues.join()
    assert second.signal(signal_id)["state"] == "executed"
    assert "token_fingerprint" not in (await second.client.get(
        "/api/signals", headers={"Authorization": f"Bearer {ADMIN}"})).json()[0], "never listed"  # fmt: skip


async def test_the_delayed_signals_released_are_forgotten_once_they_run(bridges: Any) -> None:
    """What keeps a signal from being released twice must not grow with every delayed signal a daemon ever ran."""
    clock = Clock()
    r = await bridges(config_text(), clock)
    ids = [await r.accepted(ticker=ticker, delay=60) for ticker in ("AMD", "TSLA", "NVDA")]
    clock.now = max(datetime.fromisoformat(r.signal(s)["execute_at"]) for s in ids)
    assert await r.bridge.jobs.delayed.release_due() == 3
    await r.bridge.queues.join()
    assert await r.bridge.jobs.delayed.release_due() == 0
    assert r.bridge.jobs.delayed._released == set()


MAIN, KEPT = "name: main\nbroker: paper", "name: kept\nbroker: paper\ntickers: [TSLA]"


async def test_a_delayed_signal_whose_subscription_a_reload_removed_is_ignored_as_if_disabled(bridges: Any) -> None:
    """Deleting an entry stops it as `enabled: false` does; the waiting signal ended `failed`, as if something broke."""
    clock = Clock()
    r = await bridges(two_strategies([MAIN, KEPT]), clock)
    signal_id = await r.accepted(delay=60)
    assert r.bridge.loaded.path is not None
    r.bridge.loaded.path.write_text(two_strategies([KEPT]))  # `main` deleted
    assert (await r.bridge.reload("test")).ok

    clock.now = datetime.fromisoformat(r.signal(signal_id)["execute_at"])
    await r.bridge.jobs.delayed.release_due()
    await r.bridge.queues.join()
    assert r.rows("SELECT * FROM orders") == []
    [row] = r.rows("SELECT * FROM executions WHERE signal_id = ? AND subscription = 'main'", signal_id)
    assert row["state"] == "ignored", tuple(row)
    assert "removed subscription main" in row["decision"], row["decision"]


async def test_a_delayed_signal_whose_subscription_a_reload_renamed_executes_under_its_new_name(bridges: Any) -> None:
    """Renamed on its broker, it is the same subscription: the signal runs at its time under the config then."""
    clock = Clock()
    r = await bridges(two_strategies([MAIN]), clock)
    signal_id = await r.accepted(delay=60)
    assert r.bridge.loaded.path is not None
    r.bridge.loaded.path.write_text(two_strategies([MAIN.replace("main", "core")]))
    assert (await r.bridge.reload("test")).ok

    clock.now = datetime.fromisoformat(r.signal(signal_id)["execute_at"])
    assert await r.bridge.jobs.delayed.release_due() == 1
    await r.bridge.queues.join()
    row = r.signal(signal_id)
    assert row["state"] == "executed", row["decision"]
    assert [(o["subscription"], o["broker"], o["status"]) for o in r.rows("SELECT * FROM orders")] == [
        ("core", "paper", "filled")
    ]


async def test_a_delayed_signal_whose_subscription_was_removed_across_a_restart_is_ignored(bridges: Any) -> None:
    """As a reload's removal: the operator deleted it, nothing broke (`failed` is told as urgent)."""
    clock = Clock()
    first = await bridges(two_strategies([MAIN, KEPT]), clock)
    signal_id = await first.accepted(delay=3600)
    await first.bridge.stop()

    second = await bridges(two_strategies([KEPT]), clock)  # `main` deleted while the daemon was down
    clock.now = datetime.fromisoformat(second.signal(signal_id)["execute_at"])
    await second.bridge.jobs.delayed.release_due()
    await second.bridge.queues.join()
    assert second.rows("SELECT * FROM orders") == []
    [row] = second.rows("SELECT * FROM executions WHERE signal_id = ? AND subscription = 'main'", signal_id)
    assert row["state"] == "ignored" and "no longer in the config" in row["decision"], tuple(row)
