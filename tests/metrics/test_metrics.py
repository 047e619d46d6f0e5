"""`/metrics` on a real daemon: admin token required, and each metric moves with what happened."""

from __future__ import annotations

import os
import signal
import time
from decimal import Decimal
from typing import Any, cast

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN, GUARD


def scrape(daemon: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = httpx.get(f"{daemon.base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def wait_for(daemon: Any, key: tuple[str, tuple[tuple[str, str], ...]], value: float, timeout: float = GUARD) -> None:
    """Scrape until the sample has the value (events are counted just after the execution is journaled)."""
    deadline = time.monotonic() + timeout
    while True:
        got = scrape(daemon).get(key)
        if got == value or time.monotonic() > deadline:
            assert got == value, f"{key} = {got}, expected {value}"
            return
        time.sleep(0.05)


def test_metrics_need_the_admin_token(make_daemon: Any) -> None:
    daemon = make_daemon()
    assert httpx.get(f"{daemon.base}/metrics", timeout=GUARD).status_code == 401
    wrong = httpx.get(f"{daemon.base}/metrics", headers={"Authorization": "Bearer nope-nope-nope-nope"}, timeout=GUARD)
    assert wrong.status_code == 401
    assert ADMIN not in wrong.text


def test_metrics_count_webhooks_orders_latency_errors_and_halt(make_daemon: Any) -> None:
    daemon = make_daemon()
    before = scrape(daemon)
    assert all(name.startswith("bridge_") for name, _ in before)
    assert before[("bridge_halted", ())] == 0

    started = time.monotonic()
    accepted = daemon.post({"ticker": "AMD", "action": "buy", "price": 100})
    assert accepted.status_code == 200
    assert daemon.wait_final(accepted.json()["id"])["state"] == "executed"
    around = time.monotonic() - started  # the signal went from received to its order's answer inside this
    assert daemon.post({"ticker": "AMD", "action": "jump"}).status_code == 400
    assert daemon.post({"ticker": "AMD", "action": "buy"}, url=daemon.url + "x").status_code == 401
    # An exit while flat is rejected by the decision table; an execution counted as rejected.
    rejected = daemon.post({"ticker": "MSFT", "action": "exit", "price": 10})
    daemon.wait_final(rejected.json()["id"])

    wait_for(daemon, ("bridge_executions_total", (("state", "rejected"),)), 1)
    after = scrape(daemon)
    assert after[("bridge_webhooks_total", (("outcome", "accepted"),))] == 2
    assert after[("bridge_webhooks_total", (("outcome", "invalid"),))] == 1
    assert after[("bridge_webhooks_total", (("outcome", "unauthorized"),))] == 1
    assert after[("bridge_executions_total", (("state", "executed"),))] == 1
    assert after[("bridge_orders_submitted_total", (("status", "filled"),))] == 1
    assert after[("bridge_orders", (("status", "filled"),))] == 1
    assert after[("bridge_signal_to_order_seconds_count", ())] == 1
    # In seconds, and of this signal alone: no longer than the time the test saw pass around it, however long.
    assert 0 < after[("bridge_signal_to_order_seconds_sum", ())] <= around
    assert after[("bridge_broker_up", (("broker", "paper"),))] == 1
    assert after[("bridge_config_last_reload_success", ())] == 1
    assert ("bridge_broker_errors_total", (("broker", "paper"),)) not in after
    # Every accepted webhook waited for a journal COMMIT, timed in the daemon (grouped: at least one).
    daemon_writer = (("writer", "daemon"),)
    commits = after[("bridge_journal_commit_seconds_count", daemon_writer)]
    assert commits >= 1 and after[("bridge_journal_commit_seconds_sum", daemon_writer)] > 0
    assert after[("bridge_journal_commit_seconds_bucket", (("le", "+Inf"), ("writer", "daemon")))] == commits
    assert after.get(("bridge_journal_commit_seconds_count", (("writer", "intake"),))) == 0  # no intake process

    halted = httpx.post(f"{daemon.base}/api/halt", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)
    assert halted.status_code == 200
    assert scrape(daemon)[("bridge_halted", ())] == 1


def test_a_paused_daemon_shows_as_event_loop_lag(make_daemon: Any) -> None:
    daemon = make_daemon()
    assert daemon.process is not None

    def late() -> float:  # samples that found the loop more than a quarter of a second late
        samples = scrape(daemon)
        return (
            samples[("bridge_event_loop_lag_seconds_count", ())]
            - samples[("bridge_event_loop_lag_seconds_bucket", (("le", "0.25"),))]
        )

    before = late()
    os.kill(daemon.process.pid, signal.SIGSTOP)  # as a stalled VM or an overloaded CPU would hold it
    time.sleep(0.6)
    os.kill(daemon.process.pid, signal.SIGCONT)
    deadline = time.monotonic() + GUARD
    while late() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert late() >= before + 1


def test_a_failed_reload_is_counted(make_daemon: Any) -> None:
    daemon = make_daemon()
    daemon.config.write_text(daemon.config.read_text() + "\nnot_a_setting: 1\n")
    reload = httpx.post(f"{daemon.base}/api/reload", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)
    assert reload.status_code == 422
    wait_for(daemon, ("bridge_reloads_total", (("result", "failed"),)), 1)
    assert scrape(daemon)[("bridge_config_last_reload_success", ())] == 0


def test_a_later_change_of_an_order_is_not_counted_as_another_order_sent() -> None:
    from bridge.metrics import Metrics
    from bridge.models import Order
    from bridge.notify.events import order_change, order_event

    metrics = Metrics(cast(Any, None))  # observing events reads nothing from the bridge
    metrics.observe(order_event("s", "sub", "paper", "AMD", "buy", "1", "open", "90", None, 0.004))
    filled = Order(client_order_id="c", symbol="AMD", side="buy", quantity=Decimal(1), type="limit",
                   status="filled", filled_quantity=Decimal(1), avg_fill_price=Decimal(90))  # fmt: skip
    metrics.observe(order_change("s", "sub", "paper", filled))

    sent = {s.labels["status"]: s.value for f in metrics.orders_sent.collect() for s in f.samples
            if s.name.endswith("_total")}  # fmt: skip
    assert sent == {"open": 1}, "the fill found later is no second order sent"
    [count] = [s.value for f in metrics.latency.collect() for s in f.samples if s.name.endswith("_count")]
    assert count == 1, "only the first answer has a latency"


def test_each_event_is_counted_under_its_own_metric_and_label_however_often_it_comes() -> None:
    """The label children are made once and kept: each count must still land on its own metric and value."""
    from bridge.metrics import Metrics
    from bridge.notify.events import Event

    metrics = Metrics(None)  # type: ignore[arg-type]  # observing needs no bridge; rendering is not done here
    events = [Event("signal.rejected", "", {"state": "rejected"})] * 3 + [
        Event("order.rejected", "", {"status": "rejected", "broker": "alpaca", "latency": 0.1}),
        Event("order.rejected", "", {"status": "rejected", "broker": "paper", "latency": 0.1}),
        Event("order.filled", "", {"status": "filled", "broker": "paper", "latency": 0.2}),
        Event("signal.executed", "", {"state": "executed"}),
    ]
    for event in events:
        metrics.observe(event)
    counted = {
        (sample.name, tuple(sample.labels.values())): sample.value
        for metric in (metrics.signals, metrics.orders_sent, metrics.broker_errors)
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert counted == {
        ("bridge_executions_total", ("rejected",)): 3,
        ("bridge_executions_total", ("executed",)): 1,
        ("bridge_orders_submitted_total", ("rejected",)): 2,
        ("bridge_orders_submitted_total", ("filled",)): 1,
        ("bridge_broker_errors_total", ("alpaca",)): 1,
        ("bridge_broker_errors_total", ("paper",)): 1,
    }
