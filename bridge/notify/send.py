"""Deliver events to notification targets over httpx: a bounded queue, retries with backoff, never blocking."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bridge.config.secrets import redact_encoded, redact_values
from bridge.notify.config import Notifications, NotifyTarget
from bridge.notify.events import Event
from bridge.notify.resolve import Resolver, network_backend
from bridge.store.db import iso

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("bridge.notify")
# Deliveries in flight at once to one target; each target has its own, so a dead one never holds back another.
MAX_PARALLEL = 8
MAX_RETRY_WAIT = 300.0  # seconds; a receiver's Retry-After (or the doubled backoff) is never waited longer
DISCORD_LIMIT = 2000  # characters in one Discord message
TELEGRAM_LIMIT = 4096
URGENT = ("signal.failed", "order.rejected", "order.unfollowed", "reload.failed", "halt")
# Told to each target in the order they happened: the last one read must be the state in force.
IN_TURN = ("halt", "resume")


@dataclass(frozen=True)
class Delivery:
    """One HTTP request that carries an event to a target."""

    url: str
    content: bytes
    headers: dict[str, str]


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=str).encode()


def render(target: NotifyTarget, event: Event) -> Delivery:
    """The request for `event` in `target`'s format."""
    text = f"trade-bridge {event.kind}: {event.text}"
    as_json = {"content-type": "application/json"}
    if target.type == "discord":
        # No mention is parsed: a ticker or an error is the sender's text, and "@everyone" in it would ping a server.
        post = {"content": text[:DISCORD_LIMIT], "username": "trade-bridge", "allowed_mentions": {"parse": []}}
        return Delivery(str(target.url), _json(post), as_json)
    if target.type == "telegram":
        url = f"{target.api_url.rstrip('/')}/bot{target.bot_token}/sendMessage"
        message = {"chat_id": target.chat_id, "text": text[:TELEGRAM_LIMIT], "disable_web_page_preview": True}
        return Delivery(url, _json(message), as_json)
    if target.type == "ntfy":
        headers = {"title": f"trade-bridge {event.kind}", "priority": "high" if event.kind in URGENT else "default",
                   "tags": event.kind.replace(".", ","), "content-type": "text/plain; charset=utf-8"}  # fmt: skip
        if target.access_token:
            headers["authorization"] = f"Bearer {target.access_token}"
        return Delivery(str(target.url), event.text.encode(), headers)
    body: dict[str, Any] = {"kind": event.kind, "text": event.text, "at": iso(event.at), "data": event.data}
    return Delivery(str(target.url), _json(body), as_json)


def _masked(event: Event, secrets: Sequence[str]) -> Event:
    """`event` with every secret in its text and data masked (the target's own credentials are added later)."""
    # Its text as its data: a venue's error quoting its request URL has the key in it percent-encoded.
    return replace(event, text=redact_encoded(event.text, secrets), data=redact_values(event.data, secrets))


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429 asks us to wait (header, or Discord's/Telegram's JSON), at most MAX_RETRY_WAIT, if it says."""
    value: Any = response.headers.get("retry-after")
    if value is None:
        with contextlib.suppress(ValueError):  # not JSON (or not text): it says nothing
            data = response.json()
            # Discord: {"retry_after": 1.5}; Telegram: {"parameters": {"retry_after": 3}}; anything else: nothing.
            found = data if isinstance(data, dict) else {}
            inner = found.get("parameters")
            value = found.get("retry_after") or (inner.get("retry_after") if isinstance(inner, dict) else None)
    try:
        seconds = float(value)
    except (TypeError, ValueError):  # absent, an HTTP date, or not a number
        return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_WAIT)  # "inf" or a day: a slot is not held that long


def _new_client(transport: httpx.AsyncBaseTransport | None, resolver: Resolver) -> httpx.AsyncClient:
    """The client deliveries share; made off the event loop (see `Notifier._http`)."""
    import httpx  # here, not at start-up: a few MiB that a daemon without notifications never needs

    if transport is None:
        own = httpx.AsyncHTTPTransport()
        # httpx takes no network backend, its connection pool does: names are looked up by `resolver`, never
        # in the event loop's thread pool (see bridge.notify.resolve). The rest is httpx's transport as it is.
        own._pool._network_backend = network_backend(resolver)
        transport = own
    # No proxy from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY): it would see each notice and the targets'
    # URLs and tokens. httpx already ignores them beside a transport of our own; said here, it never depends on that.
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


@dataclass
class Lane:
    """One target's deliveries: how many are in flight, and those waiting for one of its slots."""

    busy: int = 0
    waiting: collections.deque[tuple[NotifyTarget, Event, Notifications]] = field(default_factory=collections.deque)
    in_turn: asyncio.Task[None] | None = None  # the last delivery of an IN_TURN event: the next one waits for it


