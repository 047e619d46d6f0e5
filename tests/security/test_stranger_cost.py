"""What a request costs and how it is journaled: none of it read for a row never journaled; its path as documented."""

from __future__ import annotations

import sqlite3
import threading
import warnings
from contextlib import closing
from pathlib import Path
from types import FrameType
from typing import Any

from bridge.config.load import load_config
from bridge.service import Bridge
from bridge.store.meanings import COLUMNS
from bridge.web.app import build_app
from tests.conftest import TOKEN, write_config

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
            answer = client.post(wrong, json={"ticker": "AMD", "action": "buy"}, headers=crafted)
            counting = False
    finally:
        threading.setprofile(None)
    assert answer.status_code == 429, answer.text
    assert reads == 0, "its headers were read for a row never journaled"


def test_every_journaled_webhook_path_is_of_a_shape_the_journal_doc_names(tmp_path: Path) -> None:
    # docs/journal.md gave webhooks.path as `/webhook/<strategy>/***` alone: a stranger's row holds `/webhook/***/***`
    # (an unknown strategy's name may be a secret too) and the TradersPost alias's `/trading/webhook/...`, and a user
    # querying by the documented shape missed them.
    loaded = load_config(write_config(tmp_path))
    app = build_app(loaded, bridge=Bridge(loaded, scheduling=False, watching=False))
    signal = {"ticker": "AMD", "action": "buy"}
    with TestClient(app, base_url="http://localhost") as client:
        for path in (f"/webhook/sq/{TOKEN}", f"/trading/webhook/sq/{TOKEN}", "/webhook/sq/wrong", "/webhook/x/wrong"):
            client.post(path, json=signal)
    with closing(sqlite3.connect(tmp_path / "bridge.db")) as conn:
        paths = {row[0] for row in conn.execute("SELECT path FROM webhooks")}
    meaning = COLUMNS["webhooks"]["path"]
    assert len(paths) == 3, paths
    assert not [path for path in paths if f"`{path.replace('/sq/', '/<strategy>/')}`" not in meaning], meaning
