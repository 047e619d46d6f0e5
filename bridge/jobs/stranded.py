"""Exits and breakeven stops left working on a position that is gone are canceled before they open the other side."""

from __future__ import annotations

import logging
import sqlite3
from collections import defaultdict
from decimal import Decimal

from bridge.brokers import answers
from bridge.execution.orders import REDUCING_LEGS
from bridge.jobs.host import Host
from bridge.jobs.orders import record_answer
from bridge.models import symbol_key
from bridge.store import upkeep

log = logging.getLogger("bridge.jobs")
# Statuses of an order the venue holds and may fill; `pending` is still the executor's, `unknown` the poll's.
_WORKING = ("submitted", "open", "partially_filled")


def _closable(held: Decimal, side: str) -> Decimal:
    """How much of a signed position an order on `side` closes."""
    return max(held, Decimal(0)) if side == "sell" else max(-held, Decimal(0))


def _held(held: dict[str, Decimal], symbol: str) -> Decimal:
    """The position an order in `symbol` closes: listed in its letters, else in others (AMD for `amd`).

    Most venues read a symbol without case and list it in capitals: a resting exit sent as `amd` is not
    stranded because the venue lists the position it closes as AMD (nor one of BTC/USD, listed as BTCUSD).
    """
    if symbol in held:
        return held[symbol]
    folded = symbol_key(symbol)
    return next((quantity for listed, quantity in held.items() if symbol_key(listed) == folded), Decimal(0))


class StrandedOrders:
    """Cancels a reduce-only order once two checks in a row find nothing left for it to close.

    An exit or a breakeven stop is placed for a position. When something else closes that position first
    (the take-profit beside a breakeven stop, a stop-loss under a resting exit, a trade by hand), the order
    left working would open the other side when it fills. A venue with a reduce-only flag refuses that
    itself, as the paper broker does; for the others this job cancels it. It takes two checks a poll
    interval apart, because a single position read that lags the venue's fills must not cancel the stop
    that protects a position.
    """

    def __init__(self, host: Host) -> None:
        self.host = host
        self._seen_stranded: set[str] = set()  # client order ids the previous check found with nothing to close

    async def check(self) -> int:
        """Cancel the reduce-only orders found stranded twice in a row; return how many were canceled."""
        store = self.host.store
        runtime = self.host.runtime
        rows = [
            row for row in await store.run(upkeep.open_orders, store.conn)
            if row["leg"] in REDUCING_LEGS and row["parent_client_order_id"] is None and row["status"] in _WORKING
            and runtime.follower(row["broker"], row["created_at"]) is not None  # not one another account may hold
        ]  # fmt: skip
        by_broker: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for row in rows:
            by_broker[row["broker"]].append(row)
        stranded: set[str] = set()
        canceled = 0
        for name, group in by_broker.items():
            broker = self.host.runtime.broker(name)
            if broker is None:
                continue
            try:
                held = {p.symbol: p.quantity for p in await answers.fetch_positions(broker)}
            except Exception as exc:  # an adapter's bug too: the other brokers are still checked
                log.warning("cannot check broker %s for exits left without a position: %s", name, answers.failure(exc))
                continue
            for row in group:
                if _closable(_held(held, row["symbol"]), row["side"]) > 0:
                    continue
                coid = row["client_order_id"]
                stranded.add(coid)
                if coid in self._seen_stranded:
                    canceled += await self._cancel(row)
        self._seen_stranded = stranded
        return canceled

    async def _cancel(self, row: sqlite3.Row) -> int:
        broker = self.host.runtime.follower(row["broker"], row["created_at"])
        coid = row["client_order_id"]
        if broker is None:
            return 0
        try:
            order = await answers.cancel_order(broker, coid)
        except Exception as exc:  # an adapter's bug too
            log.warning("cannot cancel order %s, left with no position to close: %s", coid, answers.failure(exc))
            return 0
        await record_answer(self.host, row, order)  # an exit that filled meanwhile is reported, as by a poll
        log.warning("order %s (%s %s %s, %s): %s, the position it was to close is gone (flat or on the other side)",
                    coid, row["side"], row["quantity"], row["symbol"], row["leg"], order.status)  # fmt: skip
        return int(order.status == "canceled")
