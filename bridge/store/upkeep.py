"""Journal queries of the scheduled jobs: delayed signals, open orders, flatten, retention, the daily summary."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

from bridge.models import FINAL_ORDER_STATUSES, FINAL_SIGNAL_STATES, OPEN_ORDER_STATUSES, order_filled
from bridge.store import journal
from bridge.store.db import transaction

_OPEN = ", ".join(f"'{s}'" for s in sorted(OPEN_ORDER_STATUSES))
_FINAL_ORDERS = ", ".join(f"'{s}'" for s in sorted(FINAL_ORDER_STATUSES))
# How the journal says an order never reached its broker: held back unsent (`Executor._submit`), or not found there
# after its answer was lost (`jobs.orders._fetch`, start-up recovery).
UNSENT = ("not sent", "never reached the broker")
_FINAL_SIGNALS = ", ".join(f"'{s}'" for s in sorted(FINAL_SIGNAL_STATES))


def delayed_executions(conn: sqlite3.Connection, due_by: str | None = None) -> list[sqlite3.Row]:
    """Executions of delayed signals that have not started, with their signal; only those due by `due_by` if given."""
    sql = (  # CROSS JOIN: from the few delayed signals (by their partial index), never a scan of every execution
        "SELECT e.signal_id, e.subscription, e.broker, e.state AS execution_state, s.* FROM signals s "
        "CROSS JOIN executions e ON e.signal_id = s.id WHERE s.execute_at IS NOT NULL AND e.state = 'received'"
    )
    if due_by is None:
        return conn.execute(sql + " ORDER BY s.execute_at, s.received_at").fetchall()
    return conn.execute(sql + " AND s.execute_at <= ? ORDER BY s.execute_at, s.received_at", (due_by,)).fetchall()


def rename_waiting(conn: sqlite3.Connection, signal_id: str, key: str, new_key: str) -> bool:
    """Journal a delayed signal's waiting execution under its subscription's new key; False when it cannot be."""
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE executions SET subscription = ? WHERE signal_id = ? AND subscription = ? AND state = 'received' "
            "AND NOT EXISTS (SELECT 1 FROM executions WHERE signal_id = ? AND subscription = ?)",
            (new_key, signal_id, key, signal_id, new_key),
        )
        return cursor.rowcount == 1


def waiting_executions(conn: sqlite3.Connection, signal_id: str) -> tuple[sqlite3.Row | None, list[str]]:
    """The signal (None: no such id) and the subscriptions whose execution of it waits for its `delay` to end."""
    signal = conn.execute("SELECT * FROM signals WHERE id = ?", (signal_id,)).fetchone()
    if signal is None or signal["execute_at"] is None:
        return signal, []
    rows = conn.execute(
        "SELECT subscription FROM executions WHERE signal_id = ? AND state = 'received' ORDER BY subscription",
        (signal_id,),
    ).fetchall()
    return signal, [row["subscription"] for row in rows]


def cancel_waiting(conn: sqlite3.Connection, signal_id: str, decision: str,
                   subscriptions: Collection[str] | None = None) -> tuple[sqlite3.Row | None, list[str]]:  # fmt: skip
    """End as `canceled` the executions of a delayed signal still waiting (of these subscriptions, if given).

    Returns the signal as it is now (None: no such id) and the subscriptions canceled: none when none waited.
    """
    with transaction(conn):  # BEGIN IMMEDIATE: nothing starts an execution between the look and the write
        signal, waiting = waiting_executions(conn, signal_id)
        canceled = [sub for sub in waiting if subscriptions is None or sub in subscriptions]
        for subscription in canceled:
            journal.finish_execution(conn, signal_id, subscription, "canceled", decision)
        if canceled:
            signal = conn.execute("SELECT * FROM signals WHERE id = ?", (signal_id,)).fetchone()
        return signal, canceled


def open_orders(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Orders the broker may still fill or cancel, with their signal's strategy and `cancelAfter`, oldest first.

    Orders of unknown outcome (the venue's answer was lost, and so was the lookup after it) are among them:
    one may be working at the venue, and then it must be followed, and canceled after `cancel_after` too, once
    the poll finds it there.
    """
    return conn.execute(
        "SELECT o.*, s.strategy, s.cancel_after AS signal_cancel_after FROM orders o "  # noqa: S608 - constants
        f"JOIN signals s ON s.id = o.signal_id WHERE o.status IN ({_OPEN}, 'unknown') AND NOT o.unfollowed "
        "ORDER BY o.created_at"
    ).fetchall()


