"""A fake of Upbit's Open API v1 (KRW market), written from Upbit's public "Open API" reference.

Covered: `GET /v1/market/all`, `GET /v1/accounts`, `POST /v1/orders` ("Place an order"), `GET /v1/order` and
`DELETE /v1/order` ("Get an order", "Cancel an order"), `GET /v1/orders/open` and `GET /v1/orders/closed` (newest
first, `limit` of them, 100 at most and unless asked, of the `page` counted from 1);
authentication by a bearer token in the `Authorization` header (the JWT is not checked). Errors are Upbit's
`{"error": {"name": ..., "message": ...}}` with an HTTP 4xx.

An order is named by Upbit's `uuid` or by the caller's `identifier` (its client order id); an order lookup or cancel
with neither (an empty `uuid`) is a validation error. Limit orders rest; market sells (`ord_type` market) fill at the
market's price.
`lose_answers` takes an order and then answers HTTP 500, as a create whose answer was lost (the venue took it).
`ends_before_page` cancels the newest open order just before that page of open orders is answered (`ends_left`
times), as a fill or a cancel between two page reads would: every later order moves up by one. `placed_before_page`
places an order like the newest open one just before that page is answered, once, as one placed in Upbit's app
between two page reads would be: every order moves down by one.

A cancel is asynchronous, as Upbit's "Cancel order" is (주문 취소 접수, "order cancel request": the request is taken,
the cancel done after): its answer is the order as it was (`state` wait, as in the reference's example that ccxt's
upbit.py quotes), and the order reads `cancel` only `cancel_seconds` later, working until then (listed open, read as
wait).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fake-upbit-access-key-0123456789", "fake-upbit-secret-key-0123456789"
OPEN = ("wait", "watch")


def _error(name: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"name": name, "message": message}}, status_code=status)


class FakeUpbit:
    """One account holding KRW; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"KRW-BTC": Decimal(30000000)}
        self.balances = {"KRW": Decimal(100000000), "BTC": Decimal(1)}
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self.lookups: list[dict[str, str]] = []
        self.lose_answers = False  # take each order, then answer 500: its answer is lost
        self.cancel_seconds = 0.3  # how long after its cancel request an order reads canceled
        self.canceling: dict[str, float] = {}  # uuid -> when its accepted cancel is done (time.monotonic())
        self.ends_before_page: int | None = None  # the newest open order ends just before this page is answered
        self.ends_left = 1  # how many times more it does
        self.placed_before_page: int | None = None  # an order is placed just before this page is answered, once
        self.app = Starlette(routes=[
            Route("/v1/market/all", self._markets), Route("/v1/accounts", self._accounts),
            Route("/v1/orders", self._create, methods=["POST"]),
            Route("/v1/order", self._one, methods=["GET", "DELETE"]),
            Route("/v1/orders/open", self._open), Route("/v1/orders/closed", self._closed),
        ])  # fmt: skip

    @staticmethod
    def _authorized(request: Request) -> bool:
        return request.headers.get("Authorization", "").startswith("Bearer ")

    async def _markets(self, request: Request) -> JSONResponse:
        return JSONResponse([{"market": m, "korean_name": m, "english_name": m} for m in self.prices])

    async def _accounts(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("jwt_verification", "잘못된 엑세스 키입니다.", 401)
        with self.lock:
            return JSONResponse([{"currency": c, "balance": str(v), "locked": "0", "avg_buy_price": "0",
                                  "avg_buy_price_modified": False, "unit_currency": "KRW"}
                                 for c, v in self.balances.items()])  # fmt: skip

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("jwt_verification", "잘못된 엑세스 키입니다.", 401)
        body = await request.json()
        with self.lock:
            self.order_requests.append(body)
            market = body.get("market")
            if market not in self.prices:
                return _error("validation_error", "market does not have a valid value")
            kind, now = body.get("ord_type"), datetime.now(UTC).isoformat()
            filled = kind == "market"
            order = {
                "uuid": str(uuid.uuid4()), "side": body["side"], "ord_type": kind,
                "price": None if filled else body["price"], "state": "done" if filled else "wait", "market": market,
                "created_at": now, "volume": body["volume"], "remaining_volume": "0" if filled else body["volume"],
                "reserved_fee": "0", "remaining_fee": "0", "paid_fee": "0", "locked": "0",
                "executed_volume": body["volume"] if filled else "0", "trades_count": 0, "trades": [],
                "identifier": body.get("identifier"),
            }  # fmt: skip
            self.orders.append(order)
            if self.lose_answers:
                return JSONResponse({"error": {"name": "server_error", "message": "lost"}}, status_code=500)
            return JSONResponse({k: v for k, v in order.items() if k != "trades"}, status_code=201)

    def _settle(self) -> None:
        """Cancel the orders whose cancel request was accepted long enough ago (called with the lock held)."""
        now = time.monotonic()
        for order in self.orders:
            done_at = self.canceling.get(order["uuid"])
            if done_at is not None and now >= done_at and order["state"] in OPEN:
                order["state"] = "cancel"

    async def _one(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("jwt_verification", "잘못된 엑세스 키입니다.", 401)
        query = dict(request.query_params)
        with self.lock:
            self._settle()
            self.lookups.append(query)
            if not query.get("uuid") and not query.get("identifier"):
                return _error("validation_error", "uuid or identifier is required")
            key = "uuid" if query.get("uuid") else "identifier"
            found = next((o for o in self.orders if o.get(key) == query[key]), None)
            if found is None:
                return _error("order_not_found", "주문을 찾지 못했습니다.", 404)
            if request.method == "DELETE":
                if found["state"] not in OPEN:
                    return _error("order_not_found", "주문을 찾지 못했습니다.", 404)
                self.canceling.setdefault(found["uuid"], time.monotonic() + self.cancel_seconds)
                self._settle()  # none at once: the answer is the order still waiting
            return JSONResponse(dict(found))

    def _listed(self, request: Request, states: tuple[str, ...]) -> JSONResponse:
        market = request.query_params.get("market")
        most = min(int(request.query_params.get("limit") or 100), 100)  # 100 at most, and unless asked
        page = int(request.query_params.get("page") or 1)
        start = (page - 1) * most
        with self.lock:
            self._settle()
            if states == OPEN and page == self.placed_before_page:  # placed in Upbit's app as the bridge reads
                self.placed_before_page = None
                newest = next((o for o in reversed(self.orders) if o["state"] in OPEN), None)
                if newest is not None:
                    self.orders.append({**newest, "uuid": str(uuid.uuid4()), "identifier": None})
            if states == OPEN and page == self.ends_before_page and self.ends_left > 0:  # filled as the bridge reads
                self.ends_left -= 1
                newest = next((o for o in reversed(self.orders) if o["state"] in OPEN), None)
                if newest is not None:
                    newest["state"] = "cancel"
            listed = [dict(o) for o in self.orders[::-1] if o["state"] in states and market in (None, o["market"])]
            return JSONResponse(listed[start : start + most])

    async def _open(self, request: Request) -> JSONResponse:
        return self._listed(request, OPEN)

    async def _closed(self, request: Request) -> JSONResponse:
        return self._listed(request, ("done", "cancel"))
