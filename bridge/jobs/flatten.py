"""`flatten_at`: on trading days at a local time, close the positions a subscription opened."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import NamedTuple
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from bridge.brokers import answers
from bridge.brokers.base import Broker
from bridge.config.schema import Subscription
from bridge.execution import share
from bridge.execution.executor import Job
from bridge.jobs.host import Host
from bridge.models import FINAL_ORDER_STATUSES, SCHEDULED_SOURCE, Signal, order_filled, same_symbol, symbol_key
from bridge.notify.events import flatten_event
from bridge.signals.parse import normalised
from bridge.signals.resolve import broker_symbol
from bridge.signals.sizing import fmt
from bridge.store import journal, upkeep
from bridge.store.db import iso, utcnow

log = logging.getLogger("bridge.jobs")
_IDS = uuid.UUID("6f1d2b1e-3c55-4a8e-9e43-5b0c1f7a2d90")  # namespace of the deterministic flatten signal ids
SOURCE = SCHEDULED_SOURCE + "flatten_at"  # stands in for the webhook id: from the schedule, not a request
GRACE_SECONDS = 300  # a flatten a few minutes late still beats holding overnight
# A start past a missed flatten tells of it the rest of its day, and for at least this long (a 15:55 one's evening):
# not at every start of the next day, when the positions may be that day's own.
MISSED_TOLD_FOR = timedelta(hours=8)
RETRY_SECONDS = 15.0  # a run that could not read the positions, or left some held, runs again then (in its grace)
MAX_EXITS_A_DAY = 10  # a ticker's flatten exits queued in one day, when each before it expired unsent


class FlattenFailed(Exception):
    """The positions to close could not be read (the venue down, or its broker not connected yet)."""


class Close(NamedTuple):
    """What a flatten closes of a ticker: the subscription's share of it (`unsure`: an order of its own there may have
    filled unseen); what its fills net to, what the account holds, and how many of its orders there still work."""

    unsure: bool
    net: Decimal
    position: Decimal
    working: int = 0
    sent_as: str = ""  # the ticker its orders were sent as, when `ticker_map` now sends it elsewhere

    @property
    def share(self) -> Decimal:
        """The units that are the subscription's: its fills' net, never more than the account holds on their side,
        none of the other side."""
        return share.capped(self.net, self.position)[0]

    def beside(self) -> bool:
        """Whether the account holds more than the subscription's fills, on their side: another's share too."""
        return self.net != 0 and (self.net > 0) == (self.position > 0) and abs(self.position) > abs(self.net)

    def across(self) -> bool:
        """Whether the account holds the other side of the subscription's fills: another's trade closed them."""
        return self.net != 0 and (self.net > 0) != (self.position > 0)


def _tickers_to_close(orders: Sequence[sqlite3.Row], held: Mapping[str, Decimal],
                      route: Callable[[str], str] = str) -> dict[str, Close]:  # fmt: skip
    """Tickers whose broker symbol is held and whose position may be this subscription's, each with its share.

    The account may be shared: another strategy can hold a symbol this subscription traded and closed
    before. A ticker is left out only when the journal is sure the subscription is flat in it: every one of
    its orders there final, their fills netting to zero.

    Positions are per account, so one held with another strategy (or by hand) is more than this subscription's
    fills: its share is what they net to, and the rest is left to whoever holds it. Its orders still working there
    (a bracket's take-profit and stop-loss, a resting exit) are its own: the exit cancels them first, and their
    answers say what they filled. Only one that no cancel can learn of (unsent yet, or of unknown outcome) may have
    filled unseen: then the share is not sure (`unsure`), and `flatten_pass` waits for the order jobs to find out.

    Counted per broker symbol, as the executor sizes the exit: `route` (the subscription's `ticker_map`) may send a
    ticker elsewhere now than when its orders were placed (a future rolled), and each symbol's exit must reach the
    symbol its orders are in (`_exit_ticker`).
    """
    # Letters aside: most venues read `amd` as AMD and list it so, and a position bought as `amd` and closed as
    # AMD is flat; so is a pair with or without its slash (Alpaca lists BTC/USD's position as BTCUSD). A ticker
    # traded in several is exited in one of them, the same each run (the rows come sorted).
    listed = {symbol_key(symbol): quantity for symbol, quantity in held.items()}
    groups: dict[str, list[sqlite3.Row]] = {}
    for row in orders:
        groups.setdefault(symbol_key(row["symbol"]), []).append(row)
    closes: dict[str, Close] = {}
    for key, mine in groups.items():
        ticker, sent_as = _exit_ticker(mine, route)
        if key in listed:
            close = Close(bool(share.unsure(mine)), share.net(mine), listed[key], len(share.working(mine)), sent_as)
            if close.net != 0 or close.unsure or close.working:
                closes[ticker] = close
        # Nothing held, but an order of its own still works there (a resting entry): it could fill after the
        # flatten, which no later run that day would close. Its exit cancels it and sells nothing. One of unknown
        # outcome there is left to the order jobs: not sure of what it did, the exit would cancel every order there.
        elif (count := len(share.working(mine))) and not share.unsure(mine):
            closes[ticker] = Close(False, Decimal(0), Decimal(0), count, sent_as)
    return closes


def _exit_ticker(rows: Sequence[sqlite3.Row], route: Callable[[str], str]) -> tuple[str, str]:
    """The ticker an exit of these orders (all in one symbol) is sent as, and the ticker they were sent as when that
    is another ('' when not).

    One they were sent as, while `ticker_map` still sends it to their symbol; else the symbol itself: the map moved
    (NQ to March's NQH7 while December's NQZ6 is held), and an exit sent as NQ would find none of its share in NQH7,
    be rejected, and be queued again at every retry of the day, NQZ6 held overnight.
    """
    symbol = rows[0]["symbol"]
    for ticker in dict.fromkeys(row["ticker"] for row in rows):
        if same_symbol(route(ticker), symbol):
            return ticker, ""
    return symbol, rows[0]["ticker"]


async def _close_flat(host: Host, broker: str, orders: Sequence[sqlite3.Row], held: Mapping[str, Decimal],
                      read_at: tuple[str, str], label: str, venue: Broker) -> int:  # fmt: skip
    """Mark the orders the read that began at `read_at` counted in each symbol of `orders` it found flat
    (`journal.close_flat`, with the moment since which a fill may be missing from it); return how many. One the
    read cannot cut is counted still, and said so. `venue`'s open orders there, listed after the read, are the
    orders working unfilled it leaves counted, as a signal's read does (`Executor._close_flat`)."""
    listed = {symbol_key(symbol) for symbol in held}
    flat: dict[str, list[sqlite3.Row]] = {}
    for row in orders:
        if symbol_key(row["symbol"]) not in listed:
            flat.setdefault(symbol_key(row["symbol"]), []).append(row)
    marked = 0
    for rows in flat.values():
        symbol = rows[0]["symbol"]
        if not await host.store.read(journal.flat_to_close, host.store.conn, broker, symbol, read_at[0]):
            continue  # nothing of before left to mark (an exit of all of it marked them): no listing to ask for
        unfilled = await listed_unfilled(venue, symbol, label)
        count, doubt = await host.store.run(journal.close_flat, host.store.conn, broker, symbol, *read_at,
                                            unfilled=unfilled)  # fmt: skip
        marked += count
        if doubt and share.net(rows) != 0:
            log.warning("%s: %s is flat at the broker, but this subscription's fills there net to %s, counted still: "
                        "%s", label, rows[0]["symbol"], share.net(rows), doubt)  # fmt: skip
    return marked


async def listed_unfilled(venue: Broker, symbol: str, label: str) -> frozenset[str]:
    """The orders in `symbol` the broker lists working with nothing filled, listed after the positions were read
    (`share.unfilled`): a resting order of any strategy there falls wholly after that read, and keeps no share from
    being marked. None of them when the listing fails: the read marks what it can cut without it, as before."""
    try:
        return share.unfilled(await answers.fetch_open_orders(venue, symbol))
    except Exception as exc:  # an adapter's bug too: a working order then keeps the shares counted, said below
        log.info("%s: cannot list the open orders in %s (%s)", label, symbol, answers.failure(exc))
        return frozenset()


def may_hold(orders: Sequence[sqlite3.Row]) -> bool:
    """Whether a subscription's orders may have left it a position: fills not netting to zero, or one not final."""
    net: dict[str, Decimal] = {}
    for row in orders:
        if row["status"] not in FINAL_ORDER_STATUSES:
            return True
        key = symbol_key(row["symbol"])  # per symbol, as `_tickers_to_close` counts them
        net[key] = net.get(key, Decimal(0)) + order_filled(row)
    return any(quantity != 0 for quantity in net.values())


async def _queue_exit(host: Host, strategy: str, key: str, broker: str, ticker: str, close: Close, day: str,
                      label: str) -> int:  # fmt: skip
    """Journal and queue the day's exit of one ticker, unless it is journaled already; return how many were queued.

    The exit closes the subscription's share (`close.share`), the executor sizing it again from the journal as it
    runs, and cancels the subscription's own working orders there only: those working beside them are another's
    (a stop-loss that protects the rest). Not sure of its share (`close.unsure`, at the last run of its grace), it
    closes the share the journal knows all the same, and warns that the order of unknown outcome may change it.

    An earlier exit of the day that ended without trading (it expired unsent while the daemon was down, the venue
    refused it or answered 503) is no exit: a run within the grace queues a new one, as for a flatten it missed.
    One with an order whose outcome is unknown, or still working, is left to the order jobs: a second exit beside
    it could fill too and open the other side. The next run within the grace looks again.
    """
    # A share's quantity is what it comes to now (none: only its own orders to cancel, or nothing held of it); its
    # `cancel` left out, as `is_share_exit` tells it from the exit of a whole position, which cancels every order.
    quantity = None if close.share == 0 else close.share
    signal = Signal(ticker=ticker, action="exit", order_type="market", quantity=quantity,
                    ignore_trading_windows=True, scheduled=True)  # fmt: skip
    store = host.store
    for attempt in range(MAX_EXITS_A_DAY):
        name = f"{strategy}|{key}|{ticker}|{day}" + (f"|{attempt}" if attempt else "")
        signal_id = str(uuid.uuid5(_IDS, name))
        received = utcnow()  # the executor ages jobs by the real clock
        row = {"id": signal_id, "webhook_id": SOURCE, "strategy": strategy, "ticker": ticker, "action": "exit",
               "payload": json.dumps(normalised(signal)), "decision": label, "received_at": iso(received)}  # fmt: skip
        if await store.run(upkeep.record_job_signal, store.conn, row, key, broker):
            if close.unsure:  # the order jobs did not find out in time: what it did may be held overnight
                log.warning("%s: %s: an order of its own there is still of unknown outcome (or not sent yet) at the "
                            "end of the flatten's grace, so its share is not sure: only the %s its known fills net to "
                            "is closed (the account holds %s); that order may have filled since, leaving some of it "
                            "open or closing another's; check it at the broker", label, ticker, fmt(close.share),
                            close.position)  # fmt: skip
            elif close.beside():  # the rest stays open tonight: whoever holds it must know
                log.warning("%s: %s is held beside another strategy (or by hand): only this subscription's %s is "
                            "closed, the rest stays open", label, ticker, fmt(close.share))  # fmt: skip
            host.submit(Job(signal_id, strategy, key, signal, received))
            return 1
        if not await store.read(upkeep.ended_unfilled, store.conn, signal_id, key):
            return 0  # it ran, runs still, or its order may be working
    log.error("%s: %s ended unfilled %d times today; not queued again", label, ticker, MAX_EXITS_A_DAY)
    return 0


class WeekdaysAt(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no type hints; add_job wants its base
    """Mon-Fri at a local wall-clock time, once each of those days, also on a day its clocks change.

    APScheduler's CronTrigger skips a day whose time the clocks jump over (Cairo's Friday 00:30 in April) and
    fires twice at one they repeat. Here a skipped time runs as if the clocks had not moved (by the new clock,
    as much later as they jumped), and a repeated one at its first occurrence only.
    """

    __slots__ = ("at", "zone")

    def __init__(self, at: time, zone: ZoneInfo) -> None:
        self.at, self.zone = at, zone

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first of these moments at or after `now` and after `previous_fire_time`."""
        # Compared in UTC: two times in one zone compare by their wall clocks, which a clock change repeats.
        after = None if previous_fire_time is None else previous_fire_time.astimezone(UTC)
        day = now.astimezone(self.zone).date() - timedelta(days=1)  # a skipped time can fall on the next day
        for _ in range(10):
            if day.weekday() < 5:
                # fold 0: a repeated time's first occurrence, a skipped one's offset from before the jump
                moment = datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)
                if moment >= now and (after is None or moment > after):
                    return moment  # in UTC: a repeated local time never equals a moment in another zone
            day += timedelta(days=1)
        return None

    def __str__(self) -> str:
        return f"mon-fri at {self.at.isoformat()} {self.zone.key}"


def flatten_trigger(sub: Subscription) -> WeekdaysAt:
    """Mon-Fri at `flatten_at` in the subscription's time zone (market holidays are not known)."""
    if sub.flatten_at is None:
        raise ValueError("the subscription has no flatten_at")
    return WeekdaysAt(sub.flatten_at, ZoneInfo(sub.timezone))


def due_at(sub: Subscription, now: datetime) -> datetime | None:
    """The `flatten_at` moment that fell due at most GRACE_SECONDS before `now` (on a trading day), else None."""
    moment = flatten_trigger(sub).get_next_fire_time(None, now - timedelta(seconds=GRACE_SECONDS))
    return moment if moment is not None and moment <= now else None


def is_last(due: datetime | None, now: datetime) -> bool:
    """Whether a run of the flatten that fell due at `due` starting at `now` is its last: a retry RETRY_SECONDS
    later would be past its grace (or it is not within one)."""
    return due is None or now + timedelta(seconds=RETRY_SECONDS) > due + timedelta(seconds=GRACE_SECONDS)


def missed_lately(sub: Subscription, now: datetime) -> datetime | None:
    """The last `flatten_at` moment when it fell due more than GRACE_SECONDS before `now` and is still worth telling
    of at a start (the rest of its local day, and at least MISSED_TOLD_FOR after it), else None.

    Its day alone left a late one nothing: a 23:58 flatten missed by a daemon down from 23:50 to 00:10 is the next
    day's past by the end of its grace, and was never told of.
    """
    trigger = flatten_trigger(sub)
    last, moment = None, trigger.get_next_fire_time(None, now - timedelta(days=1))
    while moment is not None and moment <= now:
        last, moment = moment, trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    if last is None or (now - last).total_seconds() <= GRACE_SECONDS:
        return None
    zone = ZoneInfo(sub.timezone)
    midnight = datetime.combine(last.astimezone(zone).date() + timedelta(days=1), time(0), tzinfo=zone)
    return last if now < max(midnight, last + MISSED_TOLD_FOR) else None


async def flatten(host: Host, strategy: str, key: str) -> int:
    """Queue one `exit` signal per ticker the subscription holds; return how many; nothing on weekends."""
    queued, _held = await flatten_pass(host, strategy, key)
    return queued


async def flatten_pass(host: Host, strategy: str, key: str, due: datetime | None = None,
                       last: bool | None = None) -> tuple[int, list[str]]:  # fmt: skip
    """Queue the exits `flatten` queues; return how many, and the tickers the subscription still holds.

    `due`: the `flatten_at` moment the run is for (by default the one that fell due within the grace); `last`:
    whether no run of it comes after this one (by default, whether one RETRY_SECONDS from now is past the grace).

    A ticker held may be closing still (its exit queued or working) or left open (its exit failed, and no other
    may go yet): the scheduler looks again while the grace lasts.

    Raises FlattenFailed when the broker's positions cannot be read: the scheduler tries again within the grace.

    The exits go through the normal pipeline (queue order, journal, deterministic client order ids); their
    signal ids are derived from the subscription, ticker and local date, so a second run that day adds nothing
    (unless the first expired unsent: `_queue_exit`).
    """
    runtime = host.runtime
    sub = runtime.subscription(strategy, key)
    if sub is None or sub.flatten_at is None:
        return 0, []
    now = host.clock()
    due = due or due_at(sub, now)
    # The day of the run that fell due, not of the moment it runs: a 23:58 run a few minutes late is Friday's.
    local = (due or now).astimezone(ZoneInfo(sub.timezone))
    label = f"flatten_at {sub.flatten_at:%H:%M} {sub.timezone} for {strategy}/{key}"
    if local.weekday() >= 5:
        log.info("%s: %s is not a trading day, nothing to do", label, f"{local:%A}")
        return 0, []
    broker = runtime.broker(sub.broker)
    if broker is None:
        raise FlattenFailed(f"{label}: broker {sub.broker} is unavailable")
    read_moment = utcnow()  # before the read: an order journaled final by then is in what it returns
    try:
        held = {p.symbol: p.quantity for p in await answers.fetch_positions(broker) if p.quantity != 0}
    except Exception as exc:  # an adapter's bug too: the caller tries again within the grace
        raise FlattenFailed(
            f"{label}: cannot read the positions of broker {sub.broker}: {answers.failure(exc)}"
        ) from exc
    keys = runtime.journal_keys(strategy, key)
    orders = await host.store.run(upkeep.traded_orders, host.store.conn, strategy, keys, sub.broker)
    read_at = (iso(read_moment), share.settled(broker, read_moment))
    if await _close_flat(host, sub.broker, orders, held, read_at, label, broker):
        orders = await host.store.run(upkeep.traded_orders, host.store.conn, strategy, keys, sub.broker)
    tickers = _tickers_to_close(orders, held, partial(broker_symbol, sub))
    if not sub.enabled:
        # `enabled: false` trades nothing here, an exit neither (the executor would ignore it): the operator may
        # have taken the positions over by hand. But they stay open overnight, which flatten_at was set to prevent.
        if tickers:
            why = ("not closed: the subscription is not enabled (enabled: false); they stay open overnight unless "
                   "closed by hand or with an exit signal")  # fmt: skip
            text = f"{label}: {', '.join(sorted(tickers))} {why}"
            log.warning("%s", text)
            host.publish(flatten_event(strategy, key, text, sorted(tickers)))
        return 0, []
    # The other side with no order of its own left to cancel: nothing there is this subscription's.
    for ticker in [ticker for ticker, close in tickers.items() if not close.unsure and close.across()
                   and not close.working]:  # fmt: skip
        close = tickers.pop(ticker)
        log.warning("%s: %s is not closed: this subscription's fills net to %s, but the account holds %s, the other "
                    "side: another strategy's trade (or one by hand) closed its position, and what is held now is not "
                    "this subscription's", label, ticker, close.net, close.position)  # fmt: skip
    for ticker, close in list(tickers.items()):
        if close.sent_as and not same_symbol(broker_symbol(sub, ticker), ticker):
            # Neither the ticker its orders were sent as nor the symbol reaches the symbol now: nothing can close it.
            # Said once: left out, it is no ticker the retries within the grace look at again.
            tickers.pop(ticker)
            text = (f"{label}: {ticker} is not closed: this subscription's orders there were sent as "
                    f"{close.sent_as}, and ticker_map now sends {close.sent_as} to "
                    f"{broker_symbol(sub, close.sent_as)} and {ticker} to {broker_symbol(sub, ticker)}; it stays "
                    "open overnight unless closed by hand")  # fmt: skip
            log.warning("%s", text)
            host.publish(flatten_event(strategy, key, text, [ticker]))
        elif close.sent_as:
            log.warning("%s: this subscription's orders in %s were sent as %s, which ticker_map now sends to %s: its "
                        "exit is sent as %s", label, ticker, close.sent_as, broker_symbol(sub, close.sent_as),
                        ticker)  # fmt: skip
    # An order of its own of unknown outcome may have filled unseen: its share is not sure, and closing the whole
    # position would close another strategy's with it (and cancel its stop-loss). The order jobs, every
    # poll_interval, find out what it did; the runs again within the grace wait for them, and the last closes the
    # share known, saying so (`_queue_exit`).
    if last is None:
        last = is_last(due, now)
    waiting = sorted(ticker for ticker, close in tickers.items() if close.unsure and not last)
    if waiting:
        log.info("%s: %s: an order of its own there is of unknown outcome (or not sent yet); its exit waits for the "
                 "order jobs to find out what it did", label, ", ".join(waiting))  # fmt: skip
    queued = 0
    for ticker, close in sorted(tickers.items()):
        if ticker in waiting:
            continue
        queued += await _queue_exit(host, strategy, key, sub.broker, ticker, close, local.date().isoformat(), label)
    log.info("%s: closing %d position(s) (%s)", label, queued, ", ".join(sorted(tickers)) or "none open")
    return queued, sorted(tickers)
