"""The TradingView strategy template (examples/alerts/tradingview-strategy.json) with the setting docs/exposure.md
asks for: a reversal from long 1 to short 1 (TradingView sells 2) leaves the broker short 1, as the strategy."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from bridge.config.schema import Subscription
from bridge.signals.parse import parse_body
from bridge.signals.resolve import resolve

ROOT = Path(__file__).resolve().parents[2]


def filled(action: str, position: str, contracts: int) -> bytes:
    """The template as TradingView fills it in for one order of the strategy."""
    text = (ROOT / "examples" / "alerts" / "tradingview-strategy.json").read_text()
    for name, value in (("ticker", "SQ"), ("strategy.order.action", action), ("strategy.market_position", position),
                        ("strategy.order.contracts", str(contracts)), ("close", "60.5"),
                        ("timenow", "2026-11-26T10:00:00Z"), ("interval", "5")):  # fmt: skip
        text = text.replace("{{" + name + "}}", value)
    return json.dumps(json.loads(text)).encode()


def test_a_reversal_with_subtract_exit_quantity_leaves_the_strategys_size() -> None:
    signal, _, _ = parse_body(filled("sell", "short", 2))
    documented = Subscription(broker="paper", subtract_exit_quantity=True)
    plan = resolve(signal, Decimal(1), [], documented)
    assert [(leg.kind, leg.side, leg.quantity) for leg in plan.legs] == [("exit", "sell", 1), ("entry", "sell", 1)]
    default = resolve(signal, Decimal(1), [], Subscription(broker="paper"))
    assert [leg.quantity for leg in default.legs] == [1, 2]  # what the docs warn about
