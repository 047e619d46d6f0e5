"""A fake of Kraken's spot REST API, written from Kraken's public "Spot REST API" documentation.

Covered: `GET /0/public/Assets`, `GET /0/public/AssetPairs`, and the private `POST /0/private/BalanceEx`,
`AddOrder`, `QueryOrders` (by `txid`, which it requires), `OpenOrders` and `ClosedOrders` (either restricted to one
`cl_ord_id`), and `CancelOrder` (by `txid` or `cl_ord_id`); authentication by the `API-Key` header (the signature is
not checked); form-encoded bodies. Answers are Kraken's `{"error": [...], "result": ...}`, always with HTTP 200.

A client order id (`cl_ord_id`) is, per Kraken's "Spot Client Order Identifiers" guide and AddOrder, a long UUID
(32 hex digits in 8-4-4-4-12 groups), a short UUID (32 hex digits), or free text of up to 18 ASCII characters;
anything else is refused as invalid arguments, and Kraken checks its uniqueness among open orders. Limit orders
rest; market orders fill at the pair's price.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fake-kraken-key-0123456789", "ZmFrZS1rcmFrZW4tc2VjcmV0"  # Kraken's secrets are base64
CL_ORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|[\x20-\x7e]{1,18}")
PAIRS = {"XBTUSDT": ("XXBT", "USDT")}


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"error": [], "result": result})


def _error(*errors: str) -> JSONResponse:
    return JSONResponse({"error": list(errors)})


class FakeKraken:
    """One spot account holding USDT; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"XBTUSDT": Decimal(30000)}
        self.balances = {"USDT": Decimal(100000), "XXBT": Decimal(1)}
        self.orders: dict[str, dict[str, Any]] = {}  # txid -> order, in placing order
        self.order_requests: list[dict[str, str]] = []
        self.queries: list[dict[str, str]] = []
        self._ids = itertools.count(100001)
        self.app = Starlette(routes=[
            Route("/0/public/Assets", self._assets), Route("/0/public/AssetPairs", self._pairs),
            *(Route(f"/0/private/{name}", getattr(self, f"_{name.lower()}"), methods=["POST"]) for name in (
                "BalanceEx", "AddOrder", "QueryOrders", "OpenOrders", "ClosedOrders", "CancelOrder")),
        ])  # fmt: skip

    async def _assets(self, request: Request) -> JSONResponse:
        return _ok(
            {
                asset: {
                    "aclass": "currency",
                    "altname": altname,
                    "decimals": 8,
                    "display_decimals": 5,
                    "status": "enabled",
                }
                for asset, altname in (("XXBT", "XBT"), ("USDT", "USDT"))
            }
        )

    async def _pairs(self, request: Request) -> JSONResponse:
        return _ok({
            pair: {"altname": pair, "wsname": "XBT/USDT", "aclass_base": "currency", "base": base,
                   "aclass_quote": "currency", "quote": quote, "lot": "unit", "cost_decimals": 5, "pair_decimals": 1,
                   "lot_decimals": 8, "lot_multiplier": 1, "leverage_buy": [], "leverage_sell": [],
                   "fees": [[0, 0.26]], "fees_maker": [[0, 0.16]], "fee_volume_currency": "ZUSD",
                   "margin_call": 80, "margin_stop": 40, "ordermin": "0.00005", "costmin": "0.5",
                   "tick_size": "0.1", "status": "online"}
            for pair, (base, quote) in PAIRS.items()
        })  # fmt: skip

    @staticmethod
    async def _form(request: Request) -> dict[str, str] | None:
        """The request's form fields, or None when its key is not ours."""
        if request.headers.get("API-Key") != API_KEY:
            return None
        return {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}

    async def _balanceex(self, request: Request) -> JSONResponse:
        if await self._form(request) is None:
            return _error("EAPI:Invalid key")
        with self.lock:
            return _ok({c: {"balance": str(v), "hold_trade": "0"} for c, v in self.balances.items()})

    async def _addorder(self, request: Request) -> JSONResponse:
        form = await self._form(request)
        if form is None:
            return _error("EAPI:Invalid key")
        with self.lock:
            self.order_requests.append(form)
            cl_ord_id = form.get("cl_ord_id")
            if cl_ord_id is not None and not CL_ORD_ID.fullmatch(cl_ord_id):
                return _error("EGeneral:Invalid arguments:cl_ord_id")
            if cl_ord_id and any(o["cl_ord_id"] == cl_ord_id and o["status"] == "open" for o in self.orders.values()):
                return _error("EOrder:Duplicate order")
            pair = form["pair"]
            if pair not in self.prices:
                return _error("EQuery:Unknown asset pair")
            market, volume = form["ordertype"] == "market", Decimal(form["volume"])
            txid = f"O{next(self._ids)}-KRAKN-FAKE{len(self.orders):02d}"
            price = f"{Decimal(form.get('price', '0')):.1f}"
            text = f"{form['type']} {volume:.8f} {pair} @ " + ("market" if market else f"limit {price}")
            self.orders[txid] = {
                "refid": None, "userref": 0, "cl_ord_id": cl_ord_id, "status": "closed" if market else "open",
                "opentm": time.time(), "starttm": 0, "expiretm": 0,
                "descr": {"pair": pair, "type": form["type"], "ordertype": form["ordertype"],
                          "price": "0" if market else price, "price2": "0", "leverage": "none", "order": text,
                          "close": ""},
                "vol": f"{volume:.8f}", "vol_exec": f"{volume:.8f}" if market else "0.00000000",
                "cost": f"{volume * self.prices[pair]:.5f}" if market else "0.00000", "fee": "0.00000",
                "price": f"{self.prices[pair]:.1f}" if market else "0.00000", "stopprice": "0.00000",
                "limitprice": "0.00000", "misc": "", "oflags": "fciq",
            }  # fmt: skip
            if market:
                self.orders[txid]["closetm"] = time.time()
        return _ok({"descr": {"order": text}, "txid": [txid]})

    def _listed(self, form: dict[str, str], statuses: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        wanted = form.get("cl_ord_id")
        return {txid: dict(o) for txid, o in self.orders.items()
                if o["status"] in statuses and wanted in (None, o["cl_ord_id"])}  # fmt: skip

    async def _queryorders(self, request: Request) -> JSONResponse:
        form = await self._form(request)
        if form is None:
            return _error("EAPI:Invalid key")
        with self.lock:
            self.queries.append(form)
            txids = [t for t in form.get("txid", "").split(",") if t]
            if not txids:
                return _error("EGeneral:Invalid arguments")
            found = {t: dict(self.orders[t]) for t in txids if t in self.orders}
        return _ok(found) if found else _error("EOrder:Invalid order")

    async def _openorders(self, request: Request) -> JSONResponse:
        form = await self._form(request)
        if form is None:
            return _error("EAPI:Invalid key")
        with self.lock:
            self.queries.append(form)
            return _ok({"open": self._listed(form, ("open", "pending"))})

    async def _closedorders(self, request: Request) -> JSONResponse:
        form = await self._form(request)
        if form is None:
            return _error("EAPI:Invalid key")
        with self.lock:
            self.queries.append(form)
            closed = self._listed(form, ("closed", "canceled", "expired"))
            return _ok({"closed": closed, "count": len(closed)})

    async def _cancelorder(self, request: Request) -> JSONResponse:
        form = await self._form(request)
        if form is None:
            return _error("EAPI:Invalid key")
        with self.lock:
            wanted = form.get("txid"), form.get("cl_ord_id")
            found = [o for t, o in self.orders.items() if o["status"] == "open" and (
                t == wanted[0] or (wanted[1] and o["cl_ord_id"] == wanted[1]))]  # fmt: skip
            if not found:
                return _error("EOrder:Unknown order")
            for order in found:
                order.update(status="canceled", closetm=time.time())
        return _ok({"count": len(found)})
