"""A fake of Bitso's REST API v3 (market data, balances and orders), written from Bitso's public "API" reference.

Covered: `GET /api/v3/catalogues` (currencies), `GET /api/v3/available_books` (each book's minimum amount, price and
value), `GET /api/v3/ticker?book=` (one book's ticker: Bitso lists no tickers of several named books at once),
`GET /api/v3/balance`; "Place an Order" (`POST /api/v3/orders`: book, side, type, major, price, and the client-supplied
`origin_id`; a market order fills at once at the book's price), "Look Up Orders" (`GET /api/v3/orders/{oid}/`, or
`GET /api/v3/orders/?oids=` or `?origin_ids=`, or every open order with neither: "the method only returns open or
partially filled orders", a finished one for an hour after it ended, see `recent`), "List Open Orders"
(`GET /api/v3/open_orders/`: every open order, or one `book`'s, newest first, `limit` of them: 500 unless asked, and
no more than `open_orders_most`: 100 by default, as an older version of the page had it; the current page names no
most; `sort` asc lists the oldest first, as the older version took it (`sorts`; the current page names no `sort`,
and with `sorts` off it is not read)), "List Order Trades"
(`GET /api/v3/order_trades/{oid}/` or `?origin_id=`: an order's trades, finished or not) and "Cancel an Order"
(`DELETE /api/v3/orders/{oid}/`); authentication by the `Authorization: Bitso key:nonce:signature` header (the
signature is not checked). Answers are `{"success": true, "payload": ...}`.
"""

from __future__ import annotations

import itertools
import json
import threading
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fakeBitsoKey0123", "fake-bitso-secret-0123456789"
MINIMUM_VALUE = Decimal(10)  # MXN
AT = "2026-01-01T00:00:00+00:00"
OPEN = ("open", "partially filled", "queued")
OPEN_ORDERS_MOST = 100  # "List Open Orders": `limit` defaults to 500; its older page said 100 at most


def _ok(payload: object) -> JSONResponse:
    return JSONResponse({"success": True, "payload": payload})


def _refused(code: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"success": False, "error": {"code": code, "message": message}}, status)


