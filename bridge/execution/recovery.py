"""Start-up recovery: resolve orders of unknown outcome with the broker, then resume or expire signals."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from bridge.brokers import answers
from bridge.brokers.base import Broker, capabilities_in_force
from bridge.errors import OrderNotFound
from bridge.execution.executor import Job
from bridge.execution.orders import UNKNOWN_GRACE_SECONDS, seconds_since_sent, takes_reused_ids
from bridge.models import SCHEDULED_SOURCE, Signal
from bridge.notify.events import Event, order_change, order_event, signal_event, unfollowed_event
from bridge.signals.parse import parse_payload
from bridge.store import brokers as identities
from bridge.store import journal, upkeep
from bridge.store.db import Store, utcnow

log = logging.getLogger("bridge.recovery")
Publish = Callable[[Event], None]  # metrics and notifications (`Bridge.publish`); returns at once
# When a broker name was pointed at what may be another account, as the messages of the orders left there say.
DOWN = "while the daemon was down"
BY_RELOAD = "by a reload"


def _never(row: sqlite3.Row) -> str | None:
    """No signal was revoked (a test, a tool)."""
    return None


def _unheard(event: Event) -> None:
    """Nobody listens (a test, a tool): events go nowhere."""


@dataclass(frozen=True)
class Unresolved:
    """An order start-up recovery could not settle with its broker yet: trading stays halted for it."""

    client_order_id: str
    broker: str  # its name in the config
    why: str  # why its broker could not tell: not connected, or no answer


def halt_reason(unresolved: Sequence[Unresolved]) -> str:
    """Why start-up recovery keeps trading halted, broker by broker: where to look, and what is wrong there."""
    by_broker: dict[str, list[Unresolved]] = {}
    for order in unresolved:
        by_broker.setdefault(order.broker, []).append(order)
    return "; ".join(f"{len(orders)} order(s) of unknown outcome at broker {name}, which {orders[0].why}"
                     for name, orders in by_broker.items())  # fmt: skip


async def resolve_orders(store: Store, brokers: dict[str, Broker | None], publish: Publish = _unheard,
                         changed: Container[str] = (), replaced: Container[str] = ()) -> list[Unresolved]:  # fmt: skip
    """Ask the broker about every pending/unknown order; return those still unresolved.

    Each status it finds is published as an order change: no later step reports it (the resumed plan skips an
    answered order, and the order jobs see a final one as closed), so a fill found here would go unheard.
    `changed`: brokers whose plugin, options or credentials were edited while the daemon was down, `replaced`
    those of them now served by another plugin (see `_elsewhere`).
    """
    unresolved: list[Unresolved] = []
    rows = await store.run(journal.unresolved_orders, store.conn)
    for row in rows:
        coid = row["client_order_id"]
        if row["broker"] not in brokers:
            log.warning("order %s belongs to broker %s, which the config no longer has", coid, row["broker"])
            continue
        broker = brokers[row["broker"]]
        if broker is None:
            unresolved.append(Unresolved(coid, row["broker"], "is not connected (/health says why)"))
            continue
        try:
            order = await answers.fetch_order(broker, coid)
        except OrderNotFound:
            if row["broker"] in changed:
                await _elsewhere(store, row, broker, row["broker"] in replaced, publish)
                continue
            # `sent_at` on a pending order: the daemon stopped between sending it and journaling the answer.
            sent = row["status"] == "unknown" or row["sent_at"] is not None
            if sent and _may_still_appear(row, broker):
                # Its answer was lost and the venue may list it late: resent now under an id the venue does not
                # refuse twice, it could be placed twice; closed now, a working order would go unfollowed. The
                # order jobs follow it (and close it after the wait).
                if row["status"] == "pending":
                    await store.run(journal.update_order, store.conn, coid, status="unknown",
                                    error="sent just before a restart, and not at the broker yet")  # fmt: skip
                log.warning("order %s of unknown outcome is not at broker %s yet: it is not sent again",
                            coid, row["broker"])  # fmt: skip
                continue
            if row["execution_state"] in ("received", "processing"):
                # Never reached the broker: the resumed plan may send it, as never sent. A `sent_at` kept from the
                # first send would date the new one, and the order jobs' wait for a lost answer with it.
                if sent:
                    await store.run(
                        journal.update_order, store.conn, coid, status="pending", error="not found at broker"
                    )
            else:  # its signal already ended: the order never reached the broker and never will
                error = "never reached the broker (not found there after a restart)"
                await store.run(journal.update_order, store.conn, coid, status="rejected", error=error)
                publish(order_event(row["strategy"], row["subscription"], row["broker"], row["symbol"], row["side"],
                                    row["quantity"], "rejected", None, error, None))  # fmt: skip
            continue
        except Exception as exc:
            log.warning("cannot resolve order %s with broker %s yet: %r", coid, row["broker"], exc)
            # The exception's name only: this reason is shown in /health, which anyone may read.
            unresolved.append(Unresolved(coid, row["broker"], f"did not answer ({type(exc).__name__})"))
            continue
        order = journal.masked(order, store.secrets())  # its error may quote the venue's key
        if (journaled := await store.run(journal.record_order_change, store.conn, coid, order)) is not None:
            publish(order_change(row["strategy"], row["subscription"], row["broker"], journaled))
        log.info("resolved order %s with broker %s: %s", coid, row["broker"], order.status)
    return unresolved


async def _elsewhere(store: Store, row: sqlite3.Row, broker: Broker, replaced: bool, publish: Publish,
                     when: str = DOWN) -> None:  # fmt: skip
    """An order the broker its name now opens does not know, that name edited to another plugin, other options or
    other credentials while the daemon was down.

    It may have reached the account the name opened before (the daemon stopped between sending it and hearing
    back), which the bridge can no longer ask: sent now, the rest of its plan would trade a position sized at
    one account at another. Of unknown outcome, nothing after it is sent. The operator switched the account on
    purpose: the new one never holds that order, so it is not asked for there (where it would be closed as
    never sent ten minutes on, though it may have filled at the old one) and holds no entry in its symbol back.
    Only where the same plugin may still open the same account (a key rotated, an option that picks no account)
    and its venue may yet list an order sent just before the stop is it followed there as any of unknown outcome.
    `when`: when the name was edited (`DOWN`, or `BY_RELOAD` for a reload's switch, which `leave_switched` settles).
    """
    name, coid = row["broker"], row["client_order_id"]
    if not replaced and _may_still_appear(row, broker):
        error = (f"not found at broker {name} yet, whose options or credentials changed {when}: "
                 f"followed there in case it is the same account; it may have reached the account {name} named "
                 "before; check there")  # fmt: skip
        await store.run(journal.update_order, store.conn, coid, status="unknown", error=error)
        log.warning("order %s: %s", coid, error)
        return
    error = (
        f"not followed: not at the account broker {name} opens now, whose plugin, options or credentials "
        f"changed {when}; it may have reached the account {name} named before; check there"
    )
    await store.run(identities.unfollow, store.conn, coid, error)
    log.warning("order %s: %s", coid, error)
    # Nothing follows it from now on, so nothing would tell the trader: told once, here.
    publish(_unfollowed(row, error))


async def leave_elsewhere(store: Store, brokers: dict[str, Broker | None], changed: Container[str],
                          publish: Publish = _unheard, when: str = DOWN) -> None:  # fmt: skip
    """Leave to the old account the orders working at a broker edited while the daemon was down that the account
    its name opens now does not hold.

    The old account took them (they were working there), and the new one never will: followed by name, they would
    be asked for at every poll, and canceled there at every `cancel_after` retry, for good. They are no longer
    followed, of unknown outcome to the bridge from now on, and the trader is told to check the old account.
    `when`: when the name was edited (`DOWN`, or `BY_RELOAD`).
    """
    rows = await store.run(upkeep.open_orders, store.conn)
    for row in rows:
        name, coid = row["broker"], row["client_order_id"]
        broker = brokers.get(name)
        if name not in changed or row["status"] == "unknown" or broker is None:
            continue  # those of unknown outcome were resolved (or left) by `resolve_orders`
        try:
            await answers.fetch_order(broker, coid)
        except OrderNotFound:
            error = (f"not followed: working at the account broker {name} named before, whose plugin, options or "
                     f"credentials changed {when}; the account it opens now does not hold it; "
                     "check and cancel it there")  # fmt: skip
            await store.run(identities.unfollow, store.conn, coid, error)
            log.warning("order %s: %s", coid, error)
            publish(_unfollowed(row, error))
        except Exception as exc:  # no answer: the order jobs ask again
            log.warning("cannot look up order %s at broker %s: %s", coid, name, answers.failure(exc))


async def leave_switched(store: Store, brokers: dict[str, Broker | None], changed: Container[str],
                         replaced: Container[str], publish: Publish = _unheard) -> None:  # fmt: skip
    """Do for brokers a reload pointed at another account what start-up recovery does for those edited while the
    daemon was down: their orders the account each name opens now does not hold are left to the account it opened.

    Called once nothing trades at the old accounts any more (no request or queued plan holds the runtime a reload
    replaced), so every order placed there is journaled with its answer. Those of unknown outcome are looked up
    at the new account first, as `resolve_orders` does (not found, `_elsewhere` decides), then the working ones
    (`leave_elsewhere`). Followed by name, the order jobs would ask the new account for them at every poll, cancel
    them there at every `cancel_after` retry, and close one of unknown outcome as never sent, though it may have
    filled at the old account. Planned orders still `pending` are left alone: a plan running at the new account
    may be sending them.
    """
    rows = await store.run(journal.unresolved_orders, store.conn)
    for row in rows:
        name, coid = row["broker"], row["client_order_id"]
        broker = brokers.get(name)
        if name not in changed or row["status"] != "unknown" or broker is None:
            continue
        try:
            order = await answers.fetch_order(broker, coid)
        except OrderNotFound:
            await _elsewhere(store, row, broker, name in replaced, publish, BY_RELOAD)
            continue
        except Exception as exc:  # no answer: the order jobs ask again
            log.warning("cannot look up order %s at broker %s: %s", coid, name, answers.failure(exc))
            continue
        order = journal.masked(order, store.secrets())  # its error may quote the venue's key
        if (journaled := await store.run(journal.record_order_change, store.conn, coid, order)) is not None:
            publish(order_change(row["strategy"], row["subscription"], name, journaled))
    await leave_elsewhere(store, brokers, changed, publish, BY_RELOAD)


async def leave_removed(store: Store, brokers: Container[str], publish: Publish = _unheard) -> int:
    """Leave to their venue the orders not final whose broker is no longer in the config (`brokers`); how many.

    Nothing can follow or cancel them any more (`cancel_after` included): the order jobs find no broker by that
    name. Left `open`, the journal, /api/orders and the dashboard showed them as followed for good, and only the
    reload's warning said otherwise; now each reads `unknown`, not followed, and the trader is told once.
    Planned orders still `pending` are left to the plan that owns them (it closes them when it finds no broker).
    """
    left = 0
    for row in await store.run(upkeep.open_orders, store.conn):
        name, coid = row["broker"], row["client_order_id"]
        if name in brokers:
            continue
        error = (f"{identities.removed_note(name)}; the order may still work at its venue, "
                 "where the bridge no longer asks about it or cancels it (cancel_after included); "
                 "check and cancel it there")  # fmt: skip
        await store.run(identities.unfollow, store.conn, coid, error)
        log.warning("order %s: %s", coid, error)
        publish(_unfollowed(row, error))
        left += 1
    return left


async def follow_returned(store: Store, brokers: dict[str, Broker | None], changed: Container[str],
                          publish: Publish = _unheard) -> int:  # fmt: skip
    """Follow again the orders `leave_removed` left to their venue whose broker is back at the same account; how many.

    A broker removed and added back as it was (its recorded identity unchanged: not in `changed`) opens the account
    that still works them: left `unknown` and unfollowed, they were never polled again, nor canceled past their
    `cancel_after`, and their fills went unjournaled. Each is looked up there, and followed as it stands; one not
    found or not answered for stays left (the next reload or start asks again). Under another account the name
    never held them: they stay left.
    """
    followed = 0
    for row in await store.run(identities.left_by_removal, store.conn):
        name, coid = row["broker"], row["client_order_id"]
        broker = brokers.get(name)
        if broker is None or name in changed:
            continue
        try:
            order = await answers.fetch_order(broker, coid)
        except Exception as exc:  # not found (its venue forgot it) or no answer: still left, asked again next time
            log.warning("order %s, left when broker %s was removed: not followed again yet, the broker being back (%s)",
                        coid, name, answers.failure(exc))  # fmt: skip
            continue
        order = journal.masked(order, store.secrets())  # its error may quote the venue's key
        await store.run(identities.follow_again, store.conn, coid)
        if (journaled := await store.run(journal.record_order_change, store.conn, coid, order)) is not None:
            publish(order_change(row["strategy"], row["subscription"], name, journaled))
        log.info("order %s: followed again, broker %s being back in the config (%s)", coid, name, order.status)
        followed += 1
    return followed


def _unfollowed(row: sqlite3.Row, error: str) -> Event:
    """The news that the bridge no longer follows the order of `row`, and why."""
    return unfollowed_event(row["strategy"], row["subscription"], row["broker"], row["symbol"], row["side"],
                            row["quantity"], error)  # fmt: skip


def _may_still_appear(row: sqlite3.Row, broker: Broker) -> bool:
    """Whether an order of unknown outcome that the broker does not list must be left to the order jobs, as one
    the venue may yet list: it was sent less than their wait ago, and either its venue takes a reused client order
    id again (a resend could place it twice) or its signal has ended (nothing resends it; closed now as never
    sent, an order working at the venue would go unfollowed). A book kept in this process lists what it holds
    at once.
    """
    if seconds_since_sent(row, utcnow()) > UNKNOWN_GRACE_SECONDS:
        return False
    if takes_reused_ids(broker):
        return True
    ended = row["execution_state"] not in ("received", "processing")
    return ended and not getattr(capabilities_in_force(broker), "local", False)


def journaled_signal(row: sqlite3.Row) -> Signal:
    """Rebuild a journaled signal (a row of `signals`, or one joined with it) with every field it was sent with.

    The stored payload is the normalised echo, so the parser rebuilds it exactly (brackets, sizing, order
    types included: a resumed signal must never lose its stop loss). Only the timing fields, which the
    parser checks against the present, come from their own columns.
    """
    payload = {k: v for k, v in json.loads(row["payload"]).items() if k not in ("delay", "cancelAfter")}
    signal, _, _ = parse_payload(payload)
    return replace(
        signal,
        execute_at=None if row["execute_at"] is None else datetime.fromisoformat(row["execute_at"]),
        cancel_after=None if row["cancel_after"] is None else Decimal(row["cancel_after"]),
        scheduled=_scheduled(row),
    )


def _scheduled(row: sqlite3.Row) -> bool:
    """Whether the bridge's own schedule queued the signal: a flatten resumed after a restart is still one."""
    # keys(): `in` on a sqlite3.Row looks among its values
    return "webhook_id" in row.keys() and str(row["webhook_id"]).startswith(SCHEDULED_SOURCE)  # noqa: SIM118


async def interrupted_jobs(store: Store, max_signal_age: float, enqueue: Callable[[Job], None],
                           queued: Container[tuple[str, str]] = (), publish: Publish = _unheard,
                           revoked: Callable[[sqlite3.Row], str | None] = _never) -> tuple[int, int]:  # fmt: skip
    """Re-queue interrupted executions younger than max_signal_age and expire the rest; return the counts.

    Executions in `queued` (signal, subscription) are left alone: an earlier attempt already queued them.
    An execution ended here is published as the executor publishes the ones it ends. One that has planned
    nothing yet and that `revoked` explains (its token changed while the daemon was down) is rejected with that.
    """
    resumed = expired = 0
    for row in await store.run(journal.unfinished_executions, store.conn):
        if (row["signal_id"], row["subscription"]) in queued:
            continue
        if row["execute_at"] is not None and row["execution_state"] == "received":
            continue  # a delayed signal that has not started: the bridge releases it when it is due
        received = datetime.fromisoformat(row["received_at"])
        age = (utcnow() - datetime.fromisoformat(row["execute_at"] or row["received_at"])).total_seconds()
        planned = await store.run(journal.planned_orders, store.conn, row["signal_id"], row["subscription"])
        # A breakeven between its new stop and the cancel of the old ones is resumed however old: the executor
        # expires it, but finishes the move first (the old stops canceled, or put back), which needs the broker.
        # So is a cancel's plan, whose only orders are the bracket legs the venue canceled with it, put back.
        finishing = any(o["leg"] == "restore" or (o["leg"] == "breakeven" and o["moves"]) for o in planned)
        if age > max_signal_age and not finishing:
            await store.run(
                journal.close_pending, store.conn, planned, "not sent: the signal expired while the daemon was down"
            )
            sent = [o for o in planned if o["status"] != "pending"]
            note = f"; {len(sent)} order(s) had been sent before the restart" if sent else ""
            decision = (
                f"expired: the daemon restarted {age:.0f}s after the signal (max_signal_age {max_signal_age:g}s){note}"
            )
            await _finish(store, row, "expired", decision, publish)
            expired += 1
            continue
        # As the executor: a plan begun is finished (an exit's entry say), one not begun does not start.
        if not planned and (why := revoked(row)) is not None:
            await _finish(store, row, "rejected", why, publish)
            continue
        try:
            signal = journaled_signal(row)
        except Exception as exc:  # one row that cannot be rebuilt must not keep every other signal waiting
            log.exception("recovery: signal %s cannot be rebuilt from the journal", row["signal_id"])
            await store.run(
                journal.close_pending, store.conn, planned, "not sent: the journaled signal could not be rebuilt"
            )
            decision = f"failed: the journaled signal could not be rebuilt at start-up ({type(exc).__name__}: {exc})"
            await _finish(store, row, "failed", decision, publish)
            continue
        enqueue(Job(row["signal_id"], row["strategy"], row["subscription"], signal, received))
        resumed += 1
    return resumed, expired


async def _finish(store: Store, row: sqlite3.Row, state: str, decision: str, publish: Publish) -> None:
    """End an interrupted execution without running it, and say so (`signal.failed` is news to the operator)."""
    await store.run(journal.finish_execution, store.conn, row["signal_id"], row["subscription"], state, decision)
    publish(signal_event(row["strategy"], row["subscription"], row["ticker"], row["signal_id"], state, decision))
