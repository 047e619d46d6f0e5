"""End to end: the seed's examples posted to a real daemon whose strategy trades Alpaca (the fake, on loopback).

For each example we assert the exact `POST /v2/orders` bodies Alpaca received: symbol, qty, side,
type, time_in_force, client_order_id (the journal's) and limit_price; nothing else may be sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, GUARD, TOKEN, Daemon, free_port
from tests.e2e.test_seed_examples import BUY, EXAMPLES, RESTING_ORDER, SELL
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca
from tests.fakes.server import LocalServer


@contextmanager
def alpaca_daemon(directory: Path, top: str = "", sub: str = "") -> Iterator[tuple[Daemon, FakeAlpaca]]:
    """A daemon in `directory` on a fake Alpaca served on loopback (`top`: more top-level config lines; `sub`: more
    settings of its one subscription, as `, allow_add: true`)."""
    fake = FakeAlpaca()
    with LocalServer(fake.app) as server:
        port = free_port()
        config = directory / "config.yaml"
        config.write_text(
            f"server: {{host: 127.0.0.1, port: {port}, admin_token: {ADMIN}}}\n{top}"
            "brokers:\n"
            "  alpaca:\n"
            "    plugin: alpaca\n"
            f"    options: {{key_id: {KEY_ID}, secret_key: '${{ALPACA_SECRET}}', base_url: '{server.url}',"
            " max_requests_per_minute: 6000}\n"
            f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - {{broker: alpaca{sub}}}\n"
        )
        daemon = Daemon(config=config, port=port, env={"ALPACA_SECRET": SECRET_KEY}).start()
        try:
            yield daemon, fake
        finally:
            daemon.stop()


@pytest.fixture(scope="module")
def alpaca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, FakeAlpaca]]:
    """A daemon whose only broker is the Alpaca adapter pointed at a fake Alpaca server."""
    with alpaca_daemon(tmp_path_factory.mktemp("alpaca-e2e")) as (daemon, fake):
        yield daemon, fake
    assert SECRET_KEY not in daemon.output(), "the broker secret reached the log"


def send(daemon: Daemon, payload: dict[str, Any] | str) -> dict[str, Any]:
    """Post a signal (a dict, or the seed's JSON text verbatim) and wait for its final state."""
    if isinstance(payload, str):
        response = daemon.post(content=payload.encode(), headers={"Content-Type": "application/json"})
    else:
        response = daemon.post(payload)
    assert response.status_code == 200, response.text
    return daemon.wait_final(response.json()["id"])


def coids(daemon: Daemon, signal_id: str) -> list[str]:
    """The client order ids the journal planned for one signal, in order."""
    orders = sorted(
        (o for o in daemon.api("orders", limit=1000) if o["signal_id"] == signal_id), key=lambda o: o["seq"]
    )
    return [o["client_order_id"] for o in orders]


def market(side: str, coid: str, qty: str = "1") -> dict[str, Any]:
    """The body of a plain market order for SQ."""
    return {"symbol": "SQ", "qty": qty, "side": side, "type": "market", "time_in_force": "day", "client_order_id": coid}


@pytest.fixture
def flat(alpaca: tuple[Daemon, FakeAlpaca]) -> tuple[Daemon, FakeAlpaca]:
    """Each example starts on a fresh, flat Alpaca account."""
    alpaca[1].reset()
    return alpaca


# example -> (setup signals, side and quantity of each order the example itself must send)
EXPECTED: dict[str, tuple[list[dict[str, Any]], list[tuple[str, str]]]] = {
    "enter-bullish": ([], [("buy", "1")]),
    "exit-bullish": ([BUY], [("sell", "1")]),
    "exit-bullish-sentiment": ([BUY], [("sell", "1")]),
    "enter-bearish": ([], [("sell", "1")]),
    "exit-bearish": ([SELL], [("buy", "1")]),
    "exit-bearish-sentiment": ([SELL], [("buy", "1")]),
    "add": ([BUY], [("buy", "1")]),
    "signal-quantity": ([], [("buy", "5")]),
    "signal-price": ([], [("buy", "1")]),  # a market order: the signal's price is not sent as a limit
}


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.name in EXPECTED], ids=lambda e: e.name)
def test_seed_example_sends_exactly_these_orders_to_alpaca(flat: tuple[Daemon, FakeAlpaca], example: Any) -> None:
    daemon, fake = flat
    setup, expected = EXPECTED[example.name]
    for payload in setup:
        assert send(daemon, payload)["state"] == "executed"
    sent_before = len(fake.order_requests)

    final = send(daemon, example.text)

    assert final["state"] == "executed", final["decision"]
    ids = coids(daemon, final["id"])
    assert fake.order_requests[sent_before:] == [market(side, coid, qty) for (side, qty), coid in
                                                 zip(expected, ids, strict=True)]  # fmt: skip
    position = sum(int(q) * (1 if s == "buy" else -1) for s, q in [(b["side"], b["qty"]) for b in fake.order_requests])
    assert daemon.positions().get("SQ", 0) == position == example.position


