"""A fake of One Trading's REST API, its order listing only, written from One Trading's public "Get Orders" reference.

Covered: "Get Orders" (`GET /fast/v1/account/orders`: "Returns a paginated list of orders. By default, if no params are
provided, will return all open orders", of one `instrument_code` or of all, newest first, `max_page_size` of them, 100
unless asked (the reference's answer: `"max_page_size": 100`); an answer with more after it carries a `cursor`, "pointer
specifying the position from which the next pages should be returned", given back as the `cursor` param). Answers are
`{"order_history": [{"order": {...}, "trades": []}], "max_page_size": ..., "cursor": ...}`. Authentication by the
`Authorization: Bearer` key. Orders are placed with `add` (as in One Trading's app): this fake takes none over HTTP.
`ignores_cursor` answers the first page, and its cursor, whatever `cursor` is asked.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY = "fakeOneTradingKey0123"
PAGE_MOST = 100
OPEN = ("OPEN", "BOOKED", "FILL", "MOVED")


class FakeOneTrading:
    """One account's orders; plain Python state so tests can read what was asked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: list[dict[str, Any]] = []  # oldest first, as "Get Orders" writes an order
        self.listings: list[dict[str, str]] = []  # every "Get Orders" query
        self.ignores_cursor = False  # answer the first page whatever `cursor` asks (a venue that stopped honouring it)
        self._sequence = itertools.count(1)
        self.app = Starlette(routes=[Route("/fast/v1/account/orders", self._orders)])

    def add(self, instrument: str, side: str, price: str, amount: str, client_id: str | None = None) -> dict[str, Any]:
        """A resting limit order, newer than every one before it."""
        order: dict[str, Any] = {
            "order_id": str(uuid.uuid4()), "account_id": "ef3a5f4c-cfcd-415e-ba89-5a9abf47b28a",
            "instrument_code": instrument, "time": "2026-01-01T00:00:00.000Z", "side": side, "price": price,
            "amount": amount, "filled_amount": "0.0", "type": "LIMIT", "sequence": next(self._sequence),
            "status": "OPEN", "time_in_force": "GOOD_TILL_CANCELLED",
        }  # fmt: skip
        if client_id is not None:
            order["client_id"] = client_id
        with self.lock:
            self.orders.append(order)
        return order

    async def _orders(self, request: Request) -> JSONResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": "INVALID_APIKEY"}, 401)
        query = dict(request.query_params)
        size = min(int(query.get("max_page_size", PAGE_MOST)), PAGE_MOST)
        start = 0 if self.ignores_cursor else int(query.get("cursor", 0))
        with self.lock:
            self.listings.append(query)
            found = [o for o in reversed(self.orders) if o["status"] in OPEN
                     and query.get("instrument_code") in (None, o["instrument_code"])]  # fmt: skip
            page = found[start : start + size]
        answer: dict[str, object] = {"order_history": [{"order": dict(o), "trades": []} for o in page],
                                     "max_page_size": size}  # fmt: skip
        if start + size < len(found):
            answer["cursor"] = str(start + size)
        return JSONResponse(answer)
