"""Stops put back in place of one the bridge's own cancel took, not sent as the broker was down: sent again.

A breakeven at a venue that holds the shares for a working stop cancels that stop before its own goes, and puts it
back when its own fails. A put-back that meets the outage (or the throttle) too leaves the position with no stop at
all: it is sent again here, spaced out, until it works, the venue refuses it, or nothing is left for it to close,
for up to GIVE_UP_AFTER; while a take-profit placed since holds the shares there, it waits for them. So does a
bracket's stop-loss a cancel of its take-profit took with it, put back while such an order held the shares
(`Executor._put_back_gone`). Its row in the journal is what is tried again, so a restart changes nothing but the wait.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from bridge.brokers import answers
from bridge.brokers.base import Broker
from bridge.execution.orders import PUT_BACK_TRIES_HOURS
from bridge.jobs.host import Host
from bridge.jobs.orders import Retries, space_out
from bridge.notify.events import signal_event
from bridge.runtime import Runtime
from bridge.signals.resolve import fmt
from bridge.store import journal, upkeep

log = logging.getLogger("bridge.jobs")
FIRST_WAIT_SECONDS = 5.0
LONGEST_WAIT_SECONDS = 300.0
GIVE_UP_AFTER = timedelta(hours=PUT_BACK_TRIES_HOURS)


async def retry_put_backs(host: Host, retries: Retries | None = None, queued: set[str] | None = None) -> int:
    """Queue the next try of each stop put back that never reached the broker and whose wait is over; return how many.

    Each try runs in its symbol's turn at its account (`Host.in_turn`), never beside a signal there: an exit running
    then would sell the position it reads as held, and the stop would work at an account left flat. `queued` (kept
    by the caller) holds those waiting for their turn, not queued twice. `retries` (kept by the caller from one run
    to the next) spaces the tries of each out: from FIRST_WAIT_SECONDS, twice as long after each, up to
    LONGEST_WAIT_SECONDS. Each try is logged; its end (working, refused, no longer needed, given up) is added to its
    signal's decision and told as that signal's failure was, and so is a put-back of unknown outcome found working
    since (`upkeep.found_put_backs`).
    """
    if getattr(host, "recovering", False):  # start-up recovery settles the journal's orders first
        return 0
    store, now = host.store, host.clock()
    retries = {} if retries is None else retries
    queued = set() if queued is None else queued
    for found in await store.read(upkeep.found_put_backs, store.conn):
        if found["client_order_id"] not in queued:  # a try in its turn says how it went itself
            await _found(host, found)
    rows = await store.run(upkeep.failed_put_backs, store.conn)
    for gone in retries.keys() - {row["client_order_id"] for row in rows}:  # ended: nothing more to space out
        del retries[gone]
    tries = 0
    for row in rows:
        coid = row["client_order_id"]
        if coid in queued:  # its try waits for its turn
            continue
        if now - datetime.fromisoformat(row["created_at"]) > GIVE_UP_AFTER:  # its broker unavailable all along too
            await _give_up(host, row)
            continue
        waiting = retries.get(coid)
        if host.runtime.follower(row["broker"], row["created_at"]) is None or (
            waiting is not None and now < waiting[0]
        ):
            continue
        queued.add(coid)
        host.in_turn(row["broker"], row["symbol"], partial(_try, host, coid, retries, queued))
        tries += 1
    return tries


async def _try(host: Host, coid: str, retries: Retries, queued: set[str], runtime: Runtime) -> None:
    """Try a put-back once more, in its symbol's turn, as the journal holds it then (`runtime`: the live config)."""
    try:
        store = host.store
        rows = await store.read(upkeep.failed_put_backs, store.conn, coid)
        broker = runtime.follower(rows[0]["broker"], rows[0]["created_at"]) if rows else None
        if broker is None:  # ended while it waited, or its broker unavailable now: the next poll sees to it
            return
        await _tried(host, rows[0], broker, retries)
    finally:
        queued.discard(coid)


