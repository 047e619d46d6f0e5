"""Queries on the journal tables `webhooks`, `signals`, `executions` and `orders`."""

from __future__ import annotations

import json
import logging
import operator
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.config.secrets import redact_encoded
from bridge.models import FINAL_ORDER_STATUSES, FINAL_SIGNAL_STATES, Order, order_filled, symbol_key
from bridge.store.db import JournalFull, dumps, iso, require_room_for_intake, transaction, utcnow
from bridge.store.dedupe import Dedupe, claim, find_original

# When subscriptions of one signal end differently, the signal shows the one most worth a look.
STATE_PRIORITY = ("failed", "executed", "rejected", "expired", "canceled", "ignored")
OPTIONAL_ORDER_FIELDS = {
    "trail_amount": None,
    "trail_percent": None,
    "extended_hours": 0,
    "parent_client_order_id": None,
    "cancel_after": None,
    "replaces": None,
    "moves": None,
    "closed_position_at": None,
    "resting_at_read": None,
}

_FINAL = ", ".join(f"'{s}'" for s in sorted(FINAL_ORDER_STATUSES))
log = logging.getLogger("bridge.store")


@dataclass(frozen=True)
class WebhookRow:
    """One HTTP request as journaled (secrets already removed)."""

    id: str
    received_at: str
    strategy: str | None
    remote_addr: str | None
    method: str
    path: str
    headers: dict[str, str]
    body: str | None
    status_code: int
    message_code: str | None = None
    message: str | None = None
    signal_id: str | None = None

    def changed(self, **changes: Any) -> WebhookRow:
        """A copy with some fields changed (`dataclasses.replace` without its per-field introspection)."""
        if not _WEBHOOK_FIELDS.issuperset(changes):  # as the constructor would refuse it
            raise TypeError(f"WebhookRow has no field {sorted(set(changes) - _WEBHOOK_FIELDS)[0]!r}")
        # Its fields copied as they are, not passed through the frozen constructor (twelve object.__setattr__
        # calls): three copies a request.
        copy = object.__new__(WebhookRow)
        copy.__dict__.update(self.__dict__, **changes)
        return copy


_WEBHOOK_FIELDS = frozenset(WebhookRow.__dataclass_fields__)


def _insert_webhook(conn: sqlite3.Connection, w: WebhookRow) -> None:
    conn.execute(
        "INSERT INTO webhooks (id, received_at, strategy, remote_addr, method, path, headers, body, status_code,"
        " message_code, message, signal_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (w.id, w.received_at, w.strategy, w.remote_addr, w.method, w.path, dumps(w.headers), w.body,
         w.status_code, w.message_code, w.message, w.signal_id),
    )  # fmt: skip


def record_webhook(conn: sqlite3.Connection, webhook: WebhookRow) -> None:
    """Journal a request that produced no signal."""
    with transaction(conn):
        require_room_for_intake(conn)  # every request's rows: the rest of database_max_mb is the executions'
        _insert_webhook(conn, webhook)


def record_signal(
    conn: sqlite3.Connection,
    webhook: WebhookRow,
    signal: dict[str, Any],
    executions: Iterable[tuple[str, str]],
    dedupe: Dedupe | None = None,
) -> None:
    """Journal an accepted request, its signal and one execution per subscription, atomically.

    With `dedupe`, a repeat of an accepted signal raises `Duplicate` and writes nothing: the check and
    the insert share one write transaction, so concurrent repeats cannot both become signals.
    """
    with transaction(conn):
        # Before any row of it, the dedupe memory's included: past the cap, SQLite aborts the whole batch.
        try:
            require_room_for_intake(conn)
        except JournalFull:
            # A repeat of a signal already accepted is still answered as its duplicate (or its reused key as such):
            # answered 503, a sender that resends on 503 resent it for as long as the journal stayed full. Only
            # read here; anything new is refused as before.
            if dedupe is not None:
                original = find_original(conn, signal["strategy"], signal["ticker"], dedupe, signal.get("payload"),
                                         prune=False)  # fmt: skip
                if original is not None:
                    raise original from None
            raise
        if dedupe is not None:
            claim(conn, signal["strategy"], signal["ticker"], signal["id"], dedupe, signal.get("payload"))
        _insert_webhook(conn, webhook)
        rows = [(signal["id"], sub, broker, signal["ticker"]) for sub, broker in executions]
        execute_at = signal.get("execute_at")
        decision: str | None
        if not rows:
            state, decision = "ignored", "ignored: the strategy has no enabled subscription"
        else:
            state, decision = "received", f"waiting until {execute_at} (delay)" if execute_at else None
        # A delay is stored with the signal, in its one INSERT: it is never lost.
        values = {"execute_at": None, "cancel_after": None, "token_fingerprint": None, **signal, "state": state,
                  "decision": decision}  # fmt: skip
        conn.execute(
            "INSERT INTO signals (id, webhook_id, strategy, ticker, action, sentiment, price, quantity, signal_time,"
            " payload, extras, state, decision, received_at, updated_at, execute_at, cancel_after, token_fingerprint)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _by_position(_SIGNAL_VALUES, values),
        )
        if rows:
            conn.executemany(
                "INSERT INTO executions (signal_id, subscription, broker, ticker, state)"
                " VALUES (?, ?, ?, ?, 'received')",
                rows,
            )


