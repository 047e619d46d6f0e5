"""Crypto exchanges through ccxt (spot markets), any exchange by its ccxt id.

Follows ccxt's unified API as its manual documents it (docs.ccxt.com: "Manual" sections Markets,
Orders, `createOrder` with `params={'clientOrderId': ...}`, `fetchOrder`, `cancelOrder`,
`fetchOpenOrders`, `fetchBalance`, sandbox mode via `set_sandbox_mode`, `has`, rate limiting with
`enableRateLimit`/`rateLimit`, and the exception hierarchy of "Error Handling"), tested with ccxt 4.
Where a venue's own behaviour matters, each venue's public API reference is followed, as named below: Binance Spot
REST API v3, OKX API v5, Gate APIv4, Kraken Spot REST API, Bybit V5, Bitvavo REST API v2, Bitfinex REST API v2,
Crypto.com Exchange API v1, Coinbase Advanced Trade API (v3 brokerage) and Coinbase Exchange REST API, Upbit Open API
v1, Gemini REST API v1, Bitso API v3 (docs.bitso.com: "Place an Order", "Look Up Orders", "List Order Trades",
"Cancel an Order"), One Trading's and WOO X's REST APIs; the venue fakes in tests/fakes are written from the
same pages.
ccxt is an optional extra: `pip install 'trade-bridge[ccxt]'`.

Spot first: a position is a balance in a base currency, valued in `quote` (USDT by default), so
short selling is not offered and the config check asks for `sides: long`. Only markets quoted in `quote`
are traded: a position bought on another (BTCUSDC, under USDT) would never be seen to be exited. Tickers are written as
the exchange writes them (`BTCUSDT`, as TradingView does) or as ccxt does (`BTC/USDT`), see `symbols`.

Error translation looks at the HTTP status first: a 5XX answer to a submission is `UnknownOutcome` whatever class
ccxt gives it (Binance's "General API Information" documents a 5XX as "execution status is UNKNOWN and could have
been a success", yet ccxt gives some of its 5XX codes, such as -1008 or -1004, a rejection's class), and a temporary
error for a read; but Bitfinex sends its own errors, refusals among them, as HTTP 500 and `["error", code, text]`
(v2 REST), and a submission's is read by ccxt's class for the code (its unknown error 10000 stays an unknown
outcome). Then ccxt's classes: `NetworkError` on a submission is `UnknownOutcome`, except a connection that never
opened, which means not sent; `DDoSProtection`/`RateLimitExceeded` are temporary, and nothing is sent until the
answer's Retry-After ends (Binance's "IP Limits": failing to back off after a 429 gets the IP banned, 418);
`InvalidNonce` (Binance's -1021, a timestamp outside `recvWindow`: "Timing security" rejects the request
unprocessed) is not sent, whatever was asked, and says to fix the clock; `InvalidOrder`, `InsufficientFunds`,
`BadRequest`... are rejections, and so is ccxt's plain `ExchangeError` (a code it has no class for) in a 4XX answer
only: in any other (Bybit's "unknown error" 10000 comes with HTTP 200) a submission's outcome is unknown;
`DuplicateOrderId` (or Binance's "Duplicate order sent.", OKX's "Duplicated clOrdId") is a duplicate client order
id. Whether a venue really refuses a reused client order id varies (some only among open orders, some not at all),
so this adapter does not claim it: the daemon's journal is the dedupe, the client order id the lookup handle. Where
the exchange takes letters and digits only (OKX's clOrdId), the id goes without its dashes; where it takes `t-` and
28 more at most (Gate's text), as `t-tb` and the same number in base 36; where it takes a UUID (Kraken's cl_ord_id,
Bitvavo's clientOrderId, Coinbase Exchange's client_oid, One Trading's client_id), as a UUID holding the same
digits; each is read back as the bridge's (at Bitvavo from the order as the venue wrote it: ccxt leaves it out).
ccxt's Bitvavo sends nothing without an operatorId (Bitvavo's v2 "Create order" and "Cancel order"): the adapter's
is 1 unless `exchange_options` sets one. ccxt's Coinbase drops the unified client order id, and its Crypto.com sends
none, so ours goes in Coinbase's own client_order_id and Crypto.com's client_oid (Exchange API v1 "create-order").
Gate (APIv4 "Get a single order") finds a finished order by its own order id only, and ccxt cannot read a Kraken,
Coinbase or Crypto.com order by client order id, so lookups there use the venue's order id once it answered with it (a
Gate order it never gave one for is read by its text while pending, else looked for among the pair's finished
orders, page by page: APIv4 "List orders"); at Kraken, Coinbase and
Crypto.com an order it never gave one for (an unknown outcome) is looked for among the listed orders, and at Bybit,
whose lookup ccxt refuses in a unified account, every order is. Bitfinex's cid is an integer (v2 "Submit Order":
int45), and so is WOO X's clientOrderId (up to 2^63 - 1): ours goes as a number taken from its SHA-256, the same at
every retry, read back through the ids this process sent (after a restart, once the journal's order is asked for);
ccxt's Bitfinex lookup reads the active orders only, so every order there is looked for among the active, then the
closed orders (by Bitfinex's order id once known). ccxt reads an Upbit, Gemini or One Trading order by the venue's
order id alone: one it never gave one for is read through the venue's own lookup by client order id (Upbit's
identifier, Gemini's client_order_id, One Trading's client_id). Bitso's client order id is its `origin_id`, and its
time in force `time_in_force` in its own words, both sent in those fields (ccxt passes neither); its lookup returns a
finished order for an hour only, so an order not found there is read from its trades (see `_looked_up_or_traded`), and
one in neither, sent over the hour ago, is canceled unfilled once Bitso gave its id, else of unknown outcome;
its open orders are listed through its "List Open Orders", 500 asked for (ccxt's read 25): an answer of 500 may be
cut short and is an error; one of exactly 100 (the most of the page's older version, until Bitso answered more than
100) is asked again oldest first (`sort` asc, which that version took), and is whole where the same 100 come back.
Where orders are listed a page at a time (Bybit's 20 unless asked; OKX's, Upbit's, Gate's 100; WOO X's 25 unless asked;
Coinbase's by a cursor), every page is read (`CURSOR_PAGES`): the open orders, and the orders among which one whose
answer was lost is looked for; an order on two pages is listed once, and a full page of orders all read already (the
same page again) ends the listing, an error. Where pages are counted by number (Upbit "List open orders", Gate "List
all open orders", WOO X "Get orders": a `page` from 1, newest first), an order that ends between two page reads moves
every older one up by one, onto the page already read: the open orders are read again until a listing read no order
twice and the next lists every order it did (three listings at most, then an error; see `_settled_open_orders`).
Gate's "List all open orders" (GET /spot/open_orders, where ccxt asks for a ticker's too, sending a `currency_pair` the
endpoint does not take, and keeps that pair's) answers each pair's `limit` (100 at most) newest of a `page`, grouped by
pair: with no ticker (the order poll's listing) pages are read until no pair's group is full, `limit` sent as Gate's own
(ccxt's would cut the pairs' answer to 100 in all), and an order ending between two reads is settled as above, each
pair's orders keeping their places among themselves.
So are One Trading's open orders, 100 to a page, by the cursor beside them in the answer ("Get Orders"), which ccxt
drops. Crypto.com's are one answer: Exchange API v1 "private/get-open-orders" takes an `instrument_name` alone ("omit
for 'all'") and answers every open order, with no page or limit, as ccxt's `fetch_open_orders` reads it.

ccxt's Gate EU, Bybit EU and Bybit Indonesia, MyOKX and OKX US are its Gate, Bybit and OKX at other hosts, and are read
as those are (`SAME_API`): their pages, their lookups.

Reads are retried with backoff (`bridge.brokers.throttle.retry_read`), a submission never: ccxt's own retry of a failed
request (`maxRetriesOnFailure`) sends an order again too, so `exchange_options` setting it is refused.

Requests are paced by the bridge's `Throttle`, not ccxt's: with `enableRateLimit` on, ccxt's `fetch2` awaits
`exchange.throttle(cost)` before it signs and sends each request, and the adapter puts its own there, at ccxt's
`rateLimit` (or `max_requests_per_minute`) and each request's ccxt cost (Binance's request weights). ccxt's queue
cannot tell an order waiting for its turn from one sent: an order it would hold past its `send_by` (its signal's
`max_signal_age`, behind a burst of other signals' requests) is refused, unsent, as a `HeldUnsent` (a
`TemporaryBrokerError` the broker's circuit does not count: the venue was never asked); reads wait.

A quantity or price with more decimals than the market allows is refused, never rounded, and so is a
quantity below the market's minimum or above its maximum (a market order's own, Binance's MARKET_LOT_SIZE), or a
limit order worth less than its minimum value (Binance's NOTIONAL), and a market buy where the venue takes one as
the quote currency to spend (Gate, Coinbase, HTX...: ccxt's `createMarketBuyOrderRequiresPrice`). A position
reads as what the market can sell: a balance off the step (a fee taken in the coin bought) is cut to it, and one
below the market's minimum quantity or worth less than its minimum order value at the last price (dust left
after a sell; Binance's NOTIONAL refuses a market sell of it too) reads as flat, logged once. A last price read is
kept for `PRICE_SECONDS` (10): positions are read at every signal, and a price seconds old tells dust as well.

ccxt's `fetchOrder` and `cancelOrder` need the order's symbol (Binance's "Query order" and "Cancel order"
take one). The adapter knows it for its own orders (after a restart, from the journal) and for every
order it lists: one placed elsewhere (the exchange's app, another program) is looked for among the open
orders, so a signal that cancels the ticker's open orders cancels it too; one with no client order id goes by
`venue-order-` and the venue's order id. A cancel is read back until the order is no longer open, for
CANCEL_SETTLE_SECONDS at most: Upbit's (Open API v1 "Cancel order", DELETE /v1/order, an order cancel *request*) answers
with the order still waiting and cancels it after; one still open then is reported open, never as canceled.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bridge.brokers.base import BrokerContext, Capabilities
from bridge.brokers.throttle import HeldForReset, RateLimited, Throttle, retry_read
from bridge.errors import (
    BrokerError,
    DuplicateClientOrderId,
    HeldUnsent,
    OrderNotFound,
    OrderRejected,
    TemporaryBrokerError,
    UnknownOutcome,
)
from bridge.models import Account, Order, OrderRequest, OrderStatus, OrderType, Position

try:  # aiohttp too: ccxt brings it, so without the extra it is the first import to fail
    import aiohttp
    import ccxt
    import ccxt.async_support as ccxt_async
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the ccxt_exchange plugin needs ccxt: pip install -e '.[ccxt]' in the bridge's directory "
        "(or pip install 'trade-bridge[ccxt]')"
    ) from exc

log = logging.getLogger("bridge.brokers.ccxt")

__version__ = f"0.1.0 (ccxt {ccxt.__version__})"

STATUSES: dict[str, OrderStatus] = {
    "open": "open", "closed": "filled", "canceled": "canceled", "expired": "canceled", "rejected": "rejected",
    "cancelled": "canceled",  # Bitso's, which ccxt passes through as it comes
}  # fmt: skip
TIME_IN_FORCE = frozenset({"gtc", "ioc", "fok"})
NOT_SENT = (aiohttp.ClientConnectorError,)  # the connection never opened: the request cannot have arrived
# How long a last price read stays the one holdings are valued at: positions are read at every signal, and telling
# dust from a position (and valuing equity) needs no newer price than seconds old, where asking spends request weight.
PRICE_SECONDS = 10.0
QUIET_WAIT_SECONDS = 5.0  # a Retry-After this short is waited out; a longer one refuses calls, unsent, until it ends
# How long a cancel the venue took is read again until it is done, and how often: Upbit's is done after its answer.
CANCEL_SETTLE_SECONDS, CANCEL_READ_SECONDS = 2.0, 0.2
TOO_LATE = "held by the rate limit, the order would leave after its signal's max_signal_age; nothing was sent"
# The monotonic time an order being submitted must leave by (its `send_by`), read by the throttle ccxt calls before
# each request; None once its first request went (what follows is the order's own: never refused as not sent).
_SEND_BY: ContextVar[float | None] = ContextVar("ccxt_send_by", default=None)
# Exchanges whose client order ids are letters and digits only: OKX's clOrdId is "a combination of case-sensitive
# alphanumerics, all numbers, or all letters of up to 32 characters". The bridge's ids go there without their dashes.
ALPHANUMERIC_IDS = frozenset({"okx", "myokx", "okxus"})
# The bridge's own client order ids (`tb-` and 29 hex digits) as they come back from such an exchange.
UNDASHED_ID = re.compile(r"tb([0-9a-f]{29})")
# Gate's spot `text` is "prefixed with t-", "no longer than 28 bytes without t- prefix", of 0-9 A-Z a-z _ - . only,
# and ccxt refuses one longer than 28 in all before sending (it adds the t- only to one not starting with a t). The
# bridge's 29 hex digits go there as the same number in 23 base-36 digits: `t-tb` and those, 27 characters.
TEXT_IDS = frozenset({"gate", "gateeu"})
OWN_ID = re.compile(r"tb-([0-9a-f]{29})")
GATE_TEXT_ID = re.compile(r"t-tb([0-9a-z]{23})")
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# An order placed elsewhere without a client order id (in the venue's app, at most venues) goes by the venue's order id
# behind this mark, where it read as "None": a signal that cancels the ticker's open orders can name it, and it is
# read and canceled by that id.
UNNAMED = "venue-order-"
# Kraken's cl_ord_id is a UUID, long (8-4-4-4-12 hex digits) or short (32 hex digits), or free text of 18 characters
# at most ("Spot Client Order Identifiers"). The bridge's 29 hex digits go in a long UUID of version 8 (RFC 9562's
# own layout) whose variant digit is b and the one after it 0: that mark reads it back as the bridge's.
# Bitvavo's clientOrderId is a UUID too (its create-order example; its FIX ClOrdID "must be a valid UUID"), and so are
# Coinbase Exchange's client_oid ("must be a UUID") and One Trading's client_id.
UUID_IDS = frozenset({"kraken", "bitvavo", "coinbaseexchange", "onetrading"})
UUID_ID = re.compile(r"([0-9a-f]{12})8([0-9a-f]{3})b0([0-9a-f]{14})")
# Where ccxt cannot read an order by client order id (Kraken's lookup sends it as a `userref`, an integer, and no
# `txid`, which QueryOrders requires; Coinbase's reads and cancels by its order_id only), an order is read by the
# venue's own id once known, else found among the listed orders: the param that narrows a listing to one client order
# id, or None for the market's latest orders. Bybit's lookup in a unified account refuses to run unless told that it
# sees the last 500 orders only, and then by orderId alone: there orders are always found by listing.
LISTED_LOOKUPS: dict[str, str | None] = {
    "kraken": "clientOrderId", "coinbase": None, "bybit": "orderLinkId", "bitfinex": None, "cryptocom": None,
}  # fmt: skip
# Where ccxt's lookup sends the venue's order id alone (Upbit's a `uuid`, Gemini's an `order_id`, One Trading's an
# `order_id`), an order whose answer was lost would never be found: it is read through the venue's own lookup by client
# order id, the method of ccxt's implicit API and the field naming ours. Upbit's "Get order" takes the `identifier`
# given at create ("uuid or identifier"), Gemini's "Order Status" the `client_order_id`, One Trading's
# /account/orders/client/{client_id} its client_id.
CLIENT_ID_LOOKUPS = {
    "upbit": ("privateGetOrder", "identifier"), "gemini": ("privatePostV1OrderStatus", "client_order_id"),
    "onetrading": ("privateGetAccountOrdersClientClientId", "client_id"),
}  # fmt: skip
# Crypto.com's listings narrow to no one id, and its order history holds the finished orders only: the open orders
# are listed first.
OPEN_THEN_HISTORY = frozenset({"cryptocom"})
HISTORY_PAGE = 100  # Crypto.com's "private/get-order-history" `limit`: 100 unless asked, and at most
ONLY_LISTED = frozenset({"bybit", "bitfinex"})
# Bitfinex's cid is an integer, an int45 "unique in the day (UTC) (not enforced)" (v2 "Submit Order"), and WOO X's
# clientOrderId one of 0 to 2^63 - 1: the bridge's ids go as a number taken from their SHA-256, the same at every
# retry. It cannot hold the whole id, so it is read back through the ids this process has sent; a Bitfinex listing
# narrows to Bitfinex's order ids only (ccxt's lookup reads the active orders alone), and the closed orders are listed
# 25 at a time unless asked for more ("Orders History").
INTEGER_ID_BITS = {"bitfinex": 45, "woo": 63}
INTEGER_IDS = frozenset(INTEGER_ID_BITS)
ERRORS_AT_500 = frozenset({"bitfinex"})  # venues that answer their own errors, refusals too, as HTTP 500
HISTORY_LIMIT = 2500
# ccxt's Bitvavo sends no order or cancel without an operatorId, "your identifier for the trader or the bot within
# your account" (Bitvavo's create-order), and has none by default: the bridge's goes unless exchange_options sets one.
OPERATOR_IDS = {"bitvavo": 1}
# Where ccxt drops the unified `clientOrderId` and sends one of its own (Coinbase: "ccxt-" and a random UUID) or none
# (Crypto.com), the venue's own field carries ours: ccxt's request takes the params over its own fields.
# Bitso's is `origin_id` ("Place an Order": up to 40 of a-z A-Z 0-9 _ -), which ccxt's Bitso neither fills nor reads.
VENUE_ID_FIELDS = {"coinbase": "client_order_id", "cryptocom": "client_oid", "bitso": "origin_id"}
# Where ccxt passes the unified timeInForce through unread, the venue's own field and words: Bitso's "Place an Order"
# takes `time_in_force` as goodtillcancelled, immediateorcancel or fillorkill; sent as `timeInForce`, an IOC order
# would have rested on the book as Bitso's default, good till canceled.
VENUE_TIME_IN_FORCE = {
    "bitso": ("time_in_force", {"gtc": "goodtillcancelled", "ioc": "immediateorcancel", "fok": "fillorkill"}),
}
# Bitso's "Look Up Orders" returns open orders, and finished ones for an hour after they end: an order is looked up
# there by Bitso's id or our origin_id (`?origin_ids=`), and, not found, by its trades ("List Order Trades", by oid or
# `?origin_id=`), which hold a filled order for good. ccxt's lookup takes Bitso's id alone, and asked with none
# listed every open order.
TRADES_LOOKUPS = frozenset({"bitso"})
# Bitso's "List Open Orders" (GET /open_orders) answers `limit` orders, of one `book` or of all: ccxt's asks for 25 of
# one book and reads no further (and asks for none without a book). The current page (docs.bitso.com) gives `limit`
# 500 unless asked and names no most, nor a `sort`; its older version gave 100 as the most and took `sort` asc or desc
# (desc unless asked: ccxt's bitso.py quotes both, "max = 100" and "'sort': 'desc', // default = desc"). Asked for
# 500, an answer as full as asked may leave some out: an error, never a list cut short. One of exactly 100 may be the
# older cap: until Bitso has answered more than 100, it is asked again oldest first (see `_bitso_oldest_too`).
BITSO_OPEN_ORDERS, BITSO_OLDER_MOST = 500, 100
# Within this long of its sending, an order Bitso's lookup does not show was never placed: the lookup shows a finished
# one for an hour after it ended ("a one-hour window exists"). Less than the hour, for the clocks' difference.
BITSO_LOOKUP_SECONDS = 50 * 60
# Venues whose orders are listed a page at a time, where ccxt reads one: (the most a page holds, the param asking for
# the next page, and what it is given: the field of an order's `info` in which ccxt leaves the venue's cursor, or
# PAGE_NUMBER for pages counted from 1, or OLDEST_ID for the id of the oldest order on the page). Bybit V5 "Get Open
# & Closed Orders": `limit` 1 to 50, 20 unless asked, and `cursor` from `nextPageCursor`; Coinbase Advanced "List
# Orders": `limit`, the next page by the `cursor` of the last; OKX v5 "Get order list": `limit` 100 at most and unless
# asked, `after` an ordId for the older ones; Upbit "List open orders" and Gate "List all open orders" / "List
# orders": `limit` 100 at most (at Gate, of each pair), and `page`; WOO X "Get orders": `size` 25 unless asked (ccxt
# asks none), 500 at most (ccxt's own cap), and `page`.
PAGE_NUMBER, OLDEST_ID = "#page", "#oldest-id"
CURSOR_PAGES = {
    "bybit": (50, "cursor", "nextPageCursor"), "coinbase": (100, "cursor", "cursor"), "okx": (100, "after", OLDEST_ID),
    "upbit": (100, "page", PAGE_NUMBER), "gate": (100, "page", PAGE_NUMBER), "woo": (500, "page", PAGE_NUMBER),
}  # fmt: skip
# ccxt's exchanges that are another's API at another host (a subclass of its class, sending the same requests): Gate
# EU, Bybit EU and Bybit Indonesia, MyOKX (EEA) and OKX US. Each is read as that venue is: its pages, its lookups.
SAME_API = {"gateeu": "gate", "bybiteu": "bybit", "bybitid": "bybit", "myokx": "okx", "okxus": "okx"}
CURSOR_PAGES.update({venue: CURSOR_PAGES[base] for venue, base in SAME_API.items() if base in CURSOR_PAGES})
LISTED_LOOKUPS.update({venue: LISTED_LOOKUPS[base] for venue, base in SAME_API.items() if base in LISTED_LOOKUPS})
ONLY_LISTED = ONLY_LISTED | {venue for venue, base in SAME_API.items() if base in ONLY_LISTED}
# One Trading's "Get Orders" (GET /account/orders) answers the open orders unless asked for others, `max_page_size` of
# them (100 in its answer unless asked), and a `cursor` beside them while more follow: ccxt reads the first page and
# drops the cursor, which is not in any order's `info`. The listing is read through ccxt's implicit method.
ONETRADING_PAGE = 100
MOST_PAGES = 20  # 1,000 orders at Bybit, 10,000 at WOO X, 2,000 elsewhere: more is an error, never a list cut short
# Listings of open orders paged by number read at most this many times over until one is settled (see
# `_settled_open_orders`): 3 x MOST_PAGES requests at most, an error after, never a list that may leave one out.
SETTLE_LISTINGS = 3
# ccxt's own retry of a failed request (`fetch2`), read from `options` under these names: it sends an order again too.
RESEND_OPTIONS = frozenset({"maxRetriesOnFailure", "defaultMaxRetriesOnFailure"})


@dataclass(frozen=True)
class Listing:
    """Orders read page after page: whether to the end, whether no order was read on two pages, and how many pages."""

    items: list[dict[str, Any]]
    whole: bool
    once: bool
    pages: int

    def ids(self) -> set[str]:
        """The venue's ids of the orders listed."""
        return {str(item["id"]) for item in self.items if item.get("id") is not None}


