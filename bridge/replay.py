"""`bridge replay`: re-run journaled signals against fresh paper brokers under a (possibly changed) config.

Nothing touches the real journal or a real broker: the signals are read from the config's journal,
every broker is replaced by a paper broker on a temporary database, and each signal is decided and
executed as the daemon would, in arrival order, at the price it carried.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bridge.config.load import LoadedConfig
from bridge.config.schema import BrokerConfig
from bridge.execution.executor import Executor, Job
from bridge.execution.recovery import journaled_signal
from bridge.listing import open_journal
from bridge.risk import Guard
from bridge.runtime import build_runtime
from bridge.store import journal
from bridge.store.db import Store, iso, utcnow
from bridge.web.api import number, present

NEVER_STALE = 10.0**9  # seconds: replayed signals are old by design


@dataclass
class ReplayResult:
    """What the replay did: signals seen, orders planned, final positions and P&L where prices are known."""

    signals: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The result as `--json` prints it."""
        return {"signals": self.signals, "orders": self.orders, "positions": self.positions, "skipped": self.skipped}


def recorded_signals(loaded: LoadedConfig, since: datetime | None, strategy: str | None) -> list[sqlite3.Row]:
    """The journal's signals in the order they ran, read-only (the journal is never written by a replay)."""
    conn = open_journal(loaded)
    try:
        sql, args = "SELECT * FROM signals WHERE 1=1", list[str]()
        if since is not None:
            # As stored (UTC, microseconds): the text comparison is only a time comparison in that form
            sql, args = sql + " AND received_at >= ?", [*args, iso(since)]
        if strategy is not None:
            sql, args = sql + " AND strategy = ?", [*args, strategy]
        # In the order they ran: a delayed signal when its delay ended, after those that arrived meanwhile
        return conn.execute(sql + " ORDER BY COALESCE(execute_at, received_at), rowid", args).fetchall()
    finally:
        conn.close()


def paper_config(loaded: LoadedConfig, database: Path) -> LoadedConfig:
    """`loaded` with every broker swapped for a paper broker (keeping a paper broker's own options).

    A live account's size is not known here: its stand-in takes every order, as the live broker took them.
    """
    brokers = {name: BrokerConfig(plugin="paper", options=b.options if b.plugin == "paper" else
                                  {"unlimited_buying_power": True})
               for name, b in loaded.config.brokers.items()}  # fmt: skip
    config = loaded.config.model_copy(update={"brokers": brokers, "database": str(database)})
    return replace(loaded, config=config)


async def replay(loaded: LoadedConfig, since: datetime | None = None, strategy: str | None = None,
                 progress: Callable[[int, int], None] | None = None) -> ReplayResult:  # fmt: skip
    """Re-run the recorded signals under `loaded`'s settings and report what would have happened."""
    rows = recorded_signals(loaded, since, strategy)
    result = ReplayResult()
    with tempfile.TemporaryDirectory(prefix="bridge-replay-") as tmp:
        sim = paper_config(loaded, Path(tmp) / "replay.db")
        store = Store(sim.database_path())
        await store.open()
        runtime = await build_runtime(sim, store)
        guard = Guard(store, lambda: sim.config)
        await guard.load()
        brokers = {name: slot.broker for name, slot in runtime.brokers.items()}
        executor = Executor(store, NEVER_STALE, lambda: brokers,
                            lambda s, k: None if (sub := runtime.subscription(s, k)) is None else (sub.broker, sub),
                            guard, at_signal_time=True)  # fmt: skip
        try:
            for index, row in enumerate(rows, 1):
                if row["state"] == "canceled":  # called off while it waited: it never traded, nor does it here
                    result.skipped.append(f"{row['id']}: {row['decision']}")
                elif row["strategy"] in runtime.strategies:
                    await _one(store, executor, runtime.subscriptions(row["strategy"]), row, result)
                else:  # removed or renamed since: the daemon would answer its webhook 404 now
                    result.skipped.append(f"{row['id']}: strategy {row['strategy']} is not in the config")
                if progress is not None:
                    progress(index, len(rows))
            result.signals = [present(r) for r in await store.run(journal.latest, store.conn, "signals", 10**6)][::-1]
            result.orders = [present(r) for r in await store.run(journal.latest, store.conn, "orders", 10**6)][::-1]
            for name, slot in runtime.brokers.items():
                if slot.broker is not None:
                    result.positions += await _positions(name, slot.broker, result.orders)
        finally:
            await runtime.close()
            await store.close()
    return result


async def _one(store: Store, executor: Executor, subs: list[Any], row: sqlite3.Row, result: ReplayResult) -> None:
    try:
        signal = replace(journaled_signal(row), execute_at=None, time=None)  # the past is not "stale" here
    except Exception as exc:
        result.skipped.append(f"{row['id']}: cannot rebuild the signal ({exc})")
        return
    now = utcnow()
    # Decided as at its own time (trading windows): when it arrived, or when its delay ended
    at = datetime.fromisoformat(row["execute_at"] or row["received_at"])
    webhook = journal.WebhookRow(id=f"replay-{row['id']}", received_at=now.isoformat(), strategy=row["strategy"],
                                 remote_addr=None, method="REPLAY", path="replay", headers={}, body=None,
                                 status_code=200, signal_id=row["id"])  # fmt: skip
    record = {"id": row["id"], "webhook_id": webhook.id, "strategy": row["strategy"], "ticker": row["ticker"],
              "action": row["action"], "sentiment": row["sentiment"], "price": row["price"],
              "quantity": row["quantity"], "signal_time": row["signal_time"], "payload": row["payload"],
              "extras": row["extras"], "received_at": row["received_at"]}  # fmt: skip
    await store.run(journal.record_signal, store.conn, webhook, record, [(key, sub.broker) for key, sub in subs])
    for key, _sub in subs:
        await executor.run(Job(row["id"], row["strategy"], key, signal, at))


async def _positions(name: str, broker: Any, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Final positions with P&L: the fills' cash flow plus the position at the last known price."""
    # One instrument whatever the case of its letters (`amd` is AMD, at the paper broker as at a venue): named as
    # the broker holds it, else as first traded.
    held = {p.symbol.upper(): p for p in await broker.fetch_positions()}
    mine = [o for o in orders if o["broker"] == name]
    names = {key: p.symbol for key, p in held.items()}
    for o in mine:
        names.setdefault(o["symbol"].upper(), o["symbol"])
    items = []
    for key, symbol in sorted(names.items()):
        fills = [o for o in mine if o["symbol"].upper() == key and o["filled_quantity"]]
        known = all(o["avg_fill_price"] is not None for o in fills)
        cash = sum((Decimal(str(o["filled_quantity"])) * Decimal(str(o["avg_fill_price"] or 0))
                    * (-1 if o["side"] == "buy" else 1) for o in fills), Decimal(0))  # fmt: skip
        quantity = held[key].quantity if key in held else Decimal(0)
        last = await broker.fetch_quote(symbol) if hasattr(broker, "fetch_quote") else None
        mark = Decimal(0) if quantity == 0 else last  # a closed position needs no price
        pnl = cash + quantity * mark if known and mark is not None else None
        items.append({"broker": name, "symbol": symbol, "quantity": number(str(quantity)),
                      "last": None if last is None else number(str(last)),
                      "pnl": None if pnl is None else number(str(round(pnl, 2)))})  # fmt: skip
    return items
