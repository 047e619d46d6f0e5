"""The closed-loop phase driven by wrk (https://github.com/wg/wrk) when it is installed.

wrk is C: it keeps 32 connections busy for a fraction of the CPU the bundled Python generator needs,
which on a small machine is CPU the servers under test get back. It runs for a duration, not a count,
cycling through the given bodies; a Lua `done` hook prints its summary as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SCRIPT = r"""
local bodies = {}
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[(i - 1) % #bodies + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "socket_errors": %d, "non_2xx": %d, "p50": %d, "p99": %d, "p999": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""


def available() -> bool:
    """True when a `wrk` binary is on PATH."""
    return shutil.which("wrk") is not None


def closed_loop(port: int, path: str, bodies: list[bytes], concurrency: int, seconds: float) -> dict[str, Any]:
    """Run wrk against the server for `seconds`; the same summary keys as the bundled generator's."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script, lines = Path(tmp) / "post.lua", Path(tmp) / "bodies.txt"
        script.write_text(SCRIPT)
        lines.write_bytes(b"\n".join(bodies) + b"\n")
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                   "-s", str(script), f"http://127.0.0.1:{port}{path}", "--", str(lines)]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    line = next(row for row in out.splitlines() if row.startswith("WRK "))
    raw = json.loads(line[4:])
    ok = raw["requests"] - raw["non_2xx"]
    seconds_run = raw["duration_us"] / 1e6
    return {
        "generator": "wrk", "sent": raw["requests"], "ok": ok, "errors": raw["socket_errors"],
        "statuses": {"non_2xx": raw["non_2xx"]}, "rps": ok / seconds_run if seconds_run else 0.0,
        "p50_ms": raw["p50"] / 1000, "p99_ms": raw["p99"] / 1000, "p999_ms": raw["p999"] / 1000,
    }  # fmt: skip
