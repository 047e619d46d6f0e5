"""The README's first command as a new user runs it: `bridge run` with no config serves the demo, and the
listing commands read what the demo journaled, in the same directory, without a config either."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GUARD, free_port


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("BRIDGE_CONFIG", "BRIDGE_ADMIN_TOKEN")}


def _bridge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(), timeout=60)  # fmt: skip


def _demo_url(log: Path, process: subprocess.Popen[bytes], port: int) -> str:
    """The webhook URL the demo prints once, with its token in full."""
    pattern = re.compile(rf"http://127\.0\.0\.1:{port}/webhook/demo/[0-9a-f]+")
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        found = pattern.search(log.read_text(errors="replace"))
        if found:
            return found.group(0)
        assert process.poll() is None, log.read_text(errors="replace")
        time.sleep(0.05)
    raise AssertionError(f"no webhook URL printed: {log.read_text(errors='replace')}")


def _post_until_up(url: str, payload: dict[str, object]) -> httpx.Response:
    deadline = time.monotonic() + GUARD
    while True:
        try:
            return httpx.post(url, json=payload, timeout=GUARD)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_demo_trades_on_paper_and_the_listings_show_its_journal_without_a_config(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        env = {**_env(), "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--port", str(port)], cwd=tmp_path,
                                   stdout=out, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        url = _demo_url(log, process, port)
        bought = _post_until_up(url, {"ticker": "AMD", "action": "buy", "price": 100})
        assert bought.status_code == 200 and bought.json()["success"] is True, bought.text
        sold = httpx.post(url, json={"ticker": "AMD", "action": "sell", "price": 101}, timeout=GUARD)
        assert sold.status_code == 200, sold.text
        wrong = httpx.post(url[:-4] + "0000", json={"ticker": "AMD", "action": "buy"}, timeout=GUARD)
        assert wrong.status_code == 401  # a URL with another token trades nothing
        deadline = time.monotonic() + GUARD
        while (orders := _bridge("orders", "--json", cwd=tmp_path)).returncode == 0:
            if len(json.loads(orders.stdout)) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=GUARD)

    # The reversal: the entry, then the exit and the new entry, each filled on paper at the alert's price.
    assert orders.returncode == 0, orders.stderr
    assert "built-in demo's journal" in orders.stderr
    rows = sorted(json.loads(orders.stdout), key=lambda row: str(row["client_order_id"]))
    assert sorted((row["side"], row["status"], str(row["avg_fill_price"])) for row in rows) == [
        ("buy", "filled", "100"), ("sell", "filled", "101"), ("sell", "filled", "101"),
    ]  # fmt: skip
    signals = _bridge("signals", "--json", cwd=tmp_path)
    assert signals.returncode == 0, signals.stderr
    assert sorted(row["state"] for row in json.loads(signals.stdout)) == ["executed", "executed"]
    positions = _bridge("positions", "--json", cwd=tmp_path)
    assert positions.returncode == 0, positions.stderr
    assert [(row["symbol"], row["quantity"]) for row in json.loads(positions.stdout)] == [("AMD", -1)]
    assert url.rsplit("/", 1)[1] not in log.read_text().split(url, 1)[1]  # the token was shown once, not logged


def test_a_listing_with_no_config_and_no_demo_journal_says_what_to_do_and_creates_nothing(tmp_path: Path) -> None:
    done = _bridge("orders", cwd=tmp_path)
    assert done.returncode == 1
    assert "no config: pass --config PATH, set BRIDGE_CONFIG, or run `bridge init`" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_empty_listings_say_what_is_empty() -> None:
    from bridge.listing import render_table

    assert render_table("signals", []) == "no signals yet"
    assert render_table("positions", []) == "no open positions"  # also after trades that ended flat
    assert render_table("replay_positions", []) == "no positions at the end of the replay"  # not the table's key


def _start_demo(cwd: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "bridge", "run", "--port", str(port)], cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, env={**_env(), "PYTHONUNBUFFERED": "1"})  # fmt: skip


def _decided(ids: list[str], cwd: Path) -> dict[str, dict[str, Any]]:
    """The signals' rows once each is decided, as `bridge signals --json` lists them."""
    deadline = time.monotonic() + GUARD
    while True:
        rows = {row["id"]: row for row in json.loads(_bridge("signals", "--json", cwd=cwd).stdout)}
        if all(rows.get(i, {}).get("state") not in (None, "received", "processing") for i in ids):
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)


