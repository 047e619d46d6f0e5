"""What the planner needs from the broker beyond the position: equity, a quote, the clock, capabilities."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from bridge.brokers import answers
from bridge.brokers.base import Broker, capabilities_in_force
from bridge.config.schema import Subscription
from bridge.models import Signal
from bridge.signals.resolve import Market
from bridge.store.db import utcnow

log = logging.getLogger("bridge.market")
EQUITY_SIZING = ("percent_of_equity", "risk_percent")


def _needs_equity(signal: Signal, sub: Subscription) -> bool:
    from_signal = (
        signal.quantity is not None and sub.use_signal_quantity and "quantityType" in sub.allow_signal_overrides
    )
    kind = signal.quantity_type if from_signal else sub.sizing.type
    return kind in EQUITY_SIZING


async def market_context(broker: Broker, signal: Signal, sub: Subscription, symbol: str,
                         avg_price: Decimal | None, quote: bool = False,
                         now: datetime | None = None) -> Market:  # fmt: skip
    """Ask the broker only for what this signal needs: equity for equity sizing, a quote when no price came.

    `quote=True` asks for the quote even when the signal has a price: the risk limits value orders at it.
    `now` is the moment the trading windows are checked at (a replay's is the signal's own time).
    """
    equity = None
    if _needs_equity(signal, sub):
        equity = (await answers.fetch_account(broker)).equity
    last = None
    fetch_quote = getattr(broker, "fetch_quote", None)
    if (signal.price is None or quote) and fetch_quote is not None:
        try:
            last = await answers.within(broker, "fetch_quote", fetch_quote(symbol))
        except Exception as exc:  # a missing quote is not fatal: sizing that needs one says so
            log.warning("no quote for %s: %r", symbol, exc)
        if (problem := answers.quote_problem(last)) is not None:  # a float would fail the sizing far from its cause
            log.warning("no quote for %s: %s returned %s", symbol, answers.where(broker, "fetch_quote"), problem)
            last = None
        # A plugin may answer 0 for a market with no trades yet: a limit at it would go out at zero (or below),
        # and dollar sizing would divide by it. No price is what it is: what needs one says so.
        if last is not None and last <= 0:
            log.warning("quote %s for %s is not a price; planning without one", last, symbol)
            last = None
    capabilities = capabilities_in_force(broker)  # the venue's, where its class serves many
    brackets = bool(getattr(capabilities, "brackets", False))
    reserves = bool(getattr(capabilities, "reserves_position", False))
    # Declared, and there: a user's adapter that sets the flag without the method moves stops as before.
    replaces = bool(getattr(capabilities, "replaces_orders", False))
    replaces = replaces and callable(getattr(broker, "replace_order", None))
    step_of = getattr(broker, "quantity_step", None)  # optional: a venue with a lot step per market says it
    step = answers.step(broker, step_of(symbol)) if step_of is not None else None
    price_step = sub.tick_size_of(symbol)  # the operator's, for a venue that does not say (a future's 0.25)
    price_step_of = getattr(broker, "price_step", None)  # optional: a venue with a tick per market says it
    if price_step is None and price_step_of is not None:
        price_step = answers.step(broker, price_step_of(symbol), "price_step")
    day_only = bool(getattr(capabilities, "fractional_day_only", False))
    # Declared day alone: an entry's legs stay day there, as `bridge check` passed them (gtc would be refused).
    takes_gtc = "gtc" in getattr(capabilities, "time_in_force", ("gtc",))
    return Market(avg_price=avg_price, equity=equity, quote=last, now=now or utcnow(), brackets=brackets,
                  quantity_step=step, price_step=price_step, reserves_position=reserves,
                  replaces=replaces, fractional_day_only=day_only, takes_gtc=takes_gtc)  # fmt: skip
