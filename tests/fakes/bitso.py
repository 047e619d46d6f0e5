"""A fake of Bitso's REST API v3 (market data and balances), written from Bitso's public "API" reference.

Covered: `GET /api/v3/catalogues` (currencies), `GET /api/v3/available_books` (each book's minimum amount, price and
value), `GET /api/v3/ticker?book=` (one book's ticker: Bitso lists no tickers of several named books at once),
`GET /api/v3/balance`, and "Look Up Orders" (`GET /api/v3/orders/{oid}/`, or `GET /api/v3/orders/` for every open
order: "the method only returns open or partially filled orders"); authentication by the `Authorization: Bitso
key:nonce:signature` header (the signature is not checked). Answers are `{"success": true, "payload": ...}`.
"""

from __future__ import annotations

import threading
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fakeBitsoKey0123", "fake-bitso-secret-0123456789"
MINIMUM_VALUE = Decimal(10)  # MXN


def _ok(payload: object) -> JSONResponse:
    return JSONResponse({"success": True, "payload": payload})


class FakeBitso:
    """One account holding MXN; plain Python state so tests can read what was asked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"btc_mxn": Decimal(600000)}
        self.balances = {"mxn": Decimal(100000), "btc": Decimal(0)}
        self.tickers_asked: list[str | None] = []
        self.orders: list[dict[str, str]] = []  # open orders, as Bitso lists them
        api = "/api/v3"
        self.app = Starlette(routes=[
            Route(f"{api}/catalogues", self._catalogues), Route(f"{api}/available_books", self._books),
            Route(f"{api}/ticker", self._ticker), Route(f"{api}/balance", self._balance),
            Route(f"{api}/orders/{{oid:path}}", self._orders),
        ])  # fmt: skip

    async def _catalogues(self, request: Request) -> JSONResponse:
        metadata = [{"code": "btc", "full_name": "Bitcoin", "precision": "8"},
                    {"code": "mxn", "full_name": "Mexican peso", "precision": "2"}]  # fmt: skip
        return _ok({"currencies": {"metadata": metadata}})

    async def _books(self, request: Request) -> JSONResponse:
        return _ok([{"book": book, "minimum_amount": "0.00000100", "maximum_amount": "500.00000000",
                     "minimum_price": "10.00", "maximum_price": "50000000.00", "minimum_value": str(MINIMUM_VALUE),
                     "maximum_value": "100000000.00", "tick_size": "10",
                     "fees": {"flat_rate": {"maker": "0.500", "taker": "0.650"}, "structure": []}}
                    for book in self.prices])  # fmt: skip

    async def _ticker(self, request: Request) -> JSONResponse:
        book = request.query_params.get("book")
        self.tickers_asked.append(book)
        if book not in self.prices:
            return JSONResponse({"success": False, "error": {"code": "0301", "message": "Unknown OrderBook"}}, 400)
        last = str(self.prices[book])
        return _ok({"book": book, "volume": "1", "high": last, "last": last, "low": last, "vwap": last, "ask": last,
                    "bid": last, "created_at": "2026-01-01T00:00:00+00:00"})  # fmt: skip

    async def _balance(self, request: Request) -> JSONResponse:
        if not request.headers.get("Authorization", "").startswith(f"Bitso {API_KEY}:"):
            return JSONResponse({"success": False, "error": {"code": "0201", "message": "Invalid key"}}, 401)
        with self.lock:
            return _ok({"balances": [{"currency": c, "available": str(v), "locked": "0", "total": str(v)}
                                     for c, v in self.balances.items()]})  # fmt: skip

    async def _orders(self, request: Request) -> JSONResponse:
        oid = request.path_params["oid"].strip("/")
        with self.lock:
            return _ok([dict(o) for o in self.orders if oid in ("", o["oid"])])
