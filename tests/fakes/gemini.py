"""A fake of Gemini's REST API v1 (spot), written from Gemini's public "REST API" reference.

Covered: `GET /v1/symbols`, the exchange page's `currencyData` (where ccxt reads each pair's decimals and minimum),
and the private `POST` endpoints `/v1/balances`, `/v1/order/new` ("Create New Order"), `/v1/order/status` ("Get
Order Status", by `order_id` or by `client_order_id`), `/v1/order/cancel` and `/v1/orders` (active orders). A private
request's JSON payload comes base64-encoded in the `X-GEMINI-PAYLOAD` header with the key in `X-GEMINI-APIKEY` (the
signature is not checked). Errors are `{"result": "error", "reason": ..., "message": ...}` with an HTTP 4xx.

Orders are "exchange limit" orders (Gemini has no market orders): they rest unless their price crosses. A client order
id is the caller's (`[:\\-_.#a-zA-Z0-9]{1,36}`). `lose_answers` takes an order and then answers HTTP 500, as a create
whose answer was lost.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "account-fake-gemini-key-0123456789", "fake-gemini-secret-0123456789"
CLIENT_ORDER_ID = re.compile(r"[:\-_.#a-zA-Z0-9]{1,36}")


def _error(reason: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"result": "error", "reason": reason, "message": message}, status_code=status)


class FakeGemini:
    """One account holding USD; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"btcusd": Decimal(30000)}
        self.balances = {"USD": Decimal(100000), "BTC": Decimal(1)}
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self.lookups: list[dict[str, Any]] = []
        self.lose_answers = False
        self._ids = itertools.count(106027397702)
        self.app = Starlette(routes=[
            Route("/", self._exchange_page), Route("/v1/symbols", self._symbols),
            Route("/v1/{path:path}", self._private, methods=["POST"]),
        ])  # fmt: skip

    async def _exchange_page(self, request: Request) -> HTMLResponse:
        data = {
            "tradingPairs": [[pair.upper(), 2, 5, "0.00001", 10, True] for pair in self.prices],
            "currencies": [["BTC", "Bitcoin", 1, 8, 0, 8, 8, False, None, "bitcoin"],
                           ["USD", "US Dollar", 0, 2, 2, 2, 2, True, "$", None]],
            "networks": [["bitcoin", "BTC", "Bitcoin"]],
        }  # fmt: skip
        return HTMLResponse(f'<script type="application/json" id="currencyData">{json.dumps(data)}</script>')

    async def _symbols(self, request: Request) -> JSONResponse:
        return JSONResponse(list(self.prices))

    async def _private(self, request: Request) -> JSONResponse:
        if request.headers.get("X-GEMINI-APIKEY") != API_KEY:
            return _error("InvalidSignature", "InvalidSignature", 400)
        payload = json.loads(base64.b64decode(request.headers.get("X-GEMINI-PAYLOAD", "")))
        path = "/v1/" + request.path_params["path"]
        with self.lock:
            if path == "/v1/balances":
                return JSONResponse([{"type": "exchange", "currency": c, "amount": str(v), "available": str(v),
                                      "availableForWithdrawal": str(v)} for c, v in self.balances.items()])  # fmt: skip
            if path == "/v1/order/new":
                return self._create(payload)
            if path in ("/v1/order/status", "/v1/order/cancel"):
                return self._one(path, payload)
            if path == "/v1/orders":
                return JSONResponse([dict(o) for o in self.orders if o["is_live"]])
        return _error("EndpointNotFound", f"no endpoint {path}", 404)

    def _create(self, payload: dict[str, Any]) -> JSONResponse:
        self.order_requests.append(payload)
        coid, pair = payload.get("client_order_id"), payload.get("symbol")
        if coid is not None and not CLIENT_ORDER_ID.fullmatch(str(coid)):
            return _error("InvalidClientOrderId", f"invalid client_order_id {coid!r}")
        if pair not in self.prices:
            return _error("InvalidSymbol", f"invalid symbol {pair!r}")
        now = time.time()
        order = {
            "order_id": str(next(self._ids)), "client_order_id": coid, "symbol": pair, "exchange": "gemini",
            "avg_execution_price": "0.00", "side": payload["side"], "type": "exchange limit",
            "timestamp": str(int(now)), "timestampms": int(now * 1000), "is_live": True, "is_cancelled": False,
            "is_hidden": False, "was_forced": False, "executed_amount": "0", "options": payload.get("options", []),
            "price": payload["price"], "original_amount": payload["amount"], "remaining_amount": payload["amount"],
        }  # fmt: skip
        order["id"] = order["order_id"]
        self.orders.append(order)
        if self.lose_answers:
            return _error("InternalServerError", "Internal Server Error", 500)
        return JSONResponse(dict(order))

    def _one(self, path: str, payload: dict[str, Any]) -> JSONResponse:
        self.lookups.append({k: v for k, v in payload.items() if k not in ("request", "nonce")})
        order_id, coid = payload.get("order_id"), payload.get("client_order_id")
        if order_id is not None and coid is not None:
            return _error("InvalidParameters", "Cannot specify both order_id and client_order_id")
        if path == "/v1/order/cancel" and coid is not None:
            return _error("MissingOrderField", "Missing order_id")
        if order_id in (None, "") and not coid:
            return _error("MissingOrderField", "Missing order_id or client_order_id")
        key, wanted = ("client_order_id", coid) if coid else ("order_id", str(order_id))
        found = next((o for o in self.orders if str(o[key]) == wanted), None)
        if found is None:
            return _error("OrderNotFound", f"Order {wanted} not found")
        if path == "/v1/order/cancel":
            if not found["is_live"]:
                return _error("OrderNotFound", f"Order {wanted} already final")
            found.update(is_live=False, is_cancelled=True)
        return JSONResponse(dict(found))
