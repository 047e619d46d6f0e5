"""Alpaca (US stocks, ETFs and crypto pairs) over the Alpaca Trading API v2, with httpx.

A crypto pair is one instrument however a signal writes it (`BTCUSD` as TradingView's {{ticker}} sends it, `BTC/USD`,
`btcusd`): it goes as `BTC/USD` under Alpaca's crypto rules, and the position Alpaca lists as `BTCUSD` and the orders
it lists as `BTC/USD` are both the signal's (`same_symbol` reads a pair with or without its slash). Without a slash,
a symbol is a pair only when it is a coin Alpaca lists (its "Assets", `GET /v2/assets?asset_class=crypto`, read at
connect and every few hours; CRYPTO_COINS while that read fails) followed by a currency its pairs are quoted in
(CRYPTO_QUOTES): US stock tickers have five letters at most, and BTC, USD and ETHE are stocks.

Follows Alpaca's public Trading API v2 reference (docs.alpaca.markets): "Orders" (`POST /v2/orders`,
`GET /v2/orders`, `GET /v2/orders:by_client_order_id`, `DELETE /v2/orders/{order_id}`, "Replace an Order"
`PATCH /v2/orders/{order_id}`), "Positions",
"Account", the guides "Working with /orders" and "Orders at Alpaca" (order classes bracket and oto,
fractional and extended-hours rules, `client_order_id` uniqueness), and the published rate limit of
200 requests a minute per account (429 with `X-Ratelimit-*` headers). Paper and live accounts use the
same API at different base URLs; `paper: true` is the default, live needs `paper: false`.

Error translation: a 400, 403, 404 or 422 on a submission is final (`OrderRejected`; "client_order_id must be
unique" is `DuplicateClientOrderId`), except a 403 for the whole account (trading blocked or suspended on it, or keys
that reach nothing), which is `AccountRefused`, as a 401 (the keys) is `CredentialsRefused`: nothing sent, for any
strategy. A 429 or a connection that never opened means the order was not placed (`TemporaryBrokerError`), and so
does an order that would have waited more than HOLD_WAIT_SECONDS for the reset of an earlier 429, or in the
throttle past its `send_by` (its signal's max_signal_age): refused unsent (`HeldUnsent`, which the broker's circuit
does not count: Alpaca was never asked);
a 408, a 5xx, any other status but 200, or a connection lost after sending is `UnknownOutcome`, resolved by
`fetch_order(client_order_id)`, never by sending again.
Reads are retried with backoff.

Quotes come from Alpaca's Market Data API v2 ("Latest quote": `GET /v2/stocks/{symbol}/quotes/latest`
at data.alpaca.markets, same keys), from the free `iex` feed unless `feed` says otherwise; a pair's from its crypto
data ("Latest quotes": `GET /v1beta3/crypto/us/latest/quotes?symbols=BTC/USD`), which has no feeds. The quote's
midpoint is the price used to size a signal that came without one, and to value it for the risk limits.

Refused before sending (`check_order`, asked before a plan cancels anything), each by the page it follows:
- "Fractional Trading" and the changelog's "Fractional USD Stop & Stop Limit Orders": a fractional quantity
  goes as a market, limit, stop or stop_limit DAY order, never sold short (trailing stops take whole shares).
- "Orders at Alpaca", Extended Hours Trading: `extended_hours` with a DAY limit order only. Newer 24/5 pages
  mention more; until Alpaca's order reference says so, a GTC one is refused here rather than sent to fail.
- "Orders at Alpaca", Bracket/OTO Orders: legs DAY or GTC, no extended hours, a buy's take-profit above its
  stop-loss (a sell's below); "Threshold on stop price of stop-loss orders": each leg 0.01 past a limit
  entry's price (a market entry's base price is the market's, checked by Alpaca only).
- "Orders at Alpaca", Trailing Stop Orders: exactly one of `trail_price`, `trail_percent`; DAY or GTC.
- "Orders at Alpaca", Time in Force: `opg` and `cls` with market and limit orders only.
- Sub-penny rule (SEC 612, Alpaca's "sub-penny increment" error): cents at or above $1, 0.0001 below.
- "Crypto Orders": a pair quoted in USD (see `_crypto_refusal` for the others) takes market, limit and stop_limit
  orders, time_in_force gtc or ioc, any fraction, simple orders only (no take-profit or stop-loss legs; the SDK's
  OrderClass: "Crypto trading: simple"), and is never sold short ("shortable": false). Around the clock, it takes no
  extended_hours flag; the stock rules above do not apply.
- "Assets", a crypto pair's `min_order_size`, `min_trade_increment` and `price_increment` (read with its coins): a
  quantity goes rounded down to the increment (never more than asked), and is refused below the minimum; a limit or
  stop price between two increments is refused, naming the two around it. `quantity_step` and `price_step` give the
  planner the same increments, so computed sizes and prices are on them before they get here.
Buying power, pattern-day-trader limits, shortability and fractionability depend on the account and the
asset: Alpaca alone answers them (a 403 or 422), before anything else of the plan is sent.

Statuses ("Orders at Alpaca", Order Lifecycle): filled, canceled, expired, replaced and rejected are final;
every other status may still trade and reads as working (see STATUSES). A `replaced` order (a PATCH from the
dashboard, or a corporate action) is followed to the order that took its place (`replaced_by`), one that `replaces`
it: a bracket's take-profit reads `replaced` by the stop-loss that filled beside it, and is over.

Alpaca lists a `held` order (a bracket's stop-loss beside its take-profit, the legs of an entry still working) as
closed, not open (its SDKs' issues: alpaca-trade-api-python 322, alpaca-trade-api-js 87): the open orders add each
working leg of the bridge's brackets the listing leaves out, found in one listing of every status since the oldest
of them (a leg not known yet, or past HELD_PAGES pages of it, read by its id).

Bracket legs carry no client order id at Alpaca; the adapter maps ours to the legs Alpaca creates
(by memory; after a restart from the journal's working legs, read at connect, or through the journal's parent
order), and names the entry each belongs to. An order `replace_order` put in a leg's place (a breakeven's stop)
stays in the bracket at Alpaca, canceled with the other leg and the other with it, so it is named as its too. A leg
is replaced in its prices only, keeping its bracket's time in force ("Orders at Alpaca", Bracket Orders: replacement
"is supported to update limit_price and stop_price").
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation
from typing import Any, ClassVar, Literal, cast
from urllib.parse import quote as quote_path

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bridge.brokers.base import BrokerContext, Capabilities
from bridge.brokers.throttle import RateLimited, Throttle, retry_read
from bridge.errors import (
    AccountRefused,
    BrokerError,
    CredentialsRefused,
    DuplicateClientOrderId,
    HeldUnsent,
    OrderNotFound,
    OrderRejected,
    TemporaryBrokerError,
    UnknownOutcome,
)
from bridge.models import Account, BracketLeg, Order, OrderRequest, OrderStatus, OrderType, Position

__version__ = "0.1.0"
log = logging.getLogger("bridge.plugins.alpaca")

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
# Alpaca's order statuses ("Orders at Alpaca", order lifecycle). Only filled, canceled, expired, replaced and
# rejected are final. done_for_day waits for the next trading day, and suspended ("not eligible for trading", rare)
# can resume: both still work, and can still be canceled.
STATUSES: dict[str, OrderStatus] = {
    "accepted": "submitted", "pending_new": "submitted", "accepted_for_bidding": "submitted", "held": "submitted",
    "new": "open", "pending_cancel": "open", "pending_replace": "open", "stopped": "open", "done_for_day": "open",
    "calculated": "open", "suspended": "open", "partially_filled": "partially_filled", "filled": "filled",
    "canceled": "canceled", "expired": "canceled", "replaced": "canceled", "rejected": "rejected",
}  # fmt: skip
# Alpaca's coins and the currencies its pairs are quoted in (support page "What cryptocurrencies does Alpaca currently
# support", and "Crypto Spot Trading": pairs based on BTC, USD, USDT and USDC). The coins are read from Alpaca's
# assets at connect (`GET /v2/assets?asset_class=crypto`) and every COINS_REFRESH_SECONDS after; this list stands in
# only while that read fails. A coin neither knows is still a pair when written with its slash (NEW/USD).
CRYPTO_COINS = frozenset({
    "AAVE", "AVAX", "BAT", "BCH", "BTC", "CRV", "DOGE", "DOT", "ETH", "GRT", "LINK", "LTC", "MKR", "PEPE", "SHIB",
    "SOL", "SUSHI", "TRUMP", "UNI", "USDC", "USDG", "USDT", "XRP", "XTZ", "YFI",
})  # fmt: skip
CRYPTO_QUOTES = ("USDT", "USDC", "USD", "BTC")
# The statuses in which Alpaca refuses an order it did not place ("Orders": 403 forbidden, 422 unprocessable; 400 a
# body it cannot read; 404 no such endpoint). Any other answer to a submission but 200 is an unknown outcome.
REFUSALS = frozenset({400, 403, 404, 422})
# Words of Alpaca's 403 for an account that may place no order at all (not an order's own refusal): trading not
# enabled or blocked on it, or suspended by its owner in the dashboard (the account configuration `suspend_trade`).
ACCOUNT_WIDE = ("account is not authorized to trade", "new orders are rejected by user request")
CANCEL_SETTLE_SECONDS = 2.0
# After a 429, an order waits this long at most for Alpaca's reset (up to a minute away); one further off refuses it,
# unsent, as ccxt's does: sent after the wait, it would go that much older than the signal checked fresh before.
HOLD_WAIT_SECONDS = 5.0
TOO_LATE = "held by Alpaca's rate limit, the order would leave after its signal's max_signal_age; nothing was sent"
COINS_REFRESH_SECONDS = 6 * 3600.0  # Alpaca lists a new coin rarely: reading its assets this often is plenty
COINS_RETRY_SECONDS = 600.0  # after a failed read, not asked again on every signal's reads
# "Replace an Order": an order in these statuses cannot be replaced. Not `held`: a bracket's stop-loss is listed held
# as long as its take-profit works beside it (Alpaca's OCO), and its prices are replaceable ("Orders at Alpaca").
UNREPLACEABLE = frozenset({"accepted", "pending_new", "pending_cancel", "pending_replace"})
MAX_REPLACEMENTS = 20  # replaced_by links followed before giving up (a loop would be Alpaca's bug, not an order)
RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")
PAGE = 500  # "Get all orders": `limit` "Defaults to 50 and max is 500"; more are read page by page
MAX_PAGES = 40  # 20,000 open orders: past that, the listing is refused rather than read for minutes
# Pages of every status read for the held legs the open orders leave out (`_held`): those past them are read by id.
HELD_PAGES = 4


class AlpacaOptions(BaseModel):
    """Options of the Alpaca adapter; keys come from the Alpaca dashboard (paper and live keys differ)."""

    model_config = ConfigDict(extra="forbid")

    key_id: str = Field(min_length=1, description="API key id (APCA-API-KEY-ID)")
    secret_key: str = Field(min_length=1, description="API secret key (APCA-API-SECRET-KEY)")
    paper: bool = Field(default=True, description="trade the paper account; false trades real money")
    base_url: str | None = Field(default=None, description="override the API URL (a proxy, or a test server)")
    max_requests_per_minute: int = Field(default=160, ge=1, le=10000, description="stay under Alpaca's 200/min")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    data_url: str | None = Field(default=None, description="override the market data URL (a proxy, or a test server)")
    feed: Literal["iex", "sip", "delayed_sip"] = Field(
        default="iex", description="quotes from this feed: iex is free, sip needs Alpaca's paid data plan"
    )

    @field_validator("base_url", "data_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{info.field_name} must start with https:// (or http:// for a local test server)")
        return value.rstrip("/") if value else value


@dataclass(frozen=True, slots=True)
class PairRules:
    """A crypto pair's order rules from Alpaca's "Assets" (fields given for crypto only); None: not given."""

    min_order_size: Decimal | None = None
    quantity_step: Decimal | None = None  # `min_trade_increment`
    price_step: Decimal | None = None  # `price_increment`


def _positive(value: Any) -> Decimal | None:
    """An asset's decimal field as a positive Decimal; None when absent or not one (no rule rather than a wrong one)."""
    try:
        number = Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() and number > 0 else None