def start_execution(conn: sqlite3.Connection, signal_id: str, subscription: str, started: str | None = None,
                    decision: str | None = None) -> None:  # fmt: skip
    """Mark one subscription's execution, and its signal, as processing (since `started`, default now).

    With `decision`, the execution's decision is recorded in the same statement.
    """
    with transaction(conn):
        _mark_processing(conn, signal_id, subscription, started, decision)


def _mark_processing(conn: sqlite3.Connection, signal_id: str, subscription: str, started: str | None,
                     decision: str | None) -> None:  # fmt: skip
    now = iso(utcnow())
    conn.execute(
        "UPDATE executions SET state = 'processing', started_at = COALESCE(started_at, ?), "
        "decision = COALESCE(?, decision) WHERE signal_id = ? AND subscription = ?",
        (started or now, decision, signal_id, subscription),
    )
    conn.execute(
        "UPDATE signals SET state = 'processing', updated_at = ? WHERE id = ? AND state = 'received'",
        (now, signal_id),
    )


# An order planned and not yet sent: what the columns hold until the broker answers.
_PENDING: dict[str, Any] = {"status": "pending", "broker_order_id": None, "filled_quantity": "0",
                            "avg_fill_price": None, "error": None, "updated_at": None, "sent_at": None}  # fmt: skip


def masked(order: Order, secrets: Sequence[str]) -> Order:
    """`order` with every secret in its error masked, as it may be journaled: a venue's error may quote its request."""
    if order.error is None:
        return order
    error = redact_encoded(order.error, secrets)  # a URL it quotes has the key percent-encoded
    return order if error == order.error else replace(order, error=error)


def answer_fields(order: Order) -> dict[str, Any]:
    """The `orders` columns that hold a broker's answer to an order."""
    return {"status": order.status, "broker_order_id": order.broker_order_id,
            "filled_quantity": str(order.filled_quantity),
            "avg_fill_price": None if order.avg_fill_price is None else str(order.avg_fill_price),
            "error": order.error}  # fmt: skip


def save_plan(conn: sqlite3.Connection, signal_id: str, subscription: str, decision: str,
              orders: list[dict[str, Any]], started: str | None = None,
              answers: Mapping[str, tuple[Order, datetime]] | None = None,
              planned_at: datetime | None = None, lacks: str | None = None,
              unsent: Mapping[str, str] | None = None) -> list[sqlite3.Row]:  # fmt: skip
    """Commit the plan's decision and every planned order (pending, unless `answers` has it); return them.

    The execution becomes `processing` here, with the plan: before it, a crash leaves nothing to resume.
    `answers` are the broker's answers (and when each came) to orders already placed in this very
    transaction (a book kept in the journal): those orders are written as answered, in one statement each,
    and as planned at `planned_at` (before they were placed). `lacks`: what the position lacks whatever the plan
    does (a cancel's put-back that cannot give back every leg), read back by `lacks_of` when the plan resumes.
    `unsent`: the plan's orders not to be sent now (client order id: why), journaled rejected and not sent in this
    same commit, as `update_order(..., unsent=True)` leaves them, and not returned: pending for a moment, a crash
    would leave them for the restart to send (a stop put back that waits for the shares, refused if sent).
    """
    with transaction(conn):
        planned = write_plan(conn, signal_id, subscription, decision, orders, started, answers, planned_at)
        if lacks is not None:
            conn.execute("UPDATE executions SET lacks = ? WHERE signal_id = ? AND subscription = ?",
                         (lacks, signal_id, subscription))  # fmt: skip
        for coid, why in (unsent or {}).items():
            update_order(conn, coid, status="rejected", error=why, unsent=True)
        return [row for row in planned if row["client_order_id"] not in (unsent or {})]


def lacks_of(conn: sqlite3.Connection, signal_id: str, subscription: str) -> str:
    """What `save_plan` journaled the position to lack whatever the plan does; empty when nothing."""
    row = conn.execute("SELECT lacks FROM executions WHERE signal_id = ? AND subscription = ?",
                       (signal_id, subscription)).fetchone()  # fmt: skip
    return str(row["lacks"] or "") if row else ""


