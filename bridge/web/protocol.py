"""uvicorn's HTTP protocol with a limit on a request's head, and `server.limit_concurrency` as places in the order
connections came (`bridge.web.places`), none taken on the admin port.

uvicorn counts the limit over all of a server's listeners at once: strangers holding that many
connections open on the public port (headers never finished) left the admin listener answering 503
too, so the kill switch (`/api/halt`, the dashboard) was theirs to take away. The admin listener
is loopback only, and its requests still need the admin token.

uvicorn's C parser (httptools) sets no limit on a request's line and headers, and holds every byte of
them until they end: a few strangers streaming endless headers, no token needed, took the daemon's
memory. Past MAX_HEAD_BYTES the request is answered 431 and its connection closed, as h11 (uvicorn's
other parser, 16 KiB) and every reverse proxy does.

Nor does it set a time limit on a head: a connection that sent nothing, or a byte of head now and then, stayed
open for good, and `limit_concurrency` of them, no token needed, had every webhook answered 503 (TradingView's
gives up after three resends). A head not complete HEAD_TIMEOUT seconds after its connection opened (or after its
first byte, for the next request of a kept-alive one) is answered 408 and its connection closed; a connection
that sent nothing is closed without a word (a browser's preconnect that went unused). A request answered before
its body arrived whole (a stranger's 401, a 413) has the rest of it read and dropped for HEAD_TIMEOUT at most, then
its connection closes: each byte of it put off uvicorn's keep-alive timeout, so it could hold its place for good.
Its answer says `Connection: close`: a client that kept the connection for its next request had that request
dropped unanswered when the connection closed after the body; and it is not closed while the body still comes
(uvicorn's own close for `Connection: close`, the request's own too, or HTTP/1.0's), which would reset the
connection and could lose the answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from bridge.web.places import PLACE_WAIT, STALLED_HEAD, Places, places_of, refusal

MAX_HEAD_BYTES = 64 * 1024  # nginx takes 32 KiB of headers by default; real senders send a few hundred bytes
# Senders and proxies send a head at once (TradingView waits 3 s for the whole answer); nginx allows 60 s, Apache
# 20 to 40. Short: it is how long a stranger's connection holds a place of limit_concurrency for nothing.
HEAD_TIMEOUT = 10.0
MESSAGE = f"The request line and headers are larger than {MAX_HEAD_BYTES} bytes."
TOO_LARGE = json.dumps({"success": False, "messageCode": "headers-too-large", "message": MESSAGE}).encode()
LATE = json.dumps(
    {
        "success": False,
        "messageCode": "request-timeout",
        "message": f"The request line and headers did not arrive within {HEAD_TIMEOUT:g}s.",
    }
).encode()


def _answer(status: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 %s\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
            % (status, len(body), body))  # fmt: skip


CROWDED = json.dumps(
    {
        "success": False,
        "messageCode": "request-timeout",
        "message": f"The request line and headers did not arrive within {STALLED_HEAD:g}s while other connections "
        "waited for a place (server.limit_concurrency).",
    }
).encode()
ANSWER = _answer(b"431 Request Header Fields Too Large", TOO_LARGE)
TIMED_OUT = _answer(b"408 Request Timeout", LATE)
EVICTED = _answer(b"408 Request Timeout", CROWDED)


def _head_limited(base: type[asyncio.Protocol], admin_port: int | None) -> type[asyncio.Protocol]:
    """`base` with MAX_HEAD_BYTES and HEAD_TIMEOUT on each request's head, and `server.limit_concurrency` as places
    (`bridge.web.places`) but on `admin_port`, when it is uvicorn's httptools protocol."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools absent: uvicorn uses h11, which has a limit of its own
        return base
    if not issubclass(base, HttpToolsProtocol):
        return base

    class HeadLimitedHTTPProtocol(base):  # type: ignore[valid-type, misc]
        head_bytes = 0  # bytes received since the current request's head began, while it has not ended
        in_body = False
        # A head or a body ended in the bytes being parsed: they are not all head (what they hold of the next
        # request's head, pipelined, goes uncounted: one read at most).
        boundary = False
        # When the head being read (or the rest of an answered request's body) must have arrived, by the loop's
        # clock; None while none is awaited. One timer per connection checks it, moved on only when it fires:
        # a timer set and cancelled for each request cost about 2% of a webhook's CPU.
        head_deadline: float | None = None
        head_timer: asyncio.TimerHandle | None = None
        head_begun = False  # a byte of the current head arrived
        draining = False  # answered before its body arrived whole: the connection closes once it has
        early_cycle: Any = None  # the last request whose answer may come before its body (`_closing_early`)
        places: Places | None = None  # those of limit_concurrency, where this connection holds or waits for one
        place_timer: asyncio.TimerHandle | None = None  # when its wait for a place ends
        refused = False  # no place freed in time: its request is answered 503
        held = b""  # what arrived while it waited (uvloop may start reading after connection_made paused it)

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._time_head()
            limit: int | None = self.limit_concurrency  # type: ignore[has-type]
            if limit is None or (admin_port is not None and self.server is not None and self.server[1] == admin_port):
                self.limit_concurrency = None  # the admin listener (its local address says which) takes no place
                return
            self.limit_concurrency = None  # the places replace uvicorn's own check of the limit
            self.places = places_of(self.server_state, limit)
            entered = self.places.enter(self)
            if entered is None:
                self.places.refuse(self)
            elif not entered:
                transport.pause_reading()  # its request waits unread in the socket
                self.place_timer = self.loop.call_later(PLACE_WAIT, self.places.give_up, self)

        def connection_lost(self, exc: Exception | None) -> None:
            self._untime_head()
            if self.places is not None:
                self._unwait()
                self.places.leave(self)
            super().connection_lost(exc)

        def place_given(self) -> None:
            """A place freed for this waiting connection: its request is read now."""
            self._unwait()

        def place_refused(self) -> None:
            """No place freed in time: its request is read, and answered 503 (`on_headers_complete`)."""
            self.refused = True
            self._unwait()

        def stalled(self) -> bool:
            """Its request's head, begun or awaited, has not all come for STALLED_HEAD seconds or more."""
            deadline = self.head_deadline
            return (
                deadline is not None
                and not self.draining
                and self.loop.time() >= (deadline - HEAD_TIMEOUT + STALLED_HEAD)
            )

        def evict(self) -> None:
            """Closed to free its place for one waiting: said with a 408 when its head had begun."""
            if self.transport.is_closing():
                return
            self._untime_head()
            if self.head_begun:
                self.transport.write(EVICTED)
            self.transport.close()

        def _unwait(self) -> None:
            if self.place_timer is None:
                return
            self.place_timer.cancel()
            self.place_timer = None
            if not self.transport.is_closing():
                self.transport.resume_reading()
                held, self.held = self.held, b""
                if held:
                    self.data_received(held)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.head_begun = True
            if self.head_deadline is None:  # the next request of a kept-alive connection: timed from its first byte
                self._time_head()

        def on_headers_complete(self) -> None:
            self.head_deadline = None
            self.in_body, self.boundary, self.head_bytes, self.head_begun = True, True, 0, False
            if self.refused and self.places is not None:
                self.app = _refusing(self.places.limit)  # uvicorn runs the app it holds for this connection
            super().on_headers_complete()

        def _body_coming(self, cycle: Any) -> bool:
            """The body of `cycle`'s request has not all arrived (a later request's head was not read since)."""
            return self.in_body and self.cycle is cycle

        def _closing_early(self, cycle: Any) -> Callable[[Any], Awaitable[None]]:
            """`cycle.send`, saying `Connection: close` on an answer sent before its request's body ended."""
            send, early = cycle.send, False

            async def send_closing(message: Any) -> None:
                nonlocal early
                if message["type"] == "http.response.start" and self._body_coming(cycle):
                    early = True
                    if cycle.keep_alive:
                        # The connection closes once the rest of the body is read (on_response_complete): said in
                        # the answer, or a client sends its next request on it and has it dropped unanswered. A
                        # request that said it closes (`Connection: close`, HTTP/1.0) has uvicorn say so itself.
                        message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
                elif early and not message.get("more_body", False) and self._body_coming(cycle):
                    # uvicorn closes a `Connection: close` answer's connection as the answer ends: with the body's
                    # rest unread, a reset that can take the answer with it. Kept open: drained, then closed.
                    cycle.keep_alive = True
                await send(message)

            return send_closing

        def _time_head(self) -> None:
            self.head_deadline = self.loop.time() + HEAD_TIMEOUT
            if self.head_timer is None:
                self.head_timer = self.loop.call_at(self.head_deadline, self._head_timer_fired)

        def _untime_head(self) -> None:
            self.head_deadline = None
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _head_timer_fired(self) -> None:
            self.head_timer = None
            if self.head_deadline is None:  # nothing awaited now: the next head sets the timer again
                return
            if self.loop.time() < self.head_deadline:  # a later head than the one it was set for
                self.head_timer = self.loop.call_at(self.head_deadline, self._head_timer_fired)
                return
            self.head_deadline = None
            if self.transport.is_closing():
                return
            if self.head_begun:
                self.transport.write(TIMED_OUT)
            self.transport.close()

        def on_message_complete(self) -> None:
            self.in_body, self.boundary = False, True
            super().on_message_complete()
            if self.draining:  # all of it read: closed with nothing unread, so the answer is not lost to a reset
                self._untime_head()
                self.transport.close()

        def on_response_complete(self) -> None:
            # A request waiting in the pipeline has had its head read: the body being read is its (or a later
            # one's), not the answered request's, and is not drained (it would close before its own answer).
            pipelined = bool(self.pipeline)
            super().on_response_complete()
            if self.in_body and not pipelined and not self.transport.is_closing():
                self.draining = True
                self._time_head()  # closed silently then: the head's flag is down once it was complete
            elif self.places is not None and self.timeout_keep_alive_task is not None:
                self.places.idle(self)  # kept alive and silent now: its place goes to one waiting, if any

        def data_received(self, data: bytes) -> None:
            if self.place_timer is not None:  # waiting for a place: read later
                self.held += data
                self.transport.pause_reading()
                return
            self.boundary = False
            super().data_received(data)
            if self.in_body:
                cycle = self.cycle
                if cycle is not None and cycle is not self.early_cycle and not cycle.response_complete:
                    # Its body has not all arrived, and its app has not run yet (it starts on a later turn of the
                    # loop): its answer may come first. The usual webhook arrives whole in one read, and its
                    # answer's messages are not passed through one more coroutine (1.3% of a webhook's CPU).
                    self.early_cycle = cycle
                    cycle.send = self._closing_early(cycle)
                return
            if self.boundary or self.transport.is_closing():
                return
            # Counted after the parser saw it, only a read that is all head: a body's last part, read while the
            # app has not answered yet, is no head however long.
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.transport.write(ANSWER)
                self.transport.close()

    return HeadLimitedHTTPProtocol


def _refusing(limit: int) -> Callable[[Any, Any, Any], Awaitable[None]]:
    """An ASGI app answering 503 (`places.refusal`), closing the connection after it."""
    body = refusal(limit)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"retry-after", b"5"), (b"connection", b"close")]  # fmt: skip

    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return refuse


def http_protocol(admin_port: int | None) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's `http`: head-limited, and unlimited on connections to `admin_port`."""
    base = _head_limited(AutoHTTPProtocol, admin_port)
    if admin_port is None or base is not AutoHTTPProtocol:
        return base
    # uvicorn's h11 protocol (no httptools): uvicorn's own limit, lifted on the admin listener

    def connection_made(self: Any, transport: asyncio.Transport) -> None:
        base.connection_made(self, transport)
        if self.server is not None and self.server[1] == admin_port:  # the local address: which listener
            self.limit_concurrency = None

    return type("AdminUnlimitedHTTPProtocol", (base,), {"connection_made": connection_made})
