"""Name lookups of notification hosts on threads of their own, so a hung resolver delays only notifications.

httpx (through anyio) looks names up in the event loop's default thread pool, a handful of threads the journal's
file work and every broker's lookups share. A target whose DNS never answers, its deliveries timing out and
retried, piled lookup after lookup there: each timeout left its thread waiting on the resolver, until nothing
else could run in the pool. Here a host is looked up once at a time however many deliveries wait for it, on a
daemon thread (one left hanging never holds up the process's exit), and at most LOOKUP_THREADS at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpcore

LOOKUP_THREADS = 4  # hosts looked up at once; the next ones wait here, never in the loop's pool
HAPPY_EYEBALLS_DELAY = 0.25  # seconds before the next address is tried beside one still connecting (RFC 8305)
T = TypeVar("T")


async def _in_own_thread(function: Callable[[], T]) -> T:
    """`function()` run on a new daemon thread; awaiting it may be canceled, the thread then ends on its own."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # canceled meanwhile: nobody waits for it
            outcome()

    def run() -> None:
        try:
            result = function()
        except Exception as exc:
            outcome = partial(future.set_exception, exc)
        else:
            outcome = partial(future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed while the resolver hung: nothing to tell
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name="bridge-notify-lookup", daemon=True).start()
    return await future


def _ordered(infos: Iterable[tuple[Any, ...]]) -> list[str]:
    """The addresses of getaddrinfo's answer, each once: an IPv6 first, then an IPv4, then the rest (as anyio)."""
    v6 = [info[4][0] for info in infos if info[0] == socket.AF_INET6]
    v4 = [info[4][0] for info in infos if info[0] == socket.AF_INET]
    first = v6[:1] + v4[:1]
    return list(dict.fromkeys(first + v6 + v4))


async def _first_connected(connect: Callable[[str], Coroutine[Any, Any, httpcore.AsyncNetworkStream]],
                           addresses: list[str]) -> httpcore.AsyncNetworkStream:  # fmt: skip
    """The first connection made; the next address is tried beside the last after a moment, or once it failed.

    As anyio does (Happy Eyeballs): an IPv6 address that swallows the connection attempt must not cost the
    delivery, where the IPv4 one next to it answers at once.
    """
    waiting = list(addresses)
    pending: set[asyncio.Task[httpcore.AsyncNetworkStream]] = set()
    error: BaseException | None = None
    try:
        while waiting or pending:
            if waiting:
                pending.add(asyncio.create_task(connect(waiting.pop(0))))
            done, pending = await asyncio.wait(pending, timeout=HAPPY_EYEBALLS_DELAY if waiting else None,
                                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            connected = [task.result() for task in done if task.exception() is None]
            error = next((e for task in done if (e := task.exception()) is not None), error)
            for extra in connected[1:]:  # two at once: one is enough
                await extra.aclose()
            if connected:
                return connected[0]
        raise error or OSError("no address to connect to")
    finally:
        for task in pending:
            task.cancel()
        for late in await asyncio.gather(*pending, return_exceptions=True):
            if not isinstance(late, BaseException):  # connected as it was canceled
                await late.aclose()


class Resolver:
    """Looks notification hosts up: one lookup per host at a time, shared by whoever waits for it."""

    def __init__(self, threads: int = LOOKUP_THREADS) -> None:
        self._threads = threads
        self._slots: asyncio.Semaphore | None = None  # made on the loop that uses it
        self._lookups: dict[tuple[str, int], asyncio.Task[list[str]]] = {}

    async def addresses(self, host: str, port: int) -> list[str]:
        """The IP addresses of `host`, in the order to try them; an IP address is its own answer."""
        with contextlib.suppress(ValueError):
            return [ipaddress.ip_address(host).compressed]
        key = (host, port)
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = self._lookups[key] = asyncio.create_task(self._lookup(host, port), name="notify-lookup")
            lookup.add_done_callback(partial(self._finished, key))
        # Shielded: a delivery that times out leaves the lookup to the next one, instead of starting another.
        return await asyncio.shield(lookup)

    def _finished(self, key: tuple[str, int], lookup: asyncio.Task[list[str]]) -> None:
        if self._lookups.get(key) is lookup:
            del self._lookups[key]  # the next delivery looks it up anew (the answer may change, or fail no more)
        if not lookup.cancelled():
            lookup.exception()  # taken: every delivery that waited for it may have timed out meanwhile

    async def _lookup(self, host: str, port: int) -> list[str]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._threads)
        async with self._slots:
            found = await _in_own_thread(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        return _ordered(found)

    async def aclose(self) -> None:
        """Stop waiting for lookups under way (their threads end when the resolver answers)."""
        lookups = list(self._lookups.values())
        for lookup in lookups:
            lookup.cancel()
        await asyncio.gather(*lookups, return_exceptions=True)


def network_backend(resolver: Resolver) -> httpcore.AsyncNetworkBackend:
    """An httpcore network backend that looks names up with `resolver`, then connects as httpcore does."""
    import httpcore  # with httpx, only once a notification goes out

    class Backend(httpcore.AsyncNetworkBackend):
        """httpcore's anyio backend, given IP addresses only (anyio would look a name up in the loop's pool)."""

        def __init__(self) -> None:
            self.inner = httpcore.AnyIOBackend()

        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                              local_address: str | None = None,
                              socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:  # fmt: skip
            try:
                async with asyncio.timeout(timeout):  # httpx's connect timeout covers the lookup, as anyio's did
                    found = await resolver.addresses(host, port)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"looking up {host} timed out") from exc
            except OSError as exc:  # a name that does not resolve: the message names the host only
                raise httpcore.ConnectError(f"cannot look up {host}: {exc}") from exc
            if not found:
                raise httpcore.ConnectError(f"{host} has no address")

            async def connect(address: str) -> httpcore.AsyncNetworkStream:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)

            return await _first_connected(connect, found)

        async def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
        ) -> httpcore.AsyncNetworkStream:
            return await self.inner.connect_unix_socket(path, timeout, socket_options)

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    return Backend()