def write_plan(conn: sqlite3.Connection, signal_id: str, subscription: str, decision: str,
               orders: list[dict[str, Any]], started: str | None = None,
               answers: Mapping[str, tuple[Order, datetime]] | None = None,
               planned_at: datetime | None = None) -> list[sqlite3.Row]:  # fmt: skip
    """`save_plan`'s writes, inside a caller's transaction that the plan stands or falls with."""
    _mark_processing(conn, signal_id, subscription, started, decision)
    _write_orders(conn, orders, answers, planned_at)
    return planned_orders(conn, signal_id, subscription)


def write_finished_plan(conn: sqlite3.Connection, signal_id: str, subscription: str, decision: str,
                        orders: list[dict[str, Any]], started: str,
                        answers: Mapping[str, tuple[Order, datetime]] | None = None,
                        planned_at: datetime | None = None) -> None:  # fmt: skip
    """`write_plan` then `finish_execution(..., "executed", ...)`, inside a caller's transaction: a plan whose
    orders all filled in it.

    The rows end as those two leave them, less the statements whose writes the second overwrites at once (the
    execution marked processing) and the plan's orders read back: nothing reads them.
    """
    _write_orders(conn, orders, answers, planned_at)
    _finish(conn, signal_id, subscription, "executed", decision, started, unmarked=True)


def _write_orders(conn: sqlite3.Connection, orders: list[dict[str, Any]],
                  answers: Mapping[str, tuple[Order, datetime]] | None,
                  planned_at: datetime | None) -> None:  # fmt: skip
    now = iso(planned_at or utcnow())
    answered = answers or {}
    for order in orders:
        answer = answered.get(order["client_order_id"])
        if answer is None:
            state = _PENDING
        else:
            at = iso(answer[1])
            state = {**answer_fields(answer[0]), "updated_at": at, "sent_at": at}
        _insert_order(conn, order, state, now)


def add_orders(conn: sqlite3.Connection, orders: list[dict[str, Any]]) -> list[sqlite3.Row]:
    """Commit orders a running execution adds to its plan (pending), such as a stop put back; return them."""
    now = iso(utcnow())
    with transaction(conn):
        for order in orders:
            _insert_order(conn, order, _PENDING, now)
    ids = [order["client_order_id"] for order in orders]
    return [conn.execute("SELECT * FROM orders WHERE client_order_id = ?", (coid,)).fetchone() for coid in ids]


# The values of the placeholders of `_insert_order` (and of the signal's INSERT), in order, read from one dict in C:
# bound by name, each of them cost a name lookup in the sqlite3 module, a quarter of the statement's binding.
_SIGNAL_VALUES = operator.itemgetter(
    "id", "webhook_id", "strategy", "ticker", "action", "sentiment", "price", "quantity", "signal_time", "payload",
    "extras", "state", "decision", "received_at", "received_at", "execute_at", "cancel_after", "token_fingerprint",
)  # fmt: skip
_ORDER_VALUES = operator.itemgetter(
    "id", "signal_id", "broker", "subscription", "leg", "seq", "client_order_id", "symbol", "side", "type", "quantity",
    "limit_price", "stop_price", "time_in_force", "reference_price", "trail_amount", "trail_percent", "extended_hours",
    "parent_client_order_id", "status", "broker_order_id", "filled_quantity", "avg_fill_price", "error", "now",
    "updated_at", "now", "cancel_after", "sent_at", "replaces", "moves", "closed_position_at",
    "resting_at_read",
)  # fmt: skip


def _by_position(values_of: operator.itemgetter[Any], named: dict[str, Any]) -> tuple[Any, ...]:
    """The values of `named` that `values_of` names, in its order; a name missing is said as sqlite3 says it."""
    try:
        found: tuple[Any, ...] = values_of(named)
    except KeyError as missing:
        raise sqlite3.ProgrammingError(
            f"You did not supply a value for binding parameter :{missing.args[0]}."
        ) from None
    return found


