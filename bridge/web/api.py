"""The admin API: journal and positions as JSON arrays, newest first, behind the admin token."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from bridge.brokers import answers
from bridge.brokers.base import Broker
from bridge.config.secrets import redact_encoded
from bridge.models import Position
from bridge.runtime import BrokerSlot
from bridge.service import Bridge
from bridge.store import journal
from bridge.web.gate import admin_denied
from bridge.web.paths import NOT_FOUND

NUMERIC = ("price", "quantity", "limit_price", "stop_price", "filled_quantity", "avg_fill_price", "reference_price")
MAX_LIMIT = 1000
POSITIONS_TIMEOUT = 5.0  # seconds; a venue that hangs must not stall the page (or the command) that lists them all


def number(text: str | None) -> int | float | None:
    """A stored decimal string as a JSON number."""
    if text is None:
        return None
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def present(row: dict[str, Any]) -> dict[str, Any]:
    """Journal row -> API item (numbers as numbers)."""
    return {k: number(v) if k in NUMERIC else v for k, v in row.items()}


async def broker_positions(broker: Broker, secrets: Sequence[str]) -> tuple[list[Position], str | None]:
    """A broker's positions, or none and why they cannot be read now (its venue down or too slow); never raises.

    The dashboard and `bridge positions` list every broker: one in an outage must not hide the others.
    """
    try:
        return await asyncio.wait_for(answers.fetch_positions(broker), POSITIONS_TIMEOUT), None
    except Exception as exc:
        late = isinstance(exc, TimeoutError)
        why = f"no answer within {POSITIONS_TIMEOUT:g}s" if late else f"{type(exc).__name__}: {exc}"
        # A venue's error may quote its own request, key included.
        return [], redact_encoded(f"cannot read positions: {why}", secrets)


async def held_positions(slots: Mapping[str, BrokerSlot], secrets: Sequence[str]) -> list[tuple[str, Position | str]]:
    """Every broker's positions as (broker, position), and (broker, why) for one that cannot list them now.

    Never raises: a broker that is down or failing is a row saying so, not a missing broker (which would read as
    flat) nor an error hiding the others.
    """
    rows: list[tuple[str, Position | str]] = []
    for name, slot in slots.items():
        if slot.broker is None or not slot.healthy:
            rows.append((name, slot.error or "unavailable"))
            continue
        held, error = await broker_positions(slot.broker, secrets)
        if error is not None:
            rows.append((name, error))
        rows.extend((name, p) for p in held)
    return rows


def first_positions(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first `limit` position rows, and past them every row of a broker that could not be read.

    A limit must never hide that a broker went unread: the list would read as all it holds.
    """
    return rows[:limit] + [row for row in rows[limit:] if row.get("error")]


def _limit(request: Request) -> int | JSONResponse:
    """`?limit=`: 100 when absent, at most MAX_LIMIT; anything but a whole number of rows is a 400 saying so.

    Not taken silently as 100: a script sending `limit=-1` for "all" would read the newest 100 as everything.
    """
    raw = request.query_params.get("limit")
    if raw is None:
        return 100
    digits = raw.lstrip("0")
    if raw.isascii() and raw.isdigit() and digits:  # not isdigit() alone: '²' passes it, and int() refuses it
        # More digits than the cap has is simply as many as allowed (int() refuses more than 4300 digits).
        return MAX_LIMIT if len(digits) > len(str(MAX_LIMIT)) else min(int(digits), MAX_LIMIT)
    message = f"limit must be a whole number of rows from 1 to {MAX_LIMIT}, not {raw!r}; e.g. ?limit=50"
    return JSONResponse({"success": False, "messageCode": "invalid-limit", "message": message}, 400)


async def journal_list(request: Request) -> JSONResponse:
    """`GET /api/webhooks|signals|orders`."""
    bridge: Bridge = request.app.state.bridge
    if (denied := admin_denied(request)) is not None:
        return denied
    table = request.path_params["table"]
    if table not in ("webhooks", "signals", "orders"):
        return JSONResponse(NOT_FOUND, 404)
    if isinstance(limit := _limit(request), JSONResponse):
        return limit
    rows = await bridge.store.run(journal.latest, bridge.store.conn, table, limit)
    return JSONResponse([present(r) for r in rows])


async def positions(request: Request) -> JSONResponse:
    """`GET /api/positions`: what each broker holds now; one that cannot say gets a row with `error` instead."""
    bridge: Bridge = request.app.state.bridge
    if (denied := admin_denied(request)) is not None:
        return denied
    if isinstance(limit := _limit(request), JSONResponse):
        return limit
    items: list[dict[str, Any]] = []
    for name, held in await held_positions(bridge.runtime.brokers, bridge.loaded.secrets()):
        if isinstance(held, str):
            items.append({"broker": name, "symbol": None, "quantity": None, "avg_price": None, "error": held})
        else:
            items.append({"broker": name, "symbol": held.symbol, "quantity": number(str(held.quantity)),
                          "avg_price": number(None if held.avg_price is None else str(held.avg_price))})  # fmt: skip
    return JSONResponse(first_positions(items, limit))
