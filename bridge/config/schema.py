"""The configuration file's pydantic models; unknown keys are errors everywhere."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bridge.config.security import (
    GlobalRisk,
    RateLimit,
    RiskLimits,
    check_hosts,
    check_proxies,
    check_signing_secrets,
    check_sources,
)
from bridge.config.timing import OptionalLocalTime, TimeZoneName
from bridge.config.trading import (
    OVERRIDABLE,
    Overridable,
    Sizing,
    StopLossDefault,
    Symbol,
    TakeProfitDefault,
    TradingWindow,
    by_symbol,
)
from bridge.notify.config import Notifications

MIN_TOKEN_LENGTH = 16
MIN_TICK = Decimal("1e-12")  # the finest price step: prices up to 1e15 divide by it within Decimal's 28 digits
# config.example.yaml's fallback token: published, so anyone can guess a URL that uses it.
PLACEHOLDER_TOKEN = "change-me-to-a-long-random-token"  # noqa: S105 - the public placeholder refused below
# Every published placeholder, by where it is published: systemd/bridge.env.example's are exported as they are by
# anyone who copies that file without editing it, and are just as public.
PLACEHOLDERS = {
    PLACEHOLDER_TOKEN: "the example config's",
    "replace-with-output-of-python3--c-import-secrets-print-secrets.token_urlsafe-24": "the example environment file's",
    "replace-with-another-long-random-token": "the example environment file's",
}
_GENERATE = '`bridge init` or `python -c "import secrets; print(secrets.token_urlsafe(24))"` makes one'
OrderTypeName = Literal["market", "limit", "stop", "stop_limit", "trailing_stop"]


class Strict(BaseModel):
    """Base model: a misspelt key must never silently disable a setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Strict):
    """Where the daemon listens and who may use the admin API."""

    host: str = Field(default="127.0.0.1", description="address to listen on; keep loopback behind a tunnel or proxy")
    port: int = Field(default=8787, ge=1, le=65535, description="TCP port")
    admin_token: str | None = Field(
        default=None, description="Bearer token for /api/* (16+ characters); unset disables the API"
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=16 * 1024 * 1024, description="larger webhook bodies get 413"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses/networks of your own tunnel or reverse proxy; only their forwarded_header is believed, "
        "so each must add that header itself (a plain TCP forward such as ssh -R adds none: never list one)",
    )
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = Field(
        default="x-forwarded-for", description="which header your trusted proxies write the client address to"
    )
    admin_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve /api/* only on this loopback port, one other than port (needs a restart)",
    )
    limit_concurrency: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="connections at once, each with its request; one more waits up to 2 s for a place, "
        "an idle kept-alive one, or one 1 s or more without its request's head, being closed to make room, then gets "
        "503 so senders retry (TradingView after 5 s); "
        "places go in the order connections came (the admin listener takes none: a full public side leaves the "
        "admin API answering)",
    )
    auth_failure_limit: int = Field(
        default=20, ge=0, le=100_000, description="bad tokens/signatures per minute that lock an address out; 0: never"
    )
    auth_lockout: float = Field(
        default=300.0, gt=0, le=86400, description="seconds a locked-out address gets 429 for every request"
    )
    unauthenticated_journal_per_minute: int = Field(
        default=120,
        ge=1,
        le=1_000_000,
        description="webhook requests without a valid token journaled per minute, from all addresses together; "
        "beyond it they get 429 and are counted in /metrics, not journaled (a valid token's always are)",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="names besides localhost, IP addresses and host under which the dashboard, /api and /metrics "
        "answer (a LAN name, your tunnel's hostname); any other gets 403 forbidden-host, so another site's page "
        "cannot reach them through DNS rebinding; '*' allows every name",
    )
    public_url: str | None = Field(
        default=None,
        description="the address senders reach the bridge at, e.g. https://bridge.example.com (your tunnel's or "
        "proxy's): the dashboard's Copy URL gives webhook URLs on it; null: on the address the dashboard is open at, "
        "which with admin_port is a loopback one no sender reaches; its name is one the dashboard answers, as in "
        "allowed_hosts",
    )
    intake_process: bool = Field(
        default=False,
        description="answer webhooks in a second process, so intake and execution each get a CPU core; for "
        "floods of well over a thousand signals a second (needs a restart; POSIX only)",
    )

    @field_validator("admin_token")
    @classmethod
    def _admin_token_strength(cls, value: str | None) -> str | None:
        if value is not None and value != "" and len(value) < MIN_TOKEN_LENGTH:
            raise ValueError(f"admin_token must be at least {MIN_TOKEN_LENGTH} characters")
        if value and any(ch.isspace() or not ch.isprintable() for ch in value):
            # The header's value is read stripped and split at the space: such a token never matched, every call 401.
            raise ValueError("the admin token holds a space or line break, which an Authorization header cannot "
                             "carry (a variable set from a file often ends in one); use letters, "
                             f"digits, '-' and '_' ({_GENERATE})")  # fmt: skip
        return value or None

    @property
    def own_names(self) -> tuple[str, ...]:
        """The names the admin side answers besides addresses, loopback and `host`: allowed_hosts, public_url's."""
        public = urlsplit(self.public_url).hostname if self.public_url else None
        return (*self.allowed_hosts, public) if public else tuple(self.allowed_hosts)

    @field_validator("public_url")
    @classmethod
    def _public_url_is_an_origin(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("write the address senders reach the bridge at, e.g. https://bridge.example.com")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("give the address alone: a query, a fragment or a user name in it would spoil every "
                             "webhook URL copied from it")  # fmt: skip
        return value.strip().rstrip("/")  # a path prefix (a proxy serving the bridge under one) is kept

    @field_validator("host")
    @classmethod
    def _host_is_an_address(cls, value: str) -> str:
        # What the listener binds: anything else passed `bridge check` and stopped the daemon at its start.
        if not value.strip():
            raise ValueError("names no address; write one, e.g. 127.0.0.1")
        if value.startswith("["):
            raise ValueError("write an IPv6 address without the brackets, e.g. ::1")
        if "/" in value or any(ch.isspace() for ch in value):
            raise ValueError("write the address alone, e.g. 127.0.0.1 or localhost: no http:// and no path")
        if ":" in value:
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                raise ValueError("write the address alone, e.g. 127.0.0.1, and the port in server.port") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        return check_proxies(value)

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return check_hosts(value)

    @field_validator("admin_port")
    @classmethod
    def _admin_port_apart(cls, value: int | None, info: ValidationInfo) -> int | None:
        # The admin guard tells the listeners apart by port alone: on the same port, the public one served /api.
        if value is not None and value == info.data.get("port"):
            raise ValueError(f"admin_port {value} is also server.port: give the admin API a port of its own "
                             "(any other free port), or remove admin_port")  # fmt: skip
        return value


class BrokerConfig(Strict):
    """One broker account: which plugin drives it and the plugin's own options."""

    plugin: str = Field(description="`paper`, an installed plugin's name, a file in plugin_dirs, or module:Class")
    options: dict[str, Any] = Field(default_factory=dict, description="the plugin's own options")


class Subscription(Strict):
    """How one strategy's signals become orders at one broker."""

    broker: str = Field(description="name of a broker under `brokers:`")
    name: str | None = Field(
        default=None,
        description="names the subscription in orders and explanations (its key; without one, the broker's name, "
        "then `<broker>-2`, `-3` ... for more on that broker); a name keeps the key whatever else is edited",
    )
    enabled: bool = Field(
        default=True,
        description="false: signals are journaled but not traded here, nor is flatten_at "
        "(its positions left open are told of)",
    )
    sides: Literal["both", "long", "short"] = Field(default="both", description="which side entries may open")
    allow_swap: bool = Field(default=True, description="buy while short / sell while long: exit, then enter")
    allow_add: bool = Field(default=False, description="buy while long / sell while short adds instead of ignoring")
    subtract_exit_quantity: bool = Field(
        default=False, description="on a swap, the entry is the signal quantity minus what the exit closed"
    )
    use_signal_quantity: bool = Field(
        default=True,
        description="use the signal's quantity for entries and for partial exits (off: an exit, a sell bullish "
        "or a buy bearish closes the whole position, whatever quantity it carries)",
    )
    quantity_multiplier: Decimal = Field(
        default=Decimal(1), gt=0, description="multiplies the signal's quantity, on entries and on partial exits alike"
    )
    sizing: Sizing = Field(default_factory=Sizing, description="entry size when the signal gives none")
    fractional: bool = Field(
        default=False,
        description="allow fractional quantities (rounded down to six decimals, or to the market's step where the "
        "adapter knows it: 0.00001 BTC at Binance); otherwise round down to whole units",
    )
    tickers: list[Symbol] | None = Field(default=None, description="only these tickers trade here (before ticker_map)")
    ticker_map: dict[Symbol, Symbol] = Field(
        default_factory=dict, description="signal ticker -> broker symbol, e.g. {NQ1!: MNQZ2026}; ignores case"
    )
    tick_size: Decimal | dict[Symbol, Decimal] | None = Field(
        default=None,
        description="price increment computed prices are rounded to (never to a worse price), one for every symbol "
        "or per broker symbol, e.g. {MNQZ2026: 0.25}; without it the adapter's, else cents (0.0001 below $1)",
    )
    order_type: OrderTypeName = Field(default="market", description="entry order type")
    exit_order_type: OrderTypeName = Field(default="market", description="exit order type")
    trail_amount: Decimal | None = Field(default=None, gt=0, description="trailing_stop orders: trail by price")
    trail_percent: Decimal | None = Field(default=None, gt=0, description="trailing_stop orders: trail by percent")
    time_in_force: Literal["day", "gtc", "opg", "cls", "ioc", "fok"] = Field(
        default="day",
        description="time in force of the orders sent; unset here and in the signal, an entry with a take-profit or "
        "stop-loss goes gtc with its legs, so they outlive the close (day where the broker takes a fractional "
        "quantity for the day only, as Alpaca does: the decision says the legs expire)",
    )
    extended_hours: bool = Field(default=False, description="allow extended-hours trading (limit orders only)")
    take_profit: TakeProfitDefault | None = Field(default=None, description="take-profit leg on every entry")
    stop_loss: StopLossDefault | None = Field(default=None, description="stop-loss leg on every entry")
    allow_signal_overrides: list[Overridable] = Field(
        default_factory=lambda: list(OVERRIDABLE), description="signal fields that may override these settings"
    )
    cancel_open_orders: bool = Field(
        default=False, description="cancel the ticker's open orders before trading when flat or reversing"
    )
    exit_fill_timeout: float = Field(
        default=120.0, gt=0, le=600, description="seconds to wait for an exit fill before the entry of a swap"
    )
    trading_windows: list[TradingWindow] = Field(
        default_factory=list, description="entries only inside these windows (none: always)"
    )
    allow_exits_outside_windows: bool = Field(
        default=True, description="exits and cancels still run outside the trading windows"
    )
    ignore_exits: bool = Field(
        default=False, description="signals that only exit are ignored (`flatten_at` still closes the positions)"
    )
    cancel_after: float | None = Field(
        default=None, gt=0, le=86400, description="seconds an entry/exit order may rest unfilled before it is canceled"
    )
    flatten_at: OptionalLocalTime = Field(
        default=None, description='local time ("15:55") on Mon-Fri to close the positions this subscription opened'
    )
    timezone: TimeZoneName = Field(default="America/New_York", description="IANA time zone of flatten_at")
    risk: RiskLimits | None = Field(default=None, description="pre-trade limits for this subscription (see RiskLimits)")

    @field_validator("tick_size")
    @classmethod
    def _tick_sizes_positive(cls, value: Decimal | dict[str, Decimal] | None) -> Decimal | dict[str, Decimal] | None:
        for size in value.values() if isinstance(value, dict) else [value]:
            if size is not None and not size >= MIN_TICK:  # a finer step could not be rounded to at any price
                raise ValueError(f"a tick size is the smallest price step, {MIN_TICK} or more (ES: 0.25); got {size}")
        return value

    def tick_size_of(self, symbol: str) -> Decimal | None:
        """This subscription's price increment for a broker symbol (ignoring case), if it sets one."""
        return by_symbol(self.tick_size, symbol) if isinstance(self.tick_size, dict) else self.tick_size

    @field_validator("tickers")
    @classmethod
    def _tickers_list_some(cls, value: list[str] | None) -> list[str] | None:
        # `[]` written for "no restriction" let no signal through, exits of the positions already open included.
        if value == []:
            raise ValueError("an empty tickers list trades nothing, not even exits of open positions; remove the key "
                             "to trade every ticker, or set enabled: false")  # fmt: skip
        return value


class Strategy(Strict):
    """A webhook URL and the subscriptions its signals fan out to."""

    token: str = Field(
        min_length=MIN_TOKEN_LENGTH,
        description="the secret {token} in the URL; 16+ characters, none of / ? # % or spaces",
    )
    subscriptions: list[Subscription] = Field(min_length=1, description="every signal fans out to each of these")
    allowed_sources: list[str] | None = Field(
        default=None, description='sender addresses allowed: tradingview, trendspider, "203.0.113.7", "203.0.113.0/24"'
    )
    signing_secrets: list[str] = Field(
        default_factory=list, description="Standard Webhooks secrets (whsec_...); when set, unsigned requests get 401"
    )
    dedupe_window: float = Field(
        default=120.0,
        ge=0,
        le=86400,
        description="seconds a keyless repeat of the ticker's last body is a duplicate; 0: off",
    )
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="requests this strategy takes")

    @field_validator("token")
    @classmethod
    def _token_fits_a_url(cls, value: str) -> str:
        # The router takes one path segment, decoded: with any of these the URL's token never equals this one, and
        # every alert is refused (404 or 401, counting toward the sender's lockout). The message quotes none of it.
        what = next((f"a {ch!r}" for ch in "/?#%" if ch in value), None)
        if what is None and any(ch.isspace() or not ch.isprintable() for ch in value):
            what = "a space or line break"
        if what is not None:
            raise ValueError(f"the token holds {what}, which a webhook URL cannot carry as written; use letters, "
                             f"digits, '-' and '_' ({_GENERATE})")  # fmt: skip
        return value

    @field_validator("allowed_sources")
    @classmethod
    def _sources(cls, value: list[str] | None) -> list[str] | None:
        return check_sources(value)

    @field_validator("signing_secrets")
    @classmethod
    def _secrets(cls, value: list[str]) -> list[str]:
        return check_signing_secrets(value)


def _url_safe(name: str) -> str:
    """A strategy name that can be the {strategy} segment of a webhook URL."""
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise ValueError(f"strategy name {name!r} may only use letters, digits, '-', '_' and '.'")
    if set(name) == {"."}:  # a dot segment: clients resolve it before sending, and no request reaches it
        raise ValueError(f"strategy name {name!r} is only dots, which an HTTP client reads as a step up the "
                         "URL (/webhook/../token is /token); use letters or digits too")  # fmt: skip
    return name


# Checked as a key, so the error names the strategy at its own line, not at `strategies:`.
StrategyName = Annotated[str, AfterValidator(_url_safe)]


class Config(Strict):
    """The whole configuration file."""

    server: ServerConfig = Field(default_factory=ServerConfig, description="the HTTP listener")
    database: str = Field(default="bridge.db", description="the SQLite journal, relative to the config file")
    durability: Literal["normal", "full"] = Field(
        default="full",
        description="full: every acknowledged signal survives a power loss (each commit synced to the disk before "
        "anyone is answered: synchronous=FULL, or with the intake process the store's own sync of the WAL); normal: "
        "it survives a crash of the daemon but the last commits may roll back on power loss (synchronous=NORMAL, "
        "faster)",
    )
    max_signal_age: float = Field(
        default=60.0, gt=0, le=86400, description="seconds; a signal older than this when it would run is expired"
    )
    clock_skew: float = Field(
        default=5.0, ge=0, le=3600, description="seconds of clock difference allowed when checking a signal's `time`"
    )
    max_queued_signals: int = Field(
        default=2000,
        ge=1,
        le=1_000_000,
        description="once this many signals wait for execution, a webhook's answer waits (its signal journaled and "
        "queued already) until execution takes the next: a flood faster than the broker cannot fill the memory",
    )
    idempotency_retention_days: float = Field(
        default=7.0,
        gt=0,
        le=3650,
        description="days an idempotency key keeps answering duplicate; at least 10 minutes whatever is set (a signed "
        "request verifies for 5 minutes either side of its timestamp)",
    )
    database_max_mb: float | None = Field(
        default=None,
        ge=0.05,
        description="cap on the journal's size in MiB: webhooks get 503 past 90% of it, or sooner while many signals "
        "wait to execute (the rest is kept for the signals already accepted); null: none",
    )
    risk: GlobalRisk = Field(
        default_factory=GlobalRisk, description="limits over every subscription, and the circuit breaker"
    )
    retention_days: int = Field(
        default=90, ge=1, le=36500, description="journal rows older than this are pruned (daily, at start, at a reload)"
    )
    poll_interval: float = Field(
        default=5.0, ge=0.5, le=3600, description="seconds between order status checks with brokers"
    )
    watch_config: bool = Field(
        default=True, description="reload when this file changes (SIGHUP and POST /api/reload always reload)"
    )
    brokers: dict[str, BrokerConfig] = Field(min_length=1, description="broker accounts by a name you choose")
    strategies: dict[StrategyName, Strategy] = Field(min_length=1, description="webhook URLs by strategy name")
    notifications: Notifications = Field(
        default_factory=Notifications, description="messages to you on failures, fills and halts (see Notifications)"
    )
    # Searched for `<plugin>.py` broker adapters, relative to this file; the project's own plugins/ comes last.
    plugin_dirs: list[str] = Field(
        default_factory=lambda: ["plugins"], description="folders searched for `<plugin>.py` broker adapters"
    )

    @field_validator("database")
    @classmethod
    def _database_names_a_file(cls, value: str) -> str:
        return database_name(value)


def database_name(value: str) -> str:
    """`database` as given, unless it names no file."""
    # An empty name (`${DB_FILE:-}`) is the config's folder: sqlite cannot open it, and the daemon stopped there.
    if not value.strip():
        raise ValueError("names no file; write the journal's file name, e.g. bridge.db")
    return value


def subscription_key(strategy: Strategy, index: int) -> str:
    """The stable name of a subscription: its `name`, else its broker, then `<broker>-2`, `-3` ... on that broker.

    The journal's executions and orders, waiting delayed signals and plans to resume carry this key, so adding
    an unnamed subscription on the same broker must leave the earlier ones' keys as they were.
    """
    sub = strategy.subscriptions[index]
    if sub.name:
        return sub.name
    same_broker = [i for i, s in enumerate(strategy.subscriptions) if s.broker == sub.broker and not s.name]
    position = same_broker.index(index)
    return sub.broker if position == 0 else f"{sub.broker}-{position + 1}"


def journal_keys(strategy: Strategy, index: int) -> tuple[str, ...]:
    """The keys a subscription's rows may carry in the journal: its key, and the one it had in older versions.

    Older versions keyed the first of several unnamed subscriptions on a broker `<broker>-1`, which became
    `<broker>` (and took a rename of the first on adding a second). A journal written then may still hold
    `<broker>-1` (a waiting delayed signal, a plan to resume, the orders flatten_at looks for): it names the
    subscription now keyed `<broker>`, unless another one is keyed `<broker>-1` now (a `name:`).
    """
    key = subscription_key(strategy, index)
    if strategy.subscriptions[index].name is not None:
        return (key,)
    old = f"{key}-1"
    taken = any(subscription_key(strategy, i) == old for i in range(len(strategy.subscriptions)))
    return (key,) if key != strategy.subscriptions[index].broker or taken else (key, old)


def reference_errors(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references pydantic cannot check alone, as (path, message) pairs."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    known = ", ".join(sorted(config.brokers))
    for strategy_name, strategy in config.strategies.items():
        names: set[str] = set()
        for index, sub in enumerate(strategy.subscriptions):
            path: tuple[str | int, ...] = ("strategies", strategy_name, "subscriptions", index)
            if sub.broker not in config.brokers:
                errors.append(((*path, "broker"), f"unknown broker {sub.broker!r}; defined brokers: {known}"))
            key = subscription_key(strategy, index)
            if key in names:
                errors.append(((*path, "name"), f"subscription name {key!r} is used twice; give each a unique name"))
            names.add(key)
            errors.extend(((*path, *where), message) for where, message in bracket_errors(sub))
    return errors + token_errors(config)


def bracket_errors(sub: Subscription) -> list[tuple[tuple[str | int, ...], str]]:
    """A trail by both an amount and a percent, or a take-profit, stop-loss or trailing percent that puts an order at
    or below zero on a side the subscription trades.

    Checked at each signal too, where it refused every such order: a percent meant as a multiple (100 for "the
    whole move") passed `bridge check`.
    """
    legs = [("stop_loss", sub.stop_loss, "long", "short"), ("take_profit", sub.take_profit, "short", "long")]
    errors: list[tuple[tuple[str | int, ...], str]] = []
    trail = sub.trail_percent
    if trail is not None and sub.trail_amount is not None:  # the paper book took the amount unseen; Alpaca refuses
        errors.append((("trail_percent",), "set one of trail_amount and trail_percent, not both: a trailing stop "
                       "trails by a price distance or by a percent of the price"))  # fmt: skip
    for order_type, side, other, what in [(sub.exit_order_type, "long", "short", "every exit of a long"),
                                          (sub.order_type, "short", "long", "every short entry")]:  # fmt: skip
        if order_type == "trailing_stop" and trail is not None and trail >= 100 and sub.sides in ("both", side):
            errors.append((("trail_percent",), f"a trailing_stop sell {trail}% below the price is at or below zero "
                           f"and never triggers, so {what} would be refused; trail by less than 100 (2 is 2%), or "
                           f"set sides: {other}"))  # fmt: skip
            break
    for name, leg, side, other in legs:
        percent = leg.percent if leg is not None else None
        if percent is not None and percent >= 100 and sub.sides in ("both", side):
            what = name.replace("_", " ")
            errors.append(((name, "percent"), f"a {what} {percent}% below a {side}'s entry is at or below zero, so "
                           f"every {side} entry would be refused; the percent is of the entry price (2 is 2%), or "
                           f"set sides: {other}"))  # fmt: skip
    return errors


def token_errors(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Tokens that open more than they should: the admin or another strategy's token in a URL, a placeholder."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    admin = config.server.admin_token
    live = {name for name, broker in config.brokers.items() if broker.plugin != "paper"}  # real money, maybe
    first: dict[str, str] = {}  # token -> the first strategy that uses it
    for name, strategy in config.strategies.items():
        owner = first.setdefault(strategy.token, name)
        if owner != name:  # the name in the URL is public: the token is a strategy's only secret
            errors.append((("strategies", name, "token"), f"the same token as strategy {owner!r}: whoever has one "
                           "of their webhook URLs can send to the other by changing the name in it; give each "
                           f"strategy its own token ({_GENERATE})"))  # fmt: skip
        if admin is not None and strategy.token == admin:
            # TradingView and every alert log see a webhook URL: with the admin token in it, /api is theirs.
            shared = f"admin_token is also the token of strategy {name!r}, whose webhook URL its senders see"
            errors.append((("server", "admin_token"), f"{shared}; give the admin API its own token ({_GENERATE})"))
        trading = ", ".join(sorted(live & {sub.broker for sub in strategy.subscriptions}))
        if strategy.token in PLACEHOLDERS and trading:
            public = (
                f"{PLACEHOLDERS[strategy.token]} placeholder token is public, and this strategy trades at {trading}"
            )
            fix = f"set the environment variable the config names, or write a token of your own ({_GENERATE})"
            errors.append((("strategies", name, "token"), f"{public}: {fix}"))
    if admin in PLACEHOLDERS and live:
        public = f"{PLACEHOLDERS[admin]} placeholder token is public"
        errors.append((("server", "admin_token"), f"{public}: use a token of your own ({_GENERATE})"))
    return errors
