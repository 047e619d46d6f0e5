"""Prices the bridge computes land on the instrument's price step (`tick_size`, or the venue's), never worse.

A future trades in quarters (MNQ: 0.25): a stop loss 1% under 18,003.37 comes to 17,823.3363, which cents
make 17,823.34, and the venue refuses it. The entry is then filled with no stop behind it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bridge.brokers.base import Capabilities
from bridge.config.load import load_config
from bridge.config.schema import Subscription
from bridge.errors import ConfigError
from bridge.models import Position, Signal, StopLoss
from bridge.store.db import Store
from tests.execution.test_executor import SUB, FakeBroker, Harness

QUARTER = Decimal("0.25")


def up(price: Decimal, step: Decimal) -> Decimal:
    """The first multiple of `step` at or above `price` (worked out apart from the code under test)."""
    return Decimal(math.ceil(price / step)) * step


def down(price: Decimal, step: Decimal) -> Decimal:
    """The last multiple of `step` at or below `price`."""
    return Decimal(math.floor(price / step)) * step


class Futures(FakeBroker):
    """A venue taking brackets, holding positions at an average price, and saying nothing of its ticks."""

    capabilities: ClassVar[Capabilities] = Capabilities(brackets=True, order_types=frozenset(
        {"market", "limit", "stop", "stop_limit"}))  # fmt: skip

    def __init__(self, avg_price: Decimal | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.avg_price = avg_price

    async def fetch_positions(self) -> list[Position]:
        """The scripted positions at the scripted average price."""
        return [Position(p.symbol, p.quantity, self.avg_price) for p in await super().fetch_positions()]


class Ticks(Futures):
    """A venue that says its tick, as the ccxt adapter does from the market's precision."""

    def price_step(self, symbol: str) -> Decimal | None:
        """A tenth for every symbol."""
        return Decimal("0.1")


def _sub(**settings: Any) -> Subscription:
    return Subscription.model_validate({"broker": SUB, "time_in_force": "gtc", **settings})


async def test_a_bracket_from_percents_lands_on_the_futures_tick_never_worse(fresh_store: Store) -> None:
    h = Harness(fresh_store, Futures())
    h.sub = _sub(tick_size=0.25, take_profit={"percent": 2}, stop_loss={"percent": 1})
    signal = await h.signal(await h.run(Signal(ticker="MNQZ2026", action="buy", quantity=1, price=Decimal("18003.37"))))
    assert signal["state"] == "executed", signal["decision"]
    (entry,) = h.broker.creates
    assert entry.take_profit is not None and entry.stop_loss is not None
    # A sell's prices round up: the take profit a little further, the stop a little closer (a smaller loss).
    assert entry.take_profit.limit_price == up(Decimal("18003.37") * Decimal("1.02"), QUARTER) == Decimal("18363.50")
    assert entry.stop_loss.stop_price == up(Decimal("18003.37") * Decimal("0.99"), QUARTER) == Decimal("17823.50")


async def test_a_short_bracket_rounds_the_buy_side_down(fresh_store: Store) -> None:
    h = Harness(fresh_store, Futures())
    h.sub = _sub(tick_size={"mnqz2026": 0.25}, take_profit={"percent": 2}, stop_loss={"percent": 1})
    await h.run(Signal(ticker="MNQZ2026", action="sell", quantity=1, price=Decimal("18003.37")))
    (entry,) = h.broker.creates
    assert entry.take_profit is not None and entry.stop_loss is not None
    assert entry.take_profit.limit_price == down(Decimal("18003.37") * Decimal("0.98"), QUARTER)
    assert entry.stop_loss.stop_price == down(Decimal("18003.37") * Decimal("1.01"), QUARTER)


async def test_a_tick_size_per_symbol_applies_to_the_broker_symbol_after_the_ticker_map(fresh_store: Store) -> None:
    h = Harness(fresh_store, Futures())
    h.sub = _sub(tick_size={"MNQZ2026": 0.25, "MCLZ2026": 0.01}, ticker_map={"NQ1!": "MNQZ2026"},
                 stop_loss={"amount": "10.1"})  # fmt: skip
    await h.run(Signal(ticker="NQ1!", action="buy", quantity=1, price=Decimal("18003")))
    (entry,) = h.broker.creates
    assert entry.symbol == "MNQZ2026"
    assert entry.stop_loss is not None and entry.stop_loss.stop_price == Decimal("17993.00")  # 17992.90 up to 0.25


