"""A fake of Binance's Spot REST API (v3), written from Binance's public "Spot API" documentation.

Covered: `GET /api/v3/ping`, `/time`, `/exchangeInfo`, `/ticker/price`, `/ticker/24hr`; and the
signed (HMAC-SHA256, `X-MBX-APIKEY`, `timestamp` within `recvWindow`) `GET /api/v3/account`,
`POST/GET/DELETE /api/v3/order` (by `orderId` or `origClientOrderId`) and `GET /api/v3/openOrders`.
Errors use Binance's JSON `{"code": ..., "msg": ...}` with its codes: -1013 filter failures
(LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL, PRICE_FILTER), -1021 timestamp, -1022 signature, -1102 missing parameter,
-1121 invalid symbol, -2010 new order rejected (insufficient balance, duplicate client order id
among open orders), -2011 unknown order on cancel, -2013 order does not exist, -2015 invalid key,
-1003 too many requests (429 with Retry-After). Binance documents 5XX as "execution status UNKNOWN",
which the `lost_response` fault reproduces: the order is placed and the answer is a 503 (`server_error`
chooses the status and body of that answer, e.g. 503 with -1008 "Server is currently overloaded").

Market orders fill at once at the symbol's price; limit orders rest (locking the balance they
need) until `set_price` crosses them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY = "fakeBinanceApiKey0123456789abcdefghijklmnopqrstuvwxyz"
SECRET = "fakeBinanceSecret0123456789abcdefghijklmnopqrstuvwxyz"
STEP, TICK, MIN_NOTIONAL = Decimal("0.00001"), Decimal("0.01"), Decimal(5)
MAX_QTY, MAX_MARKET_QTY = Decimal(9000), Decimal(100)  # LOT_SIZE and MARKET_LOT_SIZE maxQty
OPEN = ("NEW", "PARTIALLY_FILLED")
Fault = Literal["none", "unavailable", "rate_limited", "lost_response"]


class Refused(Exception):
    """A Binance error: HTTP status, Binance's negative code and message."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _ms() -> int:
    return int(time.time() * 1000)


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


def _symbol_info(base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": base + quote, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8, "quoteAsset": quote,
        "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                       "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": _fmt(TICK)},
            {"filterType": "LOT_SIZE", "minQty": _fmt(STEP), "maxQty": _fmt(MAX_QTY), "stepSize": _fmt(STEP)},
            {"filterType": "NOTIONAL", "minNotional": _fmt(MIN_NOTIONAL), "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": _fmt(MAX_MARKET_QTY),
             "stepSize": "0.00000000"},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }  # fmt: skip