def test_seed_cancel_example_deletes_the_resting_order_at_alpaca(flat: tuple[Daemon, FakeAlpaca]) -> None:
    daemon, fake = flat
    resting = send(daemon, RESTING_ORDER)
    (coid,) = coids(daemon, resting["id"])
    assert fake.order_requests == [{**market("buy", coid), "type": "limit", "limit_price": "1"}]
    alpaca_id = fake.orders[0]["id"]

    final = send(daemon, next(e for e in EXAMPLES if e.name == "cancel").text)

    assert final["decision"] == "cancel while flat: canceled 1 open order"
    assert ("DELETE", f"/v2/orders/{alpaca_id}") in fake.requests
    assert len(fake.order_requests) == 1  # nothing new was placed
    assert fake.orders[0]["status"] == "canceled"
    (order,) = [o for o in daemon.api("orders") if o["client_order_id"] == coid]
    assert order["status"] == "canceled"


def test_a_swap_waits_for_the_exit_fill_then_enters(flat: tuple[Daemon, FakeAlpaca]) -> None:
    daemon, fake = flat
    send(daemon, BUY)
    final = send(daemon, SELL)  # sell while long 1: sell 1, then open short 1
    exit_id, entry_id = coids(daemon, final["id"])
    assert fake.order_requests[1:] == [market("sell", exit_id), market("sell", entry_id)]
    assert daemon.positions() == {"SQ": -1}


def test_the_journal_records_alpacas_fill_and_health_shows_the_broker(flat: tuple[Daemon, FakeAlpaca]) -> None:
    daemon, fake = flat
    fake.set_price("SQ", Decimal("61.25"))
    try:
        final = send(daemon, {"ticker": "SQ", "action": "buy", "quantity": 2})
    finally:
        fake.set_price("SQ", Decimal(100))
    (order,) = [o for o in daemon.api("orders") if o["signal_id"] == final["id"]]
    assert (order["broker"], order["status"], order["filled_quantity"], order["avg_fill_price"]) == (
        "alpaca", "filled", 2, 61.25
    )  # fmt: skip
    health = httpx.get(f"{daemon.base}/health", timeout=GUARD).json()
    assert health["brokers"]["alpaca"]["status"] == "ok"


BRACKET = {"ticker": "SQ", "action": "buy", "price": 100, "quantity": 10, "stopLoss": {"stopPrice": 95},
           "takeProfit": {"limitPrice": 120}}  # fmt: skip


def _working_exits(fake: FakeAlpaca) -> list[tuple[str, str | None, str | None]]:
    """The SQ sell orders still working at Alpaca: type, stop and limit price."""
    working = ("new", "accepted", "pending_new", "partially_filled", "held")
    return sorted((o["type"], o["stop_price"], o["limit_price"]) for o in fake.orders
                  if o["side"] == "sell" and o["status"] in working)  # fmt: skip


def test_a_breakeven_alpaca_cannot_replace_beside_a_take_profit_is_refused_and_the_stop_loss_keeps_working(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = flat
    fake.set_price("SQ", Decimal(100))
    entry = send(daemon, BRACKET)
    assert entry["state"] == "executed", entry["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)]
    fake.set_price("SQ", Decimal(110))
    # A replace keeps an order's type: a stop_limit cannot take the stop's place in one step (a stop does, see
    # test_alpaca_breakeven.py). Alpaca holds the 10 shares for the take-profit: a stop for them beside it is
    # refused, so canceling the stop-loss first would leave the position with no stop at all.
    final = send(daemon, {"ticker": "SQ", "action": "breakeven", "price": 110, "orderType": "stop_limit"})
    assert final["state"] == "rejected", final["decision"]
    assert "take-profit" in final["decision"] and "cancelOrderType" in final["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)]


def test_a_breakeven_with_only_a_stop_loss_moves_it_at_alpaca(flat: tuple[Daemon, FakeAlpaca]) -> None:
    daemon, fake = flat
    fake.set_price("SQ", Decimal(100))
    entry = send(daemon, {**BRACKET, "takeProfit": None})
    assert entry["state"] == "executed", entry["decision"]
    assert _working_exits(fake) == [("stop", "95", None)]
    fake.set_price("SQ", Decimal(110))
    final = send(daemon, {"ticker": "SQ", "action": "breakeven", "price": 110})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("stop", "100", None)]
