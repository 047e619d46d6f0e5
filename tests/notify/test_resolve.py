"""A notification host whose name never resolves delays only the notifications to it, never the rest of the daemon."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bridge.notify.config import Notifications, NotifyTarget
from bridge.notify.events import Event
from bridge.notify.resolve import _first_connected
from bridge.notify.send import Notifier
from tests.conftest import GUARD
from tests.notify.receiver import Receiver

HUNG = "hung-resolver.invalid"


class HungResolver:
    """`socket.getaddrinfo` as the OS offers it, but a lookup of HUNG waits until the test ends (a dead DNS server)."""

    def __init__(self) -> None:
        self.real = socket.getaddrinfo
        self.release = threading.Event()
        self.entered = threading.Event()
        self.hung = 0

    def __call__(self, host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (HUNG, HUNG.encode()):  # anyio passes the name IDNA-encoded, as bytes
            self.hung += 1
            self.entered.set()
            self.release.wait(GUARD * 2)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return self.real(host, *args, **kwargs)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Any:
    hung = HungResolver()
    monkeypatch.setattr(socket, "getaddrinfo", hung)
    yield hung
    hung.release.set()


async def test_a_hung_lookup_of_a_notification_host_leaves_the_loops_threads_and_other_targets_alone(
    resolver: HungResolver,
) -> None:
    """getaddrinfo runs in the loop's default thread pool, which the journal's file work and every other lookup
    (a broker's) share: a target whose DNS hangs, with retries piling up, must not take that pool, nor delay the
    notifications to a target whose name resolves."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(1))  # one thread: a single lookup kept there stalls the pool
    waits = ThreadPoolExecutor(2)  # the test's own waiting, outside the pool under test
    with Receiver() as receiver:
        config = Notifications(
            targets=[NotifyTarget(type="webhook", url=f"http://{HUNG}/hook", name="hung"),
                     NotifyTarget(type="webhook", url=f"http://localhost:{receiver.port}/ok", name="ok")],
            timeout=0.2, backoff=0.05, retries=20,
        )  # fmt: skip
        notifier = Notifier(lambda: config)
        notifier.start()
        try:
            for i in range(20):  # each delivery to HUNG times out and is retried: lookups pile up
                notifier.submit(Event("halt", f"halt {i}"))
            assert await loop.run_in_executor(waits, resolver.entered.wait, GUARD), "no lookup of the hung host began"
            other = asyncio.ensure_future(loop.getaddrinfo("localhost", 80))  # a broker's lookup, say
            done, _ = await asyncio.wait([other], timeout=GUARD)
            assert other in done, "a lookup outside notifications waited for the hung one"
            await loop.run_in_executor(waits, receiver.wait, 20, GUARD)  # the resolvable target got them all
        finally:
            resolver.release.set()
            await notifier.stop(grace=0)
            waits.shutdown()
    # Every halt reached the target that resolves (one that took past the short attempt timeout, on a loaded
    # machine, was sent again: told twice, never missed).
    assert {r.path for r in receiver.received} == {"/ok"}
    assert {json.loads(r.body)["text"] for r in receiver.received} == {f"halt {i}" for i in range(20)}
    assert resolver.hung == 1  # one thread waits on the resolver, however many deliveries timed out and retried


async def test_an_address_that_swallows_the_connection_does_not_keep_the_next_one_from_being_tried() -> None:
    """A host's IPv6 address whose packets vanish (a broken route) must not cost the delivery: its IPv4 one answers."""
    swallowed = asyncio.Event()
    canceled: list[str] = []

    async def connect(address: str) -> Any:
        if address == "2001:db8::1":
            swallowed.set()
            try:
                await asyncio.Event().wait()  # never answers
            except asyncio.CancelledError:
                canceled.append(address)
                raise
        return address

    assert await _first_connected(connect, ["2001:db8::1", "192.0.2.1"]) == "192.0.2.1"
    assert swallowed.is_set() and canceled == ["2001:db8::1"]  # tried first, and not left connecting


async def test_when_no_address_connects_the_last_error_is_raised() -> None:
    async def refuse(address: str) -> Any:
        raise ConnectionRefusedError(f"refused by {address}")

    with pytest.raises(ConnectionRefusedError, match=r"refused by 192\.0\.2\.2"):
        await _first_connected(refuse, ["192.0.2.1", "192.0.2.2"])