class FakeBitso:
    """One account holding MXN; plain Python state so tests can read what was asked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"btc_mxn": Decimal(600000)}
        self.open_orders_most = OPEN_ORDERS_MOST  # the most one "List Open Orders" answer holds, whatever `limit` asks
        self.open_orders_asked: list[str | None] = []  # the `limit` of each "List Open Orders"
        self.open_orders_sorts: list[str | None] = []  # and its `sort`
        self.sorts = True  # "List Open Orders" reads `sort` (asc: the oldest first), as its older version did
        self.balances = {"mxn": Decimal(100000), "btc": Decimal(0)}
        self.tickers_asked: list[str | None] = []
        self.orders: list[dict[str, str]] = []  # every order, as Bitso's lookups write them
        self.trades: list[dict[str, str]] = []  # every fill, as "List Order Trades" writes them
        self.order_requests: list[dict[str, str]] = []  # every `POST /orders` body
        # Finished orders a lookup still returns (Bitso: "a one-hour window exists"); cleared, the hour is over.
        self.recent: set[str] = set()
        # The fee of each fill, as "List Order Trades" shows it in its example: a buy's taken from the major bought
        # (`major` 4.86859395 with `fees_amount` 0.04917771 at 127.45 for `minor` -626.77), a sell's from the minor
        # (`major` -0.25232073 at 4057.45 for `minor` 1013.54 and `fees_amount` 10.24): `major` and `minor` net of it.
        self.fee_rate = Decimal(0)
        self._oids = (f"bitsoOid{n:08d}" for n in itertools.count(1))
        self._tids = itertools.count(1)
        api = "/api/v3"
        self.app = Starlette(routes=[
            Route(f"{api}/catalogues", self._catalogues), Route(f"{api}/available_books", self._books),
            Route(f"{api}/ticker", self._ticker), Route(f"{api}/balance", self._balance),
            Route(f"{api}/orders", self._place, methods=["POST"]), Route(f"{api}/open_orders", self._open_orders),
            Route(f"{api}/orders/{{oid:path}}", self._orders, methods=["GET", "DELETE"]),
            Route(f"{api}/order_trades/{{oid:path}}", self._order_trades),
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
            return _refused("0301", "Unknown OrderBook")
        last = str(self.prices[book])
        return _ok({"book": book, "volume": "1", "high": last, "last": last, "low": last, "vwap": last, "ask": last,
                    "bid": last, "created_at": AT})  # fmt: skip

    async def _balance(self, request: Request) -> JSONResponse:
        if not request.headers.get("Authorization", "").startswith(f"Bitso {API_KEY}:"):
            return _refused("0201", "Invalid key", 401)
        with self.lock:
            return _ok({"balances": [{"currency": c, "available": str(v), "locked": "0", "total": str(v)}
                                     for c, v in self.balances.items()]})  # fmt: skip

    async def _place(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())  # ccxt sends the JSON without a Content-Type
        with self.lock:
            self.order_requests.append(body)
            unknown = set(body) - {"book", "side", "type", "major", "minor", "price", "stop", "time_in_force",
                                   "origin_id"}  # fmt: skip
            if unknown:
                return _refused("0303", f"Unknown parameter(s) {sorted(unknown)}")
            origin = body.get("origin_id")
            book, amount = body["book"], Decimal(body["major"])
            price = Decimal(body["price"]) if body.get("price") else self.prices[book]
            order = {"oid": next(self._oids), "book": book, "side": body["side"], "type": body["type"],
                     "status": "open", "price": str(price), "original_amount": str(amount),
                     "unfilled_amount": str(amount), "created_at": AT, "updated_at": AT}  # fmt: skip
            if origin is not None:
                order["origin_id"] = origin
            self.orders.append(order)
            if body["type"] == "market":
                self.fill(order["oid"])
            return _ok({"oid": order["oid"]})

    def fill(self, oid: str) -> None:
        """Fill an order whole at its price (a market order at the book's), as a trade of its own."""
        order = next(o for o in self.orders if o["oid"] == oid)
        amount, price = Decimal(order["unfilled_amount"]), Decimal(order["price"])
        if not amount:
            return
        buy = order["side"] == "buy"
        fee = (amount if buy else amount * price) * self.fee_rate
        major, minor = (amount - fee, -amount * price) if buy else (-amount, amount * price - fee)
        self.trades.append({"book": order["book"], "tid": str(next(self._tids)), "oid": oid,
                            "origin_id": order.get("origin_id", ""), "side": order["side"], "price": str(price),
                            "major": str(major), "minor": str(minor), "major_currency": "btc",
                            "minor_currency": "mxn", "fees_amount": str(-fee), "fees_currency": "btc" if buy else "mxn",
                            "maker_side": "sell", "created_at": AT})  # fmt: skip
        order["unfilled_amount"], order["status"] = "0", "completed"
        self.recent.add(oid)

    def _looked_up(self, order: dict[str, str]) -> bool:
        return order["status"] in OPEN or order["oid"] in self.recent

    async def _orders(self, request: Request) -> JSONResponse:
        oid = request.path_params["oid"].strip("/")
        with self.lock:
            if request.method == "DELETE":
                found = [o for o in self.orders if o["oid"] == oid and o["status"] in OPEN]
                for order in found:
                    order["status"] = "cancelled"
                    self.recent.add(oid)
                return _ok([o["oid"] for o in found])
            oids = request.query_params.get("oids")
            origins = request.query_params.get("origin_ids")
            if oid:
                wanted = [o for o in self.orders if o["oid"] == oid]
            elif oids is not None:
                wanted = [o for o in self.orders if o["oid"] in oids.split(",")]
            elif origins is not None:
                wanted = [o for o in self.orders if o.get("origin_id") in origins.split(",")]
            else:
                wanted = [o for o in self.orders if o["status"] in OPEN]
            return _ok([dict(o) for o in wanted if self._looked_up(o)])

    async def _open_orders(self, request: Request) -> JSONResponse:
        book = request.query_params.get("book")
        self.open_orders_asked.append(request.query_params.get("limit"))
        self.open_orders_sorts.append(request.query_params.get("sort"))
        limit = min(int(request.query_params.get("limit", 500)), self.open_orders_most)
        oldest_first = self.sorts and request.query_params.get("sort") == "asc"
        with self.lock:
            listed = [dict(o) for o in reversed(self.orders) if o["status"] in OPEN and book in (None, o["book"])]
            return _ok((listed[::-1] if oldest_first else listed)[:limit])

    async def _order_trades(self, request: Request) -> JSONResponse:
        oid = request.path_params["oid"].strip("/")
        origin = request.query_params.get("origin_id")
        with self.lock:
            found = [t for t in self.trades if (oid and t["oid"] == oid) or (origin and t["origin_id"] == origin)]
            return _ok([dict(t) for t in reversed(found)])  # newest first
