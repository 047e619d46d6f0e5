"""Reload in a real daemon: the file watcher (plain writes and editor-style renames), SIGHUP, and a load test."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bridge.config.reload import WATCH_DEBOUNCE_SECONDS, WATCH_POLL_SECONDS
from tests.conftest import ADMIN, GUARD, TOKEN, Daemon

NEW_TOKEN = "tok-" + "99887766554433221100"
FINAL = ("executed", "ignored", "rejected", "expired", "failed")


def wait_for(what: str, check: Callable[[], bool], daemon: Daemon, deadline: float = GUARD) -> float:
    """Poll `check` until it holds; return the seconds it took (fail after `deadline`, a guard against a hang)."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{what} within {deadline}s; log:\n{daemon.output()[-3000:]}")


def status_of(url: str) -> int:
    return httpx.post(url, json={"ticker": "AMD", "action": "buy", "price": 100}, timeout=GUARD).status_code


def add_strategy(text: str, name: str, token: str) -> str:
    return text + f"  {name}:\n    token: {token}\n    subscriptions:\n      - broker: paper\n"


def last_reload(daemon: Daemon) -> dict[str, Any]:
    return dict(httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["config"]["last_reload"])


def applied(daemon: Daemon, change: str) -> Callable[[], bool]:
    """A check: /health's last reload names `change` (it is set once the new config serves).

    Polled there, not at the new webhook URL: each 401 until the reload counts as a failed authentication,
    and twenty in a minute lock the test's address out, so a quick poll could refuse the very check it waits on.
    """
    return lambda: change in (last_reload(daemon)["changes"] or "")


def test_adding_a_strategy_serves_its_url_within_2s_of_saving_the_file(make_daemon: Any) -> None:
    # The 2 s are the watcher's own waits (a poll, then two looks a debounce apart), not a stopwatch on a machine
    # that may be busy: the reload itself is waited for below, however long a loaded CI machine takes.
    assert WATCH_POLL_SECONDS + 2 * WATCH_DEBOUNCE_SECONDS < 1.0
    daemon: Daemon = make_daemon()
    url = f"{daemon.base}/webhook/added/{NEW_TOKEN}"
    assert status_of(url) == 401
    daemon.config.write_text(add_strategy(daemon.config.read_text(), "added", NEW_TOKEN))
    wait_for("the new strategy is loaded", applied(daemon, "+added"), daemon)
    assert status_of(url) == 200, "the new strategy is served"
    assert status_of(daemon.url) == 200, "the existing strategy keeps working"
    assert NEW_TOKEN not in daemon.wait_output("config reloaded (file change): strategies +added")


def test_an_editor_style_write_to_a_temp_file_then_rename_is_picked_up(make_daemon: Any) -> None:
    daemon: Daemon = make_daemon()
    url = f"{daemon.base}/webhook/renamed/{NEW_TOKEN}"
    temp = daemon.config.with_name(".config.yaml.swp")
    temp.write_text(add_strategy(daemon.config.read_text(), "renamed", NEW_TOKEN))
    os.replace(temp, daemon.config)  # what vim, VS Code and `sed -i` do: the file is a new inode
    wait_for("the renamed-in config is loaded", applied(daemon, "+renamed"), daemon)
    assert status_of(url) == 200, "the renamed-in config is served"
    daemon.config.write_text(daemon.config.read_text().replace("renamed", "again"))  # still watched after a rename
    wait_for("a second edit is loaded", applied(daemon, "+again"), daemon)
    assert status_of(url.replace("renamed", "again")) == 200, "a second edit is served"


def test_rotating_a_token_by_sighup(make_daemon: Any) -> None:
    daemon: Daemon = make_daemon(extra="watch_config: false\n")  # only the signal can reload it
    daemon.config.write_text(daemon.config.read_text().replace(TOKEN, NEW_TOKEN))
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    rotated = f"{daemon.base}/webhook/sq/{NEW_TOKEN}"
    wait_for("the SIGHUP reload is applied", applied(daemon, "~sq"), daemon)
    assert status_of(rotated) == 200, "the new token is accepted"
    assert status_of(daemon.url) == 401, "the old token stops working at the swap"
    assert daemon.process.poll() is None, "SIGHUP reloads; it does not end the daemon"
    logged = daemon.wait_output("config reloaded (SIGHUP): strategies ~sq")
    assert NEW_TOKEN not in logged and TOKEN not in logged


