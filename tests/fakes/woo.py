"""A fake of WOO X's v3 REST API, its order listing only, written from WOO X's public API reference.

Covered: "Get orders" (`GET /v3/trade/orders`: `symbol`, `status`, of which INCOMPLETE is "NEW + PARTIAL_FILLED", the
open orders, and `page` from 1 of `size` orders, 25 unless asked (the reference's answer: `"recordsPerPage": 25`) and
500 at most, newest first); answers are `{"success": true, "data": {"meta": {...}, "rows": [...]}, "timestamp": ...}`.
Authentication by the `x-api-key` header (the signature is not checked). Orders are placed with `add` (as in WOO X's
app): this fake takes none over HTTP. `ignores_page` answers the first page whatever is asked; `placed_before_page`
places an order just before that page is answered, shifting the pages by one; `ends_before_page` cancels the newest
open order just before that page is answered (`ends_left` times), as a fill or a cancel in WOO X's app between two
reads would: every later order moves up by one, and the first of that page is then on the page already read.
"""

from __future__ import annotations

import itertools
import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fakeWooKey0123", "fake-woo-secret-0123456789"
PAGE_DEFAULT, PAGE_MOST = 25, 500
INCOMPLETE = ("NEW", "PARTIAL_FILLED")


class FakeWoo:
    """One account's orders; plain Python state so tests can read what was asked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: list[dict[str, object]] = []  # oldest first, as WOO X's "Get orders" rows
        self.listings: list[dict[str, str]] = []  # every "Get orders" query
        self.ignores_page = False  # answer the first page whatever `page` asks (a venue that stopped honouring it)
        self.placed_before_page: int | None = None  # an order is placed just before this page is answered, once
        self.ends_before_page: int | None = None  # the newest open order ends just before this page is answered
        self.ends_left = 1  # how many times more it does
        self._ids = itertools.count(1000)
        self.app = Starlette(routes=[Route("/v3/trade/orders", self._orders)])

    def add(self, symbol: str, side: str, price: str, quantity: str, client_order_id: int = 0) -> dict[str, object]:
        """A resting limit order, newer than every one before it."""
        order_id = next(self._ids)
        order: dict[str, object] = {
            "symbol": symbol, "status": "NEW", "side": side, "createdTime": 1767225600000 + order_id,
            "orderId": order_id, "orderTag": "default", "price": price, "type": "LIMIT", "quantity": quantity,
            "amount": None, "visible": quantity, "executed": "0", "totalFee": "0", "feeAsset": "USD",
            "clientOrderId": client_order_id, "reduceOnly": False, "averageExecutedPrice": "0",
        }  # fmt: skip
        with self.lock:
            self.orders.append(order)
        return order

    def _end_newest(self) -> None:
        with self.lock:
            newest = next((o for o in reversed(self.orders) if o["status"] in INCOMPLETE), None)
            if newest is not None:
                newest["status"] = "CANCELLED"

    async def _orders(self, request: Request) -> JSONResponse:
        if request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"success": False, "code": -1002, "message": "invalid api key"}, 401)
        query = dict(request.query_params)
        page, size = int(query.get("page", 1)), min(int(query.get("size", PAGE_DEFAULT)), PAGE_MOST)
        page = 1 if self.ignores_page else page
        if page == self.placed_before_page:  # placed in WOO X's app as the bridge reads: the pages shift by one
            self.placed_before_page = None
            self.add("SPOT_BTC_USD", "SELL", "31000", "0.001")
        if page == self.ends_before_page and self.ends_left > 0:  # filled or cancelled as the bridge reads
            self.ends_left -= 1
            self._end_newest()
        statuses = INCOMPLETE if query.get("status") == "INCOMPLETE" else None
        with self.lock:
            self.listings.append(query)
            found = [o for o in reversed(self.orders) if query.get("symbol") in (None, o["symbol"])
                     and (statuses is None or o["status"] in statuses)]  # fmt: skip
            rows = found[(page - 1) * size : page * size]
        meta = {"total": len(found), "recordsPerPage": size, "currentPage": page}
        return JSONResponse({"success": True, "data": {"meta": meta, "rows": rows}, "timestamp": 1767225600000})
