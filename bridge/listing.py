"""Rows for `bridge signals|orders|positions`, read straight from the journal and brokers."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.config.load import LoadedConfig
from bridge.runtime import build_runtime
from bridge.store import journal
from bridge.store.db import Store, utcnow
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
    "replay_positions": ["broker", "symbol", "quantity", "last", "pnl"],
}
FOLLOW_INTERVAL = 1.0


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


def parse_since(text: str | None) -> datetime | None:
    """`--since`: an ISO date/time (UTC unless it says otherwise) or an age such as 90m, 2h, 3d."""
    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return utcnow() - timedelta(seconds=float(text[:-1]) * units[text[-1]])
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def follow(loaded: LoadedConfig, what: str, limit: int, as_json: bool = False) -> int:
    """Print the newest rows, then each new or changed one as it happens, until Ctrl-C."""
    seen: dict[str, tuple[Any, ...]] = {}
    first = True
    try:
        while True:
            rows = fetch_rows(loaded, what, limit)[::-1]  # oldest first, like a log
            fresh = [r for r in rows if seen.get(r["id"]) != (r.get("state"), r.get("decision"), r.get("status"))]
            for r in fresh:
                seen[r["id"]] = (r.get("state"), r.get("decision"), r.get("status"))
            if fresh:
                if as_json:
                    print("\n".join(json.dumps(r, default=str) for r in fresh), flush=True)
                else:
                    table = render_table(what, fresh)
                    print(table if first else "\n".join(table.splitlines()[1:]), flush=True)
                first = False
            time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        return 0


def render_table(what: str, rows: list[dict[str, Any]]) -> str:
    """A plain aligned text table."""
    if not rows:
        return "no open positions" if what == "positions" else f"no {what} yet"  # flat after trades too
    columns = COLUMNS[what]
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [min(max(len(c), *(len(r[i]) for r in cells)), 60) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)
