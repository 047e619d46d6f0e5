"""A fake of Bitvavo's REST API v2 (spot), written from Bitvavo's public "REST API" documentation.

Covered: `GET /v2/markets`, `GET /v2/assets`, `GET /v2/ticker/24h`, `GET /v2/balance`, `POST /v2/order`
("Create order"), `GET /v2/order` ("Get order"), `DELETE /v2/order` ("Cancel order") and `GET /v2/ordersOpen`;
authentication by the `Bitvavo-Access-Key` header (the signature is not checked). Errors are Bitvavo's
`{"errorCode": ..., "error": ...}` with an HTTP 4xx.

An order's `clientOrderId` is "your identifier of the order", a UUID (the create-order example, and the FIX API's
ClOrdID: "Must be a valid UUID"), unique across open orders; `operatorId`, "your identifier for the trader or the bot
within your account", is an integer sent with every order and cancel. Get order and Cancel order take the market
and either `orderId` or `clientOrderId` ("If you set both, we use the clientOrderId"); an order read back carries its
`clientOrderId` when it was created with one. Limit orders rest; market orders fill at the market's price.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fake-bitvavo-key-" + "0" * 47, "fake-bitvavo-secret-0123456789"
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
OPEN = ("new", "partiallyFilled")


def _error(code: int, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"errorCode": code, "error": message}, status_code=status)


class FakeBitvavo:
    """One account holding EUR; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"BTC-EUR": Decimal(30000)}
        self.balances = {"EUR": Decimal(100000), "BTC": Decimal(1)}
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self.cancels: list[dict[str, str]] = []
        v2 = "/v2"
        self.app = Starlette(routes=[
            Route(f"{v2}/markets", self._markets), Route(f"{v2}/assets", self._assets),
            Route(f"{v2}/ticker/24h", self._tickers), Route(f"{v2}/balance", self._balance),
            Route(f"{v2}/order", self._order, methods=["GET", "POST", "DELETE"]), Route(f"{v2}/ordersOpen", self._open),
        ])  # fmt: skip

    @staticmethod
    def _authorized(request: Request) -> bool:
        return request.headers.get("Bitvavo-Access-Key") == API_KEY

    async def _markets(self, request: Request) -> JSONResponse:
        return JSONResponse([
            {"market": market, "status": "trading", "base": market.split("-")[0], "quote": market.split("-")[1],
             "pricePrecision": 5, "tickSize": "1", "minOrderInBaseAsset": "0.0001", "minOrderInQuoteAsset": "5",
             "maxOrderInBaseAsset": "1000", "maxOrderInQuoteAsset": "1000000000", "quantityDecimals": 8,
             "notionalDecimals": 2, "maxOpenOrders": 100, "feeCategory": "A",
             "orderTypes": ["market", "limit", "stopLoss", "stopLossLimit", "takeProfit", "takeProfitLimit"]}
            for market in self.prices
        ])  # fmt: skip

    async def _assets(self, request: Request) -> JSONResponse:
        return JSONResponse([])

    async def _tickers(self, request: Request) -> JSONResponse:
        return JSONResponse([{"market": m, "last": str(p), "open": str(p), "high": str(p), "low": str(p),
                              "volume": "1", "volumeQuote": str(p), "bid": str(p), "ask": str(p),
                              "timestamp": int(time.time() * 1000)} for m, p in self.prices.items()])  # fmt: skip

    async def _balance(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(305, "No active API key found.", 403)
        with self.lock:
            return JSONResponse([{"symbol": c, "available": str(v), "inOrder": "0"} for c, v in self.balances.items()])

    def _find(self, query: dict[str, str]) -> dict[str, Any] | None:
        """By clientOrderId when given (Bitvavo's rule when both are), else by orderId, in the market."""
        key = "clientOrderId" if "clientOrderId" in query else "orderId"
        value = query.get(key)
        return next((o for o in self.orders if o["market"] == query.get("market") and o.get(key) == value), None)

    async def _order(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(305, "No active API key found.", 403)
        if request.method == "POST":
            return self._create(await request.json())
        query = dict(request.query_params)
        with self.lock:
            if request.method == "DELETE":
                self.cancels.append(query)
                if not re.fullmatch(r"\d+", query.get("operatorId", "")):
                    return _error(203, "operatorId parameter is required.")
            found = self._find(query)
            if found is None:
                return _error(240, "No order found. Please be aware that simultaneously updating the same order may "
                                   "return this error.", 404)  # fmt: skip
            if request.method == "DELETE":
                if found["status"] not in OPEN:
                    return _error(233, "Order must be active (status new or partiallyFilled) to allow "
                                       "updating/cancelling.")  # fmt: skip
                found.update(status="canceled", updated=int(time.time() * 1000))
                return JSONResponse({"orderId": found["orderId"], "operatorId": found["operatorId"]})
            return JSONResponse(dict(found))

    def _create(self, body: dict[str, Any]) -> JSONResponse:
        with self.lock:
            self.order_requests.append(body)
            if not isinstance(body.get("operatorId"), int):
                return _error(203, "operatorId parameter is required.")
            coid = body.get("clientOrderId")
            if coid is not None and not UUID.fullmatch(str(coid)):
                return _error(205, "clientOrderId parameter is invalid.")
            if coid is not None and any(o.get("clientOrderId") == coid and o["status"] in OPEN for o in self.orders):
                return _error(205, "clientOrderId parameter is invalid.")  # unique across open orders
            market = body.get("market")
            if market not in self.prices:
                return _error(205, "market parameter is invalid.")
            kind, amount, now = body.get("orderType"), Decimal(body["amount"]), int(time.time() * 1000)
            filled = kind == "market"
            price = self.prices[market] if filled else Decimal(body["price"])
            order = {
                "orderId": str(uuid.uuid4()), "market": market, "created": now, "updated": now,
                "status": "filled" if filled else "new", "side": body["side"], "orderType": kind,
                "amount": body["amount"], "amountRemaining": "0" if filled else body["amount"],
                "price": None if filled else body["price"], "onHold": "0", "onHoldCurrency": "EUR",
                "filledAmount": body["amount"] if filled else "0",
                "filledAmountQuote": str(amount * price) if filled else "0", "feePaid": "0", "feeCurrency": "EUR",
                "fills": [], "selfTradePrevention": "decrementAndCancel", "visible": True,
                "timeInForce": body.get("timeInForce", "GTC"), "postOnly": False, "operatorId": body["operatorId"],
            }  # fmt: skip
            if coid is not None:
                order["clientOrderId"] = coid
            self.orders.append(order)
            return JSONResponse(order)

    async def _open(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(305, "No active API key found.", 403)
        market = request.query_params.get("market")
        with self.lock:
            return JSONResponse([dict(o) for o in self.orders if o["status"] in OPEN and market in (None, o["market"])])
