"""A fake of Bitfinex's REST API v2 for exchange (spot) trading, written from Bitfinex's public "REST API" reference.

Covered: `GET /v2/conf/{config}` (pairs and currencies), `POST /v2/auth/r/wallets`, `POST /v2/auth/w/order/submit`
("Submit Order"), `POST /v2/auth/w/order/cancel` ("Cancel Order"), `POST /v2/auth/r/orders[/{symbol}]` ("Retrieve
Orders": the active ones, narrowed by an `id` list) and `POST /v2/auth/r/orders/{symbol}/hist` ("Orders History":
the closed and canceled ones, newest first, narrowed by an `id` list); authentication by the `bfx-apikey` header
(the signature is not checked). Orders are Bitfinex's arrays: ID, GID, CID, SYMBOL, MTS_CREATE, MTS_UPDATE, AMOUNT
(what is left, negative for a sell), AMOUNT_ORIG, ORDER_TYPE, ..., STATUS at 13, PRICE at 16, PRICE_AVG at 17.

A buy or sell the wallet cannot pay for is refused as Bitfinex refuses it (HTTP 500, `["error", 10001, "Invalid
order: not enough exchange balance for ..."]`). An order's `cid` is an int45 ("Should be unique in the day (UTC)
(not enforced)"); anything else is refused as Bitfinex refuses a bad parameter: HTTP 500 and `["error", 10020,
"cid: invalid"]`. A cancel takes the order's `id`, or its `cid` with the `cid_date` (YYYY-MM-DD) it was placed on.
Limit orders rest; market orders fill at the pair's price.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fake-bitfinex-key-0123456789", "fake-bitfinex-secret-0123456789"
CID_MAX = 2**45 - 1
CID, SYMBOL, AMOUNT, STATUS = 2, 3, 6, 13
CURRENCY_LABELS = 11  # the lists ccxt asks for with pub:list:currency


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse(["error", code, message], status_code=500)


class FakeBitfinex:
    """One exchange wallet holding UST (Bitfinex's USDT); plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"tBTCUST": Decimal(30000)}
        self.balances = {"UST": Decimal(100000), "BTC": Decimal(1)}
        self.orders: list[list[Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self.cancels: list[dict[str, Any]] = []
        self._ids = itertools.count(95412102131)
        auth = "/v2/auth"
        self.app = Starlette(routes=[
            Route("/v2/conf/{config}", self._conf), Route(f"{auth}/r/wallets", self._wallets, methods=["POST"]),
            Route(f"{auth}/w/order/submit", self._submit, methods=["POST"]),
            Route(f"{auth}/w/order/cancel", self._cancel, methods=["POST"]),
            Route(f"{auth}/r/orders", self._active, methods=["POST"]),
            Route(f"{auth}/r/orders/{{symbol}}", self._active, methods=["POST"]),
            Route(f"{auth}/r/orders/{{symbol}}/hist", self._history, methods=["POST"]),
        ])  # fmt: skip

    @staticmethod
    def _authorized(request: Request) -> bool:
        return request.headers.get("bfx-apikey") == API_KEY

    async def _conf(self, request: Request) -> JSONResponse:
        config = request.path_params["config"]
        if config.startswith("pub:list:currency"):
            currencies = sorted({pair[1:4] for pair in self.prices} | {pair[4:] for pair in self.prices})
            return JSONResponse([currencies] + [[] for _ in range(CURRENCY_LABELS - 1)])
        pairs = [[pair[1:], [None, None, None, "0.00004", "2000.0", None, None, None, 0.2, 0.1, None, None]]
                 for pair in self.prices]  # fmt: skip
        return JSONResponse([pairs, [], [], []])

    async def _wallets(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(10100, "apikey: invalid")
        with self.lock:
            return JSONResponse([["exchange", c, float(v), 0, float(v), None, None] for c, v in self.balances.items()])

    async def _submit(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(10100, "apikey: invalid")
        body = await request.json()
        with self.lock:
            self.order_requests.append(body)
            cid = body.get("cid")
            if cid is not None and (type(cid) is not int or not 0 <= cid <= CID_MAX):
                return _error(10020, "cid: invalid")
            symbol = body.get("symbol")
            if symbol not in self.prices:
                return _error(10020, "symbol: invalid")
            kind, amount, now = body.get("type"), Decimal(body["amount"]), int(time.time() * 1000)
            market = kind == "EXCHANGE MARKET"
            price = self.prices[symbol] if market else Decimal(body["price"])
            base, quote = symbol[1:4], symbol[4:]
            if amount > 0 and amount * price > self.balances.get(quote, Decimal(0)):
                return _error(10001, f"Invalid order: not enough exchange balance for {amount} {symbol} at {price}")
            if amount < 0 and -amount > self.balances.get(base, Decimal(0)):
                return _error(10001, f"Invalid order: not enough exchange balance for {amount} {symbol} at {price}")
            status = f"EXECUTED @ {price}({amount})" if market else "ACTIVE"
            order: list[Any] = [
                next(self._ids), None, cid, symbol, now, now, 0.0 if market else float(amount), float(amount), kind,
                None, None, None, 0, status, None, None, float(price), float(price) if market else 0.0, 0, 0, None,
                None, None, 0, 0, None, None, None, "API>BFX", None, None, {},
            ]  # fmt: skip
            self.orders.append(order)
            return JSONResponse([now, "on-req", None, None, [order], None, "SUCCESS", "Submitting 1 orders."])

    async def _cancel(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(10100, "apikey: invalid")
        body = await request.json()
        with self.lock:
            self.cancels.append(body)
            found = None
            for order in self.orders:
                placed_on = datetime.fromtimestamp(order[4] / 1000, UTC).strftime("%Y-%m-%d")
                by_cid = "cid" in body and order[CID] == body["cid"] and body.get("cid_date") == placed_on
                if order[0] == body.get("id") or by_cid:
                    found = order
            if found is None or found[STATUS] != "ACTIVE":
                return _error(10001, "Order not found.")
            found[STATUS], found[5] = "CANCELED", int(time.time() * 1000)
            return JSONResponse([found[5], "oc-req", None, None, found, None, "SUCCESS", "Submitted for cancellation"])

    async def _listed(self, request: Request, active: bool) -> JSONResponse:
        if not self._authorized(request):
            return _error(10100, "apikey: invalid")
        body = await request.json() if await request.body() else {}
        symbol, ids = request.path_params.get("symbol"), body.get("id")
        with self.lock:
            found = [list(o) for o in self.orders if (o[STATUS] == "ACTIVE") == active
                     and symbol in (None, o[SYMBOL]) and (not ids or o[0] in ids)]  # fmt: skip
        return JSONResponse(found if active else found[::-1][: int(body.get("limit", 25))])

    async def _active(self, request: Request) -> JSONResponse:
        return await self._listed(request, active=True)

    async def _history(self, request: Request) -> JSONResponse:
        return await self._listed(request, active=False)