def _insert_order(conn: sqlite3.Connection, order: dict[str, Any], state: dict[str, Any], now: str) -> None:
    """One `orders` row: the planned order's fields, and the broker's answer in `state` (or pending)."""
    values = _by_position(_ORDER_VALUES, {**OPTIONAL_ORDER_FIELDS, **order, **state, "now": now})
    marks: list[str] | None = None
    if order.get("closed_position_at") and state.get("status") == "filled":  # else there is nothing to mark
        # The row's fields are those about to be written (and no `closed_by`): not read back to learn them. Its
        # cut is read before it is written, since it skips its own row: it is written marked, not marked again.
        coid = order["client_order_id"]
        marks = _to_mark(conn, coid, order["broker"], order["symbol"], order["closed_position_at"],
                         order.get("resting_at_read"), order["quantity"], state.get("filled_quantity"))  # fmt: skip
    conn.execute(
        "INSERT INTO orders (id, signal_id, broker, subscription, leg, seq, client_order_id, symbol, side,"
        " type, quantity, limit_price, stop_price, time_in_force, reference_price, trail_amount, trail_percent,"
        " extended_hours, parent_client_order_id, status, broker_order_id, filled_quantity, avg_fill_price,"
        " error, created_at, updated_at, cancel_after, cancel_after_recorded, sent_at, replaces, moves,"
        " closed_position_at, resting_at_read, closed_by) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, ?), ?, 1,"
        " ?, ?, ?, ?, ?, ?)",
        (*values, None if marks is None else coid),
    )
    if marks:  # the others it closed: final before its read, and not marked since (the same transaction read them)
        _mark_others(conn, coid, order["broker"], order["symbol"], order["closed_position_at"])


def close_shares(conn: sqlite3.Connection, client_order_id: str) -> None:
    """Once an exit of all of a position filled, mark what it closed: itself, and every order in its symbol at its
    broker journaled final before its position was read (the read counted their fills), whichever subscription's.

    The account was flat then: what is held there since is bought since, or another's. Counted still, a share
    drifted (a strategy's exit sold its 1 and this one's 10, it bought 10 again, and this one's flatten sold 1 of
    those); marked here, it holds even once the exit is pruned.
    """
    row = conn.execute(
        "SELECT broker, symbol, closed_position_at, resting_at_read, quantity, filled_quantity FROM orders "
        "WHERE client_order_id = ? "
        "AND status = 'filled' AND closed_position_at IS NOT NULL AND closed_by IS NULL",
        (client_order_id,),
    ).fetchone()
    if row is not None:
        _mark_closed(conn, client_order_id, row["broker"], row["symbol"], row["closed_position_at"],
                     row["resting_at_read"], row["quantity"], row["filled_quantity"])  # fmt: skip


def _mark_closed(conn: sqlite3.Connection, client_order_id: str, broker: str, symbol: str, closed_position_at: str,
                 resting_at_read: str | None, quantity: str, filled_quantity: str | None) -> None:  # fmt: skip
    """`close_shares`'s mark, of a filled exit of all of a position not marked yet, given its row's fields."""
    if _to_mark(conn, client_order_id, broker, symbol, closed_position_at, resting_at_read, quantity,
                filled_quantity) is None:  # fmt: skip
        return
    conn.execute(
        "UPDATE orders SET closed_by = ? WHERE closed_by IS NULL AND broker = ? "  # noqa: S608 - constants
        f"AND UPPER(REPLACE(symbol, '/', '')) = ? AND (client_order_id = ? OR (status IN ({_FINAL}) "
        "AND updated_at < ?))",
        (client_order_id, broker, symbol_key(symbol), client_order_id, closed_position_at),
    )


def _to_mark(conn: sqlite3.Connection, client_order_id: str, broker: str, symbol: str, closed_position_at: str,
             resting_at_read: str | None, quantity: str, filled_quantity: str | None) -> list[str] | None:  # fmt: skip
    """Whether `_mark_closed` marks (None: it marks nothing), and the other orders it marks with the exit itself:
    those in its symbol at its broker not marked yet, final and last written before its read."""
    # Filled for less than it was sent for, it sold less than the position read: a reduce-only exit the venue cut to
    # what was left once another's order (a stop) closed some after the read. That order, journaled since, is
    # counted still: marking what the read counted would leave its subscription the other side of a share.
    if 0 < Decimal(filled_quantity or 0) < Decimal(quantity):  # 0: filled, all of it
        return None
    # An order its read listed resting unfilled (`resting_at_read`) filled nothing by it: it stays counted, working,
    # and the rest is marked (the UPDATE marks final orders only).
    resting = frozenset(json.loads(resting_at_read or "[]"))
    rows = _unclosed(conn, broker, symbol)
    if doubt := _across(rows, closed_position_at, client_order_id, unfilled=resting):
        log.warning("the exit %s sold all of the %s position it read, but %s: no order there is marked closed, their "
                    "fills all count still (flatten_at's share caps them at what is held)", client_order_id,
                    symbol, doubt)  # fmt: skip
        return None
    # Compared as the UPDATE compares them: one whose `updated_at` is NULL is not marked.
    cut = closed_position_at
    return [coid for row in rows if (coid := row["client_order_id"]) != client_order_id
            and row["status"] in FINAL_ORDER_STATUSES and (row["updated_at"] or cut) < cut]  # fmt: skip