class HeldTooLong(HeldUnsent):
    """The rate limit would hold an order past its `send_by`: refused, nothing was sent (not the venue failing)."""


class CcxtOptions(BaseModel):
    """Options of the ccxt adapter."""

    model_config = ConfigDict(extra="forbid")

    exchange: str = Field(description="ccxt exchange id, e.g. binance, kraken, coinbase")
    api_key: str | None = Field(default=None, description="API key")
    secret: str | None = Field(default=None, description="API secret")
    password: str | None = Field(default=None, description="API passphrase, for exchanges that have one")
    sandbox: bool = Field(default=False, description="use the exchange's test network (ccxt set_sandbox_mode)")
    quote: str = Field(
        default="USDT", description="currency that cash, equity and positions are valued in; only its markets trade"
    )
    symbols: Literal["exchange", "unified"] = Field(
        default="exchange", description="tickers as the exchange writes them (BTCUSDT) or as ccxt does (BTC/USDT)"
    )
    api_url: str | None = Field(default=None, description="send every API call to this host (a proxy, a test server)")
    max_requests_per_minute: int | None = Field(
        default=None, ge=1, description="override ccxt's published rate for this exchange"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    exchange_options: dict[str, Any] = Field(default_factory=dict, description="passed to ccxt's `options`")

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        if value not in ccxt.exchanges:
            raise ValueError(f"ccxt has no exchange {value!r}; see ccxt.exchanges (e.g. binance, kraken, okx)")
        return value

    @field_validator("exchange_options")
    @classmethod
    def _no_resending(cls, value: dict[str, Any]) -> dict[str, Any]:
        # ccxt's maxRetriesOnFailure (exchange-wide, as its default, or under one endpoint's name) sends any request
        # again after a network error or a 5XX, an order whose answer was lost too: that order would be placed again.
        found = _resends(value)
        if found is not None:
            raise ValueError(
                f"exchange_options sets {found}: ccxt would then send a request again after a network error or a "
                "5XX, an order too, and could place an order twice; leave it out (the bridge retries reads itself "
                "and looks an order of unknown outcome up by its client order id)"
            )
        return value


def _resends(options: dict[str, Any], where: str = "") -> str | None:
    """The first of ccxt's retry options set to retry in `options` (nested too), as `where.name: value`, or None."""
    for key, item in options.items():
        name = f"{where}{key}"
        if key in RESEND_OPTIONS and item not in (None, 0, False, "0"):
            return f"{name}: {item!r}"
        if isinstance(item, dict) and (found := _resends(item, f"{name}.")) is not None:
            return found
    return None


def _monotonic(send_by: datetime | None) -> float | None:
    """An order's `send_by` (wall clock) as a `time.monotonic()` deadline, None for none."""
    return None if send_by is None else time.monotonic() + (send_by - datetime.now(UTC)).total_seconds()


def _full(page: list[dict[str, Any]], most: int, by_pair: bool) -> bool:
    """Whether a page holds as many orders as one may (`by_pair`: as one pair's may), so more may follow."""
    if not by_pair:
        return len(page) >= most
    return max(Counter(item.get("symbol") for item in page).values(), default=0) >= most


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _when(value: Any) -> datetime | None:
    """A journaled time (ISO 8601) as an aware datetime; None when there is none or it does not read as one."""
    try:
        when = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    return None if when is None else when if when.tzinfo else when.replace(tzinfo=UTC)


def _traded(trade: dict[str, Any]) -> Decimal:
    """The amount of the major currency a Bitso trade ("List Order Trades") traded, before the fee.

    Bitso's example gives `major` net of a fee taken in it: a buy of 4.91777166 at 127.45 (626.77, its `minor`)
    shows `major` 4.86859395 and `fees_amount` 0.04917771; a sell's fee is taken from `minor`, and its `major` is
    whole. Answers ccxt quotes show a buy's `major` whole (0.0002002 at 56595.8 for 11.33047916, fee 0.0000002): of
    the two, the one that `minor` pays for at the trade's price is what traded.
    """
    major, price = abs(Decimal(str(trade["major"]))), Decimal(str(trade["price"]))
    minor, fee = abs(Decimal(str(trade.get("minor") or 0))), abs(Decimal(str(trade.get("fees_amount") or 0)))
    book = str(trade.get("book") or "_").split("_")
    minor_currency = trade.get("minor_currency") or book[-1]
    if not fee or trade.get("fees_currency") == minor_currency:  # taken from what was paid or got in the minor
        return major
    gross = major + fee
    return gross if abs(gross * price - minor) < abs(major * price - minor) else major


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _least_value(market: dict[str, Any]) -> Decimal | None:
    """The market's minimum order value in its quote currency (Binance's NOTIONAL), None when it has none."""
    least = _dec(((market.get("limits") or {}).get("cost") or {}).get("min"))
    return least or None


def _client_id(item: dict[str, Any]) -> Any:
    """An order's client order id as ccxt parsed it, else as the venue wrote it (ccxt's Bitvavo leaves it out)."""
    info = item.get("info")
    if item.get("clientOrderId") or not isinstance(info, dict):
        return item.get("clientOrderId")
    return info.get("clientOrderId") or info.get("origin_id")  # Bitso's, which ccxt reads as `client_id`


def _base36(number: int, width: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = BASE36[digit] + digits
    return digits.rjust(width, "0")


def _point_at(urls: Any, base: str) -> Any:
    """Every URL in ccxt's `urls['api']` tree, moved to `base` (scheme and host), keeping its path."""
    if isinstance(urls, dict):
        return {key: _point_at(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and urls.startswith("http"):
        parts = urlsplit(urls)
        return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls


def _order_types(has: dict[str, Any]) -> frozenset[OrderType]:
    """The order types ccxt places at this exchange, from its `has`."""
    flags: tuple[tuple[OrderType, str], ...] = (("market", "createMarketOrder"), ("limit", "createLimitOrder"))
    return frozenset(kind for kind, flag in flags if has.get(flag))


def build_exchange(options: CcxtOptions) -> Any:
    """The ccxt async exchange object for these options (no network traffic yet)."""
    # ccxt's `fetch2` asks `exchange.throttle(cost)` before each request only with enableRateLimit on: CcxtBroker
    # puts the bridge's own throttle there (`_paced`), sized from rateLimit and charged each request's ccxt cost.
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(options.timeout_seconds * 1000)}
    if options.max_requests_per_minute is not None:  # rateLimit: milliseconds per unit of cost
        config["rateLimit"] = 60_000 / options.max_requests_per_minute
    for key, ccxt_key in (("api_key", "apiKey"), ("secret", "secret"), ("password", "password")):
        value = getattr(options, key)
        if value:
            config[ccxt_key] = value
    exchange = getattr(ccxt_async, options.exchange)(config)
    _spot_only(exchange.options)
    if options.exchange in OPERATOR_IDS and exchange.options.get("operatorId") is None:
        exchange.options["operatorId"] = OPERATOR_IDS[options.exchange]
    exchange.options.update(options.exchange_options)
    if options.sandbox:
        exchange.set_sandbox_mode(True)
    if options.api_url is not None:
        exchange.urls["api"] = _point_at(exchange.urls["api"], options.api_url)
    _tag_http_answers(exchange)
    return exchange


def _tag_http_answers(exchange: Any) -> None:
    """Make every error ccxt raises for an HTTP answer carry the answer's status and headers.

    ccxt keeps no status, and its `last_response_headers` belongs to whichever request answered last
    (another may run meanwhile on the same exchange object). Its two error hooks get the status, and
    `handle_errors` the headers too: wrap them.
    """
    handle_errors, handle_http_status_code = exchange.handle_errors, exchange.handle_http_status_code

    def errors(code: Any, reason: Any, url: Any, method: Any, headers: Any, *rest: Any) -> Any:
        with _tagged(code, headers, rest[1] if len(rest) > 1 else None):  # rest: the body, then its JSON
            return handle_errors(code, reason, url, method, headers, *rest)

    def status_code(code: Any, *rest: Any) -> Any:
        with _tagged(code, None, None):
            return handle_http_status_code(code, *rest)

    exchange.handle_errors, exchange.handle_http_status_code = errors, status_code


@contextmanager
def _tagged(code: Any, headers: Any, answer: Any) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        exc.http_status = code  # type: ignore[attr-defined]
        if isinstance(headers, dict):
            exc.http_headers = headers  # type: ignore[attr-defined]
        exc.http_answer = answer  # type: ignore[attr-defined]
        raise


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer `exc` was raised for; None when there was no answer."""
    status = getattr(exc, "http_status", None)
    try:
        return None if status is None else int(status)
    except (TypeError, ValueError):
        return None


def _spot_only(settings: dict[str, Any]) -> None:
    """Load spot markets only, and no margin pairs or private currency lists: fewer calls and permissions.

    Exchanges spell these options differently, so each is only narrowed where the exchange has it.
    """
    settings["defaultType"] = "spot"
    settings["warnOnFetchOpenOrdersWithoutSymbol"] = False
    markets = settings.get("fetchMarkets")
    if isinstance(markets, dict) and "types" in markets:
        settings["fetchMarkets"] = {**markets, "types": ["spot"]}
    elif isinstance(markets, list):
        settings["fetchMarkets"] = ["spot"]
    for key in ("fetchMargins", "fetchCurrencies"):
        if isinstance(settings.get(key), bool):
            settings[key] = False


class CcxtBroker:
    """A spot account at any exchange ccxt supports."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        order_types=frozenset({"market", "limit"}),
        time_in_force=TIME_IN_FORCE,
        shorting=False,
        fractional=True,
        rejects_duplicate_client_order_id=False,
    )
    options_model: ClassVar[type[BaseModel]] = CcxtOptions

    @classmethod
    def capabilities_for(cls, options: CcxtOptions) -> Capabilities:
        """What this exchange offers, from ccxt's `has` and `rateLimit` (no network traffic)."""
        exchange = getattr(ccxt, options.exchange)()
        rate = options.max_requests_per_minute or int(60_000 / exchange.rateLimit)
        return Capabilities(
            order_types=_order_types(exchange.has), time_in_force=TIME_IN_FORCE, shorting=False, fractional=True,
            rejects_duplicate_client_order_id=False, rate_limit_per_minute=rate,
        )  # fmt: skip

    def __init__(self, options: CcxtOptions, context: BrokerContext) -> None:
        self.options = options
        self.context = context
        self.exchange = build_exchange(options)
        # ccxt's own throttle cannot tell an order waiting for its turn from one sent: a burst of signals queued an
        # order there until after its signal had aged past max_signal_age, and it then went. The bridge's paces every
        # request in its stead (the same rate and request costs), and refuses, unsent, an order it would hold too long.
        self.throttle = Throttle(60_000 / self.exchange.rateLimit)
        self.exchange.throttle = self._paced
        self._symbols: dict[str, str] = {}  # client order id -> ccxt symbol, for lookups that need the symbol
        self._ours: dict[str, str] = {}  # the exchange's form of our client order ids -> ours, where they differ
        self._order_ids: dict[str, str] = {}  # client order id -> the exchange's order id, once it answered
        self._sent_at: dict[str, datetime] = {}  # client order id -> when this process sent it
        self._markets: dict[str, dict[str, Any]] = {}  # exchange id and ccxt symbol -> market
        self._quiet_until = 0.0  # monotonic time the venue's last Retry-After ends
        self._dust_logged: set[tuple[str, Decimal]] = set()  # holdings already logged as too small to sell
        # Bitso answered more open orders than its older page's most (BITSO_OLDER_MOST): that cap is not in force, and
        # an answer of exactly that many is whole.
        self._bitso_past_older_most = False
        self._clock = time.monotonic  # for the age of the prices read
        self._prices: dict[str, tuple[float, Decimal]] = {}  # ccxt symbol -> (when read, last price)
        # Gate, Coinbase, HTX, Poloniex... take a market buy as the quote currency to spend, not a quantity: ccxt
        # refuses one without a price, and with its option turned off it sends the quantity as the amount to spend.
        # Asked of ccxt's own default (`describe()`, the exchange as ccxt defines it), as `exchange_options` may
        # have turned it off; not of a second exchange built for it.
        defaults = self.exchange.describe().get("options") or {}
        self._buys_by_cost = bool(defaults.get("createMarketBuyOrderRequiresPrice"))
        # A signal's orderType can ask for what the subscription's config check did not (a market exit at Gemini,
        # which has none): ccxt raises before sending, as an error read as an unknown outcome. Refused before that.
        self._order_types = _order_types(self.exchange.has)

    # connection

    async def connect(self) -> None:
        """Load the spot markets and check the keys with a balance request."""
        if not (self.options.api_key and self.options.secret):
            raise BrokerError(f"{self.options.exchange}: api_key and secret are required to trade")
        markets = await self._read(self.exchange.load_markets)
        for market in markets.values():
            if market.get("spot") and market.get("active") is not False:
                self._markets[market["id"]] = market
                self._markets[market["symbol"]] = market
        await self._read(self.exchange.fetch_balance)

    async def close(self) -> None:
        """Close ccxt's HTTP session."""
        await self.exchange.close()

    # error translation

    def _translate(self, exc: Exception, submit: bool) -> Exception:
        """A ccxt exception as one of ours; `submit` says whether an order may have been placed."""
        text = f"{self.options.exchange}: {exc}"
        status = _http_status(exc)
        if status is not None and status >= 500 and not (submit and self._venue_error(exc)):
            return UnknownOutcome(text) if submit else TemporaryBrokerError(text)  # the venue may have acted
        if isinstance(exc, ccxt.OrderNotFound):
            return OrderNotFound(text)
        # Binance's "Duplicate order sent.", OKX's "Duplicated clOrdId" (51016): both come as InvalidOrder.
        if isinstance(exc, ccxt.DuplicateOrderId) or (
            isinstance(exc, ccxt.InvalidOrder) and re.search(r"duplicate(d)? (order|clordid)", str(exc).lower())
        ):
            return DuplicateClientOrderId(text)
        if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
            wait = self._retry_after(exc)
            self._quiet_until = max(self._quiet_until, time.monotonic() + wait)  # every call waits it out
            return RateLimited(text, retry_after=wait)
        if isinstance(exc, ccxt.InvalidNonce):  # refused unprocessed for its timestamp (Binance -1021): never placed
            return TemporaryBrokerError(
                f"{text}; nothing was done: this computer's clock is off from the exchange's; sync it (NTP), or set "
                "exchange_options: {adjustForTimeDifference: true} to correct for it at each start"
            )
        cause = exc.__cause__
        if isinstance(exc, ccxt.OperationFailed) or isinstance(cause, (aiohttp.ClientError, asyncio.TimeoutError)):
            if isinstance(cause, NOT_SENT) or not submit:
                return TemporaryBrokerError(text)
            return UnknownOutcome(text)
        if submit and type(exc) is ccxt.ExchangeError and not (status is not None and 400 <= status < 500):
            # ccxt's catch-all, for a code it has no class for: Bybit answers "An unknown error occurred while
            # processing the request" (10000) or an internal error (10016) so, with HTTP 200, and the order may
            # be there. Only a 4XX says the request itself was refused (Binance: "the issue is on the sender's side").
            return UnknownOutcome(text)
        if isinstance(exc, ccxt.BaseError):
            return OrderRejected(text) if submit else BrokerError(text)
        return UnknownOutcome(text) if submit else BrokerError(text)

    def _venue_error(self, exc: Exception) -> bool:
        """Whether `exc` is for one of the venue's own error answers that it sends as HTTP 500 (Bitfinex's).

        Bitfinex answers its errors, a refused order's among them ("cid: invalid", "not enough exchange balance"),
        as HTTP 500 and `["error", code, text]`: read as a 5XX, every refusal there was an unknown outcome. These are
        read by ccxt's class for the code, as an answer in 4XX is; an unknown code (10000, ERR_UNK) stays unknown.
        """
        answer = getattr(exc, "http_answer", None)
        return self.options.exchange in ERRORS_AT_500 and isinstance(answer, list) and answer[:1] == ["error"]

    def _retry_after(self, exc: Exception) -> float:
        """The Retry-After (seconds) of the answer `exc` was raised for, else one second.

        Never shortened: Binance's "IP Limits" ban an IP that does not back off after a 429 (418, for longer
        each time), and give the ban's length in the same header.
        """
        answered = getattr(exc, "http_headers", None) or self.exchange.last_response_headers or {}
        headers = {str(k).lower(): v for k, v in answered.items()}
        try:
            seconds = float(headers.get("retry-after", 1))
        except (TypeError, ValueError):
            return 1.0
        return max(0.0, seconds) if math.isfinite(seconds) else 1.0

    async def _wait_out_retry_after(self, send_by: float | None = None) -> None:
        """Send nothing before the venue's Retry-After ends: wait a short one out, refuse a longer one unsent.

        An order that would wait past its `send_by` (monotonic) is refused unsent too, however short the wait.
        """
        now = time.monotonic()
        left = self._quiet_until - now
        if left > QUIET_WAIT_SECONDS:
            raise HeldForReset(f"{self.options.exchange}: asked to send nothing for {left:.0f}s more (Retry-After); "
                               "nothing was sent", retry_after=left)  # fmt: skip
        if send_by is not None and now + max(left, 0.0) >= send_by:
            raise HeldTooLong(f"{self.options.exchange}: {TOO_LATE}")
        if left > 0:
            await asyncio.sleep(left)

    async def _paced(self, cost: float | None = None) -> None:
        """ccxt's throttle, called before each request with its cost: the bridge's, which refuses a late order.

        The first request of an order being submitted must leave before its `send_by`: held longer, it is refused,
        and nothing was sent. Any after it (a venue whose order takes more than one) wait their turn as reads do.
        """
        send_by = _SEND_BY.get()
        if send_by is None:
            await self.throttle.wait(cost=1.0 if cost is None else cost)
            return
        _SEND_BY.set(None)
        left = send_by - time.monotonic()
        try:
            if left <= 0:  # a token there at once would pass a timeout already over
                raise TimeoutError
            async with asyncio.timeout(left):  # only the wait: nothing has been sent yet
                await self.throttle.wait(cost=1.0 if cost is None else cost)
        except TimeoutError:
            raise HeldTooLong(f"{self.options.exchange}: {TOO_LATE}") from None

    async def _read(self, call: Any, *args: Any) -> Any:
        """A read with retries on temporary errors, never sooner than the venue's Retry-After."""

        async def once() -> Any:
            await self._wait_out_retry_after()
            try:
                return await call(*args)
            except Exception as exc:
                raise self._translate(exc, submit=False) from exc

        return await retry_read(once)

    # symbols

    def _market(self, ticker: str) -> dict[str, Any]:
        market = self._markets.get(ticker)
        if market is None:
            raise OrderRejected(f"{self.options.exchange} has no spot market {ticker!r}")
        return market

    def quantity_step(self, symbol: str) -> Decimal | None:
        """The market's amount step (0.00001 for BTC/USDT at Binance), for sizing; None when it is not known.

        Sizing rounds computed quantities down to it: a dollar amount at the price comes to 0.002314...,
        which the market refuses (see `_checked`), where 0.00231 is taken.
        """
        return self._precision(symbol, "amount")

    def price_step(self, symbol: str) -> Decimal | None:
        """The market's tick (0.01 for BTC/USDT at Binance, 0.1 for its perpetual), for prices the bridge computes.

        A take-profit 2% above 65,432.17 comes to 66,740.8134, which a market with a 0.1 tick refuses (see
        `_checked`): rounded to the tick first, never to a worse price, it is taken.
        """
        return self._precision(symbol, "price")

    def _precision(self, symbol: str, kind: str) -> Decimal | None:
        """The market's step for amounts or prices as a Decimal; None when it is not known or not one step."""
        market = self._markets.get(symbol)
        value = None if market is None else (market.get("precision") or {}).get(kind)
        if value is None:
            return None
        if self.exchange.precisionMode == ccxt.TICK_SIZE:
            return Decimal(str(value))
        if self.exchange.precisionMode == ccxt.DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(value))
        return None  # significant digits: no one step for every size

    def _shown(self, ccxt_symbol: str) -> str:
        """A ccxt symbol as signals write it."""
        market = self._markets.get(ccxt_symbol)
        if market is None or self.options.symbols == "unified":
            return ccxt_symbol
        return str(market["id"])

    async def _symbol_of(self, client_order_id: str) -> str:
        """The ccxt symbol of an order, which lookups by client order id need (Binance's by symbol only)."""
        known = self._symbols.get(client_order_id)
        if known is None:  # after a restart: the journal recorded which ticker the order was for
            row = await self.context.journaled_order(client_order_id)
            if row is not None and row.get("symbol") in self._markets:
                known = self._symbols[client_order_id] = str(self._market(str(row["symbol"]))["symbol"])
                if row.get("broker_order_id"):
                    self._order_ids.setdefault(client_order_id, str(row["broker_order_id"]))
        if known is None:  # placed by hand or by another program: open orders are listed with their symbols
            await self.fetch_open_orders()
            known = self._symbols.get(client_order_id)
        if known is None:
            raise OrderNotFound(
                f"{self.options.exchange}: no order {client_order_id} that this daemon knows of, nor an open one"
            )
        return known

    def _venue_id(self, client_order_id: str) -> str:
        """Our client order id as the exchange takes it (letters and digits only at OKX, `t-` and 25 at Gate)."""
        exchange = self.options.exchange
        if exchange in INTEGER_IDS:
            if client_order_id.isdigit():  # already Bitfinex's: an order listed after a restart, or placed elsewhere
                return client_order_id
            digest = int.from_bytes(hashlib.sha256(client_order_id.encode()).digest()[:8], "big")
            venue = str(1 + digest % (2 ** INTEGER_ID_BITS[exchange] - 1))  # never 0, which reads as no cid
            self._ours[venue] = client_order_id
            return venue
        own = OWN_ID.fullmatch(client_order_id)
        if exchange in TEXT_IDS and own is not None:
            return "t-tb" + _base36(int(own.group(1), 16), 23)
        if exchange in UUID_IDS and own is not None:
            digits = own.group(1)
            hexes = f"{digits[:12]}8{digits[12:15]}b0{digits[15:]}"
            return f"{hexes[:8]}-{hexes[8:12]}-{hexes[12:16]}-{hexes[16:20]}-{hexes[20:]}"
        if exchange not in ALPHANUMERIC_IDS:
            return client_order_id
        venue = re.sub(r"[^A-Za-z0-9]", "", client_order_id)
        self._ours[venue] = client_order_id
        return venue

    def _our_id(self, venue_id: str) -> str:
        """The client order id the bridge knows an order by, from the exchange's form of it."""
        exchange = self.options.exchange
        if exchange in TEXT_IDS:  # read back the same way after a restart: the form holds the whole id
            text = GATE_TEXT_ID.fullmatch(venue_id)
            number = None if text is None else int(text.group(1), 36)
            return venue_id if number is None or number >= 16**29 else f"tb-{number:029x}"
        if exchange in UUID_IDS:  # either UUID form, as Kraken may write it back
            uuid = UUID_ID.fullmatch(venue_id.replace("-", "").lower()) if len(venue_id) in (32, 36) else None
            return venue_id if uuid is None else "tb-" + "".join(uuid.groups())
        known = self._ours.get(venue_id)
        if known is not None or exchange not in ALPHANUMERIC_IDS:
            return known or venue_id
        undashed = UNDASHED_ID.fullmatch(venue_id)  # after a restart: one of ours, sent without its dash
        return f"tb-{undashed.group(1)}" if undashed else venue_id

    def _lookup(self, client_order_id: str) -> tuple[str, dict[str, Any]]:
        """ccxt's order id and params that find one of our orders.

        Gate's lookup and cancel take its order id or the text in one place, but by the text "only in pending
        orders": a finished order is found by the id Gate gave it, which is known once Gate answered. ccxt's
        cancel there reads no client order id at all. ccxt's Kraken lookup sends a client order id as a `userref`
        (an integer) and no `txid`, which Kraken's QueryOrders requires: there an order is read by its txid. So is
        every order whose venue id is known, as ccxt's unified `fetchOrder(id)` reads it: where ccxt takes no client
        order id (Upbit's lookup sends a `uuid` alone) an empty one was sent, and no order could be read back.
        """
        order_id = self._order_ids.get(client_order_id)
        if self.options.exchange in TEXT_IDS:
            return order_id or self._venue_id(client_order_id), {}
        if order_id:  # ccxt's own handle on an order: many venues' lookups there (Upbit's, Gemini's) take no other
            return order_id, {}
        return "", {"clientOrderId": self._venue_id(client_order_id)}

    async def _listed_order(self, client_order_id: str, symbol: str) -> dict[str, Any]:
        """An order the venue gave no id for yet (an unknown outcome), or any at Bybit and Bitfinex, among its listings.

        Kraken's and Bybit's open, then closed orders, each narrowed to the client order id; Bitfinex's active, then
        closed orders, narrowed to its order id once known; Crypto.com's open orders, then its order history; Coinbase's
        latest orders of the market. Not found where older orders may have been left out (an answer as full as asked,
        a listing paged no further), the order is of unknown outcome: "not found" reads as never sent.
        """
        exchange, narrowed_by = self.exchange, LISTED_LOOKUPS[self.options.exchange]
        venue_id, order_id = self._venue_id(client_order_id), self._order_ids.get(client_order_id)
        listings: list[tuple[Any, int | None, dict[str, Any]]] = [(exchange.fetch_orders, None, {})]
        if self.options.exchange in INTEGER_IDS:  # Bitfinex: narrowed to its order id, else its latest closed ones
            ids = {"id": [int(order_id)]} if order_id and order_id.isdigit() else {}
            closed_limit = None if ids else HISTORY_LIMIT
            listings = [(exchange.fetch_open_orders, None, ids), (exchange.fetch_closed_orders, closed_limit, ids)]
        elif self.options.exchange in OPEN_THEN_HISTORY:
            listings = [(exchange.fetch_open_orders, None, {}), (exchange.fetch_orders, HISTORY_PAGE, {})]
        elif narrowed_by is not None:
            params = {} if client_order_id.startswith(UNNAMED) else {narrowed_by: venue_id}
            closed = exchange.fetch_closed_orders  # Bybit's leaves out the canceled ones
            if self.options.exchange in ONLY_LISTED:
                closed = exchange.fetch_canceled_and_closed_orders
            listings = [(exchange.fetch_open_orders, None, params), (closed, None, params)]

        def ours(item: dict[str, Any]) -> bool:
            listed = str(_client_id(item))
            if listed == venue_id or self._our_id(listed) == client_order_id:
                return True
            return bool(order_id and client_order_id.startswith(UNNAMED) and str(item.get("id")) == order_id)

        whole = True
        for listing, limit, params in listings:
            if self.options.exchange in CURSOR_PAGES:  # page after page: Coinbase's latest 100 left out older ones
                items, read_through = await self._paged(listing, symbol, params, ours)
                whole = whole and read_through
            else:  # one answer: as many as were asked for may leave older ones out
                items = await self._read(listing, symbol, None, limit, params)
                whole = whole and (limit is None or len(items) < limit)
            for item in items:
                if ours(item):
                    return item
        if not whole:  # not in what was read, but the listing goes on: never "not found", which reads as never sent
            raise BrokerError(f"{self.options.exchange}: order {client_order_id} is not among the latest orders read; "
                              "it may be further back, or was never placed: check it at the venue")  # fmt: skip
        raise OrderNotFound(f"{self.options.exchange}: no order {client_order_id} among the open or closed orders")

    async def _by_client_id(self, client_order_id: str) -> dict[str, Any]:
        """An order the venue gave no id for yet (an unknown outcome), read by our id where ccxt's lookup takes none."""
        method, field = CLIENT_ID_LOOKUPS[self.options.exchange]
        venue_id = self._venue_id(client_order_id)
        answer = await self._read(getattr(self.exchange, method), {field: venue_id})
        for raw in answer if isinstance(answer, list) else [answer]:  # an array of one, should the venue send one
            item = self.exchange.parse_order(raw) if isinstance(raw, dict) else {}
            if str(_client_id(item)) == venue_id:
                return cast(dict[str, Any], item)
        raise OrderNotFound(f"{self.options.exchange}: no order {client_order_id}")

    async def _looked_up_or_traded(self, client_order_id: str, order_id: str, symbol: str) -> dict[str, Any]:
        """A Bitso order by its id (else our origin_id) among those "Look Up Orders" returns, else by its trades.

        Bitso's lookup returns an order for an hour after it filled or was canceled, no longer: one whose answer was
        lost, or followed after a restart, was then not found, read as never sent, and could be sent again. Its
        trades ("List Order Trades") stay: a finished order with fills is read from them, filled when they add up to
        the journaled quantity, else canceled with what filled. One neither open nor traded is read in `_not_looked_up`.
        """
        venue_id = None if client_order_id.startswith(UNNAMED) else self._venue_id(client_order_id)
        by = {"oid": order_id} if order_id else {"oid": "", "origin_ids": venue_id}
        answer = await self._read(self.exchange.privateGetOrdersOid, by)
        for raw in answer.get("payload") or []:
            item = self.exchange.parse_order(raw)
            if (order_id and str(item.get("id")) == order_id) or (venue_id and str(_client_id(item)) == venue_id):
                return cast(dict[str, Any], item)
        by = {"oid": order_id} if order_id else {"oid": "", "origin_id": venue_id}
        answer = await self._read(self.exchange.privateGetOrderTradesOid, by)
        trades = [
            t for t in answer.get("payload") or []
            if (order_id and str(t.get("oid")) == order_id) or (venue_id and t.get("origin_id") == venue_id)
        ]  # fmt: skip
        row = await self.context.journaled_order(client_order_id) or {}
        if not trades:
            return self._not_looked_up(client_order_id, order_id, symbol, row)
        traded = [(_traded(t), Decimal(str(t["price"]))) for t in trades]
        filled = sum(amount for amount, _ in traded)
        cost = sum(amount * price for amount, price in traded)
        amount = Decimal(str(row["quantity"])) if row.get("quantity") else filled
        return {  # not among the open orders, so finished: filled in full, or canceled with its fills
            "id": str(trades[0]["oid"]), "clientOrderId": venue_id, "symbol": symbol, "side": trades[0]["side"],
            "type": row.get("type") or "limit", "price": row.get("limit_price"), "amount": amount, "filled": filled,
            "average": cost / filled if filled else None, "status": "closed" if filled >= amount else "canceled",
        }  # fmt: skip

    def _not_looked_up(self, client_order_id: str, order_id: str, symbol: str, row: dict[str, Any]) -> dict[str, Any]:
        """A Bitso order neither in the lookup nor traded: never placed if sent within the hour, else unknown.

        Bitso's lookup shows a finished order for an hour after it ended: one canceled unfilled over an hour ago is
        shown nowhere. Read as never placed, an order whose answer was lost (no Bitso id) that Bitso had taken and
        canceled could be placed again. Sent within the hour, it would be shown: it was never placed. With Bitso's id
        (Bitso took it) and sent over the hour ago, it ended with nothing filled: canceled. Else its outcome is
        unknown, for the operator to check at Bitso.
        """
        sent = self._sent_at.get(client_order_id) or _when(row.get("sent_at") or row.get("created_at"))
        age = None if sent is None else (datetime.now(UTC) - sent).total_seconds()
        if age is not None and age < BITSO_LOOKUP_SECONDS:
            raise OrderNotFound(f"{self.options.exchange}: no order {client_order_id} open, finished within the hour, "
                                "or with trades")  # fmt: skip
        if order_id and age is not None and row.get("quantity") and row.get("side"):
            return {  # Bitso answered with its id: it was placed, is no longer open, and nothing of it traded
                "id": order_id, "clientOrderId": self._venue_id(client_order_id), "symbol": symbol,
                "side": row["side"], "type": row.get("type") or "limit", "price": row.get("limit_price"),
                "amount": Decimal(str(row["quantity"])), "filled": Decimal(0), "status": "canceled",
            }  # fmt: skip
        raise BrokerError(
            f"{self.options.exchange}: order {client_order_id} is neither open nor traded, and Bitso shows a finished "
            "order for an hour only: it may have been placed and canceled unfilled, or never placed; check it at Bitso"
        )

    async def _by_text(self, client_order_id: str, text: str, symbol: str) -> dict[str, Any]:
        """A Gate order with no id from Gate yet (unknown outcome): by its text while pending, else among the finished.

        Gate reads an order by its text "only in pending orders": one it filled (a market order) or canceled is found
        by its order id alone, which a lost answer never gave. Not found, it read as never sent, and could be sent
        again: it is looked for among the pair's latest finished orders ("List orders", status finished, `limit` 100 to
        a `page`), page after page until they run out; past MOST_PAGES of them its outcome is unknown.
        """
        try:
            item = await self._read(self.exchange.fetch_order, text, symbol, {})
        except OrderNotFound:

            def ours(item: dict[str, Any]) -> bool:
                return str(_client_id(item)) == text

            items, whole = await self._paged(self.exchange.fetch_closed_orders, symbol, {}, ours)
            for item in items:
                if ours(item):
                    return item
            if whole:
                raise OrderNotFound(
                    f"{self.options.exchange}: no order {client_order_id} pending or finished"
                ) from None
            raise BrokerError(
                f"{self.options.exchange}: order {client_order_id} is not pending, nor among the pair's latest "
                f"{len(items)} finished orders: it may be further back, or was never placed; check it at Gate"
            ) from None
        self._check_ours(client_order_id, item)
        return cast(dict[str, Any], item)

    def _check_ours(self, client_order_id: str, item: dict[str, Any]) -> None:
        """Raise BrokerError if `item`, the answer to a lookup by our client order id, is not that order.

        Where ccxt's lookup takes no client order id, asked with an empty order id it may read another: Bitso's GET
        /orders/ lists every open order, and ccxt answered with the one there was (Bitso is asked by origin_id now).
        Taken for ours, another order's status and fills were journaled for it. Not "not found" either: that would
        read an order the venue may hold as never sent. It stays of unknown outcome, for the operator to check there.
        """
        listed = _client_id(item)
        if listed is not None and (str(listed) == self._venue_id(client_order_id)
                                   or self._our_id(str(listed)) == client_order_id):  # fmt: skip
            return
        raise BrokerError(
            f"{self.options.exchange}: asked for order {client_order_id} by its client order id, the venue answered "
            f"with another order ({item.get('id')}, client order id {listed}): this venue cannot be asked for an "
            "order whose answer was lost; check it at the venue"
        )

    def _note_order_id(self, client_order_id: str, item: dict[str, Any]) -> None:
        if item.get("id"):
            self._order_ids[client_order_id] = str(item["id"])

    def _remember_symbols(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Note the symbol of each listed order, so that one the daemon did not place can be canceled."""
        for item in items:
            name = self._listed_name(item)
            if name is not None and item.get("symbol"):
                self._symbols.setdefault(name, str(item["symbol"]))  # ours come first
                if item.get("id"):
                    self._order_ids.setdefault(name, str(item["id"]))
        return items

    def _listed_name(self, item: dict[str, Any]) -> str | None:
        """The client order id a listed order goes by: ours, another program's, else UNNAMED and the venue's id."""
        listed = _client_id(item)
        if listed not in (None, ""):
            return self._our_id(str(listed))
        return None if item.get("id") is None else f"{UNNAMED}{item['id']}"

    def _order(self, item: dict[str, Any], client_order_id: str | None = None) -> Order:
        amount, filled = _dec(item.get("amount")) or Decimal(0), _dec(item.get("filled")) or Decimal(0)
        status = STATUSES.get(str(item.get("status")), "unknown")
        if status == "open" and filled > 0:
            status = "partially_filled"
        # Bybit's "PartiallyFilledCanceled" is ccxt's closed: the rest was canceled, and the fill says how much was
        # done. (Not for a difference in the ninth significant digit, which a float in ccxt can make.)
        if status == "filled" and amount - filled > amount * Decimal("1e-9"):
            status = "canceled"
        kind = item.get("type") if item.get("type") in ("market", "limit") else "limit"
        return Order(
            client_order_id=client_order_id or self._listed_name(item) or str(_client_id(item)),
            symbol=self._shown(item["symbol"]),
            side=item["side"], quantity=amount, type=cast(OrderType, kind), status=status,
            broker_order_id=None if item.get("id") is None else str(item["id"]), limit_price=_dec(item.get("price"))
            if kind == "limit" else None, filled_quantity=filled, avg_fill_price=_dec(item.get("average")),
        )  # fmt: skip

    # reads

    async def fetch_account(self) -> Account:
        """Cash in the quote currency; equity adds every holding valued at its last price."""
        balance = await self._read(self.exchange.fetch_balance)
        quote = self.options.quote
        cash = _dec(balance.get("free", {}).get(quote)) or Decimal(0)
        equity = _dec(balance.get("total", {}).get(quote)) or Decimal(0)
        held = await self._holdings(balance)
        if held:
            prices = await self._last_prices([m["symbol"] for m, _ in held])
            for market, amount in held:
                equity += amount * (prices.get(market["symbol"]) or Decimal(0))
        return Account(cash=cash, equity=equity, buying_power=cash, currency=quote)

    async def _holdings(self, balance: dict[str, Any]) -> list[tuple[dict[str, Any], Decimal]]:
        """(market, amount) for every non-zero balance that trades against the quote currency."""
        held = []
        for currency, total in (balance.get("total") or {}).items():
            amount = _dec(total) or Decimal(0)
            market = self._markets.get(f"{currency}/{self.options.quote}")
            if amount != 0 and market is not None:
                held.append((market, amount))
        return held

    async def _last_prices(self, symbols: list[str]) -> dict[str, Decimal | None]:
        """The last price of each market, as read within PRICE_SECONDS, else asked for: in one call where ccxt lists
        several tickers, else one call each (Bitso).

        ccxt's fetchLastPrices is not asked: at Binance it lists every market's price (weight 4), where the tickers of
        the few markets held weigh 2.
        """
        now = self._clock()
        known = {
            s: read[1] for s in symbols if (read := self._prices.get(s)) is not None and now - read[0] < PRICE_SECONDS
        }
        wanted = [symbol for symbol in symbols if symbol not in known]
        if not wanted:
            return dict(known)
        if self.exchange.has.get("fetchTickers"):
            tickers = await self._read(self.exchange.fetch_tickers, wanted)
        else:
            tickers = {symbol: await self._read(self.exchange.fetch_ticker, symbol) for symbol in wanted}
        prices: dict[str, Decimal | None] = dict(known)
        for symbol in wanted:
            prices[symbol] = last = _dec((tickers.get(symbol) or {}).get("last"))
            if last:  # a market with no price now is asked again next time
                self._prices[symbol] = (now, last)
        return prices

    async def fetch_positions(self) -> list[Position]:
        """Each base-currency balance as a long position (spot has no shorts), in what the market can sell.

        A fee taken in the coin bought (Binance's default on a spot buy) leaves a balance off the market's
        step, such as 0.01232766 for a step of 0.00001, and no order for that amount is taken: read whole,
        the position could never be exited. It reads as the sellable 0.01232; the dust left stays unsellable.
        So does a balance below the market's minimum quantity (OKX's minSz 0.00001 BTC in lotSz steps of
        0.00000001), or worth less than its minimum order value at the last price (Binance's NOTIONAL): no
        order can sell it, so it reads as flat, not as a long that no exit could close.
        """
        balance = await self._read(self.exchange.fetch_balance)
        held = []
        for market, amount in await self._holdings(balance):
            sellable = self._fitted(self.exchange.amount_to_precision, market["symbol"], amount)  # ccxt truncates
            least = _dec(((market.get("limits") or {}).get("amount") or {}).get("min"))
            if sellable and (least is None or sellable >= least):
                held.append((market, sellable))
        worth = await self._worth_selling(held)
        return [Position(symbol=self._shown(market["symbol"]), quantity=sellable) for market, sellable in worth]

    async def _worth_selling(self, held: list[tuple[dict[str, Any], Decimal]]) -> list[tuple[dict[str, Any], Decimal]]:
        """The holdings worth at least their market's minimum order value at the last price, the rest logged as dust.

        Binance's NOTIONAL (ccxt's `limits['cost']['min']`, applied to market orders too) refuses a sell of 0.0001 BTC
        at 30,000 (3 USDT) where 5 is the least: read as a long, every exit was sent and refused, and the long kept
        the next entry from being placed. A holding whose price is not known stays a position.
        """
        valued = [market["symbol"] for market, _ in held if _least_value(market)]
        if not valued:
            return held
        prices = await self._last_prices(valued)
        worth = []
        for market, sellable in held:
            symbol, least = market["symbol"], _least_value(market)
            last = prices.get(symbol)
            if least is None or not last or sellable * last >= least:
                worth.append((market, sellable))
            elif (symbol, sellable) not in self._dust_logged:  # once: positions are read at every signal
                self._dust_logged.add((symbol, sellable))
                quote = market.get("quote", "")
                log.info("%s: %s %s, worth %s %s at %s, is below %s's minimum order value of %s %s: no order can sell "
                         "it, so it reads as flat (dust)", self.options.exchange, _num(sellable), symbol,
                         _num(sellable * last), quote, _num(last), symbol, _num(least), quote)  # fmt: skip
        return worth

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Open orders, optionally for one ticker."""
        ccxt_symbol = None if symbol is None else self._market(symbol)["symbol"]
        if self.options.exchange == "bitso":
            items = self._remember_symbols(await self._bitso_open_orders(ccxt_symbol))
        elif self.options.exchange == "onetrading":
            items = self._remember_symbols(await self._onetrading_open_orders(ccxt_symbol))
        elif self.options.exchange in CURSOR_PAGES:
            items = self._remember_symbols(await self._paged_open_orders(ccxt_symbol))
        else:
            items = self._remember_symbols(await self._read(self.exchange.fetch_open_orders, ccxt_symbol))
        return [self._order(item) for item in items]

    async def _bitso_open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        """Bitso's open orders, of one book or of all, every one of them or an error.

        ccxt's listing asked for Bitso's 25 newest of a book: an order placed before 25 others was left out, so an
        exit's cancels of the ticker's working orders left it working, and a lookup among them missed it.
        """
        request: dict[str, Any] = {"limit": BITSO_OPEN_ORDERS}
        if symbol is not None:
            request["book"] = self._market(symbol)["id"]
        listed = await self._bitso_answer(request, symbol)
        if len(listed) == BITSO_OLDER_MOST and not self._bitso_past_older_most:
            listed = await self._bitso_oldest_too(request, symbol, listed)
        return [self.exchange.parse_order(raw) for raw in listed]

    async def _bitso_answer(self, request: dict[str, Any], symbol: str | None) -> list[dict[str, Any]]:
        """One "List Open Orders" answer, an error where it is as full as asked (some may be left out)."""
        answer = await self._read(self.exchange.privateGetOpenOrders, request)
        listed: list[dict[str, Any]] = answer.get("payload") or []
        if len(listed) >= BITSO_OPEN_ORDERS:
            raise self._bitso_too_many(len(listed), symbol)
        if len(listed) > BITSO_OLDER_MOST:  # more than the older cap: it is not in force
            self._bitso_past_older_most = True
        return listed

    async def _bitso_oldest_too(
        self, request: dict[str, Any], symbol: str | None, newest: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The open orders where an answer held exactly BITSO_OLDER_MOST (`newest`): all of them, or an error.

        Exactly 100 may be the older page's cap, or all there are: taken as the cap until Bitso had answered more
        than 100, every listing failed on a fresh connection with exactly 100 open orders, and an exit could cancel
        none of the ticker's working orders. They are asked for again oldest first (`sort` asc, which the capped
        version takes). An answer of other than 100 is whole by itself. The same 100 again are all of them: under
        the cap, an order left out of the newest 100 and open at both reads is older than each of them, so it would
        be among the oldest 100; where `sort` is not read (the current page names none) there is no such cap.
        100 others are more than one answer holds: an error.
        """
        oldest = await self._bitso_answer({**request, "sort": "asc"}, symbol)
        ids = {str(raw.get("oid")) for raw in newest}
        if len(oldest) != BITSO_OLDER_MOST or {str(raw.get("oid")) for raw in oldest} == ids:
            return oldest
        raise self._bitso_too_many(len(newest), symbol)

    def _bitso_too_many(self, count: int, symbol: str | None) -> BrokerError:
        """The error for an answer of open orders that may have left some out."""
        return BrokerError(
            f"bitso: {count} open orders{'' if symbol is None else ' on ' + symbol}, as many as one answer may hold "
            f"({BITSO_OLDER_MOST} or {BITSO_OPEN_ORDERS}): any beyond them cannot be listed, so none are taken as all "
            "of them; cancel some at Bitso"
        )

    async def _onetrading_open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        """One Trading's open orders, of one instrument or of all, page after page by the cursor each answer carries.

        ccxt read the first page, 100 orders: an order placed before as many others was left out, so an exit's cancels
        of the ticker's working orders left it working. Past MOST_PAGES the listing is an error, never a list cut short,
        as is a page of orders all read already (the same page again): an order on two pages is listed once.
        """
        market = None if symbol is None else self._market(symbol)
        request: dict[str, Any] = {"max_page_size": ONETRADING_PAGE}
        if market is not None:
            request["instrument_code"] = market["id"]
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _ in range(MOST_PAGES):
            answer = await self._read(self.exchange.privateGetAccountOrders, request)
            page = self.exchange.parse_orders(answer.get("order_history") or [], market)
            fresh = [item for item in page if item.get("id") is None or str(item["id"]) not in seen]
            seen.update(str(item["id"]) for item in fresh if item.get("id") is not None)
            items.extend(fresh)
            if not answer.get("cursor"):  # the last page: One Trading names a next one while more follow
                return items
            if page and not fresh:  # the same page again for its cursor: read 20 times over, it ended as an error
                break
            request = {**request, "cursor": answer["cursor"]}
        raise BrokerError(
            f"onetrading: more than {len(items)} open orders{'' if symbol is None else ' on ' + symbol}: any beyond "
            "them were not listed, so none are taken as all of them; cancel some at the venue"
        )

    async def _paged_open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        """The open orders of a venue that lists them a page at a time, every page read (see CURSOR_PAGES).

        ccxt read Bybit's first page, 20 orders (OKX's, Upbit's, Gate's, Coinbase's: 100; WOO X's 25): an order placed
        before as many others was left out, so an exit's cancels of the ticker's working orders left it working.
        Pages counted by number are read until a listing is settled (`_settled_open_orders`). Gate's listing of every
        pair, read once, left out each pair's orders past its newest 100 (Gate APIv4 "List all open orders").
        """
        if CURSOR_PAGES[self.options.exchange][2] == PAGE_NUMBER:
            return await self._settled_open_orders(symbol)
        listing = await self._pages(self.exchange.fetch_open_orders, symbol, {})
        return self._whole(listing, symbol).items

    def _whole(self, listing: Listing, symbol: str | None) -> Listing:
        """`listing`, read to its end, else the error that more orders are open than were listed."""
        if not listing.whole:
            raise BrokerError(
                f"{self.options.exchange}: more than {len(listing.items)} open orders"
                f"{'' if symbol is None else ' on ' + symbol}: any beyond them were not listed, so none are taken as "
                "all of them; cancel some at the venue"
            )
        return listing

    async def _settled_open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        """The open orders of a venue that pages them by number (Upbit, Gate, WOO X), none still working left out.

        Page k answers the orders k-th in the venue's order (newest first) at the moment it is read: an order that
        ended between two reads moved each older one up by one, and the first of the next page onto the page read
        already, listed nowhere, so an exit's cancels left it working. A listing is taken when it is one answer (one
        moment), or when it read no order twice and every order it listed is in the next listing, which is returned.
        Why that leaves out no order working throughout: while an order W is not yet passed, every order listed
        before page k is newer than W (orders keep their places among themselves: Upbit's are sorted by the time each
        was placed, `order_by` desc unless asked; Gate's APIv4 and WOO X's "Get orders" name no order, and are taken to
        list by the time placed too), and open when page k is read (it is listed again later, and an order that ended
        stays ended); read twice none, they are (k-1) pages' worth, so W stands at least that far down, on page k or
        after it; and the last page, not full, holds the rest. At Gate with no pair asked, page k holds each pair's
        k-th `limit`: the same holds of W's pair's orders alone. Orders placed meanwhile move W down only (the last of a
        page then read again: that listing settles no other); listed oldest first, the same holds with "older" for
        "newer", orders placed meanwhile coming after W. Else it is read again, SETTLE_LISTINGS times at most (each of
        MOST_PAGES at most), then it is an error: never a list that may leave a working order out.
        """
        earlier: Listing | None = None
        for _ in range(SETTLE_LISTINGS):
            listing = self._whole(await self._pages(self.exchange.fetch_open_orders, symbol, {}), symbol)
            if listing.pages == 1 or (earlier is not None and earlier.once and earlier.ids() <= listing.ids()):
                return listing.items
            earlier = listing
        raise BrokerError(
            f"{self.options.exchange}: the open orders{'' if symbol is None else ' on ' + symbol} changed while each "
            f"of {SETTLE_LISTINGS} listings was read page by page, so none is known to hold every working order; "
            "try again when fewer orders are being placed or filled"
        )

    async def _paged(
        self, listing: Any, symbol: str | None, params: dict[str, Any], wanted: Any = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """A listing read page after page (see `_pages`), and whether it was read to its end (or the order wanted)."""
        read = await self._pages(listing, symbol, params, wanted)
        return read.items, read.whole

    async def _pages(self, listing: Any, symbol: str | None, params: dict[str, Any], wanted: Any = None) -> Listing:
        """A listing read page after page by the venue's cursor (see CURSOR_PAGES), up to MOST_PAGES, or until an
        order `wanted(order)` is read.

        An order already read is not listed again: counted pages shift by one when an order is placed between two
        reads, and the last of one page comes again at the head of the next. A full page with no order not read
        already (a venue answering the same page whatever `page` asks) cannot be read past: read 20 times over, it
        spent 20 requests of the rate limit on every listing.
        """
        most, asked_by, cursor_in = CURSOR_PAGES[self.options.exchange]
        # Gate's "List all open orders" (no pair): `limit` is each pair's, and ccxt would cut the pairs' answer to it.
        by_pair = self.options.exchange in TEXT_IDS and symbol is None
        limit, params = (None, {"limit": most, **params}) if by_pair else (most, params)
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        once = True  # no order read on two pages
        for number in range(1, MOST_PAGES + 1):
            page = await self._read(listing, symbol, None, limit, params)
            full = _full(page, most, by_pair)
            fresh = [item for item in page if item.get("id") is None or str(item["id"]) not in seen]
            seen.update(str(item["id"]) for item in fresh if item.get("id") is not None)
            items.extend(fresh)
            once = once and len(fresh) == len(page)
            if page and not fresh and full:
                return Listing(items, False, once, number)
            cursor: Any = None
            if cursor_in == PAGE_NUMBER:
                cursor = number + 1 if full else None
            elif cursor_in == OLDEST_ID:  # OKX's ordIds grow with time
                ids = [int(item["id"]) for item in page if str(item.get("id") or "").isdigit()]
                if len(page) >= most and not ids:  # a full page, and no way to the next: maybe more
                    return Listing(items, False, once, number)
                cursor = str(min(ids)) if len(page) >= most else None
            else:  # on the first order of the answer, which ccxt's parsing may have sorted elsewhere
                cursor = next((i[cursor_in] for item in page if (i := item.get("info") or {}).get(cursor_in)), None)
            if not page or not cursor or (wanted is not None and any(wanted(item) for item in page)):
                return Listing(items, True, once, number)
            params = {**params, asked_by: cursor}
        return Listing(items, False, once, MOST_PAGES)

    async def fetch_order(self, client_order_id: str) -> Order:
        """One order by our client order id."""
        symbol = await self._symbol_of(client_order_id)
        order_id, params = self._lookup(client_order_id)
        exchange = self.options.exchange
        if exchange in TRADES_LOOKUPS:
            item = await self._looked_up_or_traded(client_order_id, order_id, symbol)
        elif exchange in ONLY_LISTED or (exchange in LISTED_LOOKUPS and not order_id):
            item = await self._listed_order(client_order_id, symbol)
        elif exchange in CLIENT_ID_LOOKUPS and not order_id:
            item = await self._by_client_id(client_order_id)
        elif exchange in TEXT_IDS and not self._order_ids.get(client_order_id):
            item = await self._by_text(client_order_id, order_id, symbol)
        else:
            item = await self._read(self.exchange.fetch_order, order_id, symbol, params)
            if not self._order_ids.get(client_order_id):  # asked by our id: the answer must be our order
                self._check_ours(client_order_id, item)
        self._note_order_id(client_order_id, item)
        return self._order(item, client_order_id)

    # orders

    async def create_order(self, request: OrderRequest) -> Order:
        """Submit once; an ambiguous failure is left to fetch_order(client_order_id)."""
        market = self._market(request.symbol)
        amount, price, params = self._checked(request, market)
        self._symbols[request.client_order_id] = market["symbol"]
        self._sent_at.setdefault(request.client_order_id, datetime.now(UTC))
        send_by = _monotonic(request.send_by)
        await self._wait_out_retry_after(send_by)
        token = _SEND_BY.set(send_by)
        try:
            item = await self.exchange.create_order(market["symbol"], request.type, request.side, amount, price, params)
        except HeldTooLong:  # by the bridge's throttle, before anything was sent
            raise
        except Exception as exc:
            raise self._translate(exc, submit=True) from exc
        finally:
            _SEND_BY.reset(token)
        self._note_order_id(request.client_order_id, item)
        if item.get("status") is None or item.get("amount") is None:  # some venues answer with the id only
            try:
                return await self.fetch_order(request.client_order_id)
            except (TemporaryBrokerError, OrderNotFound):
                # The venue took the order (it answered with its id) but cannot show it yet: it is working,
                # never "not sent". The order jobs read what it became.
                return Order(
                    client_order_id=request.client_order_id, symbol=request.symbol, side=request.side,
                    quantity=request.quantity, type=request.type, status="submitted",
                    broker_order_id=None if item.get("id") is None else str(item["id"]),
                    limit_price=request.limit_price, stop_price=request.stop_price,
                )  # fmt: skip
        return self._order(item, request.client_order_id)

    def check_order(self, request: OrderRequest) -> None:
        """Raise OrderRejected for a request the market cannot take (asked before a plan cancels anything).

        Refused only once sent, an exit off the tick came after its cancels had taken the resting orders.
        """
        self._checked(request, self._market(request.symbol))

    def _checked(self, request: OrderRequest, market: dict[str, Any]) -> tuple[float, float | None, dict[str, Any]]:
        """ccxt's arguments for the request; anything the market cannot take exactly is refused."""
        if request.type not in self.capabilities.order_types:
            raise OrderRejected(f"{self.options.exchange} spot: no {request.type} orders through this adapter")
        if request.type not in self._order_types:
            raise OrderRejected(f"{self.options.exchange} takes no {request.type} orders (ccxt's has); use order_type: "
                                f"{' or '.join(sorted(self._order_types)) or 'none'}")  # fmt: skip
        if request.take_profit is not None or request.stop_loss is not None:
            raise OrderRejected(f"{self.options.exchange} spot: no bracket orders through this adapter")
        if request.quantity <= 0:
            raise OrderRejected(f"quantity must be positive, got {request.quantity}")
        if request.type == "market" and request.side == "buy" and self._buys_by_cost:
            raise OrderRejected(
                f"{self.options.exchange} takes a market buy as the {market.get('quote')} to spend, not a quantity, "
                "which this adapter does not send; use order_type: limit for buys there (market sells are taken)"
            )
        self._in_quote(request.symbol, market)
        symbol = market["symbol"]
        if self._fitted(self.exchange.amount_to_precision, symbol, request.quantity) != request.quantity:
            step = market.get("precision", {}).get("amount")
            raise OrderRejected(f"quantity {_num(request.quantity)} does not fit {symbol}'s step {step}")
        venue_id = self._venue_id(request.client_order_id)
        params: dict[str, Any] = {"clientOrderId": int(venue_id) if self.options.exchange in INTEGER_IDS else venue_id}
        if self.options.exchange in VENUE_ID_FIELDS:
            params = {VENUE_ID_FIELDS[self.options.exchange]: self._venue_id(request.client_order_id)}
        price = None
        if request.type == "limit":
            if request.limit_price is None:
                raise OrderRejected("a limit order needs a limit price")
            if self._fitted(self.exchange.price_to_precision, symbol, request.limit_price) != request.limit_price:
                raise OrderRejected(f"limit price {_num(request.limit_price)} does not fit {symbol}'s tick size")
            if request.time_in_force not in TIME_IN_FORCE:
                raise OrderRejected(f"{self.options.exchange} has no {request.time_in_force!r} time in force; use gtc")
            params["timeInForce"] = request.time_in_force.upper()
            if self.options.exchange in VENUE_TIME_IN_FORCE:
                field, words = VENUE_TIME_IN_FORCE[self.options.exchange]
                del params["timeInForce"]
                params[field] = words[request.time_in_force]
            price = float(request.limit_price)
        self._within_limits(request, market)
        # Market orders take no time in force; extended hours mean nothing on a market that never closes.
        return float(request.quantity), price, params

    def _within_limits(self, request: OrderRequest, market: dict[str, Any]) -> None:
        """Refuse an order outside the market's quantity limits, or a limit order below its minimum value.

        ccxt's `limits` (Binance's LOT_SIZE minQty and maxQty, MARKET_LOT_SIZE maxQty for a market order, and
        NOTIONAL or MIN_NOTIONAL minNotional: price x quantity). A market order's value is left to the venue: it
        values one at a price only it knows (Binance: its average of the last minutes).
        """
        limits, symbol = market.get("limits") or {}, market["symbol"]
        least = _dec((limits.get("amount") or {}).get("min"))
        if least is not None and request.quantity < least:
            raise OrderRejected(f"quantity {_num(request.quantity)} is below {symbol}'s minimum of {_num(least)}")
        most = _dec((limits.get("amount") or {}).get("max"))
        if most and request.quantity > most:  # 0 or None: no maximum published
            raise OrderRejected(f"quantity {_num(request.quantity)} is above {symbol}'s largest of {_num(most)}; "
                                "send it in parts")  # fmt: skip
        most_market = _dec((limits.get("market") or {}).get("max"))
        if request.type == "market" and most_market and request.quantity > most_market:
            raise OrderRejected(
                f"quantity {_num(request.quantity)} is above {symbol}'s largest market order of {_num(most_market)}; "
                "send it in parts, or as a limit order"
            )
        least_value = _least_value(market)
        if request.type != "limit" or request.limit_price is None or least_value is None:
            return
        value = request.quantity * request.limit_price
        if value < least_value:
            quote = market.get("quote", "")
            raise OrderRejected(
                f"order value {_num(value)} {quote} ({_num(request.quantity)} at {_num(request.limit_price)}) is below "
                f"{symbol}'s minimum of {_num(least_value)} {quote}; use a larger quantity"
            )

    def _in_quote(self, ticker: str, market: dict[str, Any]) -> None:
        """Refuse a market quoted in another currency than `quote`: its position could never be seen.

        Positions are the balances valued in `quote` (BTC reads as BTCUSDT): BTC bought on BTCUSDC would read
        as flat in BTCUSDC, so its exit would be rejected as having nothing to exit and a second buy not ignored.
        """
        quote, theirs = self.options.quote, market.get("quote")
        if theirs != quote:
            raise OrderRejected(
                f"{self.options.exchange}: {ticker} is quoted in {theirs}, but this broker reads positions in {quote} "
                f"(option quote), so a position opened there could not be seen or exited; trade the {quote} market, "
                f"or add a broker with quote: {theirs} for this one"
            )

    def _fitted(self, to_precision: Any, symbol: str, value: Decimal) -> Decimal | None:
        """`value` as the market's precision would send it (None when it rounds to nothing)."""
        try:
            return Decimal(str(to_precision(symbol, float(value))))
        except ccxt.BaseError:  # below the smallest step: ccxt refuses it outright
            return None

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel if still open, then report the final state (a filled order is returned as it is)."""
        order = await self.fetch_order(client_order_id)
        if order.is_open:
            symbol = await self._symbol_of(client_order_id)
            await self._wait_out_retry_after()
            try:
                order_id, params = self._lookup(client_order_id)
                await self.exchange.cancel_order(order_id, symbol, params)
            except ccxt.InvalidOrder as exc:
                # It filled or was canceled meanwhile: the lookup below says which. Venues say so as OrderNotFound
                # (Binance, OKX) or InvalidOrder (Gate's ORDER_CLOSED, Kraken's "EOrder:Unknown order").
                order = await self.fetch_order(client_order_id)
                if order.is_open:  # refused for another reason: the refusal stands
                    raise self._translate(exc, submit=False) from exc
                return order
            except Exception as exc:
                raise self._translate(exc, submit=False) from exc
            order = await self._settled(client_order_id)
        return order

    async def _settled(self, client_order_id: str) -> Order:
        """The order once a cancel the venue took is done, or as it is after CANCEL_SETTLE_SECONDS (still open).

        Upbit's cancel is a request ("order cancel request"): it answers, and a lookup right after reads, the order
        still waiting, canceled a moment later. Read once, it was open: an exit stopped at a cancel not confirmed.
        """
        deadline = time.monotonic() + CANCEL_SETTLE_SECONDS
        while True:
            order = await self.fetch_order(client_order_id)
            if not order.is_open or time.monotonic() > deadline:
                return order
            await asyncio.sleep(CANCEL_READ_SECONDS)


BROKER = CcxtBroker
