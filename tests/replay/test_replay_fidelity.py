"""`bridge replay` decides each signal as the daemon did at its time, under a config that may have changed since."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any


def bridge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)  # fmt: skip


def recorded(make_daemon: Any, *payloads: dict[str, Any]) -> Any:
    """A stopped daemon whose journal holds `payloads`' signals, each decided."""
    daemon = make_daemon()
    for payload in payloads:
        daemon.wait_final(daemon.post(payload).json()["id"])
    daemon.stop()
    return daemon


def test_a_signal_of_a_strategy_no_longer_configured_is_skipped_with_why(make_daemon: Any, tmp_path: Path) -> None:
    daemon = recorded(make_daemon, {"ticker": "AMD", "action": "buy", "price": 100})
    renamed = daemon.config.parent / "renamed.yaml"
    renamed.write_text(daemon.config.read_text().replace("\n  sq:\n", "\n  other:\n"))
    done = bridge("replay", "--config", str(renamed), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["orders"] == []
    assert len(result["skipped"]) == 1 and "strategy sq is not in the config" in result["skipped"][0]


def test_trading_windows_are_checked_at_the_signals_own_time(make_daemon: Any, tmp_path: Path) -> None:
    daemon = recorded(make_daemon, {"ticker": "AMD", "action": "buy", "price": 100})
    now = datetime.now(UTC)
    hour = (now.hour + 12) % 24  # the window is half a day away from now, and holds the signal's time
    then = (now - timedelta(days=1)).replace(hour=hour, minute=30, second=0, microsecond=0)
    with sqlite3.connect(daemon.db) as conn:
        conn.execute("UPDATE signals SET received_at = ?", (then.isoformat(timespec="microseconds"),))
    window = ('        trading_windows: [{days: [mon, tue, wed, thu, fri, sat, sun], '
              f'start: "{hour:02d}:00", end: "{hour:02d}:59", timezone: UTC}}]\n')  # fmt: skip
    windowed = daemon.config.parent / "windowed.yaml"
    subscription = "      - broker: paper\n"
    windowed.write_text(daemon.config.read_text().replace(subscription, subscription + window))
    done = bridge("replay", "--config", str(windowed), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [s["state"] for s in result["signals"]] == ["executed"], result["signals"]
    assert [(o["side"], o["quantity"]) for o in result["orders"]] == [("buy", 1)]


def test_since_with_a_utc_offset_means_that_moment(make_daemon: Any, tmp_path: Path) -> None:
    daemon = recorded(make_daemon, {"ticker": "AMD", "action": "buy", "price": 100})
    with sqlite3.connect(daemon.db) as conn:
        received = datetime.fromisoformat(conn.execute("SELECT received_at FROM signals").fetchone()[0])
    since = (received - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=2))).isoformat()
    done = bridge("replay", "--config", str(daemon.config), "--since", since, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["signals"]) == 1  # received 30 minutes after `since`


def test_a_delayed_signal_canceled_while_it_waited_is_skipped_not_traded(make_daemon: Any, tmp_path: Path) -> None:
    """The operator called it off (`bridge cancel`): a what-if that trades it anyway shows a trade that never was."""
    daemon = make_daemon()
    kept = daemon.post({"ticker": "AMD", "action": "buy", "price": 100}).json()["id"]
    daemon.wait_final(kept)
    canceled = daemon.post({"ticker": "TSLA", "action": "buy", "price": 200, "delay": 3600}).json()["id"]
    assert bridge("cancel", canceled, "--config", str(daemon.config), cwd=tmp_path).returncode == 0
    daemon.stop()
    done = bridge("replay", "--config", str(daemon.config), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [o["symbol"] for o in result["orders"]] == ["AMD"], "the canceled signal traded in the replay"
    assert len(result["skipped"]) == 1 and "canceled" in result["skipped"][0], result["skipped"]
