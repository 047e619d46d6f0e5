"""A fake of OKX's REST API v5 for spot trading, written from OKX's public "API v5" documentation.

Covered: `GET /api/v5/public/instruments?instType=SPOT`, `GET /api/v5/asset/currencies`,
`GET /api/v5/account/balance`, `POST /api/v5/trade/order` ("Place order") and `/api/v5/trade/batch-orders`
("Place multiple orders", which ccxt uses), `GET /api/v5/trade/order`
("Get order details", by `ordId` or `clOrdId`), `GET /api/v5/trade/orders-pending` (newest first, `limit` of
them, 100 at most and unless asked, those older than the ordId `after`) and
`POST /api/v5/trade/cancel-order`; authentication by the `OK-ACCESS-KEY` / `OK-ACCESS-PASSPHRASE` headers (the
signature is not checked). Answers are OKX's `{"code": "0", "msg": "", "data": [...]}`; an order refused is
`code` "1" with the order's own `sCode` and `sMsg`. A client order id (`clOrdId`) is "a combination of
case-sensitive alphanumerics, all numbers, or all letters of up to 32 characters": anything else is refused
with sCode 51000 "Parameter clOrdId error", and one a working order already has with 51016 "Duplicated clOrdId".
Limit orders rest; market orders fill at the instrument's price.
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

API_KEY, SECRET, PASSPHRASE = "fake-okx-key-0123456789", "fake-okx-secret-0123456789", "fake-okx-pass"
CLORDID = re.compile(r"[A-Za-z0-9]{1,32}")


class FakeOkx:
    """One spot account holding USDT; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"BTC-USDT": Decimal(30000)}
        self.balances = {"USDT": Decimal(100000)}
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self._ids = itertools.count(612345678901234567)
        self.app = Starlette(routes=[
            Route("/api/v5/public/instruments", self._instruments), Route("/api/v5/asset/currencies", self._currencies),
            Route("/api/v5/account/balance", self._balance),
            Route("/api/v5/trade/order", self._order, methods=["GET", "POST"]),
            Route("/api/v5/trade/batch-orders", self._batch, methods=["POST"]),
            Route("/api/v5/trade/orders-pending", self._pending),
            Route("/api/v5/trade/cancel-order", self._cancel, methods=["POST"]),
        ])  # fmt: skip

    @staticmethod
    def _ok(data: list[Any]) -> JSONResponse:
        return JSONResponse({"code": "0", "msg": "", "data": data})

    @staticmethod
    def _refused(s_code: str, s_msg: str, cl_ord_id: str = "") -> JSONResponse:
        item = {"clOrdId": cl_ord_id, "ordId": "", "tag": "", "sCode": s_code, "sMsg": s_msg}
        return JSONResponse({"code": "1", "msg": "All operations failed", "data": [item]})

    @staticmethod
    def _authorized(request: Request) -> bool:
        return request.headers.get("OK-ACCESS-KEY") == API_KEY and request.headers.get("OK-ACCESS-PASSPHRASE") == (
            PASSPHRASE
        )

    async def _instruments(self, request: Request) -> JSONResponse:
        return self._ok([
            {"instType": "SPOT", "instId": inst, "uly": "", "instFamily": "", "baseCcy": inst.split("-")[0],
             "quoteCcy": inst.split("-")[1], "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "",
             "optType": "", "stk": "", "listTime": "1606468572000", "expTime": "", "lever": "", "tickSz": "0.1",
             "lotSz": "0.00000001", "minSz": "0.00001", "ctType": "", "alias": "", "state": "live",
             "maxLmtSz": "9999999999", "maxMktSz": "1000000", "maxLmtAmt": "20000000", "maxMktAmt": "1000000"}
            for inst in self.prices
        ])  # fmt: skip

    async def _currencies(self, request: Request) -> JSONResponse:
        return self._ok([]) if self._authorized(request) else self._refused("50113", "Invalid Sign")

    async def _balance(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"code": "50113", "msg": "Invalid Sign", "data": []}, status_code=401)
        with self.lock:
            details = [{"ccy": ccy, "availBal": str(v), "cashBal": str(v), "eq": str(v), "frozenBal": "0",
                        "uTime": str(int(time.time() * 1000))} for ccy, v in self.balances.items()]  # fmt: skip
        return self._ok([{"details": details, "totalEq": "0", "uTime": str(int(time.time() * 1000))}])

    def _public(self, order: dict[str, Any]) -> dict[str, Any]:
        return dict(order)

    async def _order(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"code": "50113", "msg": "Invalid Sign", "data": []}, status_code=401)
        if request.method == "GET":
            wanted = request.query_params
            with self.lock:
                found = next((o for o in self.orders if o["instId"] == wanted.get("instId") and (
                    o["ordId"] == wanted.get("ordId") or o["clOrdId"] == wanted.get("clOrdId"))), None)  # fmt: skip
            if found is None:
                return JSONResponse({"code": "51603", "msg": "Order does not exist", "data": []})
            return self._ok([self._public(found)])
        answer = self._place(await request.json())
        return JSONResponse({"code": "0" if answer["sCode"] == "0" else "1", "msg": "", "data": [answer]})

    async def _batch(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"code": "50113", "msg": "Invalid Sign", "data": []}, status_code=401)
        answers = [self._place(body) for body in await request.json()]
        failed = sum(a["sCode"] != "0" for a in answers)
        code, msg = ("0", "") if not failed else ("1", "All operations failed") if failed == len(answers) else (
            "2", "Bulk operation partially succeeded")  # fmt: skip
        return JSONResponse({"code": code, "msg": msg, "data": answers})

    def _place(self, body: dict[str, Any]) -> dict[str, Any]:
        """One order placed, or refused: its entry in the answer's `data`."""
        with self.lock:
            self.order_requests.append(body)
            cl_ord_id = str(body.get("clOrdId") or "")
            if cl_ord_id and not CLORDID.fullmatch(cl_ord_id):
                return {
                    "clOrdId": cl_ord_id,
                    "ordId": "",
                    "tag": "",
                    "sCode": "51000",
                    "sMsg": "Parameter clOrdId error",
                }
            if body.get("instId") not in self.prices:
                return {"clOrdId": cl_ord_id, "ordId": "", "tag": "", "sCode": "51001",
                        "sMsg": "Instrument ID does not exist"}  # fmt: skip
            if cl_ord_id and any(o["clOrdId"] == cl_ord_id and o["state"] == "live" for o in self.orders):
                return {"clOrdId": cl_ord_id, "ordId": "", "tag": "", "sCode": "51016", "sMsg": "Duplicated clOrdId"}
            now = str(int(time.time() * 1000))
            market = body.get("ordType") == "market"
            order = {
                "instType": "SPOT", "instId": body["instId"], "ordId": str(next(self._ids)), "clOrdId": cl_ord_id,
                "tag": "", "px": "" if market else body.get("px", ""), "sz": body["sz"], "ordType": body["ordType"],
                "side": body["side"], "tdMode": body.get("tdMode", "cash"), "state": "filled" if market else "live",
                "accFillSz": body["sz"] if market else "0", "avgPx": str(self.prices[body["instId"]]) if market else "",
                "fillPx": "", "fee": "0", "feeCcy": body["instId"].split("-")[0], "cTime": now, "uTime": now,
            }  # fmt: skip
            self.orders.append(order)
        return {
            "clOrdId": cl_ord_id,
            "ordId": order["ordId"],
            "tag": "",
            "ts": now,
            "sCode": "0",
            "sMsg": "Order placed",
        }

    async def _pending(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"code": "50113", "msg": "Invalid Sign", "data": []}, status_code=401)
        inst, after = request.query_params.get("instId"), request.query_params.get("after")
        most = min(int(request.query_params.get("limit") or 100), 100)  # "limit": 100 at most, and unless asked
        with self.lock:  # newest first; `after` an ordId: those older than it
            working = [o for o in reversed(self.orders) if o["state"] in ("live", "partially_filled")
                       and inst in (None, o["instId"]) and (after is None or int(o["ordId"]) < int(after))]  # fmt: skip
            return self._ok([self._public(o) for o in working[:most]])

    async def _cancel(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return JSONResponse({"code": "50113", "msg": "Invalid Sign", "data": []}, status_code=401)
        body = await request.json()
        with self.lock:
            found = next((o for o in self.orders if o["instId"] == body.get("instId") and (
                o["ordId"] == body.get("ordId") or o["clOrdId"] == body.get("clOrdId"))), None)  # fmt: skip
            if found is None or found["state"] not in ("live", "partially_filled"):
                return self._refused("51400", "Order cancellation failed as the order has been filled, canceled or "
                                     "does not exist", str(body.get("clOrdId") or ""))  # fmt: skip
            found.update(state="canceled", uTime=str(int(time.time() * 1000)))
        return self._ok([{"clOrdId": found["clOrdId"], "ordId": found["ordId"], "sCode": "0", "sMsg": ""}])
