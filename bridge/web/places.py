"""`server.limit_concurrency` as places handed out in the order connections came, and a short wait for one.

uvicorn's own limit refused every request whose head ended while that many connections were open, those of the
connections that made up the number too: a bar close's burst of more alerts than the limit, each on a connection of
its own (as TradingView sends them), was answered 503 whole, and so was each of its resends 5 s later. Here a
connection takes a place when one is free. One that finds none waits, its request unread, until a place frees, for
PLACE_WAIT seconds at most (TradingView waits 3 s for an answer); meanwhile a connection kept alive and idle is
closed to make room, and so is one that has held its place STALLED_HEAD seconds or more without its request's head
(a sender sends it at once: connections opened by a stranger and left silent, or fed a byte at a time, held every
place until the head timeout, 10 s, and every webhook behind them was answered 503). Only a connection whose wait
ended without a place is answered 503, and so is one past WAITING_PER_PLACE connections waiting per place (the file
descriptors they hold are bounded as well). The admin listener takes no place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import Any, Protocol

try:
    import resource
except ImportError:  # not POSIX: the system's own limit on open files stands
    resource = None  # type: ignore[assignment]

PLACE_WAIT = 2.0  # seconds; TradingView gives up on an answer after 3
STALLED_HEAD = 1.0  # seconds a place is held with a request's head not all there, while others wait for one
WATCH_EVERY = 0.25  # seconds between looks for a place to free, while connections wait
WAITING_PER_PLACE = 10  # connections that may wait, per place of limit_concurrency
REFUSAL_LOG_EVERY = 10.0  # seconds between the log lines of refusals in a flood
SPARE_FILES = 256  # file descriptors beyond the connections: the journal, its WAL, logs, the brokers' sockets

log = logging.getLogger("bridge.web")


class Holder(Protocol):
    """A connection as the places see it: uvicorn's HTTP protocol (`bridge.web.protocol`)."""

    transport: Any
    cycle: Any
    timeout_keep_alive_task: Any

    def place_given(self) -> None:
        """A place freed for this waiting connection: it reads its request now."""

    def place_refused(self) -> None:
        """No place freed in time: its request is answered 503."""

    def stalled(self) -> bool:
        """It has held its place STALLED_HEAD seconds or more with a request's head begun or awaited, not all there."""

    def evict(self) -> None:
        """Close it, to free its place for one waiting (a 408 when a head had begun)."""


class Places:
    """The places of one server's listeners: who holds one, who waits, in the order they came."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.holders: set[Holder] = set()
        self.waiting: deque[Holder] = deque()
        self.refused = 0  # since the last log line
        self.logged_at = 0.0
        self.watch: asyncio.TimerHandle | None = None  # the next look for a place to free, while connections wait

    def enter(self, conn: Holder) -> bool | None:
        """Give `conn` a place (True), have it wait (False), or refuse it now (None): the places are full."""
        if len(self.holders) < self.limit and not self.waiting:
            self.holders.add(conn)
            return True
        if len(self.waiting) >= self.limit * WAITING_PER_PLACE:
            return None
        self.waiting.append(conn)
        self._make_room()
        return False

    def leave(self, conn: Holder) -> None:
        """`conn` closed: its place goes to the first connection still waiting."""
        if conn in self.holders:
            self.holders.discard(conn)
            while self.waiting and len(self.holders) < self.limit:
                nxt = self.waiting.popleft()
                if not nxt.transport.is_closing():
                    self.holders.add(nxt)
                    nxt.place_given()
        else:
            with contextlib.suppress(ValueError):  # refused, never waiting
                self.waiting.remove(conn)

    def idle(self, conn: Holder) -> None:
        """`conn` answered its request and is kept alive, silent: closed when a connection waits for its place."""
        # Idle ones are closed as a connection comes to wait (`_make_room`); one busy then, idle later, held its
        # place through uvicorn's keep-alive timeout (5 s), past PLACE_WAIT: those waiting were answered 503.
        if self.waiting and conn in self.holders:
            conn.evict()

    def give_up(self, conn: Holder) -> None:
        """`conn` waited PLACE_WAIT without a place: refused, and logged (at most once per REFUSAL_LOG_EVERY)."""
        try:
            self.waiting.remove(conn)
        except ValueError:  # given a place meanwhile
            return
        self.refuse(conn)

    def refuse(self, conn: Holder) -> None:
        """Answer `conn`'s request 503."""
        conn.place_refused()
        self.refused += 1
        now = time.monotonic()
        if now - self.logged_at >= REFUSAL_LOG_EVERY:
            log.warning("%d connection(s) answered 503: %d connections at once (server.limit_concurrency) held "
                        "every place for %gs; senders that resend on 5xx (TradingView, after 5 s) send again; "
                        "raise server.limit_concurrency if these are your senders' bursts",
                        self.refused, self.limit, PLACE_WAIT)  # fmt: skip
            self.refused, self.logged_at = 0, now

    def _make_room(self) -> None:
        """Close holders that hold a place for nothing, one for each connection waiting; look again soon."""
        # A connection kept alive between requests holds its place until uvicorn's keep-alive timeout (5 s), one
        # silent or slow with its head until the head timeout (10 s): past TradingView's 3 s for the one waiting.
        # Closing an idle one is what that timeout does, only sooner.
        wanted = len(self.waiting) - sum(1 for h in self.holders if h.transport.is_closing())
        if wanted > 0:
            idle = [h for h in self.holders if h.timeout_keep_alive_task is not None and not h.transport.is_closing()]
            stalled = [h for h in self.holders if not h.transport.is_closing() and h.stalled()] if len(idle) < wanted \
                else []  # fmt: skip
            for conn in [*idle, *stalled][:wanted]:
                conn.evict()
        if self.waiting and self.watch is None:  # a holder stalls later than the waiter came: looked at again
            with contextlib.suppress(RuntimeError):  # no loop running: none to look again on
                self.watch = asyncio.get_running_loop().call_later(WATCH_EVERY, self._watched)

    def _watched(self) -> None:
        self.watch = None
        if self.waiting:
            self._make_room()


def places_of(server_state: Any, limit: int) -> Places:
    """The places of the server `server_state` belongs to (one per uvicorn server, whatever its listeners)."""
    places: Places | None = getattr(server_state, "bridge_places", None)
    if places is None:  # the first connection; the limit is the server's, fixed until it restarts
        places = server_state.bridge_places = Places(limit)
    return places


def refusal(limit: int) -> bytes:
    """The body of the 503 a connection gets when no place freed for it."""
    return json.dumps({
        "success": False,
        "messageCode": "unavailable",
        "message": f"The bridge is serving {limit} connections at once (server.limit_concurrency) and none ended "
        f"within {PLACE_WAIT:g}s; retry shortly, or raise server.limit_concurrency.",
    }).encode()  # fmt: skip


def allow_files_for(limit: int | None) -> None:
    """Raise the soft limit on open files so `limit` places and their waiting connections fit (up to the hard one).

    Past it, the event loop's accept drops connections unanswered. A shell's default soft limit is often 1,024.
    """
    if limit is None or resource is None:
        return
    needed = limit * (1 + WAITING_PER_PLACE) + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        ceiling = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if ceiling > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
