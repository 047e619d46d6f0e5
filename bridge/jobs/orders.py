"""Order upkeep: poll brokers for status and fills, and cancel orders left unfilled past `cancel_after`."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal

from bridge.brokers import answers
from bridge.brokers.base import Broker
from bridge.errors import OrderNotFound
from bridge.execution import share
from bridge.execution.orders import UNKNOWN_GRACE_SECONDS, seconds_since_sent
from bridge.jobs.flatten import listed_unfilled
from bridge.jobs.host import Host
from bridge.models import Order, same_symbol, symbol_key
from bridge.notify.events import order_change
from bridge.store import journal, upkeep
from bridge.store.db import iso, utcnow

log = logging.getLogger("bridge.jobs")
# Protective bracket children and breakeven stops are meant to rest: the timeout is for entries and exits.
TIMED_LEGS = ("entry", "exit")
# The legs that rest at the venue to close what is held (a bracket's, a breakeven's or put-back stop): one that filled
# may have left the account flat, whatever the shares in the journal say (`_flat_after`).
PROTECTIVE_LEGS = ("take_profit", "stop_loss", "breakeven", "restore")
# An order's next cancel not before (a time), and the wait that set it: doubled at each failure, up to a minute.
Retries = dict[str, tuple[datetime, float]]
FIRST_RETRY_SECONDS = 2.0
LONGEST_RETRY_SECONDS = 60.0


def _changed(row: sqlite3.Row, order: Order) -> bool:
    avg = None if order.avg_fill_price is None else Decimal(order.avg_fill_price)
    old_avg = None if row["avg_fill_price"] is None else Decimal(row["avg_fill_price"])
    return (row["status"], Decimal(row["filled_quantity"]), old_avg) != (order.status, order.filled_quantity, avg)


async def _fetch(broker: Broker, row: sqlite3.Row, open_now: dict[str, Order], now: datetime,
                 switching: bool = False) -> Order | None:  # fmt: skip
    """The order as the broker shows it; None when it cannot say (an error other than not found is raised).

    `switching`: a reload switched its broker name to another account, not settled yet. A plan queued (or a
    request authenticated) before the switch still trades at the old account after it, so an order newer than
    the switch may be the old account's too: one the new account does not list is not closed as never sent
    (it may have filled at the old one); the switch's settlement looks it up and leaves it there.
    """
    coid = row["client_order_id"]
    if coid in open_now:
        return open_now[coid]
    try:  # no longer open at the broker: ask what became of it
        return await answers.fetch_order(broker, coid)
    except OrderNotFound:
        age = seconds_since_sent(row, now)
        if row["status"] == "unknown" and age > UNKNOWN_GRACE_SECONDS and not switching:
            # Its submission's answer was lost, and the venue still does not know it: it never got there.
            return Order(coid, row["symbol"], row["side"], Decimal(row["quantity"]), row["type"], "rejected",
                         error=f"never reached the broker (not found there {age:.0f}s after it was sent)")  # fmt: skip
        log.warning("cannot check order %s: not found at the broker", coid)
        return None


async def record_answer(host: Host, row: sqlite3.Row, order: Order) -> bool:
    """Journal what the broker says of a journaled order; a change is news (a fill: `order.filled`), told once.

    Every job that hears from the broker (the poll, a timeout's or a stranded exit's cancel) records through here:
    of two that find the same fill, the first tells it and the other finds nothing changed.
    """
    store = host.store
    order = journal.masked(order, store.secrets())  # told as journaled: its error may quote the venue's key
    news = await store.run(journal.record_order_change, store.conn, row["client_order_id"], order)
    if news is not None:  # told as journaled: a fill this answer left out is still the position held
        host.publish(order_change(row["strategy"], row["subscription"], row["broker"], news))
    return news is not None


async def poll_orders(host: Host) -> int:
    """Bring open orders in the journal up to date with their brokers; return how many changed."""
    store, runtime = host.store, host.runtime
    rows = await store.run(upkeep.open_orders, store.conn)
    open_at: dict[str, dict[str, Order]] = {}
    unlisted: set[str] = set()  # brokers whose list failed this round: their orders are looked up one by one
    unreachable: set[str] = set()  # and whose lookups fail too: nothing more is asked of them this round
    changed = 0
    closed: dict[str, dict[str, list[sqlite3.Row]]] = {}  # the protective legs found filled, by broker and symbol
    for row in rows:
        name, coid = row["broker"], row["client_order_id"]
        broker = runtime.follower(name, row["created_at"])
        if broker is None or name in unreachable:
            continue
        if name not in open_at:  # one list call per broker, not one per order
            try:
                open_at[name] = {o.client_order_id: o for o in await answers.fetch_open_orders(broker)}
            except Exception as exc:  # an adapter's bug too: the other brokers are still polled
                # Each order is still looked up by its id: many venues list open orders only for one symbol
                # (ccxt's "requires a symbol argument"), and skipping the broker would never see a fill there.
                log.warning("cannot list the open orders of broker %s (%s); looking each order up instead",
                            name, answers.failure(exc))  # fmt: skip
                open_at[name] = {}
                unlisted.add(name)
        try:
            order = await _fetch(broker, row, open_at[name], host.clock(), name in runtime.switched)
        except Exception as exc:  # an adapter's bug too: one order's lookup must not end the round for every broker
            log.warning("cannot check order %s: %s", coid, answers.failure(exc))
            if name in unlisted:  # out of reach this round: more lookups would only add to its load (a 429 storm)
                unreachable.add(name)
            continue
        if order is not None and _changed(row, order):
            await record_answer(host, row, order)  # a fill of a resting order is news, as a fill at once is
            log.info("order %s (%s %s): %s -> %s, filled %s", row["client_order_id"], row["side"], row["symbol"],
                     row["status"], order.status, order.filled_quantity)  # fmt: skip
            changed += 1
            if order.status == "filled" and row["leg"] in PROTECTIVE_LEGS:
                closed.setdefault(name, {}).setdefault(symbol_key(row["symbol"]), []).append(row)
    for name, by_symbol in closed.items():
        await _flat_after(host, name, list(by_symbol.values()))
    return changed


async def _flat_after(host: Host, name: str, filled: list[list[sqlite3.Row]]) -> None:
    """Read the positions protective legs' fills may have closed (`filled`: the legs of each symbol), once for the
    broker; in each symbol found flat, the shares from before are closed (`journal.close_flat`): a take-profit or
    stop-loss that sold what a trade by hand left, say. The open orders there listed after the read are those working
    unfilled it leaves counted (`flatten.listed_unfilled`), as a signal's read and flatten_at's do."""
    broker = host.runtime.broker(name)
    if broker is None:
        return
    moment = utcnow()  # before the read: the legs' fills, journaled by then, are in what it returns
    try:
        positions = [p for p in await answers.fetch_positions(broker) if p.quantity]
    except Exception as exc:  # an adapter's bug too; the next read of the symbol (a signal's, a flatten's) looks again
        symbols = ", ".join(legs[0]["symbol"] for legs in filled)
        log.info("cannot read the positions of broker %s after a fill in %s (%s): the shares there are counted still",
                 name, symbols, answers.failure(exc))  # fmt: skip
        return
    for legs in filled:
        symbol = legs[0]["symbol"]
        if any(same_symbol(p.symbol, symbol) for p in positions):
            continue
        if not await host.store.read(journal.flat_to_close, host.store.conn, name, symbol, iso(moment)):
            continue  # nothing of before left to mark: no listing to ask for
        coids = [row["client_order_id"] for row in legs]
        # Listed after the read, an order resting unfilled there (another strategy's dip buy) fell wholly after it,
        # and keeps no share from being marked; none when the listing fails, the read marking what it can cut.
        unfilled = await listed_unfilled(broker, symbol, f"broker {name}")
        marked, doubt = await host.store.run(journal.close_flat, host.store.conn, name, symbol, iso(moment),
                                             share.settled(broker, moment), coids, unfilled)  # fmt: skip
        if doubt:
            log.info("%s at %s is flat after %s filled, but the shares there are counted still, not closed: %s",
                     symbol, name, ", ".join(coids), doubt)  # fmt: skip
        elif marked:
            log.info("%s at %s is flat after %s filled: %d order(s) from before are no share of what is held since",
                     symbol, name, ", ".join(coids), marked)  # fmt: skip


def _timeout(host: Host, row: sqlite3.Row) -> float | None:
    """The `cancel_after` recorded with the order's plan (None: none), for older rows the signal's or the config's.

    Taken from the row, an order keeps the timeout it was placed with when a reload renames or removes its
    subscription. Rows written before that column existed (`cancel_after_recorded` 0) fall back to the old
    lookup: the signal's `cancelAfter`, else the live config's subscription by key.
    """
    if row["cancel_after_recorded"]:
        return None if row["cancel_after"] is None else float(row["cancel_after"])
    if row["signal_cancel_after"] is not None:
        return float(row["signal_cancel_after"])
    sub = host.runtime.subscription(row["strategy"], row["subscription"])
    return None if sub is None else sub.cancel_after


async def cancel_expired(host: Host, retries: Retries | None = None) -> int:
    """Cancel entry and exit orders still unfilled `cancel_after` seconds after they were sent; return how many.

    `retries` (kept by the caller from one run to the next) spaces out the cancels of an order the venue keeps
    working or refuses to cancel: each is a request from the rate limit that submissions share.
    """
    store, now = host.store, host.clock()
    retries = {} if retries is None else retries
    canceled = 0
    rows = await store.run(upkeep.open_orders, store.conn)
    for gone in retries.keys() - {row["client_order_id"] for row in rows}:  # ended: nothing more to space out
        del retries[gone]
    for row in rows:
        timeout = _timeout(host, row)
        if timeout is None or row["leg"] not in TIMED_LEGS or row["parent_client_order_id"] is not None:
            continue
        if row["status"] == "unknown":
            # Not listed by the venue yet: the poll follows it, and once the venue shows it working, it is canceled
            # here. Asked now, every second, each cancel of an order the venue does not know would be a request
            # (Alpaca's and ccxt's look the order up first) spent from the rate limit that submissions share.
            continue
        # From when the broker took it (a swap's entry goes out once its exit filled, a plan resumed after a
        # restart then); an order without `sent_at` went out before a restart or an upgrade: from its plan.
        age = (now - datetime.fromisoformat(row["sent_at"] or row["created_at"])).total_seconds()
        broker = host.runtime.follower(row["broker"], row["created_at"])
        coid = row["client_order_id"]
        waiting = retries.get(coid)
        if age < timeout or broker is None or (waiting is not None and now < waiting[0]):
            continue
        try:
            order = await answers.cancel_order(broker, coid)
        except Exception as exc:  # an adapter's bug too: the other orders' timeouts still apply
            space_out(retries, coid, now)
            log.warning("cannot cancel order %s after %gs unfilled (tried again in %gs): %s", coid, timeout,
                        retries[coid][1], answers.failure(exc))  # fmt: skip
            continue
        if order.is_open:  # pending_cancel, or a venue that took the cancel and still works it
            space_out(retries, coid, now)
        else:
            retries.pop(coid, None)
        await record_answer(host, row, order)  # an order that filled since the last poll is reported, as by a poll
        log.info("order %s (%s %s %s): %s after %gs unfilled (cancel_after)", row["client_order_id"], row["side"],
                 row["quantity"], row["symbol"], order.status, timeout)  # fmt: skip
        canceled += order.status == "canceled"
    return canceled


def space_out(retries: Retries, client_order_id: str, now: datetime, first: float = FIRST_RETRY_SECONDS,
              longest: float = LONGEST_RETRY_SECONDS) -> None:  # fmt: skip
    """Put the order's next try further off: twice the last wait, from `first` (FIRST_RETRY_SECONDS) to `longest`
    (a minute)."""
    last = retries.get(client_order_id)
    wait = first if last is None else min(last[1] * 2, longest)
    retries[client_order_id] = (now + timedelta(seconds=wait), wait)