def _mark_others(conn: sqlite3.Connection, client_order_id: str, broker: str, symbol: str,
                 closed_position_at: str) -> None:  # fmt: skip
    """`_mark_closed`'s UPDATE for an exit already written marked: the final orders its read counted."""
    conn.execute(
        "UPDATE orders SET closed_by = ? WHERE closed_by IS NULL AND broker = ? "  # noqa: S608 - constants
        f"AND UPPER(REPLACE(symbol, '/', '')) = ? AND status IN ({_FINAL}) AND updated_at < ?",
        (client_order_id, broker, symbol_key(symbol), closed_position_at),
    )


FLAT = "flat "  # `closed_by` of the orders a read that found no position marked: the moment it began follows


def _unclosed(conn: sqlite3.Connection, broker: str, symbol: str) -> list[sqlite3.Row]:
    """The orders in `symbol` at `broker` no exit or flat read marked closed yet (through `orders_unclosed`)."""
    return conn.execute(
        "SELECT client_order_id, side, status, quantity, filled_quantity, created_at, updated_at, unfollowed "
        "FROM orders WHERE closed_by IS NULL AND broker = ? AND UPPER(REPLACE(symbol, '/', '')) = ?",
        (broker, symbol_key(symbol)),
    ).fetchall()


def _across(rows: Sequence[sqlite3.Row], read_at: str, own: str = "", settled: str | None = None,
            flat: bool = False, closing: Sequence[str] = (), unfilled: Collection[str] = ()) -> str:  # fmt: skip
    """`across_read` of these rows; `settled`, `flat`, `closing`, `unfilled`: as `close_flat` takes them."""
    settled = settled or read_at
    for row in rows:
        coid = row["client_order_id"]
        before = row["created_at"] < read_at
        if coid == own or not (before or flat) or _apart(row, unfilled):
            continue
        if before and row["status"] not in FINAL_ORDER_STATUSES:
            return f"order {coid} there still works ({row['status']}): it may have filled unseen before the read"
        if row["updated_at"] >= settled and order_filled(row) != 0:
            if row["updated_at"] >= read_at:
                return f"order {coid} there filled as the position was read, before the read or after it"
            if coid not in closing:
                return f"order {coid} there filled just before the read, which the venue's positions may not show yet"
    return ""


def _apart(row: sqlite3.Row, unfilled: Collection[str]) -> bool:
    """Whether `row` is an order not final that no cut of a read touches: left counted, it keeps no other from being
    marked. One working with nothing filled that the read listed so (`unfilled`) had filled nothing by the read: it
    falls wholly after it. One left to the account its broker name opened before (`unfollowed`) is at another
    account than the one read: none of its fills are in the read, and nothing learns its outcome, so taken for one
    working across the read it would keep every share there counted for good."""
    if row["status"] in FINAL_ORDER_STATUSES:
        return False
    return bool(row["unfollowed"]) or (row["client_order_id"] in unfilled and Decimal(row["filled_quantity"] or 0) == 0)


def across_read(conn: sqlite3.Connection, broker: str, symbol: str, read_at: str, own: str = "",
                unfilled: Collection[str] = ()) -> str:  # fmt: skip
    """Why the orders in `symbol` at `broker` not marked closed cannot be cut at a position read that began at
    `read_at` ('' when they can): one of them, not `own`, was working as it ran and has filled (or may have, unseen).

    A cut marks the orders the read counted and leaves the rest counted: each order must fall wholly on one side.
    One placed before the read and final only since may have filled before the read (which counted it) or after
    it; one the journal has still working may have filled unseen before it. Marked, what it filled since would
    count against a share closed; left counted beside the others marked, what it filled before would. Save those
    in `unfilled`, which the read listed working with nothing filled: they fall wholly after it.
    """
    return _across(_unclosed(conn, broker, symbol), read_at, own, unfilled=unfilled)


def flat_to_close(conn: sqlite3.Connection, broker: str, symbol: str, read_at: str,
                  unfilled: Collection[str] = ()) -> bool:  # fmt: skip
    """Whether a read that began at `read_at` and found no position in `symbol` has orders of before it to mark
    (`close_flat`): a lookup the reads of every signal afford, the journal marking them only when there are.

    An order resting unfilled that the read listed (`unfilled`) is no such order: a dip buy resting for days would
    otherwise cost every signal's flat read a write batch that marks nothing."""
    return any(row["created_at"] < read_at and not _apart(row, unfilled) for row in _unclosed(conn, broker, symbol))


