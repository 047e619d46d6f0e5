"""Orders of a venue that cannot list every open order at once (many ccxt exchanges want a symbol) are followed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from bridge.brokers.paper import PaperBroker
from bridge.jobs.orders import poll_orders
from tests.jobs.conftest import Clock, config_text

# The paper book behind a venue that answers a list of open orders only for one symbol, as ccxt's
# ArgumentsRequired ("fetchOpenOrders() requires a symbol argument") does on bitrue, htx, lbank, phemex...
NEEDS_SYMBOL = """
from bridge.brokers.paper import PaperBroker
from bridge.errors import BrokerError


class NeedsSymbol(PaperBroker):
    async def fetch_open_orders(self, symbol=None):
        if symbol is None:
            raise BrokerError("fetchOpenOrders() requires a symbol argument")
        return await super().fetch_open_orders(symbol)


BROKER = NeedsSymbol
"""


async def test_a_fill_is_recorded_where_the_venue_lists_open_orders_only_by_symbol(
    bridges: Any, tmp_path: Path
) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "needs_symbol.py").write_text(NEEDS_SYMBOL)
    text = config_text(extra="plugin_dirs: [plugins]\n").replace("plugin: paper", "plugin: needs_symbol", 1)
    r = await bridges(text, Clock())
    await r.accepted(orderType="limit", limitPrice=90, price=100)  # a buy limit below the market rests
    await r.bridge.queues.join()
    assert r.rows("SELECT status FROM orders")[0]["status"] == "open"
    broker = r.bridge.runtime.broker("paper")
    assert isinstance(broker, PaperBroker)
    await broker.observe_price("AMD", Decimal(89))  # the market moves through the limit at the venue

    assert await poll_orders(r.bridge) == 1
    order = r.rows("SELECT * FROM orders")[0]
    assert (order["status"], order["filled_quantity"]) == ("filled", "1")


# The same venue, refusing every request while `out` is set (a 503, a 429 storm): each call is counted.
OUT_OF_REACH = """
from bridge.brokers.paper import PaperBroker
from bridge.errors import TemporaryBrokerError


class OutOfReach(PaperBroker):
    out = False
    lookups = 0

    async def fetch_open_orders(self, symbol=None):
        if self.out:
            raise TemporaryBrokerError("503 Service Unavailable")
        return await super().fetch_open_orders(symbol)

    async def fetch_order(self, client_order_id):
        if self.out:
            self.lookups += 1
            raise TemporaryBrokerError("503 Service Unavailable")
        return await super().fetch_order(client_order_id)


BROKER = OutOfReach
"""


async def test_a_venue_out_of_reach_is_asked_once_a_round_not_once_per_order(bridges: Any, tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "out_of_reach.py").write_text(OUT_OF_REACH)
    text = config_text(extra="plugin_dirs: [plugins]\n").replace("plugin: paper", "plugin: out_of_reach", 1)
    r = await bridges(text, Clock())
    for ticker in ("AMD", "NVDA", "INTC"):
        await r.accepted(ticker=ticker, orderType="limit", limitPrice=90, price=100)  # three resting buy limits
    await r.bridge.queues.join()
    assert [row["status"] for row in r.rows("SELECT status FROM orders")] == ["open"] * 3
    venue: Any = r.bridge.runtime.broker("paper")
    venue.out = True
    # Neither its list nor a lookup answers: asking for every order would only add to the venue's load (a 429
    # storm the executor's submissions wait out too) for answers it cannot give this round.
    assert await poll_orders(r.bridge) == 0
    assert venue.lookups == 1