def _lane_key(target: NotifyTarget) -> tuple[str | None, ...]:
    """Where a target's deliveries go: targets that share it share its slots (a reload keeps them)."""
    return (target.type, target.url, target.api_url, target.bot_token, target.chat_id)


def _identity(target: NotifyTarget) -> tuple[str, str | None]:
    """Which target this is across reloads, wherever it sends: a reload that changes its address keeps it."""
    return (target.type, target.name)


class Notifier:
    """Accepts events instantly (`submit`) and delivers them in the background."""

    def __init__(self, settings: Callable[[], Notifications], transport: httpx.AsyncBaseTransport | None = None,
                 secrets: Callable[[], Sequence[str]] = tuple) -> None:  # fmt: skip
        self.settings = settings  # read per event, so a reload's new targets apply at once
        # The config's secrets, masked in every event sent: an event's text may quote an adapter's words (an
        # order's error echoing the venue's request, key included), and a notification leaves the machine.
        self.secrets = secrets
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: asyncio.Queue[Event] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._inflight: dict[asyncio.Task[None], NotifyTarget] = {}  # each delivery under way, and where it goes
        self._lanes: dict[tuple[str | None, ...], Lane] = {}
        # The last delivery of an IN_TURN event per target (`_identity`), whichever address it went to.
        self._in_turn: dict[tuple[str, str | None], asyncio.Task[None]] = {}
        self._stopping = False
        self._transport = transport
        self._client: httpx.AsyncClient | None = None  # made on the first delivery: most setups never notify
        self._resolver = Resolver()
        self._making = asyncio.Lock()

    async def _http(self) -> httpx.AsyncClient:
        async with self._making:  # deliveries starting together share one client
            if self._client is None:
                # In a thread: importing httpx and loading the CA bundle take a tenth of a second or more, in which
                # the loop (trading included) would stand still, at the first fill or halt worth telling.
                self._client = await asyncio.to_thread(_new_client, self._transport, self._resolver)
        return self._client

    def start(self) -> None:
        """Start the background sender."""
        self._queue = asyncio.Queue(maxsize=self.settings().queue_size)
        self._worker = asyncio.create_task(self._run(), name="notify")

    def submit(self, event: Event) -> None:
        """Queue an event if any target wants it; never waits (a full queue drops it, with a warning)."""
        settings = self.settings()
        if self._queue is None or not any(t.wants(event.kind, settings.events) for t in settings.targets):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("notification queue full (%d); dropped %s", self._queue.maxsize, event.kind)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            settings = self.settings()
            for target in settings.targets:
                if target.wants(event.kind, settings.events):
                    self._dispatch(target, event, settings)
            self._queue.task_done()

    def _dispatch(self, target: NotifyTarget, event: Event, settings: Notifications) -> None:
        """Start a delivery on a free slot of the target's lane, or queue it there; never waits."""
        lane = self._lanes.setdefault(_lane_key(target), Lane())
        if lane.busy < MAX_PARALLEL:
            lane.busy += 1
            self._start(lane, (target, event, settings))
        elif len(lane.waiting) < settings.queue_size:
            lane.waiting.append((target, event, settings))
        else:  # this target has not taken the last queue_size events (down, or rate limiting us): drop for it alone
            self.dropped += 1
            log.warning("notifications to %s are %d behind; dropped %s", target.label, settings.queue_size,
                        event.kind)  # fmt: skip

    def _start(self, lane: Lane, item: tuple[NotifyTarget, Event, Notifications]) -> None:
        target, in_turn = item[0], item[1].kind in IN_TURN
        # The last one to this address, and the last one to this target: a reload may have moved that one here.
        last = (lane.in_turn, self._in_turn.get(_identity(target))) if in_turn else ()
        after = {each for each in last if each is not None}
        task = asyncio.create_task(self._deliver(lane, *item, after=after))
        if in_turn:
            lane.in_turn = self._in_turn[_identity(target)] = task
        self._inflight[task] = target
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        target = self._inflight.pop(task, None)
        if target is not None and self._in_turn.get(_identity(target)) is task:
            del self._in_turn[_identity(target)]

    def _done(self, lane: Lane, target: NotifyTarget) -> None:
        """A delivery ended: its slot takes the lane's next waiting delivery, or is freed."""
        if lane.waiting and not self._stopping:
            self._start(lane, lane.waiting.popleft())
            return
        lane.busy -= 1
        if lane.busy == 0 and not lane.waiting and self._lanes.get(_lane_key(target)) is lane:
            del self._lanes[_lane_key(target)]  # idle: a target a reload removed leaves nothing behind

    async def _deliver(self, lane: Lane, target: NotifyTarget, event: Event, settings: Notifications,
                       after: set[asyncio.Task[None]]) -> None:  # fmt: skip
        try:
            if after:  # a halt retried, then a resume sent at once: the chat would end on the wrong one
                await asyncio.wait(after)
            await self._try_deliver(target, event, settings)
        except Exception:  # a bug here must not end the delivery silently (the log masks the target's secrets)
            self.failed += 1
            log.exception("notification %s to %s failed", event.kind, target.label)
        finally:
            self._done(lane, target)

    async def _try_deliver(self, target: NotifyTarget, event: Event, settings: Notifications) -> None:
        request = render(target, _masked(event, self.secrets()))
        delay = settings.backoff
        for attempt in range(settings.retries + 1):
            if not self._configured(target):
                # A reload changed where it sends (the operator fixed a wrong URL): what waited goes there instead.
                if (moved := self._moved(target, event, settings)) is not None:
                    log.warning("notification %s to %s goes to its new address: a reload changed it", event.kind,
                                moved.label)  # fmt: skip
                    await self._try_deliver(moved, event, self.settings())
                    return
                # A reload removed it (a chat others read, a URL that leaked): what waited for it goes nowhere.
                self.dropped += 1
                log.warning("notification %s to %s not sent: a reload removed that target (or changed it beside "
                            "another of its type and name, or it takes that event no more)", event.kind,
                            target.label)  # fmt: skip
                return
            wait = await self._attempt(target, request, settings.timeout)
            if wait is None:
                self.sent += 1
                return
            if wait < 0 or attempt == settings.retries:
                break
            await asyncio.sleep(min(max(wait, delay), MAX_RETRY_WAIT))
            delay *= 2
        self.failed += 1
        log.error("notification %s to %s not delivered after %d attempt(s)", event.kind, target.label,
                  attempt + 1)  # fmt: skip

    def _configured(self, target: NotifyTarget) -> bool:
        """Whether the config in force still sends to where `target` sends (its name may have changed)."""
        return any(_lane_key(each) == _lane_key(target) for each in self.settings().targets)

    def _moved(self, target: NotifyTarget, event: Event, settings: Notifications) -> NotifyTarget | None:
        """The target a reload put in `target`'s place (same type and name, a new address), if one alone did.

        `settings`: those the event was dispatched under. A target they held already had the event sent to it
        (or chose not to take it): it is no successor, or a target removed beside it would tell it twice.
        """
        now = self.settings()
        before = {_lane_key(each) for each in settings.targets}
        new = [each for each in now.targets if _identity(each) == _identity(target) and _lane_key(each) not in before]
        return new[0] if len(new) == 1 and new[0].wants(event.kind, now.events) else None

    async def _attempt(self, target: NotifyTarget, request: Delivery, timeout: float) -> float | None:
        """None when delivered; seconds to wait before retrying; -1 when retrying cannot help."""
        client = await self._http()
        import httpx  # imported by now, with the client

        try:
            # The whole attempt, not only each read: httpx's timeout is per socket operation, so a receiver that
            # sends a byte now and then would hold the attempt (and a slot of its target) for ever.
            async with asyncio.timeout(timeout):
                response = await client.post(request.url, content=request.content, headers=request.headers,
                                                    timeout=timeout)  # fmt: skip
        except (httpx.HTTPError, TimeoutError) as exc:  # the message never includes the URL (it may hold a token)
            log.warning("notification to %s failed: %s", target.label, type(exc).__name__)
            return 0.0
        if response.is_success:
            return None
        log.warning("notification to %s answered %d", target.label, response.status_code)
        if response.status_code == 429:
            return _retry_after(response) or 0.0
        return 0.0 if response.status_code >= 500 or response.status_code == 408 else -1.0

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for queued and in-flight deliveries; they go on after it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                if self._queue is not None:
                    await self._queue.join()
                while self._inflight:
                    # `wait`, not `gather`: at the timeout a gather would cancel the deliveries it waited for.
                    await asyncio.wait(list(self._inflight))

    async def stop(self, grace: float = 2.0) -> None:
        """Give pending notifications a moment, then cancel what is left and close the client."""
        await self.drain(grace)
        self._stopping = True  # a canceled delivery does not start the next one waiting
        self._report_unsent()
        tasks = [t for t in (self._worker, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        await self._resolver.aclose()

    def _report_unsent(self) -> None:
        """Count and log, per target, what the grace was too short for: under way, waiting, or not yet dispatched."""
        unsent: collections.Counter[str] = collections.Counter(t.label for t in self._inflight.values())
        unsent.update(target.label for lane in self._lanes.values() for target, _, _ in lane.waiting)
        settings = self.settings()
        while self._queue is not None and not self._queue.empty():
            event = self._queue.get_nowait()
            unsent.update(t.label for t in settings.targets if t.wants(event.kind, settings.events))
        if unsent:
            self.dropped += unsent.total()
            log.warning("stopping: %d notification(s) not delivered (%s)", unsent.total(),
                        ", ".join(f"{label}: {count}" for label, count in sorted(unsent.items())))  # fmt: skip
