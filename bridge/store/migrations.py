"""Schema migrations, applied in order inside one transaction each and tracked by `user_version`."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from bridge.errors import BridgeError

if TYPE_CHECKING:  # imported by callers that have one: the daemon never loads sqlite-utils (and its CLI's libraries)
    import sqlite_utils

MIGRATIONS: list[str] = [
    # 1: the journal contract tables (design §6) and the paper broker's book.
    """
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        received_at TEXT NOT NULL,
        strategy TEXT,
        remote_addr TEXT,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        headers TEXT NOT NULL,
        body TEXT,
        status_code INTEGER NOT NULL,
        message_code TEXT,
        message TEXT,
        signal_id TEXT
    );
    CREATE INDEX webhooks_received_at ON webhooks(received_at);
    CREATE TABLE signals (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL,
        strategy TEXT NOT NULL,
        ticker TEXT NOT NULL,
        action TEXT NOT NULL,
        sentiment TEXT,
        price TEXT,
        quantity TEXT,
        signal_time TEXT,
        payload TEXT NOT NULL,
        extras TEXT NOT NULL,
        state TEXT NOT NULL,
        decision TEXT,
        received_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX signals_received_at ON signals(received_at);
    CREATE INDEX signals_state ON signals(state);
    CREATE TABLE executions (
        signal_id TEXT NOT NULL REFERENCES signals(id),
        subscription TEXT NOT NULL,
        broker TEXT NOT NULL,
        ticker TEXT NOT NULL,
        state TEXT NOT NULL,
        decision TEXT,
        started_at TEXT,
        finished_at TEXT,
        PRIMARY KEY (signal_id, subscription)
    );
    CREATE INDEX executions_state ON executions(state);
    CREATE TABLE orders (
        id TEXT PRIMARY KEY,
        signal_id TEXT NOT NULL REFERENCES signals(id),
        broker TEXT NOT NULL,
        subscription TEXT NOT NULL,
        leg TEXT NOT NULL,
        seq INTEGER NOT NULL,
        client_order_id TEXT NOT NULL UNIQUE,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        type TEXT NOT NULL,
        quantity TEXT NOT NULL,
        limit_price TEXT,
        stop_price TEXT,
        time_in_force TEXT NOT NULL,
        reference_price TEXT,
        status TEXT NOT NULL,
        broker_order_id TEXT,
        filled_quantity TEXT NOT NULL DEFAULT '0',
        avg_fill_price TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX orders_signal ON orders(signal_id);
    CREATE INDEX orders_status ON orders(status);
    CREATE TABLE paper_accounts (
        broker TEXT PRIMARY KEY,
        cash TEXT NOT NULL
    );
    CREATE TABLE paper_orders (
        broker TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        broker_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        type TEXT NOT NULL,
        quantity TEXT NOT NULL,
        limit_price TEXT,
        stop_price TEXT,
        time_in_force TEXT NOT NULL,
        status TEXT NOT NULL,
        filled_quantity TEXT NOT NULL,
        avg_fill_price TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (broker, client_order_id)
    );
    CREATE TABLE paper_positions (
        broker TEXT NOT NULL,
        symbol TEXT NOT NULL,
        quantity TEXT NOT NULL,
        avg_price TEXT,
        PRIMARY KEY (broker, symbol)
    );
    CREATE TABLE paper_fills (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        broker TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        quantity TEXT NOT NULL,
        price TEXT,
        filled_at TEXT NOT NULL
    );
    CREATE TABLE paper_prices (
        broker TEXT NOT NULL,
        symbol TEXT NOT NULL,
        price TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (broker, symbol)
    );
    """,
    # 2: order details for trailing stops, extended hours and bracket children (journal and paper book).
    """
    ALTER TABLE orders ADD COLUMN trail_amount TEXT;
    ALTER TABLE orders ADD COLUMN trail_percent TEXT;
    ALTER TABLE orders ADD COLUMN extended_hours INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE orders ADD COLUMN parent_client_order_id TEXT;
    ALTER TABLE paper_orders ADD COLUMN trail_amount TEXT;
    ALTER TABLE paper_orders ADD COLUMN trail_percent TEXT;
    ALTER TABLE paper_orders ADD COLUMN trail_ref TEXT;
    ALTER TABLE paper_orders ADD COLUMN extended_hours INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE paper_orders ADD COLUMN parent_client_order_id TEXT;
    ALTER TABLE paper_orders ADD COLUMN expires_at TEXT;
    CREATE INDEX paper_orders_parent ON paper_orders(broker, parent_client_order_id);
    """,
    # 3: delayed signals (`delay`) wait in the journal until their time; `cancelAfter` bounds an order's rest.
    """
    ALTER TABLE signals ADD COLUMN execute_at TEXT;
    ALTER TABLE signals ADD COLUMN cancel_after TEXT;
    CREATE INDEX signals_execute_at ON signals(execute_at) WHERE execute_at IS NOT NULL;
    CREATE INDEX orders_created_at ON orders(created_at);
    """,
    # 4: duplicates (idempotency keys, the last body per ticker) and the persisted kill switch.
    """
    CREATE TABLE idempotency_keys (
        strategy TEXT NOT NULL,
        key TEXT NOT NULL,
        signal_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (strategy, key)
    );
    CREATE INDEX idempotency_keys_created_at ON idempotency_keys(created_at);
    CREATE TABLE recent_content (
        strategy TEXT NOT NULL,
        ticker TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        signal_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (strategy, ticker)
    );
    CREATE TABLE trading_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        halted INTEGER NOT NULL,
        reason TEXT,
        changed_at TEXT NOT NULL,
        changed_by TEXT
    );
    """,
    # 5: the paper book's working orders are found by index, not by scanning every order ever placed.
    """
    CREATE INDEX paper_orders_working ON paper_orders(broker, symbol)
        WHERE status IN ('open', 'partially_filled', 'held');
    CREATE INDEX paper_orders_expiring ON paper_orders(broker, expires_at) WHERE status IN ('open', 'partially_filled');
    """,
    # 6: every signal moves its signal and its executions through three states, and each move rewrote an
    # index over all states ever: nothing looks signals up by state, and recovery reads only unfinished
    # executions, which a partial index holds (the same terms as that query's, so SQLite uses it).
    """
    DROP INDEX signals_state;
    DROP INDEX executions_state;
    CREATE INDEX executions_unfinished ON executions(state) WHERE state IN ('received', 'processing');
    """,
    # 7: an order keeps the `cancel_after` in force when its plan was made (the signal's `cancelAfter`, else its
    # subscription's; seconds, NULL for none), so a reload that renames or removes the subscription cannot
    # leave it resting forever. NULL is also what a row from before this step holds, where nothing was
    # recorded: `cancel_after_recorded` (1 for every row written since) tells the two apart.
    """
    ALTER TABLE orders ADD COLUMN cancel_after TEXT;
    ALTER TABLE orders ADD COLUMN cancel_after_recorded INTEGER NOT NULL DEFAULT 0;
    """,
    # 8: when an order went to the broker (it left `pending`): `cancel_after` counts from there, not from its
    # plan, which a swap's entry or a plan resumed after a restart was sent well after. NULL: not sent yet,
    # sent before a restart lost its answer, or a row from before this step; those count from `created_at`.
    """
    ALTER TABLE orders ADD COLUMN sent_at TEXT;
    """,
    # 9: the paper book keeps an order's reduce-only flag (an exit, a breakeven stop): it fills no more than the
    # position it closes, and cancels once nothing is left to close, instead of opening the other side. Orders
    # already in the book get it from their journal row, so one working at the upgrade is covered too.
    """
    ALTER TABLE paper_orders ADD COLUMN reduce_only INTEGER NOT NULL DEFAULT 0;
    UPDATE paper_orders SET reduce_only = 1 WHERE parent_client_order_id IS NULL AND EXISTS (
        SELECT 1 FROM orders o WHERE o.broker = paper_orders.broker
        AND o.client_order_id = paper_orders.client_order_id AND o.leg IN ('exit', 'breakeven'));
    """,
    # 10: a signal keeps a fingerprint of the strategy token it was accepted with (bridge.store.accepted), so a
    # delayed one still waiting when the daemon restarts with that token changed or removed is refused at its
    # time, as a reload would have refused it. NULL: journaled before this step (or made by a job, a flatten);
    # such a signal runs as the version that accepted it would have run it.
    """
    ALTER TABLE signals ADD COLUMN token_fingerprint TEXT;
    """,
    # 11: what each broker name stood for (its plugin and options, secrets left out) when the daemon last ran
    # (bridge.store.brokers), so a restart tells an account edited while it was down from the one a plan
    # interrupted by the stop was made at: the rest of such a plan is never sent to the other account.
    """
    CREATE TABLE broker_identities (
        name TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    """,
    # 12: each broker name's credentials too, as an HMAC under a random key of this journal (bridge.store.brokers):
    # the same plugin and options with another API key is another account, and the secret is never stored.
    # NULL: recorded before this step, not compared. randomblob: SQLite's generator, seeded by the OS.
    """
    ALTER TABLE broker_identities ADD COLUMN credentials TEXT;
    CREATE TABLE identity_key (id INTEGER PRIMARY KEY CHECK (id = 1), key BLOB NOT NULL);
    INSERT INTO identity_key (id, key) VALUES (1, randomblob(32));
    """,
    # 13: each broker name's plugin (NULL: recorded before this step), and orders the bridge no longer follows:
    # not found at the account their broker name opens since an edit made while the daemon was down, they may
    # have reached the account it named before. Still of unknown outcome, they are neither asked for at the new
    # account nor hold its entries in their symbol (bridge.execution.recovery).
    """
    ALTER TABLE broker_identities ADD COLUMN plugin TEXT;
    ALTER TABLE orders ADD COLUMN unfollowed INTEGER NOT NULL DEFAULT 0;
    """,
    # 14: a breakeven stop that takes the place of a working stop in one step at the venue (`replace_order`, Alpaca's
    # PATCH): the client order id of the order it replaces, so a plan resumed after a restart replaces it too,
    # never placing a second stop beside it. NULL: an order placed as a new one.
    """
    ALTER TABLE orders ADD COLUMN replaces TEXT;
    """,
    # 15: a breakeven stop that moves working stops by a new stop and a cancel: the client order ids of the stops it
    # moves (a JSON list), so a plan a restart interrupted between the two finishes the move, never leaving both
    # stops working, nor the position with none. NULL: an order that moves no stop.
    """
    ALTER TABLE orders ADD COLUMN moves TEXT;
    """,
    # 16: what a cancel's put-back of the bracket legs the venue canceled with it cannot give the position back (a leg
    # of an entry still working, one not sent again as it was, one not read), said at the end of its decision: kept
    # with its plan, so a plan resumed after a restart fails saying so, as it would have without the restart.
    # NULL: nothing it lacks beyond what the put-back sends.
    """
    ALTER TABLE executions ADD COLUMN lacks TEXT;
    """,
    # 17: `closed_position_at`: on an exit sized to close all of the position the account held when it was read, when
    # that read began. Once it filled the account was flat there: `closed_by` (that exit's client order id) marks it
    # and every order in that symbol at that broker journaled final before the read, whichever subscription's; their
    # fills are no share of what is held since (flatten_at, the prune of netted entries; `journal.close_shares`).
    # NULL: counted, as every order from before this step is. `orders_unclosed` holds the orders not marked yet, by
    # broker and instrument (`symbol_key`'s letters): a fill of such an exit reads those of its symbol, not every
    # final order in the journal (by `orders_status`), as it did on every exit until the index.
    """
    ALTER TABLE orders ADD COLUMN closed_position_at TEXT;
    ALTER TABLE orders ADD COLUMN closed_by TEXT;
    CREATE INDEX orders_unclosed ON orders(broker, UPPER(REPLACE(symbol, '/', ''))) WHERE closed_by IS NULL;
    """,
    # 18: `resting_at_read`: on such an exit, the client order ids (a JSON list) of the orders its read listed working
    # with nothing filled (a resting limit, another strategy's included, that the exit leaves working). Listed as or
    # after the position was read, each had filled nothing by it: left counted, it does not keep the exit from
    # marking the rest, as any order working across the read does (`journal.across_read`). NULL: none such.
    """
    ALTER TABLE orders ADD COLUMN resting_at_read TEXT;
    """,
]

# The schema version that made `trading_state` (step 4): its row has meant the same in every version since, so
# `bridge halt` writes it into a journal of any of them without migrating it (bridge.control).
KILL_SWITCH_SCHEMA = 4


class JournalUnusable(BridgeError):
    """This version cannot use the journal as it is (missing, or at another schema); the message says what to do."""


class JournalTooNew(JournalUnusable):
    """The journal's schema is newer than this version knows: running on it could misread or damage its rows."""


def _path(conn: sqlite3.Connection) -> str:
    return next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "") or "the journal"


def _too_new(conn: sqlite3.Connection, version: int) -> JournalTooNew:
    path = _path(conn)
    return JournalTooNew(
        f"{path}: the journal is at schema version {version}, written by a newer version of the bridge (this one "
        f"knows versions up to {len(MIGRATIONS)}); upgrade the bridge to use it: a journal is never downgraded"
    )


def require_current(conn: sqlite3.Connection) -> None:
    """Refuse, touching nothing, a journal not at this version's schema (commands that only read it).

    Migrating is the daemon's work: a listing run by an upgraded CLI would otherwise change the schema
    under the older daemon still writing that journal.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise _too_new(conn, version)
    if version < len(MIGRATIONS):
        raise JournalUnusable(
            f"{_path(conn)}: the journal is at schema version {version}, this version of the bridge needs "
            f"{len(MIGRATIONS)}: start the daemon of this version once (it migrates the journal), "
            "or use the version that wrote it"
        )


def migrate(db: sqlite_utils.Database | sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction; return the schema version now in force."""
    conn = db if isinstance(db, sqlite3.Connection) else db.conn
    while True:
        conn.execute("BEGIN IMMEDIATE")  # read the version under the write lock: two processes may start
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):  # its rows may mean what this version cannot know: touch nothing
                raise _too_new(conn, version)
            if version == len(MIGRATIONS):
                conn.execute("COMMIT")
                return version
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
