"""The kill switch: a halt flag persisted in the journal that stops every new broker submission.

Cancels still run while halted. The flag survives restarts (table `trading_state`), and the
executor checks it right before each `create_order`, so once a halt has been acknowledged no
order leaves the bridge until a resume, but for a stop put back in place of one the bridge's own
cancel just took (`Guard.create_order`'s `protective`): a halt never leaves a position without its stop.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from bridge.store.db import Store, iso, transaction, utcnow

log = logging.getLogger("bridge.halt")


@dataclass(frozen=True)
class HaltState:
    """Whether trading is halted, and who changed it when and why."""

    halted: bool = False
    reason: str | None = None
    changed_at: str | None = None
    changed_by: str | None = None

    def as_json(self) -> dict[str, object]:
        """The state as the API and /health show it."""
        return {"halted": self.halted, "reason": self.reason, "changed_at": self.changed_at, "by": self.changed_by}

    def explain(self) -> str:
        """One sentence for decisions and errors."""
        why = f" ({self.reason})" if self.reason else ""
        since = f" since {self.changed_at}" if self.changed_at else ""
        return f"trading is halted{why}{since}; run `bridge resume` or POST /api/resume to trade again"


def read_state(conn: sqlite3.Connection) -> HaltState:
    """The persisted state (not halted when it was never set)."""
    row = conn.execute("SELECT halted, reason, changed_at, changed_by FROM trading_state WHERE id = 1").fetchone()
    if row is None:
        return HaltState()
    return HaltState(bool(row["halted"]), row["reason"], row["changed_at"], row["changed_by"])


def write_state(conn: sqlite3.Connection, halted: bool, reason: str | None, by: str,
                changed_at: str | None = None) -> HaltState:  # fmt: skip
    """Persist a halt or a resume (committed when this returns), changed now unless `changed_at` says when."""
    state = HaltState(halted, reason, changed_at or iso(utcnow()), by)
    with transaction(conn):
        conn.execute(
            "INSERT INTO trading_state (id, halted, reason, changed_at, changed_by) VALUES (1, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET halted = excluded.halted, reason = excluded.reason, "
            "changed_at = excluded.changed_at, changed_by = excluded.changed_by",
            (int(halted), reason, state.changed_at, by),
        )
    return state


class HaltSwitch:
    """The daemon's view of the flag: set in memory first on a halt, so no submission starts meanwhile."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.state = HaltState()
        # A halt made here that the journal does not hold yet (its write is on its way, or failed): it stands
        # over whatever the journal says until a change made here is committed.
        self._unsaved: HaltState | None = None
        # Told of each state a `set` puts in force, as it does (notifications); each must return at once.
        self.listeners: list[Callable[[HaltState], None]] = []
        self._changes = 0  # `set` calls begun: the last one begun decides, whichever write commits first
        # The write transaction (`Store.transaction_serial`) the state was last read in, if it was read in one.
        self._read_in: int | None = None

    @property
    def halted(self) -> bool:
        """True while no new order may be sent."""
        return self.state.halted

    def reread(self) -> HaltState:
        """Pick up a change written by another process (`bridge halt` that did not reach the daemon).

        One indexed read on the event loop's own connection, without a wait: the last gates before a
        broker call use it too, so a flag written into the journal stops even a plan already admitted.
        Read once per write transaction of the daemon's: while it is open the daemon holds the journal's
        write lock, so no other process can commit a halt, and every read of it would find the same row
        (the paper orders of a batch's plans each pass a gate, all inside one transaction).
        """
        if self._unsaved is None:
            serial = self.store.transaction_serial()
            if serial is None or serial != self._read_in:
                self._read_in = None  # should the read fail, the next one reads again
                self.state = self.store.peek(read_state)
                self._read_in = serial
        return self.state

    def shown(self) -> HaltState:
        """The state to show (/health, /metrics, the dashboard, notifications): read again, as `reread`.

        A halt that `bridge halt` wrote into the journal is in force from the next order on; it must not
        read as "not halted" until then. When the journal cannot be read just now, the last state known.
        """
        try:
            return self.reread()
        except (sqlite3.Error, RuntimeError):  # RuntimeError: the store is not open (starting or stopping)
            return self.state

    async def set(self, halted: bool, reason: str | None, by: str) -> HaltState:
        """Halt or resume; a halt takes effect before it is persisted, a resume only after."""
        changed_at = iso(utcnow())
        self._read_in = None  # what this changes is read again from the journal, not answered from a read before
        self._changes += 1
        mine = self._changes
        if halted:
            # From here on no submission starts, even if persisting below fails (then the caller gets the error,
            # and the halt holds here until a later change is committed).
            self.state = self._unsaved = HaltState(True, reason, changed_at, by)
            self._tell(self.state)
        # The same time as the halt in force above: the journal's row is that very state, not another change.
        state = await self.store.run(write_state, self.store.conn, halted, reason, by, changed_at)
        if mine != self._changes:
            # A change asked for since is on its way, its write queued behind this one: a resume committed here
            # must not lift a halt asked for after it (and in force since), nor a halt end a resume's wait.
            return state
        self._unsaved = None
        self.state = state
        if not halted:
            self._tell(state)
        return state

    def _tell(self, state: HaltState) -> None:
        """Hand a state now in force to every listener; a listener's failure is only logged."""
        for listener in self.listeners:
            try:
                listener(state)
            except Exception:  # telling of a halt must never undo it, nor fail a resume already committed
                log.exception("a listener failed on the kill switch's change")
