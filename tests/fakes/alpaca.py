"""A fake of Alpaca's Trading API v2, written from Alpaca's public API reference.

Covered: `GET /v2/account`, `GET /v2/positions`, `GET/POST /v2/orders`, `GET /v2/orders/{id}`,
`GET /v2/orders:by_client_order_id`, `DELETE /v2/orders/{id}`, `PATCH /v2/orders/{id}` ("Replace Order by ID": the
order becomes `replaced`, its `replaced_by` the id of a new order with a new client order id, generated unless the
body gives one, as Alpaca also does to adjust a GTC order for a corporate action; only the documented fields qty,
time_in_force, limit_price, stop_price, trail and client_order_id, a price on the order's own type, whole shares,
never an order accepted, pending_new or pending_cancel; a bracket leg's prices only ("Orders at Alpaca": replacement
"is supported to update limit_price and stop_price"), its replacement staying in its bracket, one exit canceling the
other); authentication by the
`APCA-API-KEY-ID` / `APCA-API-SECRET-KEY` headers (`revoked` refuses even the right ones, as keys regenerated in
Alpaca's dashboard are); an account on which trading is blocked (`blocked`: every order refused 403, the account's
`trading_blocked`), or whose every call is refused 403 "forbidden." (`forbidden`); the documented errors (401 not
authorized, 403 insufficient buying power, 404 not found, 422 invalid input or a reused `client_order_id`, 429 rate
limit with `X-Ratelimit-*` headers); a gateway's status in place of an order's answer (`gateway`: a 408, 502, 504,
with the order placed or not); order classes simple, bracket and oto; fractional quantities (market, limit, stop and
stop_limit, DAY only); extended hours (DAY limit only, no bracket or oto legs); prices in cents at or above $1 and in
0.0001 below (a "sub-penny increment" is refused); a bracket's take-profit above its stop-loss for a buy (below for a
sell), each leg at least 0.01 past the base price (the entry's limit, else the market); trailing stops DAY or GTC, opg
and cls market or limit only. Market orders fill at once at the symbol's price; limit and stop orders rest until
`set_price` crosses them; a bracket's stop-loss stays `held` beside its working take-profit once the entry fills (as
Alpaca lists it: its OCO), and triggers from there; when it fills, its take-profit reads `replaced`, `replaced_by` the
stop (as reported on Alpaca's SDK issues), not canceled. Canceling one leg of a bracket cancels the other too (not in
the API reference; an answer from Alpaca's staff on its forum), as canceling the entry cancels its legs. A cancel is
done at once, unless `cancel_delay` says otherwise: then the DELETE is accepted
(204) and the order stays `pending_cancel` ("The order is waiting to be canceled") that many seconds, and is canceled,
or filled at `cancel_fills_at` when that is set (the market reached it before the cancel did). `fill_part` fills part
of a resting order (of a bracket's take-profit, its stop-loss then goes for what is left, as "Orders at Alpaca"
says) and `set_status` gives a working order a status only the venue gives (done_for_day, suspended);
`unreadable` answers 500 to a read of an order it names once that order is canceled (a leg is read through its
parent: the parent's read fails then too). `close_market` ends the session: working day orders expire, legs too.

Crypto pairs ("Crypto Orders"): `BTC/USD` takes market, limit and stop_limit orders, time_in_force gtc or ioc,
fractional quantities, simple orders only (no take-profit or stop-loss legs), and no short sales; its position is
listed as `BTCUSD`, without the slash its orders carry (an inconsistency of Alpaca's API its SDK maintainers confirm,
and leave to the API). An order for the legacy `BTCUSD` ("Crypto Spot Trading": the API still takes the symbology of
before `BTC/USD`) is booked as `BTC/USD`, as its orders then show it.

The crypto assets (`GET /v2/assets?asset_class=crypto`) are the pairs in `pairs` (Alpaca's list by default), all
active and tradable; `assets_down` answers that listing 503. Each carries the Assets reference's crypto-only fields
`min_order_size` ("Minimum order size"), `min_trade_increment` ("Amount a trade quantity can be incremented by") and
`price_increment` ("Amount the price can be incremented by"), from `increments` (BTC/USD's are the reference's own
example, 0.0001, 0.0001 and 1; a pair not in it has INCREMENTS' fine steps), and an order breaking any is refused 422.

Listings ("Get all orders") take `status`, `symbols`, `nested`, `after` and `until` (submission times, exclusive),
`direction` (desc by default) and `limit` (50 by default, 500 at most); a bracket's three orders share their
submission time, as Alpaca's do. A `held` order (a bracket's stop-loss beside its take-profit, the legs of an entry
still working) is listed as closed, not open, as Alpaca lists it (alpaca-trade-api-python issue 322, "Stop_Limit Order
Status Held and Incorrectly Not Listed as Open"; alpaca-trade-api-js issue 87; Alpaca's forum, "Bracket Order -
Closing Positions"); with `nested=true` it shows under its parent's `legs`.

Every order request body is kept in `order_requests`, so tests can assert exactly what was sent.

Also the Market Data API v2's "Latest quote" (`GET /v2/stocks/{symbol}/quotes/latest?feed=`), and for crypto
"Latest quotes" (`GET /v1beta3/crypto/us/latest/quotes?symbols=BTC/USD`, quotes keyed by pair), served
here beside the trading API: a quote 1 cent either side of the symbol's price (`quotes` overrides the
bid and ask; a symbol without a price answers 404 as a symbol the data API does not know).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEY_ID = "PKTESTKEY0123456789"
SECRET_KEY = "fake-alpaca-secret-0123456789abcdef"
RATE_LIMIT = 200
MAX_LISTED = 500  # "Get all orders": `limit` "Defaults to 50 and max is 500"
CENT = Decimal("0.01")
TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIFS = ("day", "gtc", "opg", "cls", "ioc", "fok")
OPEN = ("new", "accepted", "pending_new", "partially_filled", "held", "pending_cancel", "done_for_day", "suspended")
# Statuses the venue, not an API call, gives a working order ("Orders at Alpaca", order lifecycle): done_for_day
# ("done executing for the day, and will not receive further updates until the next trading day") and suspended
# ("suspended, and is not eligible for trading"; rare). Neither is final: the order may still trade later.
VENUE_STATUSES = ("done_for_day", "suspended")
# The crypto pairs Alpaca lists ("Crypto Spot Trading": coins against USD, some against USDT, USDC and BTC).
PAIRS = frozenset({
    *(f"{coin}/USD" for coin in ("AAVE", "AVAX", "BAT", "BCH", "BTC", "CRV", "DOGE", "DOT", "ETH", "GRT", "LINK", "LTC",
                                 "MKR", "PEPE", "SHIB", "SOL", "SUSHI", "TRUMP", "UNI", "USDC", "USDG", "USDT", "XRP",
                                 "XTZ", "YFI")),
    "BTC/USDT", "ETH/USDT", "BTC/USDC", "ETH/BTC",
})  # fmt: skip
# (min_order_size, min_trade_increment, price_increment) of a pair `increments` does not name: steps fine enough that
# only a test that sets a pair's own meets them.
INCREMENTS = (Decimal("0.000000001"), Decimal("0.000000001"), Decimal("0.000000001"))
# BTC/USD's, as the Assets reference's example of a crypto asset shows them.
BTC_INCREMENTS = (Decimal("0.0001"), Decimal("0.0001"), Decimal(1))
Fault = Literal["none", "unavailable", "rate_limited", "lost_response"]


class Refused(Exception):
    """An API error: HTTP status, Alpaca's numeric code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _instant(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as Alpaca takes and gives them (to the microsecond here), or None."""
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _dec(body: dict[str, Any], key: str, required: bool = False) -> Decimal | None:
    value = body.get(key)
    if value is None:
        if required:
            raise Refused(422, 40010001, f"{key} is required")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Refused(422, 40010001, f"invalid {key}") from None
    if not number.is_finite() or number <= 0:
        raise Refused(422, 40010001, f"{key} must be > 0")
    return number


