"""A fake of Bybit's V5 REST API for spot trading in a unified trading account, from Bybit's public V5 documentation.

Covered: `GET /v5/market/instruments-info?category=spot`, `GET /v5/asset/coin/query-info`, `GET /v5/user/query-api`
(a unified account: `uta` 1), `GET /v5/account/info`, `GET /v5/account/wallet-balance`, `POST /v5/order/create`,
`GET /v5/order/realtime` (open orders, by `orderId` or `orderLinkId`), `GET /v5/order/history` (closed orders,
the same; both newest first, `limit` of them, 20 unless asked and 50 at most, the next page by `cursor`), and
`POST /v5/order/cancel` (by `orderId` or `orderLinkId`); authentication by the `X-BAPI-API-KEY` header (the
signature is not checked). Answers are Bybit's `{"retCode": 0, "retMsg": "OK", "result": ...}` with
HTTP 200, an error its own `retCode`. An `orderLinkId` is at most 36 letters, digits, `-` and `_`. Limit orders rest;
market sells fill at the pair's price, or, where the book cannot fill one whole, in part ("PartiallyFilledCanceled").
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

API_KEY, SECRET = "fake-bybit-key-0123456789", "fake-bybit-secret-0123456789"
ORDER_LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
OPEN = ("New", "PartiallyFilled")


def _ok(result: Any) -> JSONResponse:
    return JSONResponse(
        {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": int(time.time() * 1000)}
    )


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": int(time.time() * 1000)}
    )


class FakeBybit:
    """One unified account holding USDT and BTC; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"BTCUSDT": Decimal(30000)}
        self.balances = {"USDT": Decimal(100000), "BTC": Decimal(1)}
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self.lookups: list[dict[str, str]] = []
        # A market order's fill when the book runs out (Bybit's spot slippage protection): the rest is canceled, and
        # the order ends "PartiallyFilledCanceled".
        self.market_fill: Decimal | None = None
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[
            Route("/v5/market/instruments-info", self._instruments), Route("/v5/asset/coin/query-info", self._coins),
            Route("/v5/user/query-api", self._api_key), Route("/v5/account/info", self._account),
            Route("/v5/account/wallet-balance", self._wallet), Route("/v5/order/realtime", self._realtime),
            Route("/v5/order/create", self._create, methods=["POST"]), Route("/v5/order/history", self._history),
            Route("/v5/order/cancel", self._cancel, methods=["POST"]),
        ])  # fmt: skip

    @staticmethod
    def _authorized(request: Request) -> bool:
        return request.headers.get("X-BAPI-API-KEY") == API_KEY

    async def _instruments(self, request: Request) -> JSONResponse:
        return _ok({"category": "spot", "list": [
            {"symbol": symbol, "baseCoin": symbol[:-4], "quoteCoin": symbol[-4:], "innovation": "0",
             "status": "Trading", "marginTrading": "none",
             "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001", "minOrderQty": "0.000048",
                               "maxOrderQty": "71.73956243", "minOrderAmt": "1", "maxOrderAmt": "2000000"},
             "priceFilter": {"tickSize": "0.01"}}
            for symbol in self.prices
        ]})  # fmt: skip

    async def _coins(self, request: Request) -> JSONResponse:
        return _ok({"rows": []}) if self._authorized(request) else _error(10003, "API key is invalid.")

    async def _api_key(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(10003, "API key is invalid.")
        return _ok({"id": "1", "readOnly": 0, "unified": 0, "uta": 1, "permissions": {"Spot": ["SpotTrade"]}})

    async def _account(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(10003, "API key is invalid.")
        return _ok({"unifiedMarginStatus": 6, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False})

    async def _wallet(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(10003, "API key is invalid.")
        with self.lock:
            coins = [
                {"coin": c, "walletBalance": str(v), "equity": str(v), "locked": "0"} for c, v in self.balances.items()
            ]
        return _ok({"list": [{"accountType": "UNIFIED", "coin": coins}]})

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(10003, "API key is invalid.")
        body = await request.json()
        with self.lock:
            self.order_requests.append(body)
            link = str(body.get("orderLinkId") or "")
            if link and not ORDER_LINK_ID.fullmatch(link):
                return _error(10001, "params error: orderLinkId")
            if link and any(o["orderLinkId"] == link for o in self.orders):
                return _error(170141, "Duplicate clientOrderId")
            symbol, market = body["symbol"], body["orderType"] == "Market"
            qty, now = Decimal(body["qty"]), str(int(time.time() * 1000))
            price = self.prices[symbol]
            order = {
                "orderId": f"17{next(self._ids):08d}", "orderLinkId": link, "symbol": symbol,
                "price": "0" if market else body["price"], "qty": body["qty"], "side": body["side"],
                "orderStatus": "Filled" if market else "New", "avgPrice": str(price) if market else "",
                "leavesQty": "0" if market else body["qty"], "cumExecQty": body["qty"] if market else "0",
                "cumExecValue": str(qty * price) if market else "0", "cumExecFee": "0",
                "timeInForce": "IOC" if market else body.get("timeInForce", "GTC"), "orderType": body["orderType"],
                "createdTime": now, "updatedTime": now, "category": "spot",
            }  # fmt: skip
            if market and self.market_fill is not None and self.market_fill < qty:
                order.update(orderStatus="PartiallyFilledCanceled", cumExecQty=str(self.market_fill),
                             cumExecValue=str(self.market_fill * price))  # fmt: skip
            self.orders.append(order)
        return _ok({"orderId": order["orderId"], "orderLinkId": link})

    def _matching(self, request: Request, statuses: tuple[str, ...] | None) -> JSONResponse:
        if not self._authorized(request):
            return _error(10003, "API key is invalid.")
        query = dict(request.query_params)
        with self.lock:
            self.lookups.append(query)
            found = [dict(o) for o in reversed(self.orders) if (o["orderStatus"] in OPEN) == (statuses is not None)
                     and query.get("symbol") in (None, o["symbol"])
                     and query.get("orderId") in (None, "", o["orderId"])
                     and query.get("orderLinkId") in (None, "", o["orderLinkId"])]  # fmt: skip
        # "limit": 1 to 50, 20 unless asked; the next page is asked for with the `cursor` of `nextPageCursor`.
        most, start = min(int(query.get("limit", 20)), 50), int(query.get("cursor") or 0)
        after = start + most if start + most < len(found) else None
        return _ok({"category": "spot", "list": found[start : start + most], "nextPageCursor": str(after or "")})

    async def _realtime(self, request: Request) -> JSONResponse:
        return self._matching(request, OPEN)

    async def _history(self, request: Request) -> JSONResponse:
        return self._matching(request, None)

    async def _cancel(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(10003, "API key is invalid.")
        body = await request.json()
        with self.lock:
            wanted, link = body.get("orderId"), body.get("orderLinkId")
            found = next((o for o in self.orders if o["orderStatus"] in OPEN
                          and (o["orderId"] == wanted or (link and o["orderLinkId"] == link))), None)  # fmt: skip
            if found is None:
                return _error(170213, "Order does not exist.")
            found.update(orderStatus="Cancelled", leavesQty="0", updatedTime=str(int(time.time() * 1000)))
        return _ok({"orderId": found["orderId"], "orderLinkId": found["orderLinkId"]})