class FakeBinance:
    """One spot account; plain Python state so tests can move prices and read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.markets = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT"), "BTCUSDC": ("BTC", "USDC")}
        self.prices = {"BTCUSDT": Decimal(30000), "ETHUSDT": Decimal(2000), "BTCUSDC": Decimal(30000)}
        self.balances: dict[str, list[Decimal]] = {}  # asset -> [free, locked]
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, str]] = []
        self.fault: Fault = "none"
        self.answer_delay = 0.0  # seconds an order submission waits, after being placed, before it answers
        self._next_id = 1
        self.reset()
        self.app = Starlette(routes=[
            Route("/api/v3/ping", self._ping), Route("/api/v3/time", self._time),
            Route("/api/v3/exchangeInfo", self._exchange_info), Route("/api/v3/ticker/price", self._ticker),
            Route("/api/v3/ticker/24hr", self._ticker), Route("/api/v3/account", self._account),
            Route("/api/v3/order", self._order, methods=["GET", "POST", "DELETE"]),
            Route("/api/v3/openOrders", self._open_orders),
        ])  # fmt: skip

    def reset(self) -> None:
        """A fresh account holding 100,000 USDT."""
        with self.lock:
            self.balances = {"USDT": [Decimal(100000), Decimal(0)], "BTC": [Decimal(0), Decimal(0)]}
            self.orders.clear()
            self.order_requests.clear()
            self.fault = "none"
            self.answer_delay = 0.0
            self.ack_only = False  # answer a new order as `newOrderRespType=ACK` does: its ids, no status
            self.lookup_fault = "none"  # "rate_limited": order lookups (GET /api/v3/order) answer 429
            self.server_error: tuple[int, dict[str, Any]] | None = None  # place new orders, then answer this 5XX
            self.lookup_retry_after: list[int] = []  # the next order lookups answer 429 with this Retry-After
            self.lookups: list[float] = []  # monotonic time of every order lookup (GET /api/v3/order)
            self.clock_offset_ms = 0  # how far the exchange's clock runs ahead of this machine's (negative: behind)
            self.requests: list[tuple[str, str]] = []  # (method, path) of every request, answered or faulted
            self.ticker_requests: list[str] = []  # the path of every ticker request, for the weight spent on prices

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market: resting limit orders the price crosses fill at their limit."""
        with self.lock:
            self.prices[symbol] = price
            for order in [o for o in self.orders if o["symbol"] == symbol and o["status"] == "NEW"]:
                limit = Decimal(order["price"])
                if (price <= limit) if order["side"] == "BUY" else (price >= limit):
                    self._unlock(order)
                    self._fill(order, limit)

    # plumbing

    def _reply(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers={"x-mbx-used-weight-1m": "1", **(headers or {})})

    def _refuse(self, refused: Refused) -> JSONResponse:
        return self._reply({"code": refused.code, "msg": refused.msg}, refused.status)

    def _faulted(self, request: Request) -> JSONResponse | None:
        self.requests.append((request.method, request.url.path))  # every endpoint asks here first
        if self.fault == "unavailable":
            return self._reply({"code": -1001, "msg": "Internal error; unable to process your request."}, 503)
        if self.fault == "rate_limited":
            msg = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
            return self._reply({"code": -1003, "msg": msg}, 429, {"Retry-After": "0"})
        return None

    async def _signed(self, request: Request) -> dict[str, str]:
        """The request's parameters, after checking the key, the signature and the timestamp."""
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            raise Refused(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        raw = request.url.query if request.method in ("GET", "DELETE") else (await request.body()).decode()
        payload, _, signature = raw.rpartition("&signature=")
        expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise Refused(-1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(payload, keep_blank_values=True))
        # Binance's "Timing security": processed only if timestamp < serverTime + 1000 and
        # serverTime - timestamp <= recvWindow; otherwise rejected, unprocessed.
        server_time, timestamp = _ms() + self.clock_offset_ms, int(params.get("timestamp", "0"))
        if timestamp >= server_time + 1000:
            raise Refused(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server_time - timestamp > int(params.get("recvWindow", "5000")):
            raise Refused(-1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    # public endpoints

    async def _ping(self, request: Request) -> JSONResponse:
        return self._faulted(request) or self._reply({})

    async def _time(self, request: Request) -> JSONResponse:
        return self._faulted(request) or self._reply({"serverTime": _ms() + self.clock_offset_ms})

    async def _exchange_info(self, request: Request) -> JSONResponse:
        if (faulted := self._faulted(request)) is not None:
            return faulted
        limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        ]
        symbols = [_symbol_info(base, quote) for base, quote in self.markets.values()]
        return self._reply({"timezone": "UTC", "serverTime": _ms(), "rateLimits": limits, "exchangeFilters": [],
                            "symbols": symbols})  # fmt: skip

    async def _ticker(self, request: Request) -> JSONResponse:
        if (faulted := self._faulted(request)) is not None:
            return faulted
        wanted = request.query_params.get("symbol")
        with self.lock:
            self.ticker_requests.append(request.url.path)
            items = [self._ticker_of(s, p) for s, p in self.prices.items() if wanted in (None, s)]
        if wanted is not None and not items:
            return self._refuse(Refused(-1121, "Invalid symbol."))
        return self._reply(items[0] if wanted else items)

    def _ticker_of(self, symbol: str, price: Decimal) -> dict[str, Any]:
        now = _ms()
        return {
            "symbol": symbol, "price": _fmt(price), "lastPrice": _fmt(price), "bidPrice": _fmt(price),
            "askPrice": _fmt(price), "openPrice": _fmt(price), "highPrice": _fmt(price), "lowPrice": _fmt(price),
            "priceChange": "0.00000000", "priceChangePercent": "0.000", "weightedAvgPrice": _fmt(price),
            "volume": "0.00000000", "quoteVolume": "0.00000000", "openTime": now - 86_400_000, "closeTime": now,
            "count": 0,
        }  # fmt: skip

    # signed endpoints

    async def _account(self, request: Request) -> JSONResponse:
        if (faulted := self._faulted(request)) is not None:
            return faulted
        try:
            await self._signed(request)
        except Refused as refused:
            return self._refuse(refused)
        with self.lock:
            balances = [{"asset": a, "free": _fmt(f), "locked": _fmt(lk)} for a, (f, lk) in self.balances.items()]
        return self._reply({
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": _ms(), "accountType": "SPOT",
            "balances": balances, "permissions": ["SPOT"], "uid": 354937868,
        })  # fmt: skip

    async def _open_orders(self, request: Request) -> JSONResponse:
        if (faulted := self._faulted(request)) is not None:
            return faulted
        try:
            params = await self._signed(request)
        except Refused as refused:
            return self._refuse(refused)
        with self.lock:
            found = [
                dict(o) for o in self.orders if o["status"] in OPEN and params.get("symbol") in (None, o["symbol"])
            ]
        return self._reply(found)

    async def _order(self, request: Request) -> JSONResponse:
        if (faulted := self._faulted(request)) is not None and self.fault != "lost_response":
            return faulted
        try:
            params = await self._signed(request)
            if request.method == "POST":
                return await self._create(params)
            if request.method == "GET":
                self.lookups.append(time.monotonic())
                if self.lookup_fault == "rate_limited" or self.lookup_retry_after:
                    wait = self.lookup_retry_after.pop(0) if self.lookup_retry_after else 0
                    msg = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
                    return self._reply({"code": -1003, "msg": msg}, 429, {"Retry-After": str(wait)})
            with self.lock:
                order = self._find(params)
                if request.method == "GET":
                    return self._reply(dict(order))
                if order["status"] not in OPEN:
                    raise Refused(-2011, "Unknown order sent.")
                self._unlock(order)
                order.update(status="CANCELED", updateTime=_ms())
                return self._reply({**order, "origClientOrderId": order["clientOrderId"], "clientOrderId": "cxl"})
        except Refused as refused:
            return self._refuse(refused)

    async def _create(self, params: dict[str, str]) -> JSONResponse:
        with self.lock:
            self.order_requests.append(params)
            answer = self._place(params)
        if self.fault == "lost_response":  # placed; the answer is an unknown-status 5XX
            return self._reply({"code": -1001, "msg": "Internal error; unable to process your request."}, 503)
        if self.server_error is not None:  # placed, and answered with this unknown-status 5XX
            status, body = self.server_error
            return self._reply(body, status)
        await self._delay()
        if self.ack_only:
            keys = ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")
            return self._reply({key: answer[key] for key in keys if key in answer})
        return self._reply(answer)

    async def _delay(self) -> None:
        """Hold the answer while `answer_delay` says so (re-read, so a test can end the wait early)."""
        start = time.monotonic()
        while time.monotonic() - start < self.answer_delay:
            await asyncio.sleep(0.02)

    # the exchange

    def _find(self, params: dict[str, str]) -> dict[str, Any]:
        if "symbol" not in params:
            raise Refused(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        for order in self.orders:
            if order["symbol"] != params["symbol"]:
                continue
            if str(order["orderId"]) == params.get("orderId") or order["clientOrderId"] == params.get(
                "origClientOrderId"
            ):
                return order
        raise Refused(-2013, "Order does not exist.")

    def _place(self, params: dict[str, str]) -> dict[str, Any]:
        symbol = params.get("symbol", "")
        if symbol not in self.markets:
            raise Refused(-1121, "Invalid symbol.")
        side, kind = params.get("side"), params.get("type")
        if side not in ("BUY", "SELL") or kind not in ("MARKET", "LIMIT"):
            raise Refused(-1116, "Invalid orderType.")
        qty = Decimal(params.get("quantity") or "0")
        if qty <= 0 or qty % STEP != 0 or qty > MAX_QTY:
            raise Refused(-1013, "Filter failure: LOT_SIZE")
        if kind == "MARKET" and qty > MAX_MARKET_QTY:  # "Filters": MARKET_LOT_SIZE bounds a market order's quantity
            raise Refused(-1013, "Filter failure: MARKET_LOT_SIZE")
        price = self.prices[symbol]
        limit = None
        if kind == "LIMIT":
            if "price" not in params or "timeInForce" not in params:
                raise Refused(-1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
            limit = Decimal(params["price"])
            if limit % TICK != 0:
                raise Refused(-1013, "Filter failure: PRICE_FILTER")
        if qty * (limit or price) < MIN_NOTIONAL:
            raise Refused(-1013, "Filter failure: NOTIONAL")
        coid = params.get("newClientOrderId") or f"fake-{self._next_id}"
        if any(o["clientOrderId"] == coid and o["status"] in OPEN for o in self.orders):
            raise Refused(-2010, "Duplicate order sent.")
        base, quote = self.markets[symbol]
        need_asset, need = (quote, qty * (limit or price)) if side == "BUY" else (base, qty)
        if self.balances.setdefault(need_asset, [Decimal(0), Decimal(0)])[0] < need:
            raise Refused(-2010, "Account has insufficient balance for requested action.")
        order = self._new(params, symbol, coid, qty, limit)
        self.orders.append(order)
        fills: list[dict[str, str]] = []
        if kind == "MARKET" or (limit is not None and ((price <= limit) if side == "BUY" else (price >= limit))):
            fills = self._fill(order, price if kind == "MARKET" else limit or price)
        elif params.get("timeInForce") in ("IOC", "FOK"):
            order["status"] = "EXPIRED"
        else:
            self.balances[need_asset][0] -= need
            self.balances[need_asset][1] += need
        return {**order, "transactTime": order["time"], "fills": fills}

    def _new(
        self, params: dict[str, str], symbol: str, coid: str, qty: Decimal, limit: Decimal | None
    ) -> dict[str, Any]:
        now = _ms()
        order = {
            "symbol": symbol, "orderId": self._next_id, "orderListId": -1, "clientOrderId": coid,
            "price": _fmt(limit or Decimal(0)), "origQty": _fmt(qty), "executedQty": "0.00000000",
            "cummulativeQuoteQty": "0.00000000", "status": "NEW",
            "timeInForce": params.get("timeInForce", "GTC"), "type": params["type"], "side": params["side"],
            "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": now, "updateTime": now, "isWorking": True,
            "workingTime": now, "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER",
        }  # fmt: skip
        self._next_id += 1
        return order

    def _fill(self, order: dict[str, Any], price: Decimal) -> list[dict[str, str]]:
        qty = Decimal(order["origQty"])
        base, quote = self.markets[order["symbol"]]
        sign = 1 if order["side"] == "BUY" else -1
        self.balances.setdefault(base, [Decimal(0), Decimal(0)])[0] += sign * qty
        self.balances[quote][0] -= sign * qty * price
        order.update(status="FILLED", executedQty=_fmt(qty), cummulativeQuoteQty=_fmt(qty * price), updateTime=_ms())
        return [{"price": _fmt(price), "qty": _fmt(qty), "commission": "0.00000000", "commissionAsset": quote,
                 "tradeId": order["orderId"]}]  # fmt: skip

    def _unlock(self, order: dict[str, Any]) -> None:
        base, quote = self.markets[order["symbol"]]
        qty, limit = Decimal(order["origQty"]), Decimal(order["price"])
        asset, amount = (quote, qty * limit) if order["side"] == "BUY" else (base, qty)
        self.balances[asset][0] += amount
        self.balances[asset][1] -= amount
