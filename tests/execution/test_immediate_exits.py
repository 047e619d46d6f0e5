"""An exit sent immediate-or-cancel that the paper broker cancels unfilled: what the signal and its orders say."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bridge.models import Order, OrderRequest, OrderStatus, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness
from tests.execution.test_paper_in_plan import Paper


def _ioc(action: str, limit: str = "120", **kw: object) -> Signal:
    """At 100, a sell limit at 120 is not marketable: sent immediate-or-cancel, it is canceled unfilled at once."""
    return Signal(ticker="AMD", action=action, price=Decimal(100), order_type="limit", limit_price=Decimal(limit),
                  time_in_force="ioc", **kw)  # type: ignore[arg-type]  # fmt: skip


async def _long_5(paper: Paper) -> None:
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(5)))


async def test_an_exit_canceled_unfilled_is_not_reported_as_sold(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    await _long_5(paper)
    signal_id = await paper.run(_ioc("exit"))
    [signal] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    [order] = await paper.query("SELECT status, filled_quantity FROM orders WHERE signal_id = ?", signal_id)
    assert (order["status"], order["filled_quantity"]) == ("canceled", "0")
    assert (await paper.broker.fetch_position("AMD")).quantity == Decimal(5)  # type: ignore[union-attr]
    assert signal["state"] == "failed", signal
    assert signal["decision"] == (
        "exit while long 5: sold 5; but the exit was canceled with nothing filled (time in force ioc)"
    )


async def test_an_exit_canceled_unfilled_says_so_rather_than_that_it_timed_out(fresh_store: Store) -> None:
    paper = Paper(fresh_store, exit_fill_timeout=120)
    await _long_5(paper)
    signal_id = await paper.run(_ioc("sell"))
    [signal] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    orders = {o["leg"]: o for o in await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id)}
    assert orders["exit"]["status"] == "canceled"
    assert orders["entry"]["status"] == "canceled"
    assert orders["entry"]["error"] == "not sent: the exit was canceled with nothing filled"
    assert signal["state"] == "failed"
    assert signal["decision"] == (
        "sell while long 5: sold 5, opened short 1 (fixed_quantity 1); but the exit was canceled with nothing "
        "filled (time in force ioc), so no entry was sent"
    )


async def test_an_exit_that_fills_immediately_is_executed(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    await _long_5(paper)
    signal_id = await paper.run(_ioc("exit", limit="90"))
    [signal] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    assert (signal["state"], signal["decision"]) == ("executed", "exit while long 5: sold 5")
    assert await paper.broker.fetch_position("AMD") is None


class PartialVenue(FakeBroker):
    """A venue that fills 2 of an immediate-or-cancel order and cancels the rest, as a thin book would."""

    def accept(self, request: OrderRequest, status: OrderStatus) -> Order:
        order = super().accept(request, status)
        if request.time_in_force != "ioc":
            return order
        self.positions[request.symbol] -= Decimal(2) if request.side == "sell" else Decimal(-2)
        order = replace(order, status="canceled", filled_quantity=Decimal(2), avg_fill_price=Decimal(100))
        self.orders[order.client_order_id] = order
        return order


async def test_an_exit_partly_filled_then_canceled_says_how_much_filled(fresh_store: Store) -> None:
    venue = Harness(fresh_store, PartialVenue({"AMD": Decimal(5)}))
    signal_id = await venue.run(_ioc("sell", limit="100"))
    orders = await venue.orders(signal_id)
    assert (orders["exit"]["status"], orders["exit"]["filled_quantity"]) == ("canceled", "2")
    assert orders["entry"]["error"] == "not sent: the exit was canceled with 2 of 5 filled"
    assert [r.side for r in venue.broker.creates] == ["sell"], "no entry while 3 of the long are still held"
    final = await venue.signal(signal_id)
    assert final["state"] == "failed"
    assert final["decision"] == (
        "sell while long 5: sold 5, opened short 1 (fixed_quantity 1); but the exit was canceled with 2 of 5 "
        "filled (time in force ioc), so no entry was sent"
    )
