"""A fake of Coinbase's Advanced Trade API (v3 brokerage) for spot trading, from Coinbase's public documentation.

Covered: `GET /api/v3/brokerage/market/products`, `GET /api/v3/brokerage/transaction_summary`,
`GET /api/v3/brokerage/accounts` (and `GET /v2/accounts`, where ccxt reads balances),
`POST /api/v3/brokerage/orders` ("Create Order"),
`GET /api/v3/brokerage/orders/historical/{order_id}` ("Get Order"), `GET /api/v3/brokerage/orders/historical/batch`
("List Orders", by `order_status` and `product_id`, `limit` to a page and the next by `cursor`) and
`POST /api/v3/brokerage/orders/batch_cancel`, with the `v2` currency and exchange-rate lists ccxt reads while loading
markets; authentication by the `CB-ACCESS-KEY` header (the signature is not checked). An order is read by
Coinbase's `order_id` only; `client_order_id` is the caller's, kept as sent. Limit orders rest; market sells fill at
the product's price.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY, SECRET = "fake-coinbase-key-0123456789", "fake-coinbase-secret-0123456789"
V3 = "/api/v3/brokerage"


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": "unauthorized", "message": "invalid api key"}, status_code=401)


class FakeCoinbase:
    """One spot account holding USDT and BTC; plain Python state so tests can read what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prices = {"BTC-USDT": Decimal(30000)}
        self.balances = {"USDT": Decimal(100000), "BTC": Decimal(1)}
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[
            Route("/v2/currencies", self._empty_data), Route("/v2/currencies/crypto", self._empty_data),
            Route("/v2/exchange-rates", self._rates), Route(f"{V3}/market/products", self._products),
            Route(f"{V3}/transaction_summary", self._summary), Route(f"{V3}/accounts", self._accounts),
            Route("/v2/accounts", self._wallets),
            Route(f"{V3}/orders", self._create, methods=["POST"]),
            Route(f"{V3}/orders/historical/batch", self._list),
            Route(f"{V3}/orders/historical/{{order_id}}", self._one),
            Route(f"{V3}/orders/batch_cancel", self._cancel, methods=["POST"]),
        ])  # fmt: skip

    @staticmethod
    def _authorized(request: Request) -> bool:
        return request.headers.get("CB-ACCESS-KEY") == API_KEY

    async def _empty_data(self, request: Request) -> JSONResponse:
        return JSONResponse({"data": []})

    async def _rates(self, request: Request) -> JSONResponse:
        return JSONResponse({"data": {"currency": "USD", "rates": {}}})

    async def _products(self, request: Request) -> JSONResponse:
        if request.query_params.get("product_type") not in (None, "SPOT"):
            return JSONResponse({"products": [], "num_products": 0})
        return JSONResponse({"products": [
            {"product_id": pid, "price": str(price), "base_increment": "0.00000001", "quote_increment": "0.01",
             "price_increment": "0.01", "base_min_size": "0.00000001", "base_max_size": "3400",
             "quote_min_size": "1", "quote_max_size": "150000000", "status": "online", "trading_disabled": False,
             "product_type": "SPOT", "base_currency_id": pid.split("-")[0], "quote_currency_id": pid.split("-")[1],
             "alias_to": [], "is_disabled": False, "cancel_only": False, "limit_only": False, "post_only": False}
            for pid, price in self.prices.items()
        ], "num_products": len(self.prices)})  # fmt: skip

    async def _summary(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _unauthorized()
        return JSONResponse({"fee_tier": {"pricing_tier": "Advanced 1", "taker_fee_rate": "0.006",
                                          "maker_fee_rate": "0.004"}})  # fmt: skip

    async def _accounts(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _unauthorized()
        with self.lock:
            accounts = [
                {"uuid": f"acct-{c}", "name": f"{c} Wallet", "currency": c, "active": True,
                 "type": "ACCOUNT_TYPE_CRYPTO", "available_balance": {"value": str(v), "currency": c},
                 "hold": {"value": "0", "currency": c}}
                for c, v in self.balances.items()
            ]  # fmt: skip
        return JSONResponse({"accounts": accounts, "has_next": False, "cursor": "", "size": len(accounts)})

    async def _wallets(self, request: Request) -> JSONResponse:
        """The v2 account list, which ccxt reads balances from by default."""
        if not self._authorized(request):
            return _unauthorized()
        with self.lock:
            wallets = [{"id": f"acct-{c}", "name": f"{c} Wallet", "primary": True, "type": "wallet",
                        "currency": {"code": c}, "balance": {"amount": str(v), "currency": c}}
                       for c, v in self.balances.items()]  # fmt: skip
        return JSONResponse({"data": wallets, "pagination": {"next_uri": None}})

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _unauthorized()
        body = await request.json()
        with self.lock:
            self.order_requests.append(body)
            pid, config = body["product_id"], body["order_configuration"]
            kind, settings = next(iter(config.items()))
            market = kind == "market_market_ioc"
            size = Decimal(settings["base_size"])
            now = datetime.now(UTC).isoformat()
            order = {
                "order_id": f"0000{next(self._ids):04d}-0b29-4c19-a245-a6a773de5030",
                "product_id": pid, "user_id": "u", "order_configuration": config, "side": body["side"],
                "client_order_id": body["client_order_id"], "status": "FILLED" if market else "OPEN",
                "time_in_force": "IMMEDIATE_OR_CANCEL" if market else "GOOD_UNTIL_CANCELLED",
                "created_time": now, "completion_percentage": "100" if market else "0",
                "filled_size": str(size) if market else "0",
                "average_filled_price": str(self.prices[pid]) if market else "0", "fee": "", "number_of_fills": "1"
                if market else "0", "filled_value": str(size * self.prices[pid]) if market else "0",
                "pending_cancel": False, "size_in_quote": False, "total_fees": "0", "size_inclusive_of_fees": False,
                "total_value_after_fees": "0", "trigger_status": "INVALID_ORDER_TYPE",
                "order_type": "MARKET" if market else "LIMIT", "reject_reason": "REJECT_REASON_UNSPECIFIED",
                "settled": market, "product_type": "SPOT", "reject_message": "", "cancel_message": "",
                "order_placement_source": "RETAIL_ADVANCED", "outstanding_hold_amount": "0",
                "last_fill_time": now if market else None,
            }  # fmt: skip
            self.orders.append(order)
        return JSONResponse({
            "success": True, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": order["order_id"],
            "success_response": {"order_id": order["order_id"], "product_id": pid, "side": body["side"],
                                 "client_order_id": body["client_order_id"]},
            "order_configuration": config,
        })  # fmt: skip

    async def _one(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _unauthorized()
        wanted = request.path_params["order_id"]
        with self.lock:
            found = next((dict(o) for o in self.orders if o["order_id"] == wanted), None)
        if found is None:
            return JSONResponse({"error": "NOT_FOUND", "message": "order with this orderID was not found",
                                 "error_details": "", "preview_failure_reason": ""}, status_code=404)  # fmt: skip
        return JSONResponse({"order": found})

    async def _list(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _unauthorized()
        query = request.query_params
        statuses, pid = query.getlist("order_status"), query.get("product_id")
        with self.lock:
            orders = [dict(o) for o in reversed(self.orders) if (not statuses or o["status"] in statuses)
                      and pid in (None, o["product_id"])]  # fmt: skip
        # `limit` orders from the `cursor` the last page gave, newest first; `has_next` says whether more follow.
        start = int(query.get("cursor") or 0)
        end = start + int(query["limit"]) if query.get("limit") else len(orders)
        more = end < len(orders)
        return JSONResponse({"orders": orders[start:end], "sequence": "0", "has_next": more,
                             "cursor": str(end) if more else ""})  # fmt: skip

    async def _cancel(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _unauthorized()
        results = []
        with self.lock:
            for order_id in (await request.json())["order_ids"]:
                found = next((o for o in self.orders if o["order_id"] == order_id), None)
                if found is None or found["status"] != "OPEN":
                    reason = "UNKNOWN_CANCEL_ORDER" if found is None else "INVALID_CANCEL_REQUEST"
                    results.append({"success": False, "failure_reason": reason, "order_id": order_id})
                    continue
                found["status"] = "CANCELLED"
                results.append({"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                                "order_id": order_id})  # fmt: skip
        return JSONResponse({"results": results})
