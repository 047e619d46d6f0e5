"""`python -m bench.stranger`: the event loop's time spent masking the journal row of a request without a valid token.

Such a request is journaled (up to server.unauthenticated_journal_per_minute, default 120) with its headers masked;
its body is never read. Each shape below fills a head to near uvicorn's limit (bridge.web.protocol.MAX_HEAD_BYTES)
with escapes the masking reads (percent-encoding, JSON escapes, NULs), in one header, 10, 50 or 250. Prints the
best of a few runs per shape in milliseconds, and the CPU a minute of such requests at the default quota costs.
"""

from __future__ import annotations

import argparse
import time

from starlette.requests import Request

from bridge.web.protocol import MAX_HEAD_BYTES
from bridge.web.sources import client_address
from bridge.web.webhook import _row

SECRETS = [f"secret-{n:02d}-0123456789abcdefABCDEF" for n in range(20)]  # a config's tokens, passphrases, keys
SHAPES = ["%41%FF", "\\%41", "%2525", "%41a", "%255C", "%5Cu0041", "\\/", "\\u0041", "a\x00", "plain"]
QUOTA = 120  # server.unauthenticated_journal_per_minute's default


def request(unit: str, headers: int) -> Request:
    """A stranger's POST whose head is `headers` headers of `unit` repeated, some 1 KiB short of the limit."""
    each = (MAX_HEAD_BYTES - 1024) // headers
    value = ("a" if unit == "plain" else unit) * (each // len(unit))
    raw = [(f"x-h{n}".encode(), value.encode("latin-1")) for n in range(headers)]
    scope = {"type": "http", "method": "POST", "path": "/webhook/x/wrong", "headers": raw, "query_string": b""}
    return Request(scope)


def cost(unit: str, headers: int, runs: int) -> float:
    """Best of `runs`: milliseconds to make (and mask) the journal row of that request."""
    client, best = client_address("192.0.2.7", (), ()), float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        _row(request(unit, headers), None, client, SECRETS, False)
        best = min(best, time.perf_counter() - began)
    return best * 1e3


def main() -> None:
    """Print each shape's cost and the worst."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    worst = 0.0
    for headers in (1, 10, 50, 250):
        for unit in SHAPES:
            ms = cost(unit, headers, args.runs)
            worst = max(worst, ms)
            print(f"{headers:3d} x {unit!r:14} {ms:7.2f} ms")
    print(f"worst {worst:.2f} ms a request; {worst * QUOTA / 1e3:.2f} s of the event loop a minute at {QUOTA} a minute")


if __name__ == "__main__":
    main()
