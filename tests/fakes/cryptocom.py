"""A fake of Crypto.com's Exchange API v1 (spot), written from its public "Exchange API v1" REST reference.

Covered: `GET /exchange/v1/public/get-instruments`, and the private methods, each a `POST /exchange/v1/{method}` of
`{"id", "method", "params", "api_key", "sig", "nonce"}` (the signature is not checked): `private/get-currency-networks`,
`private/user-balance`, `private/create-order`, `private/get-order-detail`, `private/cancel-order`,
`private/get-open-orders` and `private/get-order-history`. Answers are `{"id", "method", "code", "result"}`, `code` 0
on success; a refusal carries the venue's code and message with an HTTP 400.

An order's `client_oid` is the caller's own id for it (36 characters at most), given back in every answer about the
order. Get order detail and Cancel order take an `order_id` (an empty one is a missing argument, 40004); the order
history lists the finished orders, newest first, `limit` of them (100 unless asked). Get open orders takes an
`instrument_name` alone ("omit for 'all'") and answers every open order: it has no page and no limit. Limit orders
rest; market orders fill at the instrument's price.
"""

from __future__ import annotations

import itertools
import threading
import time
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fake-cryptocom-key-0123456789", "fake-cryptocom-secret-0123456789"
OPEN = ("NEW", "ACTIVE")


def _answer(body: dict[str, Any], result: Any = None, code: int = 0, message: str = "") -> JSONResponse:
    answer: dict[str, Any] = {"id": body.get("id"), "method": body.get("method"), "code": code}
    if code:
        answer["message"] = message
    if result is not None:
        answer["result"] = result
    return JSONResponse(answer, status_code=400 if code else 200)


class FakeCryptocom:
    """One spot account holding USDT; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"BTC_USDT": Decimal(30000)}
        self.balances = {"USDT": Decimal(100000), "BTC": Decimal(1)}
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self.open_listings: list[dict[str, Any]] = []  # the params of every private/get-open-orders
        self._ids = itertools.count(6530219599900000000)
        self.app = Starlette(routes=[
            Route("/exchange/v1/public/get-instruments", self._instruments),
            Route("/exchange/v1/private/{method}", self._private, methods=["POST"]),
        ])  # fmt: skip

    async def _instruments(self, request: Request) -> JSONResponse:
        data = [
            {"symbol": pair, "inst_type": "CCY_PAIR", "display_name": pair.replace("_", "/"),
             "base_ccy": pair.split("_")[0], "quote_ccy": pair.split("_")[1], "quote_decimals": 2,
             "quantity_decimals": 5, "price_tick_size": "0.01", "qty_tick_size": "0.00001", "max_leverage": "50",
             "tradable": True, "expiry_timestamp_ms": 0, "underlying_symbol": pair}
            for pair in self.prices
        ]  # fmt: skip
        return JSONResponse({"id": 1, "method": "public/get-instruments", "code": 0, "result": {"data": data}})

    async def _private(self, request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("api_key") != API_KEY:
            return _answer(body, code=40101, message="Not authenticated, or key/signature incorrect")
        method, params = f"private/{request.path_params['method']}", body.get("params") or {}
        with self.lock:
            if method == "private/get-currency-networks":
                return _answer(body, {"update_time": int(time.time() * 1000), "currency_map": {}})
            if method == "private/user-balance":
                positions = [{"instrument_name": c, "quantity": str(v), "reserved_qty": "0",
                              "market_value": str(v), "max_withdrawal_balance": str(v)}
                             for c, v in self.balances.items()]  # fmt: skip
                return _answer(body, {"data": [{"total_available_balance": "0", "position_balances": positions}]})
            if method == "private/create-order":
                return self._create(body, params)
            if method in ("private/get-order-detail", "private/cancel-order"):
                found = next((o for o in self.orders if o["order_id"] == params.get("order_id")), None)
                if not params.get("order_id"):
                    return _answer(body, code=40004, message="Missing or invalid argument")
                if found is None:
                    return _answer(body, code=5, message="NOT_FOUND")
                if method == "private/cancel-order":
                    if found["status"] not in OPEN:
                        return _answer(body, code=212, message="INVALID_ORDERID")
                    found.update(status="CANCELED", update_time=int(time.time() * 1000))
                    return _answer(body)
                return _answer(body, dict(found))
            wanted = params.get("instrument_name")
            history = method == "private/get-order-history"
            if method == "private/get-open-orders":
                self.open_listings.append(dict(params))
            listed = [dict(o) for o in self.orders if (o["status"] not in OPEN) == history
                      and wanted in (None, o["instrument_name"])]  # fmt: skip
            most = int(params.get("limit") or 100) if history else len(listed)  # the history: 100 unless asked
            return _answer(body, {"data": listed[::-1][:most]})

    def _create(self, body: dict[str, Any], params: dict[str, Any]) -> JSONResponse:
        self.order_requests.append(params)
        coid = params.get("client_oid")
        if coid is not None and len(str(coid)) > 36:
            return _answer(body, code=40004, message="Missing or invalid argument")
        pair = params.get("instrument_name")
        if pair not in self.prices:
            return _answer(body, code=30003, message="SYMBOL_NOT_FOUND")
        market, now = params.get("type") == "MARKET", int(time.time() * 1000)
        quantity = Decimal(params["quantity"])
        price = self.prices[pair] if market else Decimal(params["price"])
        order = {
            "order_id": str(next(self._ids)), "client_oid": coid or str(now), "order_type": params.get("type"),
            "time_in_force": params.get("time_in_force", "GOOD_TILL_CANCEL"), "side": params.get("side"),
            "exec_inst": [], "quantity": params["quantity"], "limit_price": "0" if market else params["price"],
            "order_value": str(quantity * price), "avg_price": str(price) if market else "0",
            "cumulative_quantity": params["quantity"] if market else "0",
            "cumulative_value": str(quantity * price) if market else "0", "cumulative_fee": "0",
            "status": "FILLED" if market else "ACTIVE", "order_date": time.strftime("%Y-%m-%d"),
            "instrument_name": pair, "fee_instrument_name": "USDT", "create_time": now, "update_time": now,
        }  # fmt: skip
        self.orders.append(order)
        return _answer(body, {"order_id": order["order_id"], "client_oid": order["client_oid"]})