def unfinished_moves(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Stops a breakeven moves that still work beside its own stop, working (or filled), its execution over.

    Its stop's answer was lost (the execution failed, saying the old stop keeps working) and a later read found it
    at the venue; or the old stop's cancel was refused. Each row is the old stop's, with `moved_by`, the breakeven
    stop's client order id. A move in one step (`replaces`) is the venue's to finish, not these.
    """
    return conn.execute(
        "SELECT o.*, s.strategy, b.client_order_id AS moved_by FROM orders b "  # noqa: S608 - constants
        "JOIN executions e ON e.signal_id = b.signal_id AND e.subscription = b.subscription "
        "JOIN json_each(b.moves) m JOIN orders o ON o.client_order_id = m.value AND o.broker = b.broker "
        f"JOIN signals s ON s.id = o.signal_id WHERE b.leg = 'breakeven' AND b.moves IS NOT NULL "
        f"AND b.replaces IS NULL AND b.status IN ({_OPEN}, 'filled') AND e.state IN ({_FINAL_SIGNALS}) "
        f"AND o.status IN ({_OPEN}) AND NOT o.unfollowed ORDER BY b.created_at"
    ).fetchall()


def put_backs_in_doubt(conn: sqlite3.Connection) -> int:
    """How many stops put back in place of one the bridge's own cancel took are of unknown outcome, their execution
    over: their send raised past its answer, or the answer was lost and so was the lookup after it.

    The order jobs look each up, and close one never found there as never sent (`failed_put_backs` then has it,
    sent again); meanwhile the position they were for may have no stop at all.
    """
    return int(conn.execute(
        "SELECT COUNT(*) FROM orders o "  # noqa: S608 - constants
        "JOIN executions e ON e.signal_id = o.signal_id AND e.subscription = o.subscription "
        "WHERE o.status = 'unknown' AND o.leg = 'restore' AND o.type IN ('stop', 'stop_limit') "
        f"AND e.state IN ({_FINAL_SIGNALS}) AND NOT o.unfollowed"
    ).fetchone()[0])  # fmt: skip


def found_put_backs(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Orders put back in place of one a cancel took (`restore`) working at the broker that their execution, over,
    never said work: of unknown outcome when it ended, found there since (the order poll, start-up recovery).

    Every decision that counts one working names its client order id (`Executor._restore`, `_send_back`, a try
    again's): one it does not name was not known to work then, and the decision may say the position lacks it. Each
    row comes with its signal's strategy and ticker.
    """
    return conn.execute(
        "SELECT o.*, s.strategy, s.ticker FROM orders o "  # noqa: S608 - constants
        "JOIN executions e ON e.signal_id = o.signal_id AND e.subscription = o.subscription "
        f"JOIN signals s ON s.id = o.signal_id WHERE o.status IN ({_OPEN}) AND o.leg = 'restore' "
        f"AND e.state IN ({_FINAL_SIGNALS}) AND NOT o.unfollowed "
        "AND instr(COALESCE(e.decision, ''), o.client_order_id) = 0 ORDER BY o.created_at"
    ).fetchall()


def failed_put_backs(conn: sqlite3.Connection, client_order_id: str | None = None) -> list[sqlite3.Row]:
    """Stops put back in place of one the bridge's own cancel took that never reached the broker, their execution over.

    Not sent (the broker down, its throttle) or never found there after their answer was lost: the position they
    were for may have no stop at all, so the order jobs send them again (`jobs.putbacks`). One the venue refused
    is not among them: its refusal is final, as any order's. Each row comes with its signal's strategy and ticker.
    `client_order_id`: that one alone (none when it is no longer among them).

    Nor a take-profit put back (a cancel's, of the leg the venue canceled with its sibling): its absence leaves the
    position no less protected, and where it is put back (Alpaca, whose bracket legs cancel together) it holds the
    shares a stop needs, so sent later it would hold back the trader's next stop or breakeven (refused, or rejected
    beside it); the signal's decision says the position lacks it, for the trader to place.
    """
    one = "" if client_order_id is None else "AND o.client_order_id = ? "
    return conn.execute(
        "SELECT o.*, s.strategy, s.ticker FROM orders o "  # noqa: S608 - constants
        "JOIN executions e ON e.signal_id = o.signal_id AND e.subscription = o.subscription "
        "JOIN signals s ON s.id = o.signal_id WHERE o.status = 'rejected' AND o.leg = 'restore' "
        f"AND o.type IN ('stop', 'stop_limit') AND e.state IN ({_FINAL_SIGNALS}) AND NOT o.unfollowed "
        f"AND ({' OR '.join('o.error LIKE ?' for _ in UNSENT)}) {one}ORDER BY o.created_at",
        [f"{prefix}%" for prefix in UNSENT] + ([] if client_order_id is None else [client_order_id]),
    ).fetchall()


def traded_orders(conn: sqlite3.Connection, strategy: str, subscriptions: Sequence[str],
                  broker: str) -> list[sqlite3.Row]:  # fmt: skip
    """The orders a subscription, journaled under any of these keys, placed at `broker`: ticker, symbol, side,
    status, fill, quantity, client order id and its parent's (a bracket leg's entry).

    At that broker only: a named subscription keeps its key when it moves to another account, and what it holds
    at the one it left is no share of the new one's positions (another strategy's there). Nor those an exit of all
    of the position closed since (`closed_by`, `journal.close_shares`): the account was flat there then.
    """
    marks = ", ".join("?" for _ in subscriptions)
    return conn.execute(
        "SELECT s.ticker, o.symbol, o.side, o.status, o.filled_quantity, o.quantity, o.client_order_id, "  # noqa: S608
        "o.parent_client_order_id FROM orders o JOIN signals s ON s.id = o.signal_id "
        f"WHERE s.strategy = ? AND o.subscription IN ({marks}) AND o.broker = ? AND o.closed_by IS NULL "
        "ORDER BY s.ticker",
        (strategy, *subscriptions, broker),
    ).fetchall()


def flattened_since(conn: sqlite3.Connection, source: str, strategy: str, subscriptions: Sequence[str],
                    since: str) -> bool:  # fmt: skip
    """Whether a job (`source`, as its signals' webhook id) journaled a signal for the subscription since `since`."""
    marks = ", ".join("?" for _ in subscriptions)
    row = conn.execute(
        "SELECT 1 FROM signals s JOIN executions e ON e.signal_id = s.id WHERE s.webhook_id = ? "  # noqa: S608 - marks
        f"AND s.strategy = ? AND e.subscription IN ({marks}) AND s.received_at >= ? LIMIT 1",
        (source, strategy, *subscriptions, since),
    ).fetchone()
    return row is not None


def record_job_signal(conn: sqlite3.Connection, signal: dict[str, Any], subscription: str, broker: str) -> bool:
    """Journal a signal a job made (no webhook) and its one execution; False when that id already exists."""
    with transaction(conn):
        inserted = conn.execute(
            "INSERT OR IGNORE INTO signals (id, webhook_id, strategy, ticker, action, sentiment, price, quantity,"
            " signal_time, payload, extras, state, decision, received_at, updated_at) VALUES (:id, :webhook_id,"
            " :strategy, :ticker, :action, NULL, NULL, NULL, NULL, :payload, '{}', 'received', :decision,"
            " :received_at, :received_at)",
            signal,
        ).rowcount
        if inserted:
            conn.execute(
                "INSERT INTO executions (signal_id, subscription, broker, ticker, state)"
                " VALUES (?, ?, ?, ?, 'received')",
                (signal["id"], subscription, broker, signal["ticker"]),
            )
    return bool(inserted)


def ended_unfilled(conn: sqlite3.Connection, signal_id: str, subscription: str) -> bool:
    """Whether the signal's execution for `subscription` ended without trading and none of its orders may still work.

    Ended: expired, failed or rejected (an exit refused, not taken in a 503, never sent). Every order it placed
    must be final too: one of unknown outcome, or still working, may yet fill, and a second exit beside it could
    open the other side.
    """
    row = conn.execute(
        "SELECT e.state, (SELECT COUNT(*) FROM orders o WHERE o.signal_id = e.signal_id AND o.subscription = "  # noqa: S608
        f"e.subscription AND o.status NOT IN ({_FINAL_ORDERS})) AS unsure FROM executions e "
        "WHERE e.signal_id = ? AND e.subscription = ?",
        (signal_id, subscription),
    ).fetchone()
    return row is not None and row["state"] in ("expired", "failed", "rejected") and row["unsure"] == 0


def _mark_open_books(conn: sqlite3.Connection, cutoff: str, flattened: Sequence[tuple[str, str]]) -> None:
    """Note each (strategy, subscription, symbol) of `flattened` whose orders before `cutoff` do not net to zero.

    flatten_at tells what a subscription holds from its journaled fills: pruning the entry of a position still
    held, or the entry of a round trip without its exit, would make it leave the one open or close another
    strategy's on the same account. Such orders wait until the part before the cutoff nets to zero again. Only
    subscriptions with flatten_at (`flattened`, under every key the journal may hold for them) are held back:
    a position closed by hand, or a venue's fee taken from the coin bought, never nets to zero in the journal.
    """
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS open_books (strategy TEXT, subscription TEXT, symbol TEXT, "
                 "PRIMARY KEY (strategy, subscription, symbol))")  # fmt: skip
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS flattened (strategy TEXT, subscription TEXT)")
    conn.execute("DELETE FROM open_books")
    conn.execute("DELETE FROM flattened")
    conn.executemany("INSERT INTO flattened VALUES (?, ?)", flattened)
    # Netted as flatten_at nets them (`order_filled`): an entry journaled `filled` without its fill quantity filled
    # all of it, and summing the column alone took that position's entry for netting to zero.
    net: dict[tuple[str, str, str], Decimal] = {}
    for row in conn.execute(
        "SELECT s.strategy, o.subscription, o.symbol, o.side, o.status, o.filled_quantity, o.quantity FROM signals s "
        "CROSS JOIN orders o ON o.signal_id = s.id WHERE s.received_at < ? "
        "AND (s.strategy, o.subscription) IN (SELECT strategy, subscription FROM flattened) AND o.closed_by IS NULL",
        (cutoff,),
    ):
        book = (row["strategy"], row["subscription"], row["symbol"])
        net[book] = net.get(book, Decimal(0)) + order_filled(row)
    conn.executemany("INSERT INTO open_books VALUES (?, ?, ?)", [book for book, units in net.items() if units != 0])


def prune(conn: sqlite3.Connection, cutoff: str, limit: int,
          flattened: Sequence[tuple[str, str]] | None = ()) -> dict[str, int]:  # fmt: skip
    """Delete journal rows received before `cutoff`; a signal goes only with all its executions and orders final.

    At most `limit` signals and `limit` requests at a time: the journal's statements run on the event loop,
    so a large prune is done in short transactions, with webhooks served in between. The orders of a position
    still open in the journal of a subscription in `flattened` stay too (`_mark_open_books`), marked once per
    prune (`flattened` None in the chunks after its first): marked again after a chunk took half a round trip,
    the other half would look open.
    """
    with transaction(conn):
        if flattened is not None:
            _mark_open_books(conn, cutoff, flattened)
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS prunable (id TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM prunable")
        conn.execute(
            "INSERT INTO prunable SELECT s.id FROM signals s "  # noqa: S608 - constants
            f"WHERE s.received_at < ? AND s.state IN ({_FINAL_SIGNALS}) "
            "AND NOT EXISTS (SELECT 1 FROM executions e WHERE e.signal_id = s.id "
            f"AND e.state NOT IN ({_FINAL_SIGNALS})) "
            f"AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.signal_id = s.id AND o.status NOT IN ({_FINAL_ORDERS})) "
            "AND NOT EXISTS (SELECT 1 FROM orders o JOIN open_books b ON b.strategy = s.strategy "
            "AND b.subscription = o.subscription AND b.symbol = o.symbol WHERE o.signal_id = s.id) "
            "LIMIT ?",
            (cutoff, limit),
        )
        counts = {
            "orders": conn.execute("DELETE FROM orders WHERE signal_id IN (SELECT id FROM prunable)").rowcount,
            "executions": conn.execute("DELETE FROM executions WHERE signal_id IN (SELECT id FROM prunable)").rowcount,
            "signals": conn.execute("DELETE FROM signals WHERE id IN (SELECT id FROM prunable)").rowcount,
            # A request whose signal is still kept stays with it.
            "webhooks": conn.execute(
                "DELETE FROM webhooks WHERE rowid IN (SELECT rowid FROM webhooks WHERE received_at < ? AND "
                "(signal_id IS NULL OR signal_id NOT IN (SELECT id FROM signals)) LIMIT ?)",
                (cutoff, limit),
            ).rowcount,
            # The paper book shares the journal: a finished paper order goes once the journal's row of it has gone
            # (never one the poll may still look up), and so do its fills, which nothing reads back.
            "paper_orders": conn.execute(
                "DELETE FROM paper_orders WHERE rowid IN (SELECT p.rowid FROM paper_orders p WHERE p.updated_at < ? "
                "AND p.status NOT IN ('open', 'partially_filled', 'held') AND NOT EXISTS "
                "(SELECT 1 FROM orders o WHERE o.client_order_id = p.client_order_id) LIMIT ?)",
                (cutoff, limit),
            ).rowcount,
            "paper_fills": conn.execute(
                "DELETE FROM paper_fills WHERE id IN (SELECT f.id FROM paper_fills f WHERE f.filled_at < ? AND NOT "
                "EXISTS (SELECT 1 FROM orders o WHERE o.client_order_id = f.client_order_id) LIMIT ?)",
                (cutoff, limit),
            ).rowcount,
        }
        conn.execute("DELETE FROM prunable")
    return counts


def _counts(conn: sqlite3.Connection, sql: str, since: str) -> dict[str, int]:
    return {str(row[0]): int(row[1]) for row in conn.execute(sql, (since,))}


def activity(conn: sqlite3.Connection, since: str) -> dict[str, dict[str, int]]:
    """Counts since `since`: webhooks by status code, signals by state, orders by status; and orders open now."""
    return {
        "webhooks": _counts(conn, "SELECT status_code, COUNT(*) FROM webhooks WHERE received_at >= ? "
                                  "GROUP BY status_code ORDER BY status_code", since),
        "signals": _counts(conn, "SELECT state, COUNT(*) FROM signals WHERE received_at >= ? "
                                 "GROUP BY state ORDER BY state", since),
        "orders": _counts(conn, "SELECT status, COUNT(*) FROM orders WHERE created_at >= ? "
                                "GROUP BY status ORDER BY status", since),
        "open": {"orders": int(conn.execute(f"SELECT COUNT(*) FROM orders WHERE status IN ({_OPEN})").fetchone()[0])},  # noqa: S608
    }  # fmt: skip
