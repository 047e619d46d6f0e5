"""`bridge signals --follow` prints a signal that arrives while it runs, with its decision."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

from tests.conftest import GUARD


def test_follow_prints_new_signals_as_they_are_decided(make_daemon: Any) -> None:
    daemon = make_daemon()
    command = [sys.executable, "-m", "bridge", "signals", "--follow", "--config", str(daemon.config)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = proc.stdout
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(out.readline, "")), daemon=True)
    reader.start()
    try:
        daemon.wait_final(daemon.post({"ticker": "NVDA", "action": "buy", "price": 120}).json()["id"])
        deadline = time.monotonic() + GUARD
        while not any("opened long 1" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        assert any(line.startswith("received_at") for line in lines)  # the table header, printed once
    finally:
        proc.terminate()
        proc.wait(timeout=GUARD)
