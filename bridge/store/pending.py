"""State kept in memory beside the journal, changed inside its transactions: kept by their COMMIT, undone by rollbacks.

An owner (the paper broker's book) holds a committed layer and a pending one. Its writes inside a journal
transaction go to the pending layer, each with a way to undo it; the transaction machinery (`Transaction`,
the store's group commit) tells the connection's `Pending` of every savepoint, rollback and commit, so the
memory never holds what the journal rolled back, and a reader outside the transaction sees only what the
journal has committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Protocol


class Owner(Protocol):
    """State with a pending layer: `merge` keeps it (the transaction committed), `drop` forgets it."""

    def merge(self) -> None:
        """The transaction committed: the pending layer becomes the committed one."""

    def drop(self) -> None:
        """The transaction rolled back: the pending layer is forgotten."""


class Pending:
    """The undo log of one connection's open transaction, for the memory its writes changed."""

    __slots__ = ("_owners", "_undo", "job_mark", "serial")

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._owners: list[Owner] = []
        self.job_mark = 0  # the mark of the store's savepoint for the job now running
        self.serial = 0  # transactions begun on the connection: which one is open, when one is

    def begin(self) -> None:
        """A transaction began (its BEGIN ran): anything left from one that ended unseen was never committed."""
        self.serial += 1
        self.rollback()

    def record(self, owner: Owner, undo: Callable[[], None]) -> None:
        """A change of `owner`'s pending layer, undone by `undo` should its savepoint roll back."""
        if not any(known is owner for known in self._owners):
            self._owners.append(owner)
        self._undo.append(undo)

    def mark(self) -> int:
        """Where a savepoint begins, for `undo_to`."""
        return len(self._undo)

    def undo_to(self, mark: int) -> None:
        """A savepoint rolled back: undo the changes made since it began, latest first."""
        while len(self._undo) > mark:
            self._undo.pop()()

    def commit(self) -> None:
        """The transaction committed: every owner keeps its pending changes."""
        owners, self._owners, self._undo = self._owners, [], []
        for owner in owners:
            owner.merge()

    def rollback(self) -> None:
        """The transaction rolled back (or never began): every owner forgets its pending changes."""
        owners, self._owners, self._undo = self._owners, [], []
        for owner in owners:
            owner.drop()


def pending_of(conn: sqlite3.Connection) -> Pending | None:
    """The connection's log (journal connections have one), None for any other connection."""
    found: Pending | None = getattr(conn, "pending", None)
    return found