async def _tried(host: Host, row: sqlite3.Row, broker: Broker, retries: Retries) -> None:
    """Send a put-back again (`Executor.put_back_again`), then log it, and space out or tell how it ended."""
    coid = row["client_order_id"]
    try:
        outcome, said = await host.executor.put_back_again(row, broker)
    except Exception as exc:  # an adapter's bug too: the other put-backs are still tried
        outcome, said = "failed", answers.failure(exc)
    if outcome in ("failed", "unknown", "held"):
        space_out(retries, coid, host.clock(), FIRST_WAIT_SECONDS, LONGEST_WAIT_SECONDS)
        log.warning("stop %s (%s %s %s, stop at %s), put back after breakeven %s failed, not put back yet (tried "
                    "again in %gs): %s", coid, row["side"], row["quantity"], row["symbol"], row["stop_price"],
                    row["signal_id"], retries[coid][1], said.removeprefix("not put back yet: "))  # fmt: skip
        # What the trader can do to free the shares for it: said once for the orders holding them (named by what
        # they were placed for), not at every try, nor at each of their part-fills.
        if outcome == "held":  # the first put-back, which waited for them too, said it in the same words
            await _tell(host, row, said, once=said.removeprefix("not put back yet: "))
        return
    retries.pop(coid, None)
    log.warning("stop %s (%s %s, stop at %s), put back after breakeven %s failed, tried again: %s", coid,
                row["side"], row["symbol"], row["stop_price"], row["signal_id"], said)  # fmt: skip
    await _tell(host, row, f"tried again: {said}")


async def _give_up(host: Host, row: sqlite3.Row) -> None:
    """Stop trying a put-back that has not reached the broker in GIVE_UP_AFTER, and say so loudly."""
    store = host.store
    error = f"not put back: not sent in {PUT_BACK_TRIES_HOURS:g}h of tries ({row['error']})"
    await store.run(journal.update_order, store.conn, row["client_order_id"], error=error)
    log.error("stop %s (%s %s %s, stop at %s), put back after breakeven %s failed, %s: the position may have no "
              "stop at the broker; check it, and place one", row["client_order_id"], row["side"], row["quantity"],
              row["symbol"], row["stop_price"], row["signal_id"], error)  # fmt: skip
    await _tell(host, row, f"{error}: the position may have no stop at the broker; check it, and place one")


async def _found(host: Host, row: sqlite3.Row) -> None:
    """Say in its signal's decision that an order put back, of unknown outcome when its execution ended (the decision
    saying the position lacks it), was found working at the broker since: the trader must not place a second one."""
    coid = row["client_order_id"]
    price = row["limit_price"] if row["type"] == "limit" else row["stop_price"]
    what = f"the {row['type'].replace('_', '-')}" + ("" if price is None else f" at {fmt(Decimal(str(price)))}")
    log.warning("%s %s (%s %s), put back after signal %s, is found working at the broker (%s)", row["type"], coid,
                row["side"], row["symbol"], row["signal_id"], row["status"])  # fmt: skip
    await _tell(host, row, f"found working at the broker: {what} ({coid}) is {row['status']} there")


async def _tell(host: Host, row: sqlite3.Row, said: str, once: str | None = None) -> None:
    """Add what became of a put-back tried again to its signal's decision, and tell it as the failure was told;
    not when the decision says `once` already."""
    store = host.store
    found = await store.read(_execution, store.conn, row["signal_id"], row["subscription"])
    if found is None:
        return
    state, decision = found
    if once is not None and once in decision:
        return
    decision = f"{decision}; then {said}"
    await store.run(journal.finish_execution, store.conn, row["signal_id"], row["subscription"], state, decision)
    host.publish(signal_event(row["strategy"], row["subscription"], row["ticker"], row["signal_id"], state, decision))


def _execution(conn: sqlite3.Connection, signal_id: str, subscription: str) -> tuple[str, str] | None:
    """An execution's state and decision, or None."""
    found = conn.execute("SELECT state, decision FROM executions WHERE signal_id = ? AND subscription = ?",
                         (signal_id, subscription)).fetchone()  # fmt: skip
    return None if found is None else (str(found["state"]), str(found["decision"] or ""))