def close_flat(conn: sqlite3.Connection, broker: str, symbol: str, read_at: str, settled: str | None = None,
               closing: Sequence[str] = (), unfilled: Collection[str] = ()) -> tuple[int, str]:  # fmt: skip
    """Once a read of the positions that began at `read_at` found none in `symbol` at `broker`, mark the orders it
    counted: every one there placed before it and final before it, whichever subscription's. Return how many, and
    why none were when the read cannot cut them ('' when nothing they filled is left counted).

    The account was flat then, however it got there: a close by hand, a protective leg's fill the journal learns
    later, a venue's liquidation. Counted still, a share outlives its position, and a later flatten_at (or the
    share exit of one) sells it out of what another strategy bought since.

    Not sure of the cut, it marks nothing (`across_read`), nor when a fill there was journaled since `settled`
    (by default `read_at`): a venue whose positions lag its fills may read flat what a fill just opened, and the
    share marked closed would be left open overnight. Save for `closing`, the client order ids of protective legs
    whose fill the read was taken to follow: a leg only closes, and a read that missed its fill shows more held, not
    flat. And save for `unfilled`, the client order ids of the orders the read's listing of open orders showed working
    with nothing filled (listed as or after the positions were read, and fills only grow): they filled nothing by the
    read, and are left counted, working, while the rest is marked; a resting limit of another strategy would
    otherwise keep every share there counted for as long as it rests.
    """
    with transaction(conn):
        rows = _unclosed(conn, broker, symbol)
        before = [row for row in rows if row["created_at"] < read_at]
        if not before:
            return 0, ""
        if doubt := _across(rows, read_at, settled=settled, flat=True, closing=closing, unfilled=unfilled):
            return 0, doubt if any(order_filled(row) != 0 for row in rows) else ""
        marked = conn.execute(  # the orders not final left are those no cut touches (`_apart`): they stay counted
            "UPDATE orders SET closed_by = ? WHERE closed_by IS NULL AND broker = ? "  # noqa: S608 - constants
            f"AND UPPER(REPLACE(symbol, '/', '')) = ? AND created_at < ? AND status IN ({_FINAL})",
            (FLAT + read_at, broker, symbol_key(symbol), read_at),
        ).rowcount
    return marked, ""


def planned_orders(conn: sqlite3.Connection, signal_id: str, subscription: str) -> list[sqlite3.Row]:
    """The orders a plan committed for one subscription, in the order they run."""
    return conn.execute(
        "SELECT * FROM orders WHERE signal_id = ? AND subscription = ? ORDER BY seq", (signal_id, subscription)
    ).fetchall()


def resize_pending(conn: sqlite3.Connection, quantities: dict[str, str]) -> None:
    """Give orders not sent yet (`pending`) a new quantity, by client order id: a stop put back after a restart goes
    for the position held then, not the one its row was journaled for."""
    with transaction(conn):
        conn.executemany("UPDATE orders SET quantity = ? WHERE client_order_id = ? AND status = 'pending'",
                         [(quantity, coid) for coid, quantity in quantities.items()])  # fmt: skip


def pending_again(conn: sqlite3.Connection, client_order_id: str, quantity: str) -> sqlite3.Row | None:
    """Make an order that never reached its broker (`rejected`) pending again, for `quantity`, to be sent once more
    under its own client order id; its row as it is now, or None when it is no longer rejected."""
    with transaction(conn):
        changed = conn.execute(
            "UPDATE orders SET status = 'pending', quantity = ?, error = NULL, sent_at = NULL, updated_at = ? "
            "WHERE client_order_id = ? AND status = 'rejected'",
            (quantity, iso(utcnow()), client_order_id),
        ).rowcount
    if not changed:
        return None
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)
    ).fetchone()


def update_order(conn: sqlite3.Connection, client_order_id: str, order: Order | None = None, *,
                 status: str | None = None, error: str | None = None, at: datetime | None = None,
                 sent_at: datetime | None = None, unsent: bool = False) -> None:  # fmt: skip
    """Record what the broker said about an order (or a status and error of ours), as of `at` (default now).

    A write that is not waited for runs a batch later: it passes the moment the broker answered. `sent_at`
    is when the order went to the broker; the first one recorded stays. An order back to `pending` was
    never sent, and loses it; so does one the bridge held back at its last gate (`unsent`), stamped before it.
    """
    if order is not None:
        order = _fill_kept(_recorded_fill(conn, client_order_id), order)
    _write_order(conn, client_order_id, order, status=status, error=error, at=at, sent_at=sent_at, unsent=unsent)