async def test_a_limit_at_the_alerts_price_lands_on_the_tick_and_a_limit_price_off_it_is_refused(
    fresh_store: Store,
) -> None:
    h = Harness(fresh_store, Futures())
    h.sub = _sub(tick_size=0.25, order_type="limit", allow_add=True)
    executed = await h.signal(await h.run(Signal(ticker="MNQZ2026", action="buy", quantity=1,
                                                 price=Decimal("18003.37"))))  # fmt: skip
    assert executed["state"] == "executed", executed["decision"]
    assert h.broker.creates[0].limit_price == Decimal("18003.25")  # a buy's limit down: never a worse price
    refused = await h.signal(await h.run(Signal(ticker="MNQZ2026", action="buy", quantity=1, order_type="limit",
                                                limit_price=Decimal("18003.30"))))  # fmt: skip
    assert refused["state"] == "rejected", refused["decision"]
    assert "limitPrice 18003.3 is between two price steps of 0.25" in refused["decision"], refused["decision"]
    assert len(h.broker.creates) == 1  # nothing sent for it


async def test_a_stop_loss_price_the_sender_chose_off_the_tick_is_refused_before_anything_is_sent(
    fresh_store: Store,
) -> None:
    h = Harness(fresh_store, Futures())
    h.sub = _sub(tick_size=0.25)
    signal = await h.signal(await h.run(Signal(ticker="MNQZ2026", action="buy", quantity=1, price=Decimal(18000),
                                               stop_loss=StopLoss(stop_price=Decimal("17900.1")))))  # fmt: skip
    assert signal["state"] == "rejected" and "stopLoss.stopPrice 17900.1" in signal["decision"], signal["decision"]
    assert h.broker.creates == []


async def test_a_breakeven_stop_lands_on_the_tick_past_the_average_price(fresh_store: Store) -> None:
    h = Harness(fresh_store, Futures(avg_price=Decimal("18003.37"), positions={"MNQZ2026": Decimal(2)}))
    h.sub = _sub(tick_size=0.25)
    signal = await h.signal(await h.run(Signal(ticker="MNQZ2026", action="breakeven", price=Decimal(18100))))
    assert signal["state"] == "executed", signal["decision"]
    (stop,) = h.broker.creates
    assert stop.stop_price == up(Decimal("18003.37"), QUARTER) == Decimal("18003.50")  # a long's stop: never below


async def test_the_venues_tick_is_used_and_the_subscriptions_overrides_it(fresh_store: Store) -> None:
    h = Harness(fresh_store, Ticks())
    h.sub = _sub(stop_loss={"percent": 1}, allow_add=True)
    await h.run(Signal(ticker="XBT", action="buy", quantity=1, price=Decimal("100.37")))
    assert h.broker.creates[-1].stop_loss is not None
    assert h.broker.creates[-1].stop_loss.stop_price == up(Decimal("100.37") * Decimal("0.99"), Decimal("0.1"))
    h.sub = _sub(stop_loss={"percent": 1}, tick_size=0.25, allow_add=True)
    await h.run(Signal(ticker="XBT", action="buy", quantity=1, price=Decimal("100.37")))
    assert h.broker.creates[-1].stop_loss is not None
    assert h.broker.creates[-1].stop_loss.stop_price == up(Decimal("100.37") * Decimal("0.99"), QUARTER)


class FloatTick(Futures):
    """An adapter that hands over the exchange's JSON number."""

    def price_step(self, symbol: str) -> Decimal | None:
        """A float."""
        return 0.25  # type: ignore[return-value]


async def test_a_float_price_step_fails_the_signal_naming_the_method(fresh_store: Store) -> None:
    h = Harness(fresh_store, FloatTick())
    signal = await h.signal(await h.run(Signal(ticker="MNQZ2026", action="buy", quantity=1, price=Decimal(1))))
    assert h.broker.creates == []
    assert "FloatTick.price_step" in signal["decision"] and "not a Decimal" in signal["decision"], signal


@pytest.mark.parametrize("value", ["0", "-0.25", "{MNQZ2026: 0}", "1e-13"])
def test_a_tick_size_not_above_zero_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "brokers:\n  paper: {plugin: paper}\nstrategies:\n  s:\n    token: tok-0123456789abcdef\n"
        f"    subscriptions:\n      - broker: paper\n        tick_size: {value}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config, environ={})
    (line,) = raised.value.lines
    assert line.startswith(f"{config}:8: strategies.s.subscriptions.0.tick_size") and "price step" in line, line
