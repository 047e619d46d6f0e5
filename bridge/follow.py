"""`bridge signals --follow`, `bridge orders --follow`: the newest rows, then each row added or changed since.

New rows are found by rowid, not by time nor by a window of the newest: one transaction writes the journal
at a time, so a row committed later has the larger rowid, whichever process wrote it (the intake process,
the daemon) and whatever time it carries, and a burst larger than `--limit` between two looks is printed
whole. A row not final yet (a signal received or processing, an order working) is looked at again until it
is, wherever it stands among the newest.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from bridge.config.load import LoadedConfig
from bridge.listing import open_journal, render_table, shown
from bridge.models import FINAL_ORDER_STATUSES, FINAL_SIGNAL_STATES
from bridge.store import journal

FOLLOW_INTERVAL = 1.0  # seconds between two looks
# What a row's changes are told by, and which of its values end them.
WATCHED = {"signals": ("state", FINAL_SIGNAL_STATES), "orders": ("status", FINAL_ORDER_STATUSES)}
NEWEST = {"signals": "received_at", "orders": "created_at"}
CHUNK = 500  # ids per `IN (...)`: far below SQLite's limit on bound parameters


class Follower:
    """What has been printed of one table: the last rowid read, and the rows still to watch with how they looked."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.last = 0
        self.watching: dict[int, tuple[Any, ...]] = {}

    def _look(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return (row.get("state"), row.get("decision"), row.get("status"), row.get("filled_quantity"),
                row.get("error"))  # fmt: skip

    def first(self, conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` rows, oldest first; every row not final yet, printed or not, is watched from here."""
        column, final = WATCHED[self.what]
        with _snapshot(conn):
            newest = conn.execute(
                f"SELECT rowid AS _rowid, * FROM {self.what} ORDER BY {NEWEST[self.what]} DESC, rowid DESC LIMIT ?",  # noqa: S608 - whitelisted
                (limit,),
            ).fetchall()
            open_rows = conn.execute(
                f"SELECT rowid AS _rowid, * FROM {self.what} WHERE {column} NOT IN ({', '.join('?' * len(final))})",  # noqa: S608
                tuple(final),
            ).fetchall()
            self.last = int(conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {self.what}").fetchone()[0])  # noqa: S608
        for row in map(dict, open_rows):
            self.watching[row["_rowid"]] = self._look(row)
        return [dict(row) for row in reversed(newest)]

    def next(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        """Rows changed since the last look (oldest first), then the rows added since, in the order committed."""
        with _snapshot(conn):
            top = int(conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {self.what}").fetchone()[0])  # noqa: S608
            if top < self.last:  # emptied (pruned) and written again: its rowids start over
                self.last = 0
                self.watching.clear()
            changed = [dict(r) for r in _by_rowid(conn, self.what, sorted(self.watching))]
            added = [dict(r) for r in conn.execute(
                f"SELECT rowid AS _rowid, * FROM {self.what} WHERE rowid > ? ORDER BY rowid", (self.last,)  # noqa: S608
            )]  # fmt: skip
        gone = set(self.watching) - {row["_rowid"] for row in changed}  # pruned meanwhile
        for rowid in gone:
            del self.watching[rowid]
        fresh = [row for row in changed if self._look(row) != self.watching[row["_rowid"]]]
        self.last = max([self.last, *(row["_rowid"] for row in added)])
        for row in fresh + added:
            self.track(row)
        return fresh + added

    def track(self, row: dict[str, Any]) -> None:
        """Watch a printed row until it is final."""
        column, final = WATCHED[self.what]
        if row.get(column) in final:
            self.watching.pop(row["_rowid"], None)
        else:
            self.watching[row["_rowid"]] = self._look(row)


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: its reads see one moment of the journal (a row committed meanwhile is in none)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _by_rowid(conn: sqlite3.Connection, table: str, rowids: list[int]) -> Iterable[sqlite3.Row]:
    for start in range(0, len(rowids), CHUNK):
        part = rowids[start : start + CHUNK]
        yield from conn.execute(
            f"SELECT rowid AS _rowid, * FROM {table} WHERE rowid IN ({', '.join('?' * len(part))}) ORDER BY rowid",  # noqa: S608
            part,
        ).fetchall()


def follow(loaded: LoadedConfig, what: str, limit: int, as_json: bool = False) -> int:
    """Print the newest rows, then each new or changed one as it happens, until Ctrl-C."""
    follower = Follower(what)
    looked = header = False
    try:
        while True:
            # Opened for each look: the daemon may restart (and migrate) the journal meanwhile.
            conn = open_journal(loaded)
            try:
                rows = follower.next(conn) if looked else follower.first(conn, limit)
            finally:
                conn.close()
            looked = True
            if rows:
                hidden = {"_rowid", *journal.UNLISTED}  # what the lists leave out (`journal.latest`) too
                rows = [{k: v for k, v in shown(row, exact=not as_json).items() if k not in hidden} for row in rows]
                if as_json:
                    print("\n".join(json.dumps(r, default=str) for r in rows), flush=True)
                else:
                    table = render_table(what, rows)
                    print("\n".join(table.splitlines()[header:]), flush=True)  # the header once, atop the first
                    header = True
            time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        return 0
