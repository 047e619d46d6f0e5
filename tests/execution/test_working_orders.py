"""What `max_position` counts as still working for a plan: that symbol's resting orders, bracket legs aside."""

from __future__ import annotations

from decimal import Decimal

from bridge.execution.executor import _working
from bridge.models import Order


def order(coid: str, symbol: str, side: str, qty: str, status: str = "open", parent: str | None = None) -> Order:
    return Order(coid, symbol, side, Decimal(qty), "limit", status, parent_client_order_id=parent)  # type: ignore[arg-type]


def test_only_the_symbols_own_open_entries_count_and_the_plans_cancels_do_not() -> None:
    listed = [
        order("a", "AMD", "buy", "100"),
        order("b", "AMD", "sell", "30"),
        order("c", "MSFT", "buy", "500"),  # an adapter that lists every symbol's orders: another position
        order("d", "AMD", "sell", "100", parent="a"),  # the take-profit of `a`: it only closes
        order("e", "AMD", "buy", "7", status="filled"),
        order("f", "AMD", "buy", "40"),  # the plan cancels it
    ]
    assert _working(listed, ("f",), "AMD") == (Decimal(100), Decimal(30))