def _price(body: dict[str, Any], key: str, required: bool = False) -> Decimal | None:
    """A price in Alpaca's increments, a cent at or above $1 and 0.0001 below (SEC rule 612's sub-penny rule)."""
    price = _dec(body, key, required)
    if price is not None and price % (CENT if price >= 1 else Decimal("0.0001")):
        raise Refused(422, 42210000, f"invalid {key} {price}. sub-penny increment does not fulfill minimum pricing "
                      "criteria")  # fmt: skip
    return price


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class FakeAlpaca:
    """One Alpaca account; its state is plain Python so tests can set prices and inspect requests."""

    def __init__(self, cash: Decimal = Decimal(100000)) -> None:
        self.lock = threading.Lock()
        self.prices: dict[str, Decimal] = {"SQ": Decimal(100), "AMD": Decimal(150), "AAPL": Decimal(200),
                                           "BTC/USD": Decimal(50000)}  # fmt: skip
        self.cash = cash
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed qty, avg entry price)
        self.orders: list[dict[str, Any]] = []
        self.order_requests: list[dict[str, Any]] = []
        self.replace_requests: list[dict[str, Any]] = []  # every `PATCH /v2/orders/{id}` body
        self.requests: list[tuple[str, str]] = []  # (method, path) of every authenticated call
        self.fault: Fault = "none"
        self.revoked = False  # the keys were regenerated in the dashboard: every call is 401 from now on
        self.unauthorized = 0  # calls answered 401
        # Trading blocked on the whole account: every order is refused 403 with this message (Alpaca's for an account
        # that may not trade is "account is not authorized to trade"), and the account shows it by the flag `flag`
        # (trading_blocked; trade_suspended_by_user when its owner suspended trading in the dashboard; None: no flag).
        self.blocked: str | None = None
        self.flag: str | None = "trading_blocked"
        self.forbidden = False  # every call is refused 403 {"message": "forbidden."}, the account's as well
        self.answer_delay = 0.0  # seconds an order submission waits, after being placed, before it answers
        # The next order submission is answered with this HTTP status by a gateway in front of the API (a 408
        # request timeout, a 502 or 504), after Alpaca placed the order when the flag is true, else before.
        self.gateway: tuple[int, bool] | None = None
        self.throttled: list[float] = []  # the next requests get a 429 whose reset is this many seconds away
        self.quotes: dict[str, tuple[Decimal | None, Decimal | None]] = {}  # symbol -> (bid, ask); None: no side
        self.feeds: list[str | None] = []  # the `feed` of every quote request
        self.cancel_delay = 0.0  # seconds an accepted cancel stays pending_cancel before the venue settles it
        # Client order ids (a leg's own too) of orders whose reads answer 500 once they are canceled, the rest of the
        # API answering as ever; a leg's parent's reads fail then too, as a leg is read through its parent.
        self.unreadable: set[str] = set()
        self.cancel_fills_at: Decimal | None = None  # settle a pending cancel as a fill at this price
        # The next cancel meets an order replaced just before it (a PATCH from the dashboard, racing the DELETE): the
        # replacement takes these fields, and the DELETE is refused 422 as the old order is no longer cancelable.
        self.replace_first: dict[str, str] | None = None
        self.timers: list[threading.Timer] = []
        self.pairs: set[str] = set(PAIRS)  # listed by `GET /v2/assets?asset_class=crypto`, active and tradable
        self.assets_down = False  # the assets listing answers 503
        # pair -> (min_order_size, min_trade_increment, price_increment); INCREMENTS for a pair not named here
        self.increments: dict[str, tuple[Decimal, Decimal, Decimal]] = {"BTC/USD": BTC_INCREMENTS}
        self.app = Starlette(routes=[
            Route("/v2/stocks/{symbol}/quotes/latest", self._latest_quote),
            Route("/v1beta3/crypto/us/latest/quotes", self._latest_crypto_quotes),
            Route("/v2/account", self._account),
            Route("/v2/positions", self._positions),
            Route("/v2/assets", self._assets),
            Route("/v2/orders:by_client_order_id", self._by_client_order_id),
            Route("/v2/orders", self._orders, methods=["GET", "POST"]),
            Route("/v2/orders/{order_id}", self._order, methods=["GET", "DELETE", "PATCH"]),
        ])  # fmt: skip

    # test controls

    def reset(self) -> None:
        """A fresh account (prices are kept)."""
        with self.lock:
            self.cash = Decimal(100000)
            self.positions.clear()
            self.orders.clear()
            self.order_requests.clear()
            self.replace_requests.clear()
            self.requests.clear()
            self.fault = "none"
            self.revoked, self.unauthorized = False, 0
            self.blocked, self.flag, self.forbidden = None, "trading_blocked", False
            self.answer_delay, self.gateway = 0.0, None
            self.throttled.clear()
            self.quotes.clear()
            self.feeds.clear()
            self.cancel_delay, self.cancel_fills_at, self.replace_first = 0.0, None, None
            self.unreadable.clear()
            for timer in self.timers:  # a cancel still pending must not settle into the fresh account
                timer.cancel()
            self.timers.clear()
            self.pairs, self.assets_down = set(PAIRS), False
            self.increments = {"BTC/USD": BTC_INCREMENTS}

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market: resting orders the price crosses fill."""
        with self.lock:
            self.prices[symbol] = price
            for order in [o for o in self.orders if o["symbol"] == symbol]:
                if self._working(order) and self._marketable(order, price):  # working still: a fill cancels others
                    self._fill(order, price)

    def fill_part(self, client_order_id: str, qty: Decimal, price: Decimal) -> None:
        """The venue fills part of a resting order: `partially_filled`, its `filled_qty` and the position move."""
        with self.lock:
            order = next(o for o in self.orders if o["client_order_id"] == client_order_id)
            filled = Decimal(order.get("filled_qty") or 0) + qty
            assert order["status"] in OPEN and filled < Decimal(order["qty"]), "a part, of a working order"
            order.update(status="partially_filled", filled_qty=str(filled), filled_avg_price=str(price),
                         updated_at=_now())  # fmt: skip
            self._book(order["symbol"], qty if order["side"] == "buy" else -qty, price)
            if order["_parent"] and order["type"] == "limit":  # a bracket's take-profit
                # "Orders at Alpaca", bracket orders: "If the take-profit order is partially filled, the stop-loss
                # order will be adjusted to the remaining quantity": it holds, and closes, no more than is left.
                left = str(Decimal(order["qty"]) - filled)
                for leg in self.orders:
                    if leg["_parent"] == order["_parent"] and leg is not order and leg["status"] in OPEN:
                        leg.update(qty=left, updated_at=_now())

    def close_market(self) -> None:
        """The regular session ends: every working day order expires, a day bracket's legs with it.

        "Orders at Alpaca", Time in Force: a day order "will be canceled automatically at the end of market hours"
        (status `expired`, "The order has been expired"); a bracket's legs carry the bracket's time in force. A gtc
        order, a crypto pair's among them, works on.
        """
        with self.lock:
            for order in self.orders:
                if order["time_in_force"] == "day" and order["status"] in OPEN:
                    order.update(status="expired", expired_at=_now(), updated_at=_now())

    def set_status(self, client_order_id: str, status: str) -> None:
        """The venue moves a working order to one of the VENUE_STATUSES (its fills stay as they are)."""
        assert status in VENUE_STATUSES, status
        with self.lock:
            order = next(o for o in self.orders if o["client_order_id"] == client_order_id)
            assert order["status"] in OPEN, order["status"]
            order.update(status=status, updated_at=_now())

    # plumbing

    async def _guard(self, request: Request) -> Response | None:
        key, secret = request.headers.get("APCA-API-KEY-ID"), request.headers.get("APCA-API-SECRET-KEY")
        wrong = key != KEY_ID or secret != SECRET_KEY
        if wrong or self.revoked:
            self.unauthorized += 1
            return self._json({"code": 40110000, "message": "request is not authorized"}, 401)
        self.requests.append((request.method, request.url.path))
        if self.forbidden:
            return self._json({"message": "forbidden."}, 403)
        if self.fault == "unavailable":
            return self._json({"message": "service unavailable"}, 503)
        if self.fault == "rate_limited":
            return self._json({"code": 42910000, "message": "rate limit exceeded"}, 429, remaining=0)
        if self.throttled:
            reset = time.time() + self.throttled.pop(0)
            return self._json({"code": 42910000, "message": "rate limit exceeded"}, 429, remaining=0, reset=reset)
        return None

    def _json(self, body: Any, status: int = 200, remaining: int = RATE_LIMIT - 1,
              reset: float | None = None) -> JSONResponse:  # fmt: skip
        # Alpaca sends the reset as epoch seconds; a fraction keeps the tests short and exact.
        headers = {"X-Ratelimit-Limit": str(RATE_LIMIT), "X-Ratelimit-Remaining": str(remaining),
                   "X-Ratelimit-Reset": str(reset if reset is not None else int(time.time()))}  # fmt: skip
        return JSONResponse(body, status_code=status, headers=headers)

    def _unreadable(self, order: dict[str, Any]) -> bool:
        """Whether a read of `order` fails: it or one of its legs is named in `unreadable`, and canceled."""
        return any(o["client_order_id"] in self.unreadable and o["status"] == "canceled"
                   and (o is order or o["_parent"] == order["id"]) for o in self.orders)  # fmt: skip

    def _error(self, refused: Refused) -> JSONResponse:
        return self._json({"code": refused.code, "message": refused.message}, refused.status)

    # endpoints

    async def _latest_quote(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        symbol = request.path_params["symbol"]
        self.feeds.append(request.query_params.get("feed"))
        with self.lock:
            price = self.prices.get(symbol)
            bid, ask = self.quotes.get(symbol, (None, None) if price is None else (price - CENT, price + CENT))
        if price is None and symbol not in self.quotes:
            return self._json({"code": 40410000, "message": f"symbol not found: {symbol}"}, 404)
        quote = {"t": _now(), "ax": "V", "ap": float(ask or 0), "as": 1, "bx": "V", "bp": float(bid or 0), "bs": 1,
                 "c": ["R"], "z": "C"}  # fmt: skip
        return self._json({"symbol": symbol, "quote": quote})

    async def _latest_crypto_quotes(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        quotes = {}
        with self.lock:
            for pair in filter(None, request.query_params.get("symbols", "").split(",")):
                if "/" not in pair or (price := self.prices.get(pair)) is None:
                    continue  # a pair the data API does not know is left out of the answer
                bid, ask = self.quotes.get(pair, (price - CENT, price + CENT))
                quotes[pair] = {"t": _now(), "ap": float(ask or 0), "as": 1, "bp": float(bid or 0), "bs": 1}
        return self._json({"quotes": quotes})

    async def _account(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        with self.lock:
            equity = self.cash + sum(
                (q * self.prices.get(s, avg) for s, (q, avg) in self.positions.items()), Decimal(0)
            )
            flags = {name: self.blocked is not None and self.flag == name
                     for name in ("trading_blocked", "trade_suspended_by_user", "account_blocked")}  # fmt: skip
            return self._json({
                "id": "904837e3-3b76-47ec-b432-046db621571b", "account_number": "PA3FAKE0000",
                "status": "ACTIVE", "currency": "USD", "cash": str(self.cash), "equity": str(equity),
                "portfolio_value": str(equity), "buying_power": str(max(equity, Decimal(0)) * 2),
                "pattern_day_trader": False, "transfers_blocked": False, "shorting_enabled": True, "multiplier": "2",
                **flags,
            })  # fmt: skip

    async def _assets(self, request: Request) -> Response:
        """Alpaca's "Assets" listing, `GET /v2/assets?asset_class=crypto&status=active`: crypto pairs only here."""
        if (denied := await self._guard(request)) is not None:
            return denied
        if self.assets_down:
            return self._json({"message": "service unavailable"}, 503)
        if request.query_params.get("asset_class") != "crypto":
            return self._json([])
        with self.lock:
            return self._json([
                {"id": str(uuid.uuid5(uuid.NAMESPACE_OID, pair)), "class": "crypto", "exchange": "CRYPTO",
                 "symbol": pair, "name": pair, "status": "active", "tradable": True, "marginable": False,
                 "shortable": False, "easy_to_borrow": False, "fractionable": True,
                 **dict(zip(("min_order_size", "min_trade_increment", "price_increment"),
                            map(str, self.increments.get(pair, INCREMENTS)), strict=True))}
                for pair in sorted(self.pairs)
            ])  # fmt: skip

    async def _positions(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        with self.lock:
            items = []
            for symbol, (qty, avg) in sorted(self.positions.items()):
                if qty == 0:
                    continue
                price = self.prices.get(symbol, avg)
                crypto = "/" in symbol  # listed without the slash its orders carry: BTC/USD as BTCUSD
                items.append({
                    "asset_id": str(uuid.uuid5(uuid.NAMESPACE_OID, symbol)), "symbol": symbol.replace("/", ""),
                    "exchange": "CRYPTO" if crypto else "NASDAQ", "asset_class": "crypto" if crypto else "us_equity",
                    "qty": str(qty), "qty_available": str(qty), "avg_entry_price": str(avg),
                    "side": "long" if qty > 0 else "short", "market_value": str(qty * price),
                    "cost_basis": str(qty * avg), "current_price": str(price),
                })  # fmt: skip
            return self._json(items)

    async def _orders(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        if request.method == "POST":
            return await self._create(request)
        query = request.query_params
        status = query.get("status", "open")
        symbols = set(filter(None, query.get("symbols", "").split(",")))
        nested = query.get("nested") == "true"
        # "Get all orders": `after` and `until` bound the submission time, both exclusive; `direction` orders by it
        # (desc by default); `limit` "Defaults to 50 and max is 500".
        after, until = _instant(query.get("after")), _instant(query.get("until"))
        limit = min(int(query.get("limit", "50")), MAX_LISTED)
        with self.lock:
            chosen = [
                o for o in self.orders
                if (status == "all" or (o["status"] in OPEN and o["status"] != "held") == (status == "open"))
                and (not symbols or o["symbol"] in symbols) and not (nested and o["_parent"])
                and (after is None or _instant(o["submitted_at"]) > after)
                and (until is None or _instant(o["submitted_at"]) < until)
            ]  # fmt: skip
            chosen.sort(key=lambda o: _instant(o["submitted_at"]), reverse=query.get("direction", "desc") == "desc")
            return self._json([self._public(o, nested) for o in chosen][:limit])

    async def _by_client_order_id(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        coid = request.query_params.get("client_order_id")
        with self.lock:
            found = next((o for o in self.orders if o["client_order_id"] == coid), None)
            if found is None:
                return self._json({"code": 40410000, "message": "order not found"}, 404)
            if self._unreadable(found):
                return self._json({"code": 50010000, "message": "internal server error"}, 500)
            return self._json(self._public(found, nested=True))

    async def _order(self, request: Request) -> Response:
        if (denied := await self._guard(request)) is not None:
            return denied
        order_id = request.path_params["order_id"]
        with self.lock:
            found = next((o for o in self.orders if o["id"] == order_id), None)
            if found is None:
                return self._json({"code": 40410000, "message": "order not found"}, 404)
            if request.method == "GET":
                if self._unreadable(found):
                    return self._json({"code": 50010000, "message": "internal server error"}, 500)
                return self._json(self._public(found, request.query_params.get("nested") == "true"))
            if request.method == "PATCH":
                return self._patch(found, await request.json())
            if self.replace_first is not None and found["status"] in OPEN:
                changes, self.replace_first = self.replace_first, None
                self._replace(found, changes)
            if found["status"] not in OPEN:
                return self._json({"code": 42210000, "message": f"order is {found['status']}"}, 422)
            if self.cancel_delay > 0:
                found.update(status="pending_cancel", updated_at=_now())
                timer = threading.Timer(self.cancel_delay, self._settle_cancel, args=(found,))
                timer.daemon = True
                self.timers.append(timer)
                timer.start()
            else:
                self._cancel(found)
            return Response(status_code=204)

    def _patch(self, old: dict[str, Any], body: dict[str, Any]) -> JSONResponse:
        """A replace through the API: kept in `replace_requests`, answered by the `gateway` as an order would be,
        and checked as the reference says (a price in Alpaca's increments, whole shares, a fresh client order id)."""
        self.replace_requests.append(body)
        gateway, self.gateway = self.gateway, None
        if gateway is not None and not gateway[1]:  # cut off before it reached Alpaca's order desk
            return self._json({"message": "gateway answered for Alpaca"}, gateway[0])
        try:
            self._replaceable(old, body)
        except Refused as refused:
            return self._error(refused)
        answer = self._replace(old, body)
        if gateway is not None:  # taken, and the gateway's status came back instead of Alpaca's answer
            return self._json({"message": "gateway answered for Alpaca"}, gateway[0])
        return answer

    def _replaceable(self, old: dict[str, Any], body: dict[str, Any]) -> None:
        """Refuse a replace as "Replace an Order" does: documented fields, prices of the order's type, a fresh id."""
        unknown = set(body) - {"qty", "time_in_force", "limit_price", "stop_price", "trail", "client_order_id"}
        if unknown:
            raise Refused(422, 40010001, f"unexpected fields {sorted(unknown)}")
        for key, kinds in (("stop_price", ("stop", "stop_limit")), ("limit_price", ("limit", "stop_limit"))):
            if body.get(key) is not None and old["type"] not in kinds:
                raise Refused(422, 40010001, f"{old['type']} orders must not have {key}")
            _price(body, key)
        qty = _dec(body, "qty")
        if qty is not None and (qty != qty.to_integral_value() or Decimal(old["qty"]) % 1):
            raise Refused(422, 40010001, "qty of a fractional order cannot be replaced; whole shares only")
        if body.get("time_in_force") is not None and body["time_in_force"] not in TIFS:
            raise Refused(422, 40010001, "invalid time_in_force")
        # "Orders at Alpaca", Bracket Orders: "Order replacement (PATCH /v2/orders) is supported to update
        # limit_price and stop_price"; a leg keeps its bracket's time in force (day or gtc) and quantity.
        changed = [key for key in ("qty", "time_in_force", "trail") if body.get(key) is not None]
        if old["_parent"] is not None and changed:
            raise Refused(422, 40010001, f"a bracket leg's {', '.join(changed)} cannot be replaced")
        coid = body.get("client_order_id")
        if coid is not None and any(o["client_order_id"] == coid for o in self.orders):
            raise Refused(422, 40010001, "client_order_id must be unique")

    def _replace(self, old: dict[str, Any], body: dict[str, Any]) -> JSONResponse:
        """Alpaca's replace: a new order with the changed fields takes over; the old one is `replaced`."""
        if old["status"] not in OPEN or old["status"] in ("accepted", "pending_new", "pending_cancel"):
            return self._json({"code": 42210000, "message": f"order is {old['status']}, it cannot be replaced"}, 422)
        new = {**old, "id": str(uuid.uuid4()), "client_order_id": str(body.get("client_order_id") or uuid.uuid4()),
               "created_at": _now(), "updated_at": _now(), "submitted_at": _now(),
               "status": "held" if old["status"] == "held" else "new",  # a leg keeps waiting for its entry
               "replaces": old["id"], "replaced_by": None, "replaced_at": None}  # fmt: skip
        for key in ("qty", "time_in_force", "limit_price", "stop_price", "trail"):
            if body.get(key) is not None:
                new["trail_price" if key == "trail" else key] = str(body[key])
        old.update(status="replaced", replaced_by=new["id"], replaced_at=_now(), updated_at=_now())
        self.orders.append(new)
        return self._json(self._public(new, nested=True))

    async def _create(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return self._json({"code": 40010000, "message": "request body format is invalid"}, 400)
        with self.lock:
            self.order_requests.append(body)
            gateway, self.gateway = self.gateway, None
            if gateway is not None and not gateway[1]:  # cut off before it reached Alpaca's order desk
                return self._json({"message": "gateway answered for Alpaca"}, gateway[0])
            if self.blocked is not None:
                return self._json({"code": 40310000, "message": self.blocked}, 403)
            try:
                order = self._place(body)
            except Refused as refused:
                return self._error(refused)
            if self.fault == "lost_response":  # taken, but the answer never reaches the client
                return self._json({"message": "upstream request timeout"}, 504)
            if gateway is not None:  # taken, and the gateway's status came back instead of Alpaca's answer
                return self._json({"message": "gateway answered for Alpaca"}, gateway[0])
            answer = self._json(self._public(order, nested=True))
        start = time.monotonic()  # hold the answer while answer_delay says so (re-read: a test may end it early)
        while time.monotonic() - start < self.answer_delay:
            await asyncio.sleep(0.02)
        return answer

    # the exchange

    def _listed(self, symbol: Any) -> Any:
        """The symbol an order is booked under: a pair sent in the legacy form (BTCUSD) is BTC/USD."""
        legacy = {pair.replace("/", ""): pair for pair in self.prices if "/" in pair}
        return legacy.get(symbol, symbol) if isinstance(symbol, str) else symbol

    def _place(self, body: dict[str, Any]) -> dict[str, Any]:
        symbol, side, kind, tif = body.get("symbol"), body.get("side"), body.get("type"), body.get("time_in_force")
        symbol = self._listed(symbol)
        body = {**body, "symbol": symbol}
        if symbol not in self.prices:
            raise Refused(422, 40010001, f'asset "{symbol}" not found')
        if side not in ("buy", "sell"):
            raise Refused(422, 40010001, "side must be buy or sell")
        if kind not in TYPES:
            raise Refused(422, 40010001, "invalid order type")
        if tif not in TIFS:
            raise Refused(422, 40010001, "invalid time_in_force")
        qty = _dec(body, "qty", required=True)
        assert qty is not None
        coid = str(body.get("client_order_id") or uuid.uuid4())
        if len(coid) > 128:
            raise Refused(422, 40010001, "client_order_id must be no more than 128 characters")
        if any(o["client_order_id"] == coid for o in self.orders):
            raise Refused(422, 40010001, "client_order_id must be unique")
        limit, stop = _price(body, "limit_price"), _price(body, "stop_price")
        if kind in ("limit", "stop_limit") and limit is None:
            raise Refused(422, 40010001, "limit_price is required")
        if kind in ("stop", "stop_limit") and stop is None:
            raise Refused(422, 40010001, "stop_price is required")
        trail_price, trail_percent = _dec(body, "trail_price"), _dec(body, "trail_percent")
        if kind == "trailing_stop" and (trail_price is None) == (trail_percent is None):
            raise Refused(422, 40010001, "trailing_stop needs exactly one of trail_price or trail_percent")
        if kind == "trailing_stop" and tif not in ("day", "gtc"):
            raise Refused(422, 40010001, "trailing stop orders must be day or gtc")
        if tif in ("opg", "cls") and kind not in ("market", "limit"):
            raise Refused(422, 40010001, f"{tif} orders must be market or limit orders")
        crypto = "/" in symbol
        if crypto and (kind not in ("market", "limit", "stop_limit") or tif not in ("gtc", "ioc")):
            raise Refused(422, 40010001, "crypto orders must be market, limit or stop_limit, gtc or ioc")
        if crypto and (body.get("order_class") or "simple") != "simple":
            raise Refused(422, 40010001, "crypto orders support order_class simple only")
        if crypto:
            self._crypto_increments(symbol, qty, limit, stop)
        # "Fractional Trading": market, limit, stop and stop_limit orders, DAY only (stops since Alpaca's changelog
        # "Fractional USD Stop & Stop Limit Orders"; the older guide said market only).
        fractional = qty != qty.to_integral_value()
        if not crypto and fractional and (kind not in ("market", "limit", "stop", "stop_limit") or tif != "day"):
            raise Refused(422, 40010001, "fractional orders must be market, limit, stop or stop_limit orders with "
                          "time_in_force day")  # fmt: skip
        if body.get("extended_hours") and (kind != "limit" or tif != "day"):
            raise Refused(422, 40010001, "extended hours order must be DAY limit orders")
        legs = self._legs(body, side, tif)
        price = self.prices[symbol]
        held = self.positions.get(symbol, (Decimal(0), Decimal(0)))[0]
        if crypto and side == "sell" and qty > max(held, Decimal(0)):
            raise Refused(403, 40310000, f"insufficient balance for {symbol.split('/')[0]} (requested: {qty}, "
                          f"available: {max(held, Decimal(0))})")  # fmt: skip
        if side == "sell" and qty > max(held, Decimal(0)) and qty != qty.to_integral_value():
            raise Refused(403, 40310000, "fractional orders cannot be sold short")
        if side == "buy" and qty * (limit or price) > self.cash:
            raise Refused(403, 40310000, "insufficient buying power")
        closing = held > 0 if side == "sell" else held < 0
        if closing and qty > (available := abs(held) - self._reserved(symbol, side)):
            # Alpaca holds a position's shares for its working closing orders (`qty_available`), and one order
            # cannot close a position and open the other side: either way it refuses with what is available.
            raise Refused(403, 40310000, f"insufficient qty available for order (requested: {qty}, "
                          f"available: {max(available, Decimal(0))})")  # fmt: skip
        order = self._new(body, symbol, side, kind, tif, qty, coid, parent=None)
        order.update(limit_price=_text(limit), stop_price=_text(stop), trail_price=_text(trail_price),
                     trail_percent=_text(trail_percent), order_class=body.get("order_class") or "simple")  # fmt: skip
        self.orders.append(order)
        for leg in legs:  # "All three orders will have the same 'submitted at' time" (Alpaca's staff, its forum)
            leg.update(_parent=order["id"], submitted_at=order["submitted_at"])
            self.orders.append(leg)
        if kind == "market" or (kind == "limit" and self._marketable(order, price)):
            self._fill(order, price)
        return order

    def _crypto_increments(self, pair: str, qty: Decimal, limit: Decimal | None, stop: Decimal | None) -> None:
        """The pair's asset rules: a quantity of at least min_order_size, in min_trade_increment steps, and prices in
        price_increment steps."""
        least, step, tick = self.increments.get(pair, INCREMENTS)
        if qty < least:
            raise Refused(422, 40010001, f"qty must be >= {least}")
        if qty % step:
            raise Refused(422, 40010001, f"qty must be in increments of {step}")
        for name, price in (("limit_price", limit), ("stop_price", stop)):
            if price is not None and price % tick:
                raise Refused(422, 40010001, f"{name} must be in increments of {tick}")

    def _legs(self, body: dict[str, Any], side: str, tif: str) -> list[dict[str, Any]]:
        order_class = body.get("order_class") or "simple"
        take, stop = body.get("take_profit"), body.get("stop_loss")
        if order_class == "simple":
            if take or stop:
                raise Refused(422, 40010001, "take_profit and stop_loss need order_class bracket or oto")
            return []
        if order_class not in ("bracket", "oto"):
            raise Refused(422, 40010001, f"order_class {order_class} is not supported here")
        if tif not in ("day", "gtc"):
            raise Refused(422, 40010001, "bracket orders must be day or gtc")
        if body.get("extended_hours"):
            raise Refused(422, 40010001, "extended hours are not supported for bracket or oto orders")
        if order_class == "bracket" and not (take and stop):
            raise Refused(422, 40010001, "bracket orders require take_profit and stop_loss")
        if order_class == "oto" and bool(take) == bool(stop):
            raise Refused(422, 40010001, "oto orders require exactly one of take_profit or stop_loss")
        exit_side = "sell" if side == "buy" else "buy"
        self._leg_prices(body, side, take, stop)
        legs = []
        if take:
            limit = _price(take, "limit_price", required=True)
            leg = self._new({}, body["symbol"], exit_side, "limit", tif, Decimal(str(body["qty"])), str(uuid.uuid4()))
            leg.update(limit_price=_text(limit), status="held")
            legs.append(leg)
        if stop:
            stop_price, stop_limit = _price(stop, "stop_price", required=True), _price(stop, "limit_price")
            kind = "stop_limit" if stop_limit is not None else "stop"
            leg = self._new({}, body["symbol"], exit_side, kind, tif, Decimal(str(body["qty"])), str(uuid.uuid4()))
            leg.update(stop_price=_text(stop_price), limit_price=_text(stop_limit), status="held")
            legs.append(leg)
        return legs

    def _leg_prices(self, body: dict[str, Any], side: str, take: Any, stop: Any) -> None:
        """Bracket price rules: a buy's take-profit above its stop-loss (a sell's below), and each leg at least
        0.01 past the base price, the entry's limit price or else the market's ("Threshold on stop price")."""
        buy, tick = side == "buy", CENT
        tp = _price(take, "limit_price", required=True) if take else None
        sl = _price(stop, "stop_price", required=True) if stop else None
        if tp is not None and sl is not None and (tp <= sl if buy else tp >= sl):
            raise Refused(422, 42210000, f"take_profit.limit_price must be {'>' if buy else '<'} "
                          "stop_loss.stop_price")  # fmt: skip
        base = _price(body, "limit_price") if body.get("type") == "limit" else self.prices[body["symbol"]]
        assert base is not None
        if sl is not None and (sl > base - tick if buy else sl < base + tick):
            raise Refused(
                422,
                42210000,
                f"stop_loss.stop_price must be {'<= base_price - 0.01' if buy else '>= base_price + 0.01'}",
            )
        if tp is not None and (tp < base + tick if buy else tp > base - tick):
            raise Refused(
                422,
                42210000,
                f"take_profit.limit_price must be {'>= base_price + 0.01' if buy else '<= base_price - 0.01'}",
            )

    def _new(self, body: dict[str, Any], symbol: str, side: str, kind: str, tif: str, qty: Decimal, coid: str,
             parent: str | None = None) -> dict[str, Any]:  # fmt: skip
        now = _now()
        return {
            "id": str(uuid.uuid4()), "client_order_id": coid, "created_at": now, "updated_at": now,
            "submitted_at": now, "filled_at": None, "expired_at": None, "canceled_at": None, "failed_at": None,
            "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_OID, symbol)), "symbol": symbol,
            "asset_class": "crypto" if "/" in symbol else "us_equity",
            "notional": None, "qty": str(qty), "filled_qty": "0", "filled_avg_price": None, "order_class": "",
            "order_type": kind, "type": kind, "side": side, "time_in_force": tif, "limit_price": None,
            "stop_price": None, "status": "new", "extended_hours": bool(body.get("extended_hours", False)),
            "legs": None, "trail_percent": None, "trail_price": None, "hwm": None, "_parent": parent,
        }  # fmt: skip

    def _reserved(self, symbol: str, side: str) -> Decimal:
        """Shares held for working orders on `side`: a bracket's two exits (one cancels the other) hold them once."""
        by_group: dict[str, Decimal] = {}
        for order in self.orders:
            if order["symbol"] != symbol or order["side"] != side or order["status"] not in OPEN:
                continue
            parent = next((o for o in self.orders if o["id"] == order["_parent"]), None)
            if parent is not None and parent["status"] != "filled":
                continue  # an exit waiting for its entry holds nothing yet
            group = order["_parent"] or order["id"]
            left = Decimal(order["qty"]) - Decimal(order["filled_qty"])
            by_group[group] = max(by_group.get(group, Decimal(0)), left)
        return sum(by_group.values(), Decimal(0))

    def _working(self, order: dict[str, Any]) -> bool:
        """Whether a crossing price fills the order: `new`, or a bracket's stop-loss `held` once its entry filled."""
        if order["status"] == "new":
            return True
        parent = next((o for o in self.orders if o["id"] == order["_parent"]), None)
        return order["status"] == "held" and parent is not None and parent["status"] == "filled"

    def _marketable(self, order: dict[str, Any], price: Decimal) -> bool:
        buy = order["side"] == "buy"
        if order["type"] == "limit":
            limit = Decimal(order["limit_price"])
            return price <= limit if buy else price >= limit
        if order["type"] in ("stop", "stop_limit"):
            stop = Decimal(order["stop_price"])
            return price >= stop if buy else price <= stop
        return False

    def _fill(self, order: dict[str, Any], price: Decimal) -> None:
        qty = Decimal(order["qty"])
        signed = qty if order["side"] == "buy" else -qty
        order.update(status="filled", filled_qty=str(qty), filled_avg_price=str(price), filled_at=_now(),
                     updated_at=_now())  # fmt: skip
        self._book(order["symbol"], signed, price)
        legs = [leg for leg in self.orders if leg["_parent"] == order["id"] and leg["status"] == "held"]
        for leg in legs:  # the entry filled: its exits start working
            # A bracket's stop-loss stays `held` beside its working take-profit, and triggers from there, as Alpaca
            # lists it (its OCO: "one is opened at a time. The other orders are held", its staff on the SDK's issues).
            if len(legs) == 1 or leg["type"] == "limit":
                leg["status"] = "new"
        for leg in self.orders:
            if order["_parent"] and leg["_parent"] == order["_parent"] and leg["status"] in OPEN:
                if order["type"] != "limit" and leg["type"] == "limit":
                    # The stop-loss filled: Alpaca marks the take-profit `replaced`, not canceled (alpaca-py issue
                    # 198: "the take profit order status changes to Replaced and the stop loss order status changes
                    # to Filled"), its `replaced_by` the stop's id; the stop was placed with the bracket, and so
                    # replaces nothing.
                    leg.update(status="replaced", replaced_by=order["id"], replaced_at=_now(), updated_at=_now())
                else:
                    self._cancel(leg)  # one exit filled: the other is canceled

    def _book(self, symbol: str, signed: Decimal, price: Decimal) -> None:
        """A fill of `signed` units at `price` moves the position, its average price and the cash."""
        held, avg = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        new = held + signed
        if held == 0 or (held > 0) != (new > 0):
            avg = price
        elif (held > 0) == (signed > 0):
            avg = (held * avg + signed * price) / new
        self.positions[symbol] = (new, avg)
        self.cash -= signed * price

    def _settle_cancel(self, order: dict[str, Any]) -> None:
        """The end of a `pending_cancel`: canceled, or filled at `cancel_fills_at`."""
        with self.lock:
            if order["status"] != "pending_cancel" or not any(o is order for o in self.orders):
                return  # the account was reset meanwhile
            if self.cancel_fills_at is None:
                self._cancel(order)
            else:
                self.prices[order["symbol"]] = self.cancel_fills_at
                self._fill(order, self.cancel_fills_at)

    def _cancel(self, order: dict[str, Any]) -> None:
        order.update(status="canceled", canceled_at=_now(), updated_at=_now())
        for leg in self.orders:
            # A parent's cancel takes its legs; a leg's takes its sibling (a bracket's legs cancel together).
            sibling = order["_parent"] is not None and leg["_parent"] == order["_parent"] and leg is not order
            if (leg["_parent"] == order["id"] or sibling) and leg["status"] in OPEN:
                leg.update(status="canceled", canceled_at=_now(), updated_at=_now())

    def _public(self, order: dict[str, Any], nested: bool) -> dict[str, Any]:
        shown = {k: v for k, v in order.items() if not k.startswith("_")}
        if nested:
            legs = [self._public(o, False) for o in self.orders if o["_parent"] == order["id"]]
            shown["legs"] = legs or None
        return shown
