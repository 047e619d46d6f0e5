"""Rows for `bridge signals|orders|positions`, read straight from the journal and brokers."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.config.load import LoadedConfig
from bridge.runtime import build_runtime
from bridge.store import journal
from bridge.store.db import Store
from bridge.web.api import number, present

COLUMNS = {
    "signals": ["received_at", "id", "strategy", "ticker", "action", "sentiment", "state", "decision"],
    "orders": [
        "created_at",
        "symbol",
        "side",
        "type",
        "quantity",
        "status",
        "filled_quantity",
        "avg_fill_price",
        "broker",
        "client_order_id",
        "error",
    ],
    "positions": ["broker", "symbol", "quantity", "avg_price"],
}


def fetch_rows(loaded: LoadedConfig, what: str, limit: int) -> list[dict[str, Any]]:
    """Newest-first rows of signals or orders, or the brokers' current positions."""
    if what == "positions":
        return asyncio.run(_positions(loaded))[:limit]
    store = Store(loaded.database_path())
    store.open_sync()
    try:
        return [present(r) for r in journal.latest(store.conn, what, limit)]
    finally:
        store.close_sync()


async def _positions(loaded: LoadedConfig) -> list[dict[str, Any]]:
    store = Store(loaded.database_path())
    await store.open()
    runtime = await build_runtime(loaded, store)
    try:
        rows: list[dict[str, Any]] = []
        for name, slot in runtime.brokers.items():
            if slot.broker is None or not slot.healthy:
                rows.append({"broker": name, "symbol": None, "quantity": None, "avg_price": None, "error": slot.error})
                continue
            for p in await slot.broker.fetch_positions():
                rows.append({"broker": name, "symbol": p.symbol, "quantity": number(str(p.quantity)),
                             "avg_price": number(None if p.avg_price is None else str(p.avg_price))})  # fmt: skip
        return rows
    finally:
        await runtime.close()
        await store.close()


def render_table(what: str, rows: list[dict[str, Any]]) -> str:
    """A plain aligned text table."""
    if not rows:
        return f"no {what} yet"
    columns = COLUMNS[what]
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [min(max(len(c), *(len(r[i]) for r in cells)), 60) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)
