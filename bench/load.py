"""A small asyncio load generator over raw keep-alive HTTP/1.1 connections (used when wrk is absent).

Closed loop with `concurrency` connections, or open loop at a fixed `rate` (requests/s) so a slow
server cannot hide its latency by slowing the sender (coordinated omission): each request's latency
is measured from its scheduled send time. `run_burst` sends a bar close's alerts instead: every body
at once, each on a new connection of its own, as TradingView's senders do.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """What one run produced."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    sent_at: list[float] = field(default_factory=list)  # each latency's (scheduled) send, seconds into the run
    elapsed: float = 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000


def _request(path: str, body: bytes, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{connection}\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def run_load(
    port: int, path: str, bodies: list[bytes], concurrency: int, rate: float | None = None
) -> LoadResult:
    """Send every body once over `concurrency` connections; return counts and latencies."""
    result = LoadResult()
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    start = time.perf_counter()
    for i in range(len(bodies)):
        queue.put_nowait((i, start + i / rate if rate else 0.0))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                index, scheduled = queue.get_nowait()
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                began = scheduled if rate else time.perf_counter()
                writer.write(_request(path, bodies[index]))
                result.sent += 1
                try:
                    status = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    result.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 200:
                    result.ok += 1
                    result.latencies.append(time.perf_counter() - began)
                    result.sent_at.append(began - start)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - start
    return result


async def run_burst(port: int, path: str, bodies: list[bytes], connections: int = 0) -> LoadResult:
    """Send every body at once, each on a new connection closed after its answer; return counts and latencies.

    Every latency counts from the burst's start (the bar close), so one that waited for a connect, or for
    one of at most `connections` open at a time (0: no limit), includes that wait. `elapsed` is the time
    until the last answer (or failure).
    """
    result = LoadResult()
    slots = asyncio.Semaphore(connections or len(bodies) or 1)
    start = time.perf_counter()

    async def one(body: bytes) -> None:
        async with slots:
            result.sent += 1
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                result.errors += 1
                return
            try:
                writer.write(_request(path, body, close=True))
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                result.errors += 1
                return
            finally:
                writer.close()
            answered = time.perf_counter() - start
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status == 200:
            result.ok += 1
            result.latencies.append(answered)
            result.sent_at.append(0.0)

    await asyncio.gather(*(one(body) for body in bodies))
    result.elapsed = time.perf_counter() - start
    return result