def test_ctrl_c_stops_the_daemon_cleanly_without_a_traceback(tmp_path: Path) -> None:
    """The first thing a new user does with the demo, once it answered, is press Ctrl+C in its terminal."""
    port, log = free_port(), tmp_path / "demo.log"
    process = _start_demo(tmp_path, port, log)
    try:
        assert _post_until_up(_demo_url(log, process, port), {"ticker": "AMD", "action": "buy"}).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=GUARD)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "Application shutdown complete" in output
    assert code == 0


def test_halt_and_resume_without_a_config_act_on_the_running_demo(tmp_path: Path) -> None:
    """The kill switch is tried on the demo too: it must not ask for a config the demo does not have."""
    port, log = free_port(), tmp_path / "demo.log"
    process = _start_demo(tmp_path, port, log)
    try:
        url = _demo_url(log, process, port)
        assert _post_until_up(url, {"ticker": "AMD", "action": "buy", "price": 100}).status_code == 200
        halted = _bridge("halt", "--reason", "trying it", cwd=tmp_path)
        assert halted.returncode == 0, halted.stderr
        assert "halting the built-in demo's journal" in halted.stderr
        refused = httpx.post(url, json={"ticker": "AMD", "action": "sell", "price": 101}, timeout=GUARD).json()["id"]
        resumed = _bridge("resume", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        traded = httpx.post(url, json={"ticker": "MU", "action": "buy", "price": 50}, timeout=GUARD).json()["id"]
        rows = _decided([refused, traded], tmp_path)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=GUARD)
    assert rows[refused]["state"] == "rejected", rows[refused]
    assert "trading is halted (trying it)" in rows[refused]["decision"]
    assert rows[traded]["state"] == "executed", rows[traded]


def test_a_port_already_in_use_is_named_with_the_fix_before_anything_starts(tmp_path: Path) -> None:
    """Another program (or a daemon left running) holds the port: say which setting moves it, touch no journal."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = _bridge("run", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "choose another port with --port or server.port" in done.stderr
    assert not (tmp_path / "bridge.db").exists()  # start-up (recovery, jobs) never ran


@pytest.mark.parametrize("host", ["192.0.2.1", "no-such-host.invalid"])  # an address this machine does not have
def test_a_host_this_machine_cannot_listen_on_is_named_with_the_fix(tmp_path: Path, host: str) -> None:
    """A LAN address the machine lost (DHCP), or a mistyped name: the fix is the host, not the port."""
    done = _bridge("run", "--host", host, "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 1
    assert f"cannot listen on {host}:" in done.stderr, done.stderr
    assert "--host or server.host" in done.stderr and "another port" not in done.stderr, done.stderr
    assert not (tmp_path / "bridge.db").exists()


def test_the_webhook_url_printed_for_an_ipv6_address_can_be_pasted() -> None:
    from bridge.daemon import webhook_urls
    from bridge.starter import demo_config, new_token

    token = new_token()
    demo = demo_config(token)
    assert webhook_urls(demo, "::1", 8787, reveal=token) == [f"  demo: http://[::1]:8787/webhook/demo/{token}"]
    assert webhook_urls(demo, "::", 8787, reveal=token) == [f"  demo: http://127.0.0.1:8787/webhook/demo/{token}"]
    assert httpx.URL(webhook_urls(demo, "fd00::7", 8787, reveal=token)[0].split(": ", 1)[1]).host == "fd00::7"
