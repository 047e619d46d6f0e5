"""The journal's lookups of unfinished work go through an index, never a scan of every row ever journaled.

They run on the event loop (recovery at start-up, the delayed-signal and open-order jobs), and the
journal keeps months of rows: a scan would stall every webhook answer while it runs. The statements
are the functions' own, captured as they run, so a query edited into a scan fails here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlite_utils

from bridge.store import db, journal, upkeep
from bridge.store.db import connect
from bridge.store.migrations import migrate

JOURNAL_TABLES = ("webhooks", "signals", "executions", "orders", "paper_orders")
LOOKUPS: dict[str, Callable[[sqlite3.Connection], object]] = {
    "interrupted executions (recovery)": journal.unfinished_executions,
    "orders of unknown outcome (recovery)": journal.unresolved_orders,
    "delayed signals": upkeep.delayed_executions,
    "delayed signals due": lambda conn: upkeep.delayed_executions(conn, "2026-01-01T00:00:00+00:00"),
    "open orders": upkeep.open_orders,
    "executions waiting (a capped journal's room for webhooks)": lambda conn: db._unfinished_executions(conn, 100),
}


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_a_lookup_of_unfinished_work_scans_no_journal_table(tmp_path: Path, name: str) -> None:
    conn = connect(tmp_path / "j.db")
    migrate(sqlite_utils.Database(conn))
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    LOOKUPS[name](conn)
    conn.set_trace_callback(None)
    assert statements, "the lookup ran no statement"
    for sql in statements:
        plan = [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        scans = [step for step in plan if step.startswith("SCAN ") and _table(sql, step.split()[1]) in JOURNAL_TABLES]
        assert not scans, f"{name}: {plan}\n{sql}"


def _table(sql: str, alias: str) -> str:
    """The table a plan's name stands for: itself, or the table of an alias (`FROM orders o` -> orders)."""
    words = sql.replace(",", " ").split()
    for index, word in enumerate(words[1:], start=1):
        if word == alias and words[index - 1] in JOURNAL_TABLES:
            return words[index - 1]
    return alias


async def test_the_paper_brokers_buying_power_check_reads_working_orders_only(tmp_path: Path) -> None:
    """It runs for every paper order on the webhook path: a lookup by (broker, parent) read every order ever placed."""
    from decimal import Decimal

    from bridge.brokers.base import BrokerContext
    from bridge.brokers.paper import PaperBroker, PaperOptions
    from bridge.models import OrderRequest
    from bridge.store.db import Store

    store = Store(tmp_path / "j.db")
    await store.open()
    broker = PaperBroker(PaperOptions(), BrokerContext(name="paper", store=store))
    await broker.connect()
    request = OrderRequest(client_order_id="c1", symbol="AMD", side="buy", quantity=Decimal(1), type="market",
                           reference_price=Decimal(50))  # fmt: skip

    def plans() -> list[list[str]]:
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        broker._check_buying_power(request)
        store.conn.set_trace_callback(None)
        return [[str(row[3]) for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
                for sql in statements if "paper_orders" in sql]  # fmt: skip

    found = await store.run(plans)
    await store.close()
    assert found, "the check read no working orders"
    for plan in found:
        assert any("paper_orders_working" in step for step in plan), plan


def test_the_fill_of_an_exit_of_a_whole_position_reads_the_orders_of_its_symbol_not_yet_marked(tmp_path: Path) -> None:
    """It runs on every such fill (a sell that closes a long), on the event loop: by `orders_status` it read every
    final order the journal ever kept, a longer read with each order, where it needs those of one symbol since the
    last such exit."""
    conn = connect(tmp_path / "j.db")
    migrate(sqlite_utils.Database(conn))
    columns = ("id", "signal_id", "broker", "subscription", "leg", "seq", "client_order_id", "symbol", "side", "type",
               "quantity", "time_in_force", "status", "created_at", "updated_at", "closed_position_at")  # fmt: skip
    exit_row = ("x", "s", "paper", "k", "exit", 0, "x", "AMD", "sell", "market", "1", "day", "filled",
                "2026-01-02T00:00:00+00:00", "2026-01-02T00:00:01+00:00", "2026-01-02T00:00:00+00:00")  # fmt: skip
    conn.execute("PRAGMA foreign_keys = OFF")  # the exit alone, without the signal it belongs to: its plan is all
    conn.execute(f"INSERT INTO orders ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", exit_row)  # noqa: S608 - names are ours
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    journal.close_shares(conn, "x")
    conn.set_trace_callback(None)
    marks = [sql for sql in statements if sql.lstrip().upper().startswith("UPDATE ORDERS")]
    assert marks, statements
    marks += [
        sql for sql in statements if sql.lstrip().upper().startswith("SELECT") and "closed_by IS NULL AND broker" in sql
    ]
    assert len(marks) > 1, statements  # the check of the orders working across the read too
    for sql in marks:
        plan = [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert plan and all("orders_unclosed" in step for step in plan), plan
    assert conn.execute("SELECT closed_by FROM orders WHERE id = 'x'").fetchone()[0] == "x"


def test_a_read_of_a_flat_position_marks_the_orders_of_its_symbol_through_the_index(tmp_path: Path) -> None:
    """Every signal's read of a flat position may mark the orders from before it (`journal.close_flat`), on the event
    loop: by the orders of its symbol not marked yet, never by a scan of the journal."""
    conn = connect(tmp_path / "j.db")
    migrate(sqlite_utils.Database(conn))
    columns = ("id", "signal_id", "broker", "subscription", "leg", "seq", "client_order_id", "symbol", "side", "type",
               "quantity", "time_in_force", "status", "created_at", "updated_at", "filled_quantity")  # fmt: skip
    entry = ("e", "s", "paper", "k", "entry", 0, "e", "AMD", "buy", "market", "1", "day", "filled",
             "2026-01-02T00:00:00+00:00", "2026-01-02T00:00:01+00:00", "1")  # fmt: skip
    conn.execute("PRAGMA foreign_keys = OFF")  # the order alone, without the signal it belongs to
    conn.execute(f"INSERT INTO orders ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", entry)  # noqa: S608 - names are ours
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert journal.flat_to_close(conn, "paper", "AMD", "2026-01-03T00:00:00+00:00")
    assert journal.close_flat(conn, "paper", "AMD", "2026-01-03T00:00:00+00:00") == (1, "")
    conn.set_trace_callback(None)
    reads = [sql for sql in statements if sql.lstrip().upper().startswith(("UPDATE ORDERS", "SELECT"))]
    assert len(reads) == 3, statements
    for sql in reads:
        plan = [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert plan and all("orders_unclosed" in step for step in plan), plan
