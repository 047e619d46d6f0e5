"""Rows for `bridge signals|orders|positions`, read straight from the journal and brokers."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bridge.config.load import LoadedConfig
from bridge.runtime import build_runtime
from bridge.signals.timing import iso_moment
from bridge.store import journal
from bridge.store.db import Store, open_readonly, utcnow
from bridge.web.api import NUMERIC, first_positions, held_positions, number, present

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


def fetch_rows(loaded: LoadedConfig, what: str, limit: int, exact: bool = False) -> list[dict[str, Any]]:
    """Newest-first rows of signals or orders, or the brokers' current positions.

    Numbers are JSON numbers, as the API gives them; `exact`: Decimals, as stored (for the table).
    """
    if what == "positions":
        return first_positions(asyncio.run(_positions(loaded, exact)), limit)
    conn = open_journal(loaded)
    try:
        return [shown(r, exact) for r in journal.latest(conn, what, limit)]
    finally:
        conn.close()


def shown(row: dict[str, Any], exact: bool) -> dict[str, Any]:
    """A journal row as listed: numbers as JSON numbers, as the API gives them; `exact`: Decimals, as stored."""
    return _exact(row) if exact else present(row)


def open_journal(loaded: LoadedConfig) -> sqlite3.Connection:
    """The config's journal, read-only; a missing one, or one at another schema, is refused with what to do.

    Never created here: a mistyped `database` would list a new empty journal. Never migrated here: an
    upgraded CLI would change the schema under the older daemon still running on it.
    """
    where = loaded.path if loaded.path is not None else "the config"
    return open_readonly(loaded.database_path(), f"check `database` in {where}, or start the daemon once to create it")


def _exact(row: dict[str, Any]) -> dict[str, Any]:
    return {k: Decimal(str(v)) if k in NUMERIC and v is not None else v for k, v in row.items()}


def _number(value: Decimal | None, exact: bool) -> Decimal | int | float | None:
    return value if value is None or exact else number(str(value))


async def _positions(loaded: LoadedConfig, exact: bool = False) -> list[dict[str, Any]]:
    # The paper broker's book is in the journal, opened for writing below: it must be there, at this schema,
    # so that opening it neither creates nor migrates it.
    open_journal(loaded).close()
    store = Store(loaded.database_path(), checkpoints=False)  # the daemon checkpoints its journal
    await store.open()
    # Connecting a broker and reading its positions write nothing: should one try, it fails here, on a listing,
    # rather than write the journal beside the daemon.
    store.conn.execute("PRAGMA query_only=ON")
    runtime = await build_runtime(loaded, store)
    try:
        rows: list[dict[str, Any]] = []
        for name, held in await held_positions(runtime.brokers, loaded.secrets()):
            if isinstance(held, str):
                rows.append({"broker": name, "symbol": None, "quantity": None, "avg_price": None, "error": held})
            else:
                rows.append({"broker": name, "symbol": held.symbol, "quantity": _number(held.quantity, exact),
                             "avg_price": _number(held.avg_price, exact)})  # fmt: skip
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
    when = iso_moment(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def render_table(what: str, rows: list[dict[str, Any]]) -> str:
    """A plain aligned text table."""
    if not rows:
        empty = {"positions": "no open positions", "replay_positions": "no positions at the end of the replay"}
        return empty.get(what, f"no {what} yet")  # "no open positions": flat after trades too
    columns = COLUMNS[what]
    if what == "positions" and any(row.get("error") for row in rows):  # a broker it could not ask: say why
        columns = [*columns, "error"]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [min(max(len(c), *(len(r[i]) for r in cells)), 60) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """A table cell; a number as plain digits (`0.00001234`, never `1.234e-05` or `1E+6`)."""
    if value is None:
        return ""
    if isinstance(value, float):
        value = Decimal(repr(value))  # the shortest digits that are this float: the decimal it was made from
    if isinstance(value, Decimal) and value.is_finite():
        return format(value.normalize(), "f")
    return str(value)