def _pair_rules(asset: dict[str, Any]) -> PairRules:
    return PairRules(_positive(asset.get("min_order_size")), _positive(asset.get("min_trade_increment")),
                     _positive(asset.get("price_increment")))  # fmt: skip


def _num(value: Decimal) -> str:
    """A decimal as Alpaca wants it: a plain string, never an exponent."""
    return format(value.normalize(), "f")


def _just_before(submitted_at: Any) -> str:
    """A moment before `submitted_at` (RFC 3339, to the nanosecond at Alpaca): an `after` that keeps that instant."""
    parts = RFC3339.fullmatch(submitted_at) if isinstance(submitted_at, str) else None
    if parts is None:
        raise BrokerError(f"Alpaca listed an order submitted at {submitted_at!r}, not a time: its open orders "
                          "cannot be paged")  # fmt: skip
    whole, fraction, zone = parts.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    moment = datetime.fromisoformat(f"{whole}.{((fraction or '') + '000000')[:6]}{zone}")  # microseconds, floored
    return (moment - timedelta(microseconds=1)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant(submitted_at: str) -> datetime | None:
    """An RFC 3339 submission time as a moment (to the microsecond, floored), or None where it is none."""
    try:
        return datetime.fromisoformat(_just_before(submitted_at).replace("Z", "+00:00"))
    except (BrokerError, ValueError):
        return None


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def crypto_pair(symbol: str, coins: frozenset[str] = CRYPTO_COINS) -> str | None:
    """Alpaca's name of a crypto pair however it is written (BTCUSD, btc/usd: BTC/USD), its coin one of `coins`
    when written without the slash; None for a stock."""
    letters = symbol.strip().upper()
    base, slash, quote = letters.partition("/")
    if slash:  # no stock has a slash at Alpaca (a class share has a dot: BRK.B)
        return f"{base}/{quote}" if base and quote in CRYPTO_QUOTES else None
    for quote in CRYPTO_QUOTES:
        base = letters.removesuffix(quote)
        if base != letters and base in coins:
            return f"{base}/{quote}"
    return None


def _cannot_trade(account: dict[str, Any]) -> str | None:
    """What in Alpaca's account object keeps it from trading, or None (status ACTIVE, nothing blocked)."""
    if account.get("status") != "ACTIVE" or account.get("trading_blocked") or account.get("account_blocked"):
        return (f"status {account.get('status')}, trading_blocked {account.get('trading_blocked')}, "
                f"account_blocked {account.get('account_blocked')}")  # fmt: skip
    return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    return str(body.get("message") or body) if isinstance(body, dict) else str(body)


class AlpacaBroker:
    """An Alpaca account (paper or live)."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        order_types=frozenset({"market", "limit", "stop", "stop_limit", "trailing_stop"}),
        time_in_force=frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"}),
        shorting=True,
        fractional=True,
        brackets=True,
        extended_hours=True,
        rejects_duplicate_client_order_id=True,
        quotes=True,
        # A position's shares are held for its working closing orders ("insufficient qty available for order").
        reserves_position=True,
        # "Replace an Order" (`PATCH /v2/orders/{id}`): a breakeven moves the stop in place (`replace_order`).
        replaces_orders=True,
        # "Fractional Trading": a fractional order is a day order; its bracket's legs expire at the close.
        fractional_day_only=True,
        rate_limit_per_minute=200,
    )
    options_model: ClassVar[type[BaseModel]] = AlpacaOptions

    def __init__(self, options: AlpacaOptions, context: BrokerContext) -> None:
        self.options = options
        self.context = context
        self.base_url = options.base_url or (PAPER_URL if options.paper else LIVE_URL)
        self.data_url = options.data_url or DATA_URL
        rate = options.max_requests_per_minute
        self.throttle = Throttle(rate, burst=max(1, min(10, rate // 20)))
        self._client: httpx.AsyncClient | None = None
        self._legs: dict[str, tuple[str, str]] = {}  # our leg id -> (parent's client order id, leg kind)
        self._leg_ids: dict[str, str] = {}  # our leg id -> Alpaca's order id of that leg
        self._replacements: set[str] = set()  # our ids of orders placed by `replace_order` in another's stead
        # Our ids of orders put in a leg's place (`replace_order`) -> the leg's parent: they stay in its bracket.
        self._in_bracket: dict[str, str] = {}
        self._unbracketed: set[str] = set()  # our ids of replacements found in no bracket (`_bracketed`)
        self._over: set[str] = set()  # our ids of legs (and orders in a leg's place) read final: not read again
        # Our ids of legs (and orders in a leg's place) -> Alpaca's symbol and the submission time of the order that
        # works as it, as last read: where `_held` looks for them.
        self._leg_seen: dict[str, tuple[str, str]] = {}
        self._far: set[str] = set()  # of those, the ones submitted too far back to page to (`_since_oldest`)
        self.coins = CRYPTO_COINS  # read from Alpaca's assets at connect (`_read_coins`)
        self.coins_read_at: float | None = None  # time.monotonic() of the last read (or failed read) of them
        self.pair_rules: dict[str, PairRules] = {}  # BTC/USD -> its asset's minimum and increments, read with the coins
        self._dust_logged: set[tuple[str, Decimal]] = set()  # coins held below their minimum, logged once each

    # connection

    async def connect(self) -> None:
        """Open the HTTP session and check the keys and that the account may trade."""
        headers = {"APCA-API-KEY-ID": self.options.key_id, "APCA-API-SECRET-KEY": self.options.secret_key}
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=self.options.timeout_seconds)
        account = await self._get("/v2/account")
        if (state := _cannot_trade(account)) is not None:
            raise BrokerError(f"Alpaca account {account.get('account_number')} cannot trade ({state})")
        await self._read_coins()
        await self._read_legs()

    async def _read_legs(self) -> None:
        """Know the bracket legs the journal follows here by Alpaca's ids, as before a restart.

        Alpaca lists a leg under an id of its own: unknown, it reads as an order of no bracket, and a plan would
        not know that canceling it cancels its sibling too (a take-profit and its stop-loss cancel together).
        """
        for row in await self.context.journaled_legs():
            coid, alpaca_id = str(row["client_order_id"]), row.get("broker_order_id")
            if row.get("leg") in ("take_profit", "stop_loss") and alpaca_id:
                self._legs.setdefault(coid, (str(row["parent_client_order_id"]), str(row["leg"])))
                self._leg_ids.setdefault(coid, str(alpaca_id))

    async def _read_coins(self) -> None:
        """The coins of the crypto pairs Alpaca lists as active and tradable; on a failed read, those known before."""
        self.coins_read_at = time.monotonic()  # before the read: plans read side by side ask for the assets once
        try:
            assets = await self._get("/v2/assets", {"asset_class": "crypto", "status": "active"})
            listed = {
                str(asset["symbol"]).upper(): _pair_rules(asset)
                for asset in assets
                if asset.get("tradable") and asset.get("status") == "active" and "/" in str(asset.get("symbol"))
            }
        except (BrokerError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("Alpaca's crypto assets could not be read (%s); its coins are taken as known before", exc)
            self.coins_read_at -= COINS_REFRESH_SECONDS - COINS_RETRY_SECONDS
            return
        if listed:  # none at all is no listing to trust: the known ones stay
            self.coins = frozenset(pair.partition("/")[0] for pair in listed)
            self.pair_rules = listed

    def quantity_step(self, symbol: str) -> Decimal | None:
        """A crypto pair's `min_trade_increment` (0.0001 for BTC/USD in Alpaca's example), for sizing; None for a
        stock (whole shares, or the planner's fractions) or a pair whose assets were not read."""
        rules = self._rules(symbol)
        return rules.quantity_step if rules else None

    def price_step(self, symbol: str) -> Decimal | None:
        """A crypto pair's `price_increment` (1 for BTC/USD in Alpaca's example), for prices the bridge computes;
        None for a stock, whose tick (a cent at or above $1) the planner knows."""
        rules = self._rules(symbol)
        return rules.price_step if rules else None

    def _rules(self, symbol: str) -> PairRules | None:
        pair = crypto_pair(symbol, self.coins)
        return self.pair_rules.get(pair) if pair else None

    async def _fresh_coins(self) -> None:
        """Read the coins again once COINS_REFRESH_SECONDS have passed, so a coin listed meanwhile reads as a pair."""
        if self.coins_read_at is None or time.monotonic() - self.coins_read_at >= COINS_REFRESH_SECONDS:
            await self._read_coins()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # HTTP with throttling and error translation

    async def _send(self, method: str, path: str, submit: bool = False, send_by: datetime | None = None,
                    **kwargs: Any) -> httpx.Response:  # fmt: skip
        """One request under the throttle; transport failures become temporary or unknown-outcome errors.

        `send_by`: the latest moment an order may leave (`OrderRequest.send_by`); held longer by the throttle (its
        queue of requests before it, or a 429's reset), it is refused unsent.
        """
        if self._client is None:
            raise TemporaryBrokerError("the Alpaca adapter is not connected")
        left = None if send_by is None else (send_by - datetime.now(UTC)).total_seconds()
        if left is not None and left <= 0:
            raise HeldUnsent(TOO_LATE)
        try:  # a read waits out Alpaca's reset, checked for its age after; an order goes now or not at all
            async with asyncio.timeout(left):  # only the wait for the throttle: nothing has been sent yet
                await self.throttle.wait(HOLD_WAIT_SECONDS if submit else None)
        except RateLimited as exc:  # of its own kind: held unsent, not counted as Alpaca failing (HeldForReset)
            raise type(exc)(f"Alpaca rate limit: {exc}", retry_after=exc.retry_after) from exc
        except TimeoutError:
            raise HeldUnsent(TOO_LATE) from None
        try:
            response = await self._client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TemporaryBrokerError(f"cannot reach Alpaca at {self.base_url}: {exc!r}") from exc
        except httpx.TransportError as exc:  # sent, but the answer was lost: the venue may have acted
            if submit:
                raise UnknownOutcome(f"Alpaca did not answer the order: {exc!r}") from exc
            raise TemporaryBrokerError(f"Alpaca did not answer: {exc!r}") from exc
        self._pace(response)
        if response.status_code == 429:
            raise RateLimited(f"Alpaca rate limit: {_message(response)}", retry_after=self._reset_in(response))
        if response.status_code >= 500 or response.status_code == 408:
            # A 408 (request timeout, from Alpaca or a gateway in front of it) or a 5xx says nothing of whether an
            # order got through: looked up by its client order id, never read as refused, never sent again.
            text = f"Alpaca answered {response.status_code}: {_message(response)}"
            raise UnknownOutcome(text) if submit else TemporaryBrokerError(text)
        if response.status_code == 401:
            # The keys, not the order: every strategy's orders would meet the same refusal (see CredentialsRefused).
            raise CredentialsRefused(
                f"Alpaca refused the API keys ({_message(response)}), so nothing was sent: they are wrong, revoked "
                "or regenerated in Alpaca's dashboard, or are paper keys on the live API (or the reverse); check "
                "key_id, secret_key and paper in this broker's options"
            )
        return response

    def _reset_in(self, response: httpx.Response) -> float:
        reset = response.headers.get("X-Ratelimit-Reset")
        try:
            return max(0.0, min(60.0, float(reset) - time.time())) if reset else 1.0
        except ValueError:
            return 1.0

    def _pace(self, response: httpx.Response) -> None:
        """When the window is used up (or we were refused), hold every call until Alpaca's reset time."""
        if response.status_code == 429 or response.headers.get("X-Ratelimit-Remaining") == "0":
            self.throttle.hold(self._reset_in(response))

    async def _get(self, path: str, params: dict[str, str] | None = None, not_found: str | None = None) -> Any:
        """A read, retried on temporary errors; a 404 raises OrderNotFound(not_found) when given."""

        async def once() -> Any:
            response = await self._send("GET", path, params=params)
            if response.status_code == 404 and not_found is not None:
                raise OrderNotFound(not_found)
            if response.status_code >= 400:
                raise BrokerError(f"Alpaca GET {path} failed ({response.status_code}): {_message(response)}")
            return response.json()

        return await retry_read(once)

    # reads

    async def fetch_quote(self, symbol: str) -> Decimal | None:
        """The latest quote's midpoint (one side when the other is missing); None when there is no quote."""
        pair = crypto_pair(symbol, self.coins)
        if pair is not None:  # absolute URLs: another host
            body = await self._get(self.data_url + "/v1beta3/crypto/us/latest/quotes", {"symbols": pair})
            quotes = body.get("quotes") if isinstance(body, dict) else None
            quote = quotes.get(pair) if isinstance(quotes, dict) else None
        else:
            path = f"/v2/stocks/{quote_path(symbol, safe='.')}/quotes/latest"
            body = await self._get(self.data_url + path, {"feed": self.options.feed})
            quote = body.get("quote") if isinstance(body, dict) else None
        if not isinstance(quote, dict):
            return None
        sides = [price for price in (_dec(quote.get("bp")), _dec(quote.get("ap"))) if price is not None and price > 0]
        return sum(sides, Decimal(0)) / len(sides) if sides else None

    async def fetch_account(self) -> Account:
        """Cash, equity and buying power."""
        body = await self._get("/v2/account")
        return Account(cash=Decimal(body["cash"]), equity=Decimal(body["equity"]),
                       buying_power=Decimal(body["buying_power"]), currency=body.get("currency") or "USD")  # fmt: skip

    async def fetch_positions(self) -> list[Position]:
        """Open positions; shorts are negative; a crypto pair's in what an order can sell of it (`_sellable`)."""
        await self._fresh_coins()  # read before every plan, as the open orders are: a plan checks its orders after
        positions = []
        for item in await self._get("/v2/positions"):
            quantity = abs(Decimal(item["qty"]))
            if item.get("side") != "short" and (quantity := self._sellable(item["symbol"], quantity)) == 0:
                continue
            signed = -quantity if item.get("side") == "short" else quantity
            positions.append(Position(symbol=item["symbol"], quantity=signed, avg_price=_dec(item["avg_entry_price"])))
        return positions

    def _sellable(self, symbol: str, quantity: Decimal) -> Decimal:
        """What an order can sell of a coin held: rounded down to the pair's `min_trade_increment`, and 0 (flat) when
        below its `min_order_size`.

        A fee taken in the coin bought leaves 0.00009975 of a 0.0001 BTC buy: no order that small is taken, so read as
        a long it was an exit always refused and a long that kept every later entry ignored. It reads as flat (dust).
        """
        rules = self._rules(symbol)
        if rules is None:  # a stock, or a pair whose assets were not read: as Alpaca lists it
            return quantity
        step, least = rules.quantity_step, rules.min_order_size
        sellable = (quantity / step).to_integral_value(rounding=ROUND_DOWN) * step if step else quantity
        if sellable > 0 and (least is None or sellable >= least):
            return sellable
        if (symbol, quantity) not in self._dust_logged:  # once: positions are read at every signal
            self._dust_logged.add((symbol, quantity))
            log.info("%s %s held is below Alpaca's minimum order size of %s: no order can sell it, so it reads as "
                     "flat (dust); close it in Alpaca's dashboard if it matters", _num(quantity), symbol,
                     _num(least or quantity))  # fmt: skip
        return Decimal(0)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders that can still fill (bracket legs included), optionally for one symbol."""
        params = {"status": "open", "limit": str(PAGE), "nested": "false", "direction": "asc"}
        if symbol is not None:
            params["symbols"] = crypto_pair(symbol, self.coins) or symbol  # Alpaca lists a pair's orders as BTC/USD
        items = await self._every_page(params)
        # Alpaca's ids of what was listed, and the client order ids: ours, for an order put in a leg's place.
        items += await self._held(params.get("symbols"), {key for item in items for key in (item["id"],
                                                          str(item.get("client_order_id") or ""))})  # fmt: skip
        ours = {alpaca_id: coid for coid, alpaca_id in self._leg_ids.items()}
        for item in items:
            await self._bracketed(item)
        return [self._order(item, ours.get(item["id"])) for item in items]

    async def _held(self, symbol: str | None, listed: set[str]) -> list[dict[str, Any]]:
        """The bridge's working bracket orders Alpaca's open listing leaves out, found in one listing of every status.

        Alpaca lists a `held` order as closed, not open (its SDKs' issues and forum): a bracket's stop-loss beside
        its working take-profit, the legs of an entry still working, a stop put in a held leg's place. Left out,
        a breakeven found no stop-loss to move, and a cancel of the ticker's orders never named it. So each leg the
        bridge placed (and each order it put in a leg's place) that the listing lacks is looked for, until it is
        over: in the orders of every status submitted since the oldest of them (`_since_oldest`), the rest read by
        id. Read by id each, 20 brackets cost 20 requests at every signal's listing and every order poll, of
        Alpaca's 200 a minute, and the signals' reads waited behind the throttle.
        """
        wanted = [
            coid for coid in (*self._legs, *self._in_bracket)
            if coid not in self._over and (self._leg_ids.get(coid) or coid) not in listed
            and (symbol is None or self._leg_seen.get(coid, (symbol, ""))[0] == symbol)  # another ticker's: not read
        ]  # fmt: skip
        spanned = await self._since_oldest(symbol, wanted)
        found: list[dict[str, Any]] = []
        for coid in wanted:
            try:
                item = await self._unlisted(coid, spanned)
            except OrderNotFound:
                self._over.add(coid)  # not at Alpaca (a 404 is final): nothing of it can work
                continue
            self._leg_seen[coid] = (str(item.get("symbol")), str(item.get("submitted_at") or ""))
            if STATUSES.get(str(item.get("status"))) not in ("submitted", "open", "partially_filled"):
                self._over.add(coid)
            elif item["id"] not in listed and (symbol is None or item.get("symbol") == symbol):
                listed.add(item["id"])
                found.append(item)
        return found

    async def _since_oldest(self, symbol: str | None, wanted: list[str]) -> dict[str, dict[str, Any]]:
        """The orders of every status (Alpaca's id and client order id -> order) submitted since the oldest of the
        `wanted` ones whose submission time is known, up to HELD_PAGES pages or until every one of them was read;
        empty where reading each by id costs no more."""
        known = {
            coid: at for coid in wanted
            if coid not in self._far and (at := _instant(self._leg_seen.get(coid, ("", ""))[1])) is not None
        }  # fmt: skip
        if len(known) < 2:
            return {}
        after = min(known.values()).isoformat().replace("+00:00", "Z")  # just before the oldest: `after` excludes
        params = {"status": "all", "limit": str(PAGE), "nested": "false", "direction": "asc", "after": after}
        if symbol is not None:
            params["symbols"] = symbol
        keys = {self._leg_ids.get(coid) or coid for coid in known}

        def all_read(items: dict[str, dict[str, Any]]) -> bool:
            return keys <= {key for item in items.values() for key in (item["id"], item.get("client_order_id"))}

        items, short = await self._pages(params, HELD_PAGES, all_read)
        spanned = {str(item.get("client_order_id")): item for item in items}  # ours, for an order put in a leg's place
        spanned.update((item["id"], item) for item in items)
        if short is not None and not all_read(spanned):
            # More orders since the oldest than the pages read: those found (the oldest) are read by id from now
            # on, so the next listings start from the newer ones, not page through to them and read them by id too.
            self._far.update(coid for coid in known if (self._leg_ids.get(coid) or coid) in spanned)
        return spanned

    async def _unlisted(self, client_order_id: str, spanned: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Alpaca's order JSON for one of our bracket orders: from `spanned` (a listing) where it is there, else a leg
        by Alpaca's id once known, else by `_lookup`."""
        alpaca_id = self._leg_ids.get(client_order_id)
        missing = f"Alpaca has no order {client_order_id}"
        listed = spanned.get(alpaca_id or client_order_id)
        if listed is not None:
            current = await self._current(listed, missing)
        elif alpaca_id is None:
            return (await self._lookup(client_order_id))[0]
        else:
            current = await self._current(
                await self._get(f"/v2/orders/{quote_path(alpaca_id)}", not_found=missing), missing
            )
        if alpaca_id is not None:  # a leg's replacement is listed under our id, as `_lookup` does
            self._leg_ids[client_order_id] = current["id"]
        return current

    async def _every_page(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every order of a listing, page after page: never a short list, which an exit's cancel-all would trust."""
        items, short = await self._pages(params, MAX_PAGES)
        if short is not None:
            raise BrokerError(short)
        return items

    async def _pages(
        self, params: dict[str, str], most: int, enough: Any = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The orders of a listing, page after page, up to `most` pages or until `enough(read)`; and why it was not
        read to its end, or None.

        Alpaca pages by submission time ("Get all orders": `after`, exclusive, with `direction` asc). A bracket's
        three orders share theirs, so each page starts again just before the last one read, and what was read
        already is left out: a page that brings nothing new (more than a page submitted at one instant) cannot be
        read past.
        """
        listed: dict[str, dict[str, Any]] = {}
        page_params = dict(params)
        for _ in range(most):
            page = await self._get("/v2/orders", page_params)
            if not isinstance(page, list):
                raise BrokerError(f"Alpaca listed its orders as {type(page).__name__}, not a list")
            fresh = [item for item in page if item["id"] not in listed]
            listed.update((item["id"], item) for item in fresh)
            if len(page) < PAGE or (enough is not None and enough(listed)):
                return list(listed.values()), None
            if not fresh:
                return list(listed.values()), (
                    f"Alpaca lists more than {PAGE} open orders submitted at one instant "
                    f"({page[-1].get('submitted_at')}), past which its pages cannot be read: the open orders cannot "
                    "be listed whole"
                )
            page_params["after"] = _just_before(page[-1].get("submitted_at"))
        return list(listed.values()), (
            f"Alpaca lists more than {PAGE * most} open orders: they are not read whole; cancel the ones you do not "
            "need in Alpaca's dashboard"
        )

    async def fetch_order(self, client_order_id: str) -> Order:
        """One order by our client order id (a bracket leg's too)."""
        return self._order(*await self._lookup(client_order_id))

    async def _lookup(self, client_order_id: str) -> tuple[dict[str, Any], str]:
        """Alpaca's order JSON for our id, and our id (legs are found through their parent)."""
        missing = f"Alpaca has no order {client_order_id}"
        try:
            found = await self._get("/v2/orders:by_client_order_id", {"client_order_id": client_order_id}, missing)
            current = await self._current(found, missing)
            await self._bracketed(current)
            return current, client_order_id
        except OrderNotFound:
            leg = self._legs.get(client_order_id) or await self._journaled_leg(client_order_id)
            if leg is None:
                raise
        self._legs[client_order_id] = leg  # after a restart: known from now on, in listings too
        parent_coid, kind = leg
        parent = await self._get("/v2/orders:by_client_order_id", {"client_order_id": parent_coid}, missing)
        nested = await self._get(f"/v2/orders/{parent['id']}", {"nested": "true"}, missing)
        for item in nested.get("legs") or []:
            # A breakeven stop that took the leg's place is an order of its own, under its own id: not the leg.
            if (item["type"] == "limit") == (kind == "take_profit") and not await self._ours(item):
                current = await self._current(item, missing)
                self._leg_ids[client_order_id] = current["id"]  # listed under our id from now on, replaced or not
                return current, client_order_id
        raise OrderNotFound(f"{missing} (the {kind} leg of {parent_coid} is not at Alpaca)")

    async def _current(self, item: dict[str, Any], missing: str) -> dict[str, Any]:
        """The order that now works in place of `item`: a `replaced` order lives on as its `replaced_by`.

        Alpaca replaces an order on a PATCH (from its dashboard, say) and adjusts GTC orders for corporate
        actions the same way; the replacement has a client order id of its own, so ours finds the old one.
        Only an order that `replaces` this one took its place: a bracket's take-profit reads `replaced`, its
        `replaced_by` the stop-loss that filled beside it, and read as that stop it told the stop's fill twice.
        """
        for _ in range(MAX_REPLACEMENTS):
            if item.get("status") != "replaced" or not item.get("replaced_by"):
                return item
            replacement = await self._get(f"/v2/orders/{quote_path(str(item['replaced_by']))}", not_found=missing)
            if replacement.get("replaces") != item["id"]:  # its sibling leg, placed with it: this one is over
                return item
            if await self._ours(replacement):  # replaced by the bridge (`replace_order`): that one is followed by its
                return item  # own id, and this one is over (`replaced`), lest one fill be journaled for both
            item = replacement
        raise BrokerError(f"{missing}: replaced more than {MAX_REPLACEMENTS} times; check it in Alpaca's dashboard")

    async def _ours(self, item: dict[str, Any]) -> bool:
        """Whether `item` replaced another order at the bridge's request: its client order id is in the journal."""
        coid = str(item.get("client_order_id") or "")
        if not item.get("replaces") or not coid:
            return False
        return coid in self._replacements or await self.context.journaled_order(coid) is not None

    async def _bracketed(self, item: dict[str, Any]) -> None:
        """Remember the bracket of an order the bridge replaced a leg with (`replace_order`), after a restart too.

        Alpaca's replacement stays in its bracket: canceling its sibling cancels it, and the reverse. Named as the
        leg's (`parent_client_order_id`), the planner and the executor know the two go together.
        """
        coid = str(item.get("client_order_id") or "")
        if not item.get("replaces") or not coid or coid in self._in_bracket or coid in self._unbracketed:
            return
        seen = coid
        for _ in range(MAX_REPLACEMENTS):  # a breakeven stop moved again replaced the one that replaced the leg
            row = await self.context.journaled_order(seen)
            if row is None or not row.get("replaces"):
                break
            seen = str(row["replaces"])
            leg = self._legs.get(seen) or await self._journaled_leg(seen)
            if leg is not None:
                self._in_bracket[coid] = leg[0]
                return
        self._unbracketed.add(coid)  # not one of a bracket's: not looked up again at every listing

    async def _journaled_leg(self, client_order_id: str) -> tuple[str, str] | None:
        row = await self.context.journaled_order(client_order_id)
        if row and row.get("parent_client_order_id") and row.get("leg") in ("take_profit", "stop_loss"):
            return str(row["parent_client_order_id"]), str(row["leg"])
        return None

    def _order(self, item: dict[str, Any], our_id: str | None = None) -> Order:
        status = STATUSES.get(str(item.get("status")), "unknown")
        quantity, filled = Decimal(item.get("qty") or "0"), Decimal(item.get("filled_qty") or "0")
        if item.get("status") == "calculated" and filled >= quantity > 0:
            status = "filled"
        elif status in ("submitted", "open") and filled > 0:
            status = "partially_filled"  # done_for_day, pending_cancel, ... after a fill: still working, shares held
        # Alpaca's legs name no parent: ours are known, so the planner leaves the legs of a working entry alone.
        leg = self._legs.get(our_id) if our_id else None
        parent = leg[0] if leg else self._in_bracket.get(str(item.get("client_order_id") or ""))  # or a replacement's
        error = f"replaced by Alpaca order {item['replaced_by']}" if item.get("status") == "replaced" else None
        return Order(
            client_order_id=our_id or item["client_order_id"], symbol=item["symbol"], side=item["side"],
            quantity=quantity, type=cast(OrderType, item.get("type") or item.get("order_type")), status=status,
            broker_order_id=item["id"], limit_price=_dec(item.get("limit_price")),
            stop_price=_dec(item.get("stop_price")), filled_quantity=filled,
            avg_fill_price=_dec(item.get("filled_avg_price")), parent_client_order_id=parent,
            error=error,
        )  # fmt: skip

    # orders

    async def create_order(self, request: OrderRequest) -> Order:
        """Submit once; the outcome of a lost answer is left to fetch_order(client_order_id)."""
        body = self._body(request)
        response = await self._send("POST", "/v2/orders", submit=True, send_by=request.send_by, json=body)
        if response.status_code in (200, 201):
            item = response.json()
            self._remember_legs(request, item)
            return self._order(item)
        message = _message(response)
        if response.status_code not in REFUSALS:  # a status no refusal of Alpaca's has: the order may be there
            raise UnknownOutcome(f"Alpaca answered {response.status_code}: {message}; that says neither that the "
                                 "order was placed nor that it was refused")  # fmt: skip
        if "client_order_id must be unique" in message:
            raise DuplicateClientOrderId(f"Alpaca already has an order {request.client_order_id}")
        if response.status_code == 403 and (why := await self._account_refusal(message)) is not None:
            raise AccountRefused(
                f"Alpaca refuses every order of this account ({why}), so nothing was sent, for any strategy: check "
                "the account in Alpaca's dashboard (trading blocked or suspended, an account not approved, keys "
                "without trading access)"
            )
        raise OrderRejected(f"Alpaca refused the order ({response.status_code}): {message}")

    async def replace_order(self, client_order_id: str, request: OrderRequest) -> Order:
        """Swap a working order for `request` in one step ("Replace an Order", `PATCH /v2/orders/{id}`): its stop and
        limit prices, quantity, time in force and client order id. Refused, the old order works on unchanged.

        Alpaca answers with the new order; the old one becomes `replaced` (Alpaca: "A success return code ... does
        NOT guarantee" it, as an old order that fills first has its replacement rejected: the order jobs follow both).
        """
        self._body(request)  # Alpaca's order rules, as for a new order: refused here, nothing sent
        try:
            item, _ = await self._lookup(client_order_id)
        except OrderNotFound as exc:
            raise OrderRejected(f"{exc}, so there is no order to replace") from exc
        status = str(item.get("status"))
        if STATUSES.get(status) not in ("submitted", "open", "partially_filled") or status in UNREPLACEABLE:
            raise OrderRejected(f"Alpaca cannot replace order {client_order_id} while it is {status}")
        if item.get("type") != request.type:
            raise OrderRejected(f"Alpaca cannot make the {item.get('type')} order {client_order_id} a {request.type}")
        leg = self._legs.get(client_order_id)  # a bracket's leg (known once looked up), or what took a leg's place
        parent = leg[0] if leg else self._in_bracket.get(client_order_id)
        body = _patch(item, request, in_bracket=parent is not None)
        response = await self._send("PATCH", f"/v2/orders/{item['id']}", submit=True, send_by=request.send_by,
                                    json=body)  # fmt: skip
        if response.status_code in (200, 201):
            self._replacements.add(request.client_order_id)
            self._leg_ids.pop(client_order_id, None)  # its replacement is listed under its own id, not the leg's
            if parent is not None:  # and stays in the leg's bracket at Alpaca
                self._in_bracket[request.client_order_id] = parent
            return self._order(response.json())
        message = _message(response)
        if response.status_code not in REFUSALS:
            raise UnknownOutcome(f"Alpaca answered {response.status_code} to the replace of {client_order_id}: "
                                 f"{message}; that says neither that it was replaced nor that it was not")  # fmt: skip
        if "client_order_id must be unique" in message:
            raise DuplicateClientOrderId(f"Alpaca already has an order {request.client_order_id}")
        raise OrderRejected(f"Alpaca refused to replace order {client_order_id} ({response.status_code}): {message}")

    async def _account_refusal(self, message: str) -> str | None:
        """Why a 403 refuses every order of the account, not just this one; None when it is the order's own.

        Alpaca answers 403 (code 40310000) both for an order of its own (insufficient buying power or qty, pattern
        day trader protection) and for an account that may not trade. The latter is taken only on its known words
        or on the account's own say: its flags (the Account reference's `trading_blocked`, `account_blocked`,
        `trade_suspended_by_user`, `status`), or a 403 for reading the account too (the keys reach nothing). A doubt
        stays the order's refusal: stopping the broker for every strategy would hold back their exits too.
        """
        lowered = message.strip().lower()
        if any(words in lowered for words in ACCOUNT_WIDE):
            return message
        try:
            response = await self._send("GET", "/v2/account")
        except AccountRefused:
            raise  # the keys were refused meanwhile: that says it
        except BrokerError:
            return None
        if response.status_code == 403:
            return f"{message}; reading the account is refused too: {_message(response)}"
        if response.status_code != 200:
            return None
        try:
            account = response.json()
            state = _cannot_trade(account)
            if state is None and account.get("trade_suspended_by_user"):  # "suspend trading" in Alpaca's dashboard
                state = "trade_suspended_by_user true"
        except (ValueError, AttributeError):
            return None
        return None if state is None else f"{message}; the account shows {state}"

    def check_order(self, request: OrderRequest) -> None:
        """Raise OrderRejected for a request Alpaca's documented rules refuse (asked before a plan cancels anything)."""
        self._body(request)

    def _body(self, request: OrderRequest) -> dict[str, Any]:
        """The `POST /v2/orders` body; anything Alpaca cannot take is refused here, never substituted."""
        if request.type not in self.capabilities.order_types:
            raise OrderRejected(f"Alpaca has no {request.type} orders")
        if request.quantity <= 0:
            raise OrderRejected(f"quantity must be positive, got {request.quantity}")
        pair = crypto_pair(request.symbol, self.coins)
        refusal = _refusal(request, pair)
        if refusal is not None:
            raise OrderRejected(refusal)
        quantity = request.quantity
        if pair is not None and (rules := self.pair_rules.get(pair)) is not None:
            quantity = _pair_quantity(request, pair, rules)
            if (off := _off_increment(request, pair, rules)) is not None:
                raise OrderRejected(off)
        body: dict[str, Any] = {
            "symbol": pair or request.symbol, "qty": _num(quantity), "side": request.side, "type": request.type,
            "time_in_force": request.time_in_force, "client_order_id": request.client_order_id,
        }  # fmt: skip
        if request.limit_price is not None:
            body["limit_price"] = _num(request.limit_price)
        if request.stop_price is not None:
            body["stop_price"] = _num(request.stop_price)
        if request.type == "trailing_stop":
            if request.trail_amount is not None:
                body["trail_price"] = _num(request.trail_amount)
            if request.trail_percent is not None:
                body["trail_percent"] = _num(request.trail_percent)
        if request.extended_hours and pair is None:  # a pair trades around the clock: no hours to extend
            body["extended_hours"] = True
        legs = {"take_profit": request.take_profit, "stop_loss": request.stop_loss}
        if any(legs.values()):
            body["order_class"] = "bracket" if all(legs.values()) else "oto"
            if request.take_profit is not None:
                body["take_profit"] = _take_profit(request.take_profit)
            if request.stop_loss is not None:
                body["stop_loss"] = _stop_loss(request.stop_loss)
        return body

    def _remember_legs(self, request: OrderRequest, item: dict[str, Any]) -> None:
        for kind, leg in (("take_profit", request.take_profit), ("stop_loss", request.stop_loss)):
            if leg is None:
                continue
            self._legs[leg.client_order_id] = (request.client_order_id, kind)
            for child in item.get("legs") or []:
                if (child["type"] == "limit") == (kind == "take_profit"):
                    self._leg_ids[leg.client_order_id] = child["id"]
                    seen = (str(child.get("symbol")), str(child.get("submitted_at") or ""))
                    self._leg_seen[leg.client_order_id] = seen  # where `_held` looks for it

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel if still open, then report the final state (a filled order is returned as it is)."""
        item, our_id = await self._lookup(client_order_id)
        missing = f"Alpaca has no order {client_order_id}"
        for _ in range(MAX_REPLACEMENTS):
            if STATUSES.get(item["status"]) in ("filled", "canceled", "rejected"):
                return self._order(item, our_id)
            response = await self._send("DELETE", f"/v2/orders/{item['id']}")
            if response.status_code == 404:
                raise OrderNotFound(missing)
            # 204: accepted; 422: no longer cancelable (it filled, or was replaced, meanwhile). Read what it became.
            deadline = time.monotonic() + CANCEL_SETTLE_SECONDS
            while True:
                current = await self._current(await self._get(f"/v2/orders/{item['id']}"), missing)
                if current["id"] != item["id"]:  # replaced (from the dashboard) as it was canceled: `replaced` is
                    break  # final, but its replacement works on, and is the order to cancel now
                order = self._order(current, our_id)
                if not order.is_open or time.monotonic() > deadline:
                    return order
                await asyncio.sleep(0.1)
            item = current
            if our_id in self._leg_ids:
                self._leg_ids[our_id] = item["id"]  # a leg's replacement is listed under our id, as `_lookup` does
        raise BrokerError(f"{missing}: replaced more than {MAX_REPLACEMENTS} times; check it in Alpaca's dashboard")


def _patch(item: dict[str, Any], request: OrderRequest, in_bracket: bool = False) -> dict[str, str]:
    """The body of a replace: the prices `request` gives, and its quantity and time in force where they changed.

    "Replace an Order": whole shares only, and the quantity of a fractional order never changes. A bracket's leg
    (`in_bracket`) keeps its bracket's time in force and quantity: "Orders at Alpaca" supports replacing a leg "to
    update limit_price and stop_price" (a quantity change is refused), and its bracket is day or gtc. A breakeven's
    stop asks gtc (unless its signal says otherwise): sent for the stop-loss of a day bracket, it was outside what
    Alpaca takes, and the move failed.
    """
    body: dict[str, str] = {}
    if request.stop_price is not None:
        body["stop_price"] = _num(request.stop_price)
    if request.limit_price is not None:
        body["limit_price"] = _num(request.limit_price)
    held = Decimal(str(item.get("qty") or "0"))
    if request.quantity != held:
        if in_bracket:  # the planner cancels and places instead (`_in_place`): refused here, nothing is sent
            raise OrderRejected(f"Alpaca replaces a bracket leg's stop and limit prices only, not its quantity "
                                f"({_num(held)} to {_num(request.quantity)})")  # fmt: skip
        if request.quantity % 1 or held % 1:
            raise OrderRejected(f"Alpaca does not change the quantity of a fractional order in a replace ({_num(held)} "
                                f"to {_num(request.quantity)})")  # fmt: skip
        body["qty"] = _num(request.quantity)
    if item.get("time_in_force") != request.time_in_force and not in_bracket:
        body["time_in_force"] = request.time_in_force
    body["client_order_id"] = request.client_order_id
    return body


def _refusal(request: OrderRequest, pair: str | None) -> str | None:
    """Why Alpaca would refuse the request by its documented order rules ("Orders at Alpaca", "Fractional Trading":
    day orders, no short sales; extended hours, bracket orders), with the fix; None when it may go. Refused after
    sending instead, an exit's refusal came after the plan had canceled the position's stop-loss."""
    tif, kind = request.time_in_force, request.type
    if pair is not None:
        return _crypto_refusal(request, pair)
    if request.quantity != request.quantity.to_integral_value():
        if tif != "day":
            # A stop protects a position overnight: as a day order it no longer does, which the fix must say.
            lapse = " (a day stop expires at the close)" if kind in ("stop", "stop_limit") else ""
            return (f"Alpaca takes a fractional quantity ({_num(request.quantity)}) with time_in_force day only, "
                    f"not {tif}: set time_in_force day{lapse}, or fractional: false for whole shares")  # fmt: skip
        if kind == "trailing_stop":
            return (f"Alpaca has no fractional trailing_stop orders ({_num(request.quantity)}): use a stop, or "
                    "fractional: false for whole shares")  # fmt: skip
        if request.side == "sell" and not request.reduce_only:  # a sell that only closes a long is reduce_only
            return (f"Alpaca sells no fractional shares short ({_num(request.quantity)} {request.symbol}): set "
                    "fractional: false for whole shares, or sides: long")  # fmt: skip
    if kind == "trailing_stop":  # "Trailing Stop Orders": one of trail_price, trail_percent; day or gtc
        if (request.trail_amount is None) == (request.trail_percent is None):
            return "a trailing_stop needs exactly one of a trail amount or a trail percent at Alpaca"
        if tif not in ("day", "gtc"):
            return f"Alpaca takes trailing_stop orders with time_in_force day or gtc only, not {tif}"
    if tif in ("opg", "cls") and kind not in ("market", "limit"):  # "Time in Force": auction orders, MOO/LOO, MOC/LOC
        return (f"Alpaca takes time_in_force {tif} with market and limit orders only, not a {kind}: set "
                "time_in_force day or gtc for stops")  # fmt: skip
    if request.extended_hours and (kind != "limit" or tif != "day"):
        return (f"Alpaca's extended hours need time_in_force day limit orders, not a {tif} {kind}: send "
                "timeInForce day, or leave extended hours off")  # fmt: skip
    if request.take_profit or request.stop_loss:
        if tif not in ("day", "gtc"):
            return f"Alpaca's take-profit and stop-loss legs need time_in_force day or gtc, not {tif}"
        if request.extended_hours:  # "Extended hours are not supported. extended_hours must be false or omitted"
            return ("Alpaca takes no take-profit or stop-loss legs on an extended hours order (bracket and oto "
                    "orders trade regular hours only): leave extended hours off, or send no legs")  # fmt: skip
    return _misplaced_leg(request) or _off_tick(request)


def _crypto_refusal(request: OrderRequest, pair: str) -> str | None:
    """Why Alpaca would refuse a crypto order by its "Crypto Orders" rules, with the fix; None when it may go.

    A pair quoted in another coin is refused too: Alpaca's positions are the coins held, each listed against USD
    (BTCUSD), whichever pair bought them. Bought on ETH/BTC, the position would read as flat in ETH/BTC, so every
    buy signal bought again and an exit found nothing to sell (as ccxt's adapter refuses markets outside `quote`).
    """
    if not pair.endswith("/USD"):
        base = pair.split("/")[0]
        return (f"{pair} is not quoted in USD, and this adapter trades Alpaca's crypto pairs quoted in USD only "
                f"(Alpaca lists a coin's position against USD, as {base}USD, whichever pair bought it): "
                f"trade {base}/USD")  # fmt: skip
    if request.type not in ("market", "limit", "stop_limit"):
        return (f"Alpaca takes no {request.type} orders for crypto ({pair}), only market, limit and stop_limit: use "
                "a stop_limit")  # fmt: skip
    if request.time_in_force not in ("gtc", "ioc"):
        return (f"Alpaca takes crypto orders with time_in_force gtc or ioc only, not {request.time_in_force} "
                f"({pair}): set time_in_force gtc in the subscription, or timeInForce in the signal")  # fmt: skip
    if request.take_profit or request.stop_loss:
        return (f"Alpaca takes no take-profit or stop-loss legs on crypto orders ({pair}: simple orders only): "
                "send the entry without them")  # fmt: skip
    if request.side == "sell" and not request.reduce_only:  # a sell that only closes a long is reduce_only
        return f"Alpaca sells no crypto short ({pair}): set sides: long in the subscription"
    return None


def _pair_quantity(request: OrderRequest, pair: str, rules: PairRules) -> Decimal:
    """The quantity rounded down to the pair's `min_trade_increment` (never more than asked); OrderRejected when
    that is below its `min_order_size`, which Alpaca refuses, saying what to change."""
    asked, step, least = request.quantity, rules.quantity_step, rules.min_order_size
    quantity = (asked / step).to_integral_value(rounding=ROUND_DOWN) * step if step else asked
    if quantity > 0 and (least is None or quantity >= least):
        if quantity != asked:
            log.info("%s %s rounded down to %s, on Alpaca's increment of %s", _num(asked), pair, _num(quantity),
                     _num(step or quantity))  # fmt: skip
        return quantity
    if least is not None and asked < least:
        what = f"{_num(asked)} {pair} is below Alpaca's minimum order size of {_num(least)} for {pair}"
    else:  # on the minimum, but not once rounded down to the increment (or nothing is left of it)
        what = (
            f"{_num(asked)} {pair}, rounded down to Alpaca's increment of {_num(step or asked)}, is "
            f"{_num(quantity)}, " + (f"below its minimum order size of {_num(least)}" if least else "nothing")
        )
    if request.reduce_only:  # an exit of a position smaller than the minimum (what fees left of a larger one, say)
        fix = "Alpaca takes no order that small, so close what is left in Alpaca's dashboard"
    else:
        fix = f"raise the quantity to at least {_num(least or step or asked)} (the signal's quantity, or the sizing)"
    raise OrderRejected(f"{what}: {fix}")


def _off_increment(request: OrderRequest, pair: str, rules: PairRules) -> str | None:
    """A limit or stop price between two of the pair's `price_increment`s, which Alpaca refuses; None when on them."""
    step = rules.price_step
    if step is None:
        return None
    for name, price in (("limit price", request.limit_price), ("stop price", request.stop_price)):
        if price is not None and price % step:
            below = (price / step).to_integral_value(rounding=ROUND_DOWN) * step
            above = (price / step).to_integral_value(rounding=ROUND_UP) * step
            return (f"the {name} {_num(price)} is between two of {pair}'s price increments of {_num(step)} at Alpaca: "
                    f"send {_num(below)} or {_num(above)}")  # fmt: skip
    return None


def _misplaced_leg(request: OrderRequest) -> str | None:
    """A take-profit or stop-loss on the wrong side of the other leg or of a limit entry's price.

    "Orders at Alpaca", bracket orders: a buy's take_profit.limit_price must be above its stop_loss.stop_price (a
    sell's below); "Threshold on stop price of stop-loss orders": the stop is at least 0.01 past the base price, a
    limit entry's limit price (Alpaca answers "take_profit.limit_price must be >= base_price + 0.01" for the other
    leg). A market entry's base price is the market's price at Alpaca, known there only.
    """
    take = request.take_profit.limit_price if request.take_profit else None
    stop = request.stop_loss.stop_price if request.stop_loss else None
    buy = request.side == "buy"
    if take is not None and stop is not None and (take <= stop if buy else take >= stop):
        return (f"a {request.side}'s take-profit limit price ({_num(take)}) must be {'above' if buy else 'below'} "
                f"its stop-loss stop price ({_num(stop)}) at Alpaca")  # fmt: skip
    base = request.limit_price if request.type == "limit" else None
    if base is None:
        return None
    tick = Decimal("0.01")
    if stop is not None and (stop > base - tick if buy else stop < base + tick):
        return (f"a {request.side}'s stop-loss stop price ({_num(stop)}) must be at least 0.01 "
                f"{'below' if buy else 'above'} the entry's limit price ({_num(base)}) at Alpaca")  # fmt: skip
    if take is not None and (take < base + tick if buy else take > base - tick):
        return (f"a {request.side}'s take-profit limit price ({_num(take)}) must be at least 0.01 "
                f"{'above' if buy else 'below'} the entry's limit price ({_num(base)}) at Alpaca")  # fmt: skip
    return None


def _off_tick(request: OrderRequest) -> str | None:
    """A price Alpaca refuses as a "sub-penny increment": it takes cents at or above $1, and 0.0001 below."""
    prices = [("limit price", request.limit_price), ("stop price", request.stop_price)]
    if request.take_profit is not None:
        prices.append(("take-profit limit price", request.take_profit.limit_price))
    if request.stop_loss is not None:
        prices += [("stop-loss stop price", request.stop_loss.stop_price),
                   ("stop-loss limit price", request.stop_loss.limit_price)]  # fmt: skip
    for name, price in prices:
        if price is None:
            continue
        step = Decimal("0.01") if price >= 1 else Decimal("0.0001")
        if price % step:
            return (f"the {name} {_num(price)} is off Alpaca's tick of {step} (a cent at or above $1, 0.0001 below): "
                    "send it rounded to the tick")  # fmt: skip
    return None


def _take_profit(leg: BracketLeg) -> dict[str, str]:
    if leg.type != "limit" or leg.limit_price is None:
        raise OrderRejected("Alpaca's take-profit leg is a limit order: it needs a limit price")
    return {"limit_price": _num(leg.limit_price)}


def _stop_loss(leg: BracketLeg) -> dict[str, str]:
    if leg.type not in ("stop", "stop_limit") or leg.stop_price is None:
        raise OrderRejected("Alpaca's stop-loss leg is a stop or stop-limit order with a stop price")
    body = {"stop_price": _num(leg.stop_price)}
    if leg.type == "stop_limit" and leg.limit_price is not None:
        body["limit_price"] = _num(leg.limit_price)
    return body


BROKER = AlpacaBroker
