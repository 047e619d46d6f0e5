"""A fake of Gate's REST API v4 for spot trading, written from Gate's public "APIv4" documentation.

Covered: `GET /api/v4/spot/currency_pairs`, `GET /api/v4/spot/currencies`, `GET /api/v4/margin/currency_pairs`,
`GET /api/v4/account/detail`, `GET /api/v4/spot/accounts`, `POST /api/v4/spot/orders` ("Create an order"),
`GET /api/v4/spot/open_orders` ("List all open orders": "List open orders in all currency pairs. Note that pagination
parameters affect record number in each currency pair's open order list. No pagination is applied to the number of
currency pairs returned"; its parameters are `page`, `limit` "in each currency pair", 100 unless asked, and `account`,
no `currency_pair`: ccxt's `fetch_open_orders` sends one with a symbol, which this endpoint does not read, and keeps
that pair's orders of the answer), `GET /api/v4/spot/orders` ("List orders": `currency_pair` "required for open
orders, but optional for finished ones", `status` open or finished, `page` 1 unless asked, `limit` 100 unless asked,
"If `status` is `open`, maximum of `limit` is 100"; newest first), and `GET` /
`DELETE /api/v4/spot/orders/{order_id}` ("Get a single order", "Cancel a single order"); authentication by the `KEY`
header (the signature is not checked). Errors are Gate's `{"label": ..., "message": ...}` with an HTTP 4xx. The
quotes are Gate's APIv4 reference (gate.com/docs/developers/apiv4/en/#list-all-open-orders and #list-orders), as the
SpotApi pages of Gate's generated SDKs (gateapi-go, gateapi-python) carry it. `listings` holds every listing's path and
query, as asked.

An order's `text` (its client order id) must follow Gate's rules: "prefixed with t-", "no longer than 28 bytes
without t- prefix", "can only include 0-9, A-Z, a-z, underscore(_), hyphen(-) or dot(.)". The `order_id` of a
lookup or cancel is "the order ID returned, or the custom ID specified by the user's creation (i.e. the text
field)", but "operations based on custom IDs can only be checked in pending orders. Only order ID can be used
after the order is finished". Limit orders rest; market sells fill at the pair's price.
`lose_answers` takes an order and then answers HTTP 500, as a create whose answer was lost (the venue took it).
`ends_before_page` cancels the newest open order just before that page of "List all open orders" is answered
(`ends_left` times), as a fill or a cancel between two page reads would: every later order moves up by one.
`placed_before_page` places an order on the newest open order's pair just before that page is answered, once, as one
placed in Gate's app between two page reads would be: every order of the pair moves down by one.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fake-gate-key-0123456789", "fake-gate-secret-0123456789"
TEXT = re.compile(r"t-[0-9A-Za-z_.-]{1,28}")


def _error(label: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"label": label, "message": message}, status_code=status)


class FakeGate:
    """One spot account holding USDT; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"BTC_USDT": Decimal(30000)}
        self.balances = {"USDT": Decimal(100000), "BTC": Decimal(1)}
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self._ids = itertools.count(412345678901)
        self.fill_on_cancel = False  # the order fills just before a cancel arrives, which Gate then refuses
        self.lose_answers = False  # take each order, then answer 500: its answer is lost
        self.ends_before_page: int | None = None  # the newest open order ends just before this page is answered
        self.ends_left = 1  # how many times more it does
        self.placed_before_page: int | None = None  # an order is placed just before this page is answered, once
        self.listings: list[tuple[str, dict[str, str]]] = []  # every listing's path and query, as asked
        api = "/api/v4"
        self.app = Starlette(routes=[
            Route(f"{api}/spot/currency_pairs", self._pairs), Route(f"{api}/spot/currencies", self._empty),
            Route(f"{api}/margin/currency_pairs", self._empty), Route(f"{api}/account/detail", self._detail),
            Route(f"{api}/spot/accounts", self._accounts), Route(f"{api}/spot/orders", self._create, methods=["POST"]),
            Route(f"{api}/spot/orders", self._list),
            Route(f"{api}/spot/open_orders", self._open),
            Route(f"{api}/spot/orders/{{order_id}}", self._one, methods=["GET", "DELETE"]),
        ])  # fmt: skip

    @staticmethod
    def _authorized(request: Request) -> bool:
        return request.headers.get("KEY") == API_KEY

    async def _pairs(self, request: Request) -> JSONResponse:
        return JSONResponse([
            {"id": pair, "base": pair.split("_")[0], "quote": pair.split("_")[1], "fee": "0.2",
             "min_base_amount": "0.0001", "min_quote_amount": "3", "amount_precision": 6, "precision": 1,
             "trade_status": "tradable", "sell_start": 0, "buy_start": 0}
            for pair in self.prices
        ])  # fmt: skip

    async def _empty(self, request: Request) -> JSONResponse:
        return JSONResponse([])

    async def _detail(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("INVALID_KEY", "Invalid key provided", 401)
        return JSONResponse({"user_id": 10406147, "ip_whitelist": [], "currency_pairs": [], "key": {"mode": 1}})

    async def _accounts(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("INVALID_KEY", "Invalid key provided", 401)
        with self.lock:
            return JSONResponse([{"currency": c, "available": str(v), "locked": "0"} for c, v in self.balances.items()])

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("INVALID_KEY", "Invalid key provided", 401)
        body = await request.json()
        with self.lock:
            self.order_requests.append(body)
            text = str(body.get("text") or "apiv4")
            if body.get("text") is not None and not TEXT.fullmatch(text):
                return _error("INVALID_PARAM_VALUE", f"invalid argument: text {text}")
            pair = body.get("currency_pair")
            if pair not in self.prices:
                return _error("INVALID_CURRENCY_PAIR", f"Invalid currency pair {pair}")
            market = body.get("type") == "market"
            amount, now = Decimal(body["amount"]), time.time()
            order = {
                "id": str(next(self._ids)), "text": text, "amend_text": "-", "create_time": str(int(now)),
                "update_time": str(int(now)), "create_time_ms": int(now * 1000), "update_time_ms": int(now * 1000),
                "status": "closed" if market else "open", "currency_pair": pair, "type": body.get("type", "limit"),
                "account": "spot", "side": body["side"], "amount": body["amount"],
                "price": "0" if market else body["price"], "time_in_force": body.get("time_in_force", "gtc"),
                "iceberg": "0", "left": "0" if market else body["amount"], "filled_amount": body["amount"] if market
                else "0", "fill_price": str(amount * self.prices[pair]) if market else "0",
                "filled_total": str(amount * self.prices[pair]) if market else "0",
                "avg_deal_price": str(self.prices[pair]) if market else "", "fee": "0", "fee_currency": "USDT",
                "point_fee": "0", "gt_fee": "0", "gt_discount": False, "rebated_fee": "0",
                "rebated_fee_currency": "USDT", "finish_as": "filled" if market else "open",
            }  # fmt: skip
            self.orders.append(order)
            if self.lose_answers:
                return _error("SERVER_ERROR", "Internal server error", 500)
            return JSONResponse(order, status_code=201)

    async def _list(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("INVALID_KEY", "Invalid key provided", 401)
        query = request.query_params
        self.listings.append((request.url.path, dict(query)))
        status, pair = query.get("status"), query.get("currency_pair")
        if status not in ("open", "finished"):
            return _error("INVALID_PARAM_VALUE", f"invalid argument: status {status}")
        if status == "open" and not pair:  # "required for open orders": every pair's are "List all open orders"
            return _error("MISSING_REQUIRED_PARAM", "Missing required parameter: currency_pair")
        limit, page = int(query.get("limit") or 100), int(query.get("page") or 1)
        if status == "open":  # "If status is open, maximum of limit is 100"
            limit = min(limit, 100)
        with self.lock:
            found = [dict(o) for o in self.orders[::-1] if pair in (None, o["currency_pair"])
                     and (o["status"] == "open") == (status == "open")]  # fmt: skip
        return JSONResponse(found[(page - 1) * limit : page * limit])

    def _find(self, order_id: str, pair: str | None) -> dict[str, Any] | None:
        """By Gate's order id, or by its text while the order is open (Gate's rule for custom ids)."""
        for order in self.orders:
            if pair not in (None, order["currency_pair"]):
                continue
            if order["id"] == order_id or (order["text"] == order_id and order["status"] == "open"):
                return order
        return None

    async def _one(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("INVALID_KEY", "Invalid key provided", 401)
        with self.lock:
            found = self._find(request.path_params["order_id"], request.query_params.get("currency_pair"))
            if found is None:
                return _error("ORDER_NOT_FOUND", "Order not found", 404)
            if request.method == "DELETE":
                if self.fill_on_cancel and found["status"] == "open":
                    found.update(status="closed", finish_as="filled", left="0", filled_amount=found["amount"],
                                 avg_deal_price=found["price"], fill_price=found["price"])  # fmt: skip
                if found["status"] != "open":
                    return _error("ORDER_CLOSED", "Order has been filled or cancelled")
                found.update(status="cancelled", finish_as="cancelled", update_time_ms=int(time.time() * 1000))
            return JSONResponse(dict(found))

    def _place_by_hand(self) -> None:
        """A resting order like the newest open one, placed in Gate's app (called with the lock held)."""
        newest = next((o for o in reversed(self.orders) if o["status"] == "open"), None)
        if newest is not None:
            self.orders.append({**newest, "id": str(next(self._ids)), "text": "web"})

    async def _open(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error("INVALID_KEY", "Invalid key provided", 401)
        # "List all open orders": each pair's newest `limit` (100 at most, and unless asked) of a `page`, and its total,
        # of every pair: the endpoint takes no `currency_pair` (ccxt's, sent with a symbol, is not read).
        self.listings.append((request.url.path, dict(request.query_params)))
        most = min(int(request.query_params.get("limit") or 100), 100)
        page = int(request.query_params.get("page") or 1)
        start = (page - 1) * most
        with self.lock:
            if page == self.placed_before_page:  # placed in Gate's app as the bridge reads: the pages shift by one
                self.placed_before_page = None
                self._place_by_hand()
            if page == self.ends_before_page and self.ends_left > 0:  # filled or cancelled as the bridge reads
                self.ends_left -= 1
                newest = next((o for o in reversed(self.orders) if o["status"] == "open"), None)
                if newest is not None:
                    newest.update(status="cancelled", finish_as="cancelled")
            by_pair: dict[str, list[dict[str, Any]]] = {}
            for order in reversed(self.orders):
                if order["status"] == "open":
                    by_pair.setdefault(order["currency_pair"], []).append(dict(order))
        return JSONResponse([{"currency_pair": p, "total": len(o), "orders": o[start : start + most]}
                             for p, o in by_pair.items() if o[start : start + most]])  # fmt: skip
