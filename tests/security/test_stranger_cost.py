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
from bridge.config.secrets import redact_encoded
from bridge.service import Bridge
from bridge.store.meanings import COLUMNS
from bridge.web.app import build_app
from bridge.web.auth import MAX_HEADER_VALUE, MAX_HEADERS_KEPT, NOT_KEPT, first_headers
from bridge.web.limits import STRANGER_ESCAPES, STRANGER_HEAD_CHARS
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


def _journaled_headers(tmp_path: Path, headers: dict[str, str]) -> tuple[int, str]:
    """Python calls into the escape reading while a stranger's 401 (journaled) is made, and its row's headers."""
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
            counting = True
            answer = client.post("/webhook/sq/" + "w" * 32, json={"ticker": "AMD", "action": "buy"}, headers=headers)
            counting = False
    finally:
        threading.setprofile(None)
    assert answer.status_code == 401, answer.text
    with closing(sqlite3.connect(tmp_path / "bridge.db")) as conn:
        (stored,) = conn.execute("SELECT headers FROM webhooks").fetchone()
    return reads, stored


def test_a_journaled_strangers_headers_cost_a_bounded_reading_of_escapes(tmp_path: Path) -> None:
    # A request without a valid token, within server.unauthenticated_journal_per_minute, had every escape of its head
    # read (up to MAX_ESCAPES in each header value, some 60 KiB of them in all): 10-70 ms of the event loop each, 120
    # times a minute by default, every genuine alert's answer waiting behind them (TradingView waits 3 s).
    crafted = {f"x-{n}": "\\/" * 3000 for n in range(10)}
    reads, _ = _journaled_headers(tmp_path, crafted)
    assert reads <= STRANGER_ESCAPES + 100 * len(crafted), reads


def test_a_strangers_headers_past_the_bound_hold_no_secret_written_any_way(tmp_path: Path) -> None:
    # Past the bound a value is not read: it must then be dropped whole, never kept as sent with a secret in it.
    encoded = "".join(f"%{ord(c):02X}" for c in TOKEN)
    escaped = "".join(f"\\u{ord(c):04x}" for c in TOKEN)
    crafted = {"x-a": "%41" * STRANGER_ESCAPES, "x-b": f"url={encoded}", "x-c": f"json={escaped}", "x-d": TOKEN}
    _, stored = _journaled_headers(tmp_path, crafted)
    assert TOKEN not in stored and encoded not in stored and escaped.replace("\\", "\\\\") not in stored, stored
    assert redact_encoded(stored, [TOKEN]) == stored, stored  # no reading of the row finds it either


def test_a_strangers_header_cut_after_masking_never_through_a_secret(tmp_path: Path) -> None:
    # A value is kept to its first MAX_HEADER_VALUE characters: a secret across that boundary must not keep its head.
    for n, written in enumerate((TOKEN, "".join(f"%{ord(c):02X}" for c in TOKEN))):
        (tmp_path / str(n)).mkdir()
        pad = "p" * (MAX_HEADER_VALUE - len(written) // 2)
        _, stored = _journaled_headers(tmp_path / str(n), {"x-a": pad + written + "q" * 100})
        assert written[: len(written) // 2] not in stored and TOKEN[:8] not in stored, stored


def test_a_journaled_strangers_headers_are_searched_for_secrets_only_as_far_as_they_are_kept(tmp_path: Path) -> None:
    # The escapes bounded, each of a stranger's header values (64 KiB of them) was still searched whole for every
    # configured secret: at C speed, but a few nanoseconds a character and a secret, so 64 KiB crafted to match the
    # first character of secrets cost 5-10 ms a request with 20 secrets and more with more.
    loaded = load_config(write_config(tmp_path))
    searched = 0
    counting = False

    def count(_frame: FrameType, event: str, arg: Any) -> None:
        nonlocal searched
        if counting and event == "c_call" and getattr(arg, "__name__", "") in ("replace", "find", "count"):
            searched += len(getattr(arg, "__self__", ""))  # the text searched

    crafted = {f"x-{n}": "t" * 1000 for n in range(60)}
    threading.setprofile(count)  # the test client's app runs in a thread of its own, started below
    try:
        app = build_app(loaded, bridge=Bridge(loaded, scheduling=False, watching=False))
        with TestClient(app, base_url="http://localhost", client=("192.0.2.7", 5000)) as client:
            counting = True
            answer = client.post("/webhook/sq/" + "w" * 32, json={"ticker": "AMD", "action": "buy"}, headers=crafted)
            counting = False
    finally:
        threading.setprofile(None)
    assert answer.status_code == 401, answer.text
    with closing(sqlite3.connect(tmp_path / "bridge.db")) as conn:
        (stored,) = conn.execute("SELECT headers FROM webhooks").fetchone()
    assert searched <= 10 * STRANGER_HEAD_CHARS, searched
    assert len(stored) <= STRANGER_HEAD_CHARS + 1024, len(stored)


def test_a_strangers_first_headers_keep_what_fits_and_say_what_does_not() -> None:
    fifty = {f"h{n}": "v" for n in range(MAX_HEADERS_KEPT)}
    assert first_headers(fifty, 4096) == fifty  # all within both bounds: nothing noted
    more = first_headers({**fifty, "last": "v"}, 4096)  # one too many: the note takes the 50th place
    assert len(more) == MAX_HEADERS_KEPT and more[NOT_KEPT].startswith("2 more headers, 9 characters"), more
    big = first_headers({"a": "x" * 10, "b": "y" * 5000, "c": "z"}, 4096)  # a value too long: noted by its size
    assert big == {"a": "x" * 10, "b": "(5000 characters, not read)", "c": "z"}, big
    named = first_headers({"a": "x", "n" * 5000: "1", "c": "z"}, 4096)  # its name too: counted with the rest
    assert list(named) == ["a", "c", NOT_KEPT] and named[NOT_KEPT].startswith("1 more headers, 5001 characters"), named


def test_a_strangers_refusal_is_answered_before_any_of_its_body_is_read(tmp_path: Path) -> None:
    # Its answer must not wait on, nor its cost grow with, a body it has no business sending: a wrong token, an
    # unknown strategy, a malformed URL and the token from a source not allowed are answered with none of it read.
    extra = "    allowed_sources: [198.51.100.0/24]\n"
    loaded = load_config(write_config(tmp_path, extra=extra))
    app = build_app(loaded, bridge=Bridge(loaded, scheduling=False, watching=False))
    paths = {"/webhook/sq/" + "w" * 32: 401, "/webhook/nope/" + "w" * 32: 401, "/webhook/sq/w//": 404,
             f"/webhook/sq/{TOKEN}": 403}  # fmt: skip
    with TestClient(app, base_url="http://localhost") as client:
        for path, status in paths.items():
            answered, asked = client.portal.call(_post_unread, app, path)  # type: ignore[union-attr]
            assert (answered, asked) == (status, 0), path


async def _post_unread(app: Any, path: str) -> tuple[int, int]:
    """The status a POST to `path` declaring a 64 KiB body is answered, and how many times its body was asked for."""
    asked, answered = 0, 0
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"localhost"), (b"content-length", b"65536")],
             "client": ("192.0.2.7", 5000), "server": ("localhost", 80)}  # fmt: skip

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"%41" * 21845 + b"x", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal answered
        if message["type"] == "http.response.start":
            answered = message["status"]

    await app(scope, receive, send)
    return answered, asked