def _write_order(conn: sqlite3.Connection, client_order_id: str, order: Order | None, *, status: str | None = None,
                 error: str | None = None, at: datetime | None = None,
                 sent_at: datetime | None = None, unsent: bool = False) -> None:  # fmt: skip
    """`update_order`'s write, of an answer whose recorded fill is already kept (`_fill_kept`)."""
    fields: dict[str, Any] = {"updated_at": iso(at or utcnow())}
    if order is not None:
        fields.update(answer_fields(order))
    if status is not None:
        fields["status"] = status
    if error is not None:
        fields["error"] = error
    assignments = ", ".join(f"{name} = :{name}" for name in fields)
    if status == "pending" or unsent:
        assignments += ", sent_at = NULL"
    elif sent_at is not None:
        assignments += ", sent_at = COALESCE(sent_at, :sent_at)"
        fields["sent_at"] = iso(sent_at)
    with transaction(conn):
        conn.execute(f"UPDATE orders SET {assignments} WHERE client_order_id = :coid",  # noqa: S608 - names are ours
                     {**fields, "coid": client_order_id})  # fmt: skip
        if fields.get("status") == "filled":  # only a fill marks what an exit closed: no read for any other write
            close_shares(conn, client_order_id)


def _recorded_fill(conn: sqlite3.Connection, client_order_id: str) -> sqlite3.Row | None:
    """The journaled order's status, filled quantity and fill price (None for an order not journaled)."""
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT status, filled_quantity, avg_fill_price FROM orders WHERE client_order_id = ?", (client_order_id,)
    ).fetchone()


def _fill_kept(row: sqlite3.Row | None, order: Order) -> Order:
    """`order` with the recorded fill of `row` (and its price) where it tells less: a filled quantity never goes down.

    Some venues answer a cancel, or even a `filled` status, without the fill quantity (0) or its price: taken
    as said, a partial fill already recorded, and told, would be lost from the journal.
    """
    if row is None:
        return order
    recorded = Decimal(row["filled_quantity"] or 0)
    price = None if row["avg_fill_price"] is None else Decimal(row["avg_fill_price"])
    if recorded > order.filled_quantity:
        return replace(order, filled_quantity=recorded, avg_fill_price=price)
    if order.avg_fill_price is None and price is not None and recorded == order.filled_quantity:
        return replace(order, avg_fill_price=price)  # the same fill, its price left out of this answer
    return order


def close_pending(
    conn: sqlite3.Connection, orders: Iterable[sqlite3.Row], error: str, status: str = "canceled"
) -> None:
    """Give each of these orders still pending (never sent) its final status and why, in one transaction.

    Pending as the journal has it now, not as the caller's rows had it: a bracket child read back from the
    broker since (`_refresh`) keeps what the broker said.
    """
    with transaction(conn):
        for order in orders:
            conn.execute(
                "UPDATE orders SET status = ?, error = ?, updated_at = ? "
                "WHERE client_order_id = ? AND status = 'pending'",
                (status, error, iso(utcnow()), order["client_order_id"]),
            )


def record_order_change(conn: sqlite3.Connection, client_order_id: str, order: Order) -> Order | None:
    """Record what the broker says of an order; when this changed its journaled status, the order as journaled.

    Jobs run one at a time, so of two callers that find the same change (the executor waiting for an
    exit, and the polling job) exactly one gets it, and the change is reported once: as journaled, with
    a fill recorded earlier that this answer left out (`_fill_kept`), so the part that filled is told.
    """
    with transaction(conn):
        row = _recorded_fill(conn, client_order_id)
        if row is not None and row["status"] in FINAL_ORDER_STATUSES and order.status not in FINAL_ORDER_STATUSES:
            # A read taken before the order ended, answered after another job recorded its end (the poll's list
            # and a timeout's cancel): reopened, it would be polled, canceled and its fill told a second time.
            return None
        order = _fill_kept(row, order)
        _write_order(conn, client_order_id, order)  # one read of the row, not one per step
    return order if row is not None and row["status"] != order.status else None


def order_owner(conn: sqlite3.Connection, client_order_id: str) -> sqlite3.Row | None:
    """The strategy, subscription, broker (and time in force, leg, and the order it replaced in one step) of a
    journaled order; None for one the bridge did not place."""
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT s.strategy, o.subscription, o.broker, o.time_in_force, o.leg, o.replaces FROM orders o "
        "JOIN signals s ON s.id = o.signal_id WHERE o.client_order_id = ?",
        (client_order_id,),
    ).fetchone()