def test_an_invalid_edit_keeps_the_old_config_serving_and_reports_the_error_in_health(make_daemon: Any) -> None:
    daemon: Daemon = make_daemon()
    good = daemon.config.read_text()
    bad = good.replace("- broker: paper", "- broker: paper\n        sides: sideways")
    line = bad.splitlines().index("        sides: sideways") + 1
    daemon.config.write_text(bad)
    wait_for("/health reports the failed reload", lambda: last_reload(daemon)["ok"] is False, daemon)
    error = last_reload(daemon)["error"]
    assert error.startswith(f"{daemon.config.resolve()}:{line}: strategies.sq.subscriptions.0.sides: "), error
    assert status_of(daemon.url) == 200, "the old config keeps serving"
    daemon.config.write_text(good)
    wait_for("/health reports the file restored", lambda: last_reload(daemon)["ok"] is True, daemon)
    # Whoever watches the log saw the failure, so the log says the fix took too.
    daemon.wait_output("config file restored (file change): serving it again")


class Load:
    """Threads posting signals as fast as they can; every answer (or failure) is recorded."""

    def __init__(self, daemon: Daemon, threads: int = 3) -> None:
        self.daemon = daemon
        self.stop = threading.Event()
        self.answers: list[tuple[int, str | None]] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._post, args=(n,)) for n in range(threads)]

    def _post(self, n: int) -> None:
        with httpx.Client(timeout=GUARD) as client:
            i = 0
            while not self.stop.is_set():
                # buy, exit, buy, ...: one order each, so draining the queue stays quick after the load
                body = {"ticker": f"T{n}", "action": "exit" if i % 2 else "buy", "price": 10 + i % 5}
                i += 1
                try:
                    response = client.post(self.daemon.url, json=body)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                self.answers.append((response.status_code, response.json().get("id")))
                time.sleep(0.03)  # a busy alert stream (~90 a second), not a benchmark

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_requests_during_many_valid_and_invalid_reloads_are_all_answered_and_none_is_lost(make_daemon: Any) -> None:
    daemon: Daemon = make_daemon()
    good = daemon.config.read_text()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    outcomes = []
    with Load(daemon) as load:
        for edit in range(24):
            if edit % 2:  # invalid: the old config must keep serving
                text = good + ("strategies: [\n" if edit % 4 == 1 else "max_signal_age: -1\n")
            else:  # valid: a strategy comes and goes, and the broker is rebuilt with other options
                text = add_strategy(good, "extra", NEW_TOKEN) if edit % 4 == 0 else good
                text = text.replace("cash: 100000", f"cash: {100000 + edit}")
            daemon.config.write_text(text)
            time.sleep(0.05)  # sometimes the watcher applies it first, sometimes the API call below
            reply = httpx.post(f"{daemon.base}/api/reload", headers=admin, timeout=GUARD)
            outcomes.append((edit % 2 == 0, reply.status_code))
            time.sleep(0.05)
    assert outcomes == [(valid, 200 if valid else 422) for valid, _ in outcomes]
    assert load.failures == [], load.failures[:5]
    codes = {code for code, _ in load.answers}
    assert codes == {200}, f"every request is answered 200 (no 5xx, no 401): {codes}"
    acked = {signal_id for _, signal_id in load.answers}
    assert len(acked) == len(load.answers) > 50
    with sqlite3.connect(daemon.db) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM signals")}
    assert stored == acked, "every acknowledged signal is journaled, and nothing else"

    def all_final() -> bool:
        with sqlite3.connect(daemon.db) as db:
            states = [row[0] for row in db.execute("SELECT state FROM signals")]
        return all(state in FINAL for state in states)

    wait_for("every signal reaches a final state", all_final, daemon)
    with sqlite3.connect(daemon.db) as db:
        failed = db.execute("SELECT COUNT(*) FROM signals WHERE state IN ('failed', 'expired')").fetchone()[0]
    assert failed == 0
    log = daemon.output()
    assert log.count("config reloaded (") >= 12 and log.count("config reload (") >= 12
