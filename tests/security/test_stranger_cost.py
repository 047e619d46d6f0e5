"""A request the bridge will not journal costs no reading of what it carries."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

from bridge.config.load import load_config
from bridge.service import Bridge
from bridge.web.app import build_app
from tests.conftest import GUARD, write_config

with warnings.catch_warnings():  # Starlette would rather see httpx2 under its TestClient; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def test_a_stranger_refused_unjournaled_costs_no_reading_of_its_headers(tmp_path: Path) -> None:
    # Every header value was masked (read through JSON escapes, percent-encoding and NULs, three layers deep) before
    # the lockout and the strangers' quota were looked at: a locked-out stranger, its answers never journaled, still
    # had each 64 KiB head of escapes read, some 100 ms of the event loop a request, as often as it liked.
    loaded = load_config(write_config(tmp_path))
    reads = 0
    counting = False

    def count(frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal reads
        reads += counting and event == "call" and frame.f_code.co_filename.endswith("encoded.py")

    threading.setprofile(count)  # the test client's app runs in a thread of its own, started below
    try:
        app = build_app(loaded, bridge=Bridge(loaded, scheduling=False, watching=False))
        with TestClient(app, base_url="http://localhost", client=("192.0.2.7", 5000)) as client:
            wrong = "/webhook/sq/" + "w" * 32
            for _ in range(1000):  # a bound against a hang: the lockout comes after a few
                if client.post(wrong, json={"ticker": "AMD", "action": "buy"}).status_code == 429:
                    break
            crafted = {f"x-{n}": "%41%FF" * 1000 for n in range(10)}
            counting = True
            answer = client.post(wrong, json={"ticker": "AMD", "action": "buy"}, headers=crafted, timeout=GUARD)
            counting = False
    finally:
        threading.setprofile(None)
    assert answer.status_code == 429, answer.text
    assert reads == 0, "its headers were read for a row never journaled"