def finish_execution(conn: sqlite3.Connection, signal_id: str, subscription: str, state: str, decision: str,
                     started: str | None = None, unmarked: bool = False) -> None:  # fmt: skip
    """Record a subscription's final state; when it was the last one, settle the signal's state.

    `unmarked`: the execution was never marked processing (`write_finished_plan`); when it was not the last one,
    its signal becomes processing here, as that mark would have made it.
    """
    with transaction(conn):
        _finish(conn, signal_id, subscription, state, decision, started, unmarked)


def _finish(conn: sqlite3.Connection, signal_id: str, subscription: str, state: str, decision: str,
            started: str | None, unmarked: bool) -> None:  # fmt: skip
    """`finish_execution`'s writes, inside a caller's transaction."""
    now = iso(utcnow())
    conn.execute(
        "UPDATE executions SET state = ?, decision = ?, started_at = COALESCE(started_at, ?), finished_at = ? "
        "WHERE signal_id = ? AND subscription = ?",
        (state, decision, started, now, signal_id, subscription),
    )
    rows = conn.execute(
        "SELECT subscription, state, decision FROM executions WHERE signal_id = ? ORDER BY subscription",
        (signal_id,),
    ).fetchall()
    if all(r["state"] in FINAL_SIGNAL_STATES for r in rows):
        states = {r["state"] for r in rows}
        overall = next(s for s in STATE_PRIORITY if s in states)
        text = (
            rows[0]["decision"] if len(rows) == 1 else "; ".join(f"{r['subscription']}: {r['decision']}" for r in rows)
        )
        conn.execute(
            "UPDATE signals SET state = ?, decision = ?, updated_at = ? WHERE id = ?",
            (overall, text, now, signal_id),
        )
    elif unmarked:
        conn.execute(
            "UPDATE signals SET state = 'processing', updated_at = ? WHERE id = ? AND state = 'received'",
            (now, signal_id),
        )


def unfinished_executions(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Executions a crash interrupted, oldest first, with their signal's fields."""
    return conn.execute(
        "SELECT e.signal_id, e.subscription, e.broker, e.state AS execution_state, s.* FROM executions e "
        "JOIN signals s ON s.id = e.signal_id WHERE e.state IN ('received', 'processing') ORDER BY s.received_at"
    ).fetchall()


def unresolved_orders(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Orders whose outcome at the broker is not known: planned (maybe sent) or ambiguous."""
    return conn.execute(
        "SELECT o.*, e.state AS execution_state, s.strategy FROM orders o JOIN executions e "
        "ON e.signal_id = o.signal_id AND e.subscription = o.subscription JOIN signals s ON s.id = o.signal_id "
        "WHERE o.status IN ('pending', 'unknown') AND NOT o.unfollowed ORDER BY o.created_at"
    ).fetchall()


def unknown_orders(conn: sqlite3.Connection, broker: str) -> list[sqlite3.Row]:
    """A broker's orders of unknown outcome (found by the status index: there are few), oldest first."""
    return conn.execute(
        "SELECT * FROM orders WHERE status = 'unknown' AND broker = ? AND NOT unfollowed ORDER BY created_at",
        (broker,),
    ).fetchall()


def unfinished_orders_by_broker(conn: sqlite3.Connection, brokers: Iterable[str]) -> dict[str, int]:
    """How many orders of each of these brokers are not final (planned, working, or of unknown outcome)."""
    names = list(brokers)
    if not names:
        return {}
    marks = ", ".join("?" for _ in names)
    final = ", ".join("?" for _ in FINAL_ORDER_STATUSES)
    rows = conn.execute(
        f"SELECT broker, COUNT(*) FROM orders WHERE broker IN ({marks}) AND status NOT IN ({final}) "  # noqa: S608
        "AND NOT unfollowed GROUP BY broker",
        (*names, *sorted(FINAL_ORDER_STATUSES)),
    )
    return {str(row[0]): int(row[1]) for row in rows}


UNLISTED = frozenset({"token_fingerprint"})  # columns `latest` leaves out


def rows_as_dicts(rows: Iterable[sqlite3.Row]) -> list[dict[str, Any]]:
    """sqlite3 rows -> plain dicts."""
    return [dict(row) for row in rows]


def latest(conn: sqlite3.Connection, table: str, limit: int) -> list[dict[str, Any]]:
    """The newest rows of a journal table."""
    order = {"webhooks": "received_at", "signals": "received_at", "orders": "created_at"}[table]
    sql = f"SELECT * FROM {table} ORDER BY {order} DESC, rowid DESC LIMIT ?"  # noqa: S608 - table is whitelisted
    # A token's fingerprint reveals nothing, but it is the daemon's own check, not something to list or export.
    return [{k: v for k, v in row.items() if k not in UNLISTED} for row in rows_as_dicts(conn.execute(sql, (limit,)))]
