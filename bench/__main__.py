"""`python -m bench`: the daemon on the paper broker against two reference apps, same load, same run.

Prints a table and writes bench/results/<time>.json. Figures are reported as ratios against the
references measured in the same run, because absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import wrk
from bench.cpu import CpuMeter, process_tree
from bench.disk import FsyncProbe, WriteMeter
from bench.load import LoadResult, run_burst, run_load

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - a throwaway token on loopback
TICKERS = [f"T{i:03d}" for i in range(50)]
IDLE_S = 1.0  # the pause before a burst, once the server has finished what came before (a bar close after a quiet bar)
TRADINGVIEW_TIMEOUT_MS = 3000  # TradingView cancels a webhook unanswered after 3 s and never resends a timeout


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bodies(count: int, offset: int = 0) -> list[bytes]:
    """Alternating buy/sell signals over 50 tickers, so every one becomes paper orders."""
    out = []
    for i in range(offset, offset + count):
        action = "buy" if (i // len(TICKERS)) % 2 == 0 else "sell"
        out.append(json.dumps({"ticker": TICKERS[i % len(TICKERS)], "action": action, "price": 50 + i % 7}).encode())
    return out


def wait_ready(port: int, proc: subprocess.Popen[bytes], path: str = "/health", timeout: float = 20) -> float:
    """Seconds until the server answers; raises if it dies first."""
    began = time.perf_counter()
    # One client for every try: each new one loads the CA bundle (some 30 ms of CPU), which would be taken
    # from the starting server and counted in its start-up time.
    with httpx.Client(timeout=0.5) as client:
        while time.perf_counter() - began < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if path == "/health":
                    client.get(f"http://127.0.0.1:{port}/health")
                else:
                    client.post(f"http://127.0.0.1:{port}{path}", content=bodies(1)[0])
                return time.perf_counter() - began
            except httpx.HTTPError:
                time.sleep(0.01)
    raise RuntimeError("server did not start")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM) plus that of its children (an intake process), in MiB."""
    total = 0.0
    for one in process_tree(pid):
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total or float("nan")


def start(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server process with output discarded; `env` is added to this process's environment."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate and reap."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def summarize(result: LoadResult) -> dict[str, Any]:
    """Throughput and latency percentiles of one run."""
    return {
        "generator": "python", "sent": result.sent, "ok": result.ok, "errors": result.errors,
        "statuses": result.statuses,
        "rps": result.ok / result.elapsed if result.elapsed else 0.0,
        "p50_ms": result.percentile(50), "p99_ms": result.percentile(99), "p999_ms": result.percentile(99.9),
    }  # fmt: skip


def wait_drained(db: Path, timeout: float = 300) -> None:
    """Wait until every journaled signal has finished executing."""
    conn = sqlite3.connect(db, timeout=10)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.execute("SELECT COUNT(*) FROM signals WHERE state IN ('received', 'processing')").fetchone()[0]
        if waiting == 0:
            break
        time.sleep(0.2)
    conn.close()


def finished_signals(db: Path) -> int:
    """Signals whose executions have all ended (executed, rejected, expired, ...)."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        row = conn.execute("SELECT COUNT(*) FROM signals WHERE state NOT IN ('received', 'processing')").fetchone()
        return int(row[0])
    finally:
        conn.close()


def order_latencies(db: Path, since: str = "", until: str = "9999") -> dict[str, Any]:
    """Signal-to-order latency from journal timestamps (received -> first fill) of signals in a window.

    `last_filled` is when the last of those signals had its first order filled (ISO time; None without one).
    """
    wait_drained(db)
    conn = sqlite3.connect(db, timeout=10)
    rows = conn.execute(
        "SELECT s.received_at, MIN(o.updated_at) FROM signals s JOIN orders o ON o.signal_id = s.id "
        "WHERE o.status = 'filled' AND s.received_at BETWEEN ? AND ? GROUP BY s.id",
        (since, until),
    ).fetchall()
    states = dict(conn.execute("SELECT state, COUNT(*) FROM signals GROUP BY state").fetchall())
    count = conn.execute("SELECT COUNT(*) FROM signals").fetchone()[0]
    conn.close()
    deltas = sorted(
        (datetime.fromisoformat(done) - datetime.fromisoformat(received)).total_seconds() * 1000
        for received, done in rows
    )

    def pct(p: float) -> float:
        return deltas[min(len(deltas) - 1, max(0, round(p / 100 * len(deltas)) - 1))] if deltas else float("nan")

    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return {"signals": count, "states": states, "orders_filled": len(deltas), "p50_ms": pct(50), "p99_ms": pct(99),
            "db_bytes_per_signal": size / count if count else float("nan"),
            "last_filled": max((done for _, done in rows), key=datetime.fromisoformat, default=None)}  # fmt: skip


def daemon_config(directory: Path, port: int, durability: str, execute: bool = True, split: bool = False) -> Path:
    """A config on the paper broker, with a generous rate limit so the benchmark measures the intake.

    With `execute=False` the subscription is disabled: every signal is journaled (as `ignored`) and
    answered exactly as before, and nothing is traded, which is the durable intake alone. With `split`,
    `server.intake_process` is on. `server.limit_concurrency` keeps its default (100): a burst of more connections
    at once waits for places, as a bar close's does.
    """
    text = f"""
server: {{host: 127.0.0.1, port: {port}{", intake_process: true" if split else ""}}}
database: bridge.db
durability: {durability}
brokers:
  paper: {{plugin: paper, options: {{cash: 100000000}}}}  # buying power never refuses a benchmark's order
strategies:
  bench:
    token: {TOKEN}
    rate_limit: {{per_minute: 100000, per_hour: 1000000}}  # a load test, not an alert
    subscriptions:
      - broker: paper
        allow_add: true
        enabled: {str(execute).lower()}
"""
    path = directory / "config.yaml"
    path.write_text(text)
    return path


def supports_durability() -> bool:
    """Older versions have no `durability` setting; the harness then runs the daemon's default (full)."""
    from bridge.config.schema import Config

    return "durability" in Config.model_fields


async def measure(
    port: int, pid: int, path: str, args: argparse.Namespace, offset: int, disk: Path, db: Path | None = None
) -> dict[str, Any]:
    """An open-loop fixed-rate latency phase, then a closed-loop throughput phase.

    With the daemon's journal (`db`), the executions are let finish before and after the fixed-rate
    phase, so its signal-to-order latency is that of the rate alone, not of a backlog left by the flood.
    The disk the journals are on (`disk`, a directory) is timed through the fixed-rate phase, and so is
    the CPU the server (`pid`) used and the bytes it wrote to storage.
    """
    await run_load(port, path, bodies(200, offset), args.concurrency)  # warm-up
    report: dict[str, Any] = {}
    if db is not None:
        await asyncio.to_thread(wait_drained, db)
    began = datetime.now(UTC).isoformat()
    with FsyncProbe(disk) as probe, CpuMeter(pid) as cpu, WriteMeter(pid) as written:
        rated = await run_load(port, path, bodies(args.requests, offset + 200), args.concurrency, rate=args.rate)
    report["disk_at_rate"] = probe.summary()
    report["cpu_at_rate"] = cpu.summary()
    report["written_at_rate"] = written.summary(args.requests)
    ended = datetime.now(UTC).isoformat()
    if db is not None:
        await asyncio.to_thread(wait_drained, db)
        report["signal_to_order"] = order_latencies(db, began, ended)
    flood = bodies(args.requests, offset + 200 + args.requests)
    finished = await asyncio.to_thread(finished_signals, db) if db is not None else 0
    flood_began = time.monotonic()
    if args.wrk:  # same connections, for a fixed time instead of a fixed count
        throughput = await asyncio.to_thread(wrk.closed_loop, port, path, flood, args.concurrency, args.seconds)
    else:
        throughput = summarize(await run_load(port, path, flood, args.concurrency))
    if db is not None:  # a flood is accepted and executed at once: how far execution kept up, and the backlog left
        flood_ended = time.monotonic()
        executed = await asyncio.to_thread(finished_signals, db) - finished
        await asyncio.to_thread(wait_drained, db)
        throughput["executed_per_s"] = executed / (flood_ended - flood_began)
        throughput["backlog_s"] = time.monotonic() - flood_ended
    if args.burst:
        report["burst"] = await burst(port, path, args, offset + 200 + 2 * args.requests, db)
    return {**report, "throughput": throughput, "at_rate": summarize(rated)}


async def burst(port: int, path: str, args: argparse.Namespace, offset: int, db: Path | None) -> dict[str, Any]:
    """A bar close: `args.burst` webhooks at once, each on a new connection, once the server is idle.

    Each acknowledgement counts from the burst's start. With the daemon's journal (`db`), also the time
    until the last of the burst's signals had its order filled, counted from the same start.
    """
    if db is not None:
        await asyncio.to_thread(wait_drained, db)
    await asyncio.sleep(IDLE_S)
    began = datetime.now(UTC)
    result = await run_burst(port, path, bodies(args.burst, offset), args.burst_connections)
    ended = datetime.now(UTC).isoformat()
    found = {**summarize(result), "webhooks": args.burst, "connections": args.burst_connections or args.burst,
             "max_ms": result.percentile(100), "last_answer_ms": result.elapsed * 1000}  # fmt: skip
    if db is not None:
        orders = await asyncio.to_thread(order_latencies, db, began.isoformat(), ended)
        last = orders.pop("last_filled")
        found["signal_to_order"] = orders
        found["last_order_ms"] = (datetime.fromisoformat(last) - began).total_seconds() * 1000 if last else float("nan")
    return found


def intake_only(directory: Path, path: str, args: argparse.Namespace) -> dict[str, Any]:
    """The daemon once more, on a journal of its own, with execution off: what its durable intake takes."""
    directory.mkdir()
    port = free_port()
    config = daemon_config(directory, port, args.durability, execute=False, split=args.intake_process)
    proc = start([sys.executable, "-m", "bridge", "run", "--config", str(config)], directory)
    try:
        wait_ready(port, proc)
        report = asyncio.run(measure(port, proc.pid, path, args, 0, directory))
        report["peak_rss_mb"] = peak_rss_mb(proc.pid)
    finally:
        stop(proc)
    return report


# What the servers run on, besides Python: the figures move with these (uvloop 0.23 answers the daemon's
# webhooks sooner than the 0.22.1 that ccxt pins: README, Benchmarks).
STACK = ("uvloop", "httptools", "uvicorn", "starlette")


def versions() -> dict[str, str]:
    """Versions of the HTTP stack every server here runs on, and of SQLite."""
    found = {"sqlite": sqlite3.sqlite_version}
    for name in STACK:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every target in turn and return the report."""
    report: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "requests": args.requests,
                              "concurrency": args.concurrency, "rate": args.rate, "durability": args.durability,
                              "burst": args.burst, "burst_connections": args.burst_connections or args.burst,
                              "closed_loop": f"wrk, {args.seconds:g} s" if args.wrk else "python",
                              "python": sys.version.split()[0], "cpus": os.cpu_count(), "versions": versions(),
                              "intake_process": args.intake_process}  # fmt: skip
    path = f"/webhook/bench/{TOKEN}"
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp:
        directory = Path(tmp)
        port = free_port()
        config = daemon_config(
            directory, port, args.durability if supports_durability() else "full", split=args.intake_process
        )
        if not supports_durability():
            config.write_text(config.read_text().replace(f"durability: {args.durability}\n", ""))
        proc = start([sys.executable, "-m", "bridge", "run", "--config", str(config)], directory)
        try:
            startup = wait_ready(port, proc)
            daemon = asyncio.run(measure(port, proc.pid, path, args, 0, directory, directory / "bridge.db"))
            daemon["startup_s"] = startup
            daemon["journal"] = order_latencies(directory / "bridge.db")  # every signal of the run
            daemon["peak_rss_mb"] = peak_rss_mb(proc.pid)
        finally:
            stop(proc)
        report["daemon"] = daemon
        report["intake_only"] = intake_only(directory / "intake-only", path, args)
        for kind in ("insert", "echo"):
            port = free_port()
            db = directory / f"{kind}.db"
            proc = start([sys.executable, "-m", "bench.reference_app", kind, str(port), str(db), args.durability], ROOT)
            try:
                wait_ready(port, proc, path)
                report[kind] = asyncio.run(measure(port, proc.pid, path, args, 0, directory))
                report[kind]["peak_rss_mb"] = peak_rss_mb(proc.pid)
            finally:
                stop(proc)
    return report


NAMES = ("daemon", "intake", "1 insert", "echo")  # the table's columns


def table(report: dict[str, Any]) -> str:
    """The report as aligned text, with ratios against the references."""
    d = report["daemon"]
    kinds = ("daemon", "intake_only", "insert", "echo")
    rate = f"{report['rate']:g}/s"
    loop = f"closed loop, {report['closed_loop']}"
    rows = [(f"accepted req/s ({loop})", *(report[k]["throughput"]["rps"] for k in kinds))]
    for label, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("p99.9", "p999_ms")):
        rows.append((f"ack {label} ms at {rate}", *(report[k]["at_rate"][key] for k in kinds)))
    rows.append(("peak RSS MiB", *(report[k]["peak_rss_mb"] for k in kinds)))
    if all("burst" in report[k] for k in kinds):
        rows.append((f"burst of {report['burst']}: accepted", *(report[k]["burst"]["ok"] for k in kinds)))
        for label, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("max", "max_ms")):
            rows.append((f"burst ack {label} ms", *(report[k]["burst"][key] for k in kinds)))
        rows.append(("burst: last answer ms", *(report[k]["burst"]["last_answer_ms"] for k in kinds)))
    lines = [f"{'metric':40} {'daemon':>9} {'intake':>9} {'1 insert':>9} {'echo':>9} {'daemon/insert':>14}"
             f" {'intake/insert':>14}"]  # fmt: skip
    for name, a, i, b, c in rows:
        ratios = (a / b, i / b) if b else (float("nan"), float("nan"))
        lines.append(f"{name:40} {a:9.1f} {i:9.1f} {b:9.1f} {c:9.1f} {ratios[0]:14.2f} {ratios[1]:14.2f}")
    lines.append("(intake: the daemon with execution off, on its own journal: every signal journaled, none traded)")
    disks = [report[k].get("disk_at_rate") for k in kinds]
    if all(disks):
        each = [f"{name} {disk['p50_ms']:.1f} / {disk['max_ms']:.1f}" for name, disk in zip(NAMES, disks, strict=True)]
        lines.append(f"disk sync p50 / slowest ms during each one's phase at rate: {', '.join(each)}")
        lines.append("(a slowest sync of 50 ms or more is the disk stalling: the tail of that column's phase waited "
                     "for it)")  # fmt: skip
    cpus = [report[k].get("cpu_at_rate") for k in kinds]
    if all(cpus):
        each = [f"{name} {cpu['loop_busy']:.2f} ({cpu['cores']:.2f})" for name, cpu in zip(NAMES, cpus, strict=True)]
        lines.append(f"event loop busy, share of a core (whole process, cores) at rate: {', '.join(each)}")
    writes = [report[k].get("written_at_rate") for k in kinds]
    if all(writes):
        each = [f"{name} {w['kib_per_request']:.1f}" for name, w in zip(NAMES, writes, strict=True)]
        lines.append(f"written to storage per request, KiB, at rate: {', '.join(each)}")
    s2o, whole = d["signal_to_order"], d["journal"]
    lines.append(f"signal-to-order p50 / p99 ms at {rate}: {s2o['p50_ms']:.1f} / {s2o['p99_ms']:.1f} "
                 f"({s2o['orders_filled']} signals with a filled order)")  # fmt: skip
    flood = d["throughput"]
    lines.append(f"in the closed loop the daemon executed {flood['executed_per_s']:.0f} signals/s; the backlog left "
                 f"took {flood['backlog_s']:.1f} s more")  # fmt: skip
    if "burst" in d:
        lines.extend(burst_lines(report))
    lines.append(f"journal bytes per signal: {whole['db_bytes_per_signal']:.0f}; final states {whole['states']}; "
                 f"start-up to first answer: {d['startup_s']:.2f} s")  # fmt: skip
    stack = ", ".join(f"{name} {version}" for name, version in report.get("versions", {}).items())
    lines.append(f"on Python {report['python']}, {report['cpus']} CPUs; {stack}")
    phases = ("throughput", "at_rate", "burst")
    errors = {k: sum(report[k][phase]["errors"] for phase in phases if phase in report[k]) for k in kinds}
    statuses = " ".join(str(d[phase]["statuses"]) for phase in phases if phase in d)
    lines.append(f"transport errors: {errors}; daemon statuses: {statuses}")
    return "\n".join(lines)


def burst_lines(report: dict[str, Any]) -> list[str]:
    """What the burst shows beyond the table's rows: the daemon's last order, against the insert's last answer."""
    d, insert = report["daemon"]["burst"], report["insert"]["burst"]
    s2o = d["signal_to_order"]
    ratio = _ratio(d["last_order_ms"], insert["last_answer_ms"])
    return [
        f"(burst: {report['burst']} webhooks sent at once after an idle second, each on a new connection, "
        f"{report['burst_connections']} open at a time; times from its start; TradingView cancels at "
        f"{TRADINGVIEW_TIMEOUT_MS} ms)",
        f"burst: the daemon's last order filled {d['last_order_ms']:.0f} ms after it ({ratio:.2f}x the insert's last "
        f"answer); signal-to-order p50 / p99 {s2o['p50_ms']:.1f} / {s2o['p99_ms']:.1f} ms "
        f"({s2o['orders_filled']} signals with a filled order)",
    ]


# The figures `--repeat` summarizes: each is read from one run, so a ratio is always against that run's reference.
SPREAD: tuple[tuple[str, Callable[[dict[str, Any]], float]], ...] = (
    ("accepted req/s, daemon", lambda r: r["daemon"]["throughput"]["rps"]),
    ("accepted req/s, intake", lambda r: r["intake_only"]["throughput"]["rps"]),
    ("accepted req/s, 1 insert", lambda r: r["insert"]["throughput"]["rps"]),
    ("daemon/insert", lambda r: _ratio(r["daemon"]["throughput"]["rps"], r["insert"]["throughput"]["rps"])),
    ("intake/insert", lambda r: _ratio(r["intake_only"]["throughput"]["rps"], r["insert"]["throughput"]["rps"])),
    ("executed signals/s in the closed loop", lambda r: r["daemon"]["throughput"]["executed_per_s"]),
    ("backlog after the closed loop s", lambda r: r["daemon"]["throughput"]["backlog_s"]),
    ("ack p50 ms at rate, daemon", lambda r: r["daemon"]["at_rate"]["p50_ms"]),
    ("ack p99 ms at rate, daemon", lambda r: r["daemon"]["at_rate"]["p99_ms"]),
    ("ack p99 ms at rate, intake", lambda r: r["intake_only"]["at_rate"]["p99_ms"]),
    ("ack p99 ms at rate, 1 insert", lambda r: r["insert"]["at_rate"]["p99_ms"]),
    ("ack p99.9 ms at rate, daemon", lambda r: r["daemon"]["at_rate"]["p999_ms"]),
    ("slowest disk sync ms, daemon at rate", lambda r: r["daemon"].get("disk_at_rate", {}).get("max_ms", math.nan)),
    ("event loop busy at rate, daemon", lambda r: r["daemon"].get("cpu_at_rate", {}).get("loop_busy", math.nan)),
    (
        "written KiB per signal at rate, daemon",
        lambda r: r["daemon"].get("written_at_rate", {}).get("kib_per_request", math.nan),
    ),
    ("burst: accepted, daemon", lambda r: _burst(r, "daemon", "ok")),
    ("burst: ack max ms, daemon", lambda r: _burst(r, "daemon", "max_ms")),
    ("burst: last answer ms, daemon", lambda r: _burst(r, "daemon", "last_answer_ms")),
    ("burst: last answer ms, intake", lambda r: _burst(r, "intake_only", "last_answer_ms")),
    ("burst: last answer ms, 1 insert", lambda r: _burst(r, "insert", "last_answer_ms")),
    (
        "burst: last answer, daemon/insert",
        lambda r: _ratio(_burst(r, "daemon", "last_answer_ms"), _burst(r, "insert", "last_answer_ms")),
    ),
    (
        "burst: last answer, intake/insert",
        lambda r: _ratio(_burst(r, "intake_only", "last_answer_ms"), _burst(r, "insert", "last_answer_ms")),
    ),
    ("burst: last order ms, daemon", lambda r: _burst(r, "daemon", "last_order_ms")),
    (
        "burst: last order/insert's last answer",
        lambda r: _ratio(_burst(r, "daemon", "last_order_ms"), _burst(r, "insert", "last_answer_ms")),
    ),
    ("signal-to-order p50 ms at rate", lambda r: r["daemon"]["signal_to_order"]["p50_ms"]),
    ("signal-to-order p99 ms at rate", lambda r: r["daemon"]["signal_to_order"]["p99_ms"]),
    ("peak RSS MiB, daemon", lambda r: r["daemon"]["peak_rss_mb"]),
    ("start-up to first answer s", lambda r: r["daemon"]["startup_s"]),
)


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _burst(report: dict[str, Any], kind: str, key: str) -> float:
    """One figure of a server's burst; NaN in a run without one (`--burst 0`)."""
    return float(report[kind].get("burst", {}).get(key, math.nan))


def spread(reports: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median, lowest and highest of each headline figure over several runs."""
    found: dict[str, dict[str, float]] = {}
    for name, read in SPREAD:
        values = [read(report) for report in reports]
        found[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return found


def spread_table(figures: dict[str, dict[str, float]], runs: int, rate: float) -> str:
    """The spread as aligned text."""
    lines = [f"over {runs} runs (at rate: {rate:g}/s)", f"{'metric':40} {'median':>9} {'lowest':>9} {'highest':>9}"]
    for name, figure in figures.items():
        lines.append(f"{name:40} {figure['median']:9.2f} {figure['min']:9.2f} {figure['max']:9.2f}")
    return "\n".join(lines)


def add_daemon_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the daemon measured and of its load, shared by `python -m bench` and `python -m bench.memory`."""
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--durability", choices=["normal", "full"], default="full")
    parser.add_argument("--intake-process", action="store_true", help="run the daemon with server.intake_process: true")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="closed-loop load: wrk when installed (auto), else the bundled Python generator",
    )


def check_generator(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse `--generator wrk` where there is no wrk."""
    if args.generator == "wrk" and not wrk.available():
        parser.error("--generator wrk: no wrk on PATH (Debian: apt install wrk)")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print, save."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="requests per phase (default 5000)")
    parser.add_argument("--rate", type=float, default=1000, help="requests/s of the fixed-rate phase (default 1000)")
    add_daemon_arguments(parser)
    parser.add_argument("--seconds", type=float, default=10, help="length of the closed-loop phase with wrk")
    parser.add_argument(
        "--burst", type=int, default=500, help="webhooks sent at once, a bar close, after the other phases (0: none)"
    )
    parser.add_argument(
        "--burst-connections",
        type=int,
        default=0,
        help="the burst's connections open at a time, each webhook still on a new one (default 0: all at once)",
    )
    parser.add_argument("--quick", action="store_true", help="a few hundred requests: checks the harness runs")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run everything this many times, then print each figure's median and range (default 1)",
    )
    parser.add_argument("--out", type=Path, help="where to write the JSON (default bench/results/<time>.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.rate, args.concurrency = min(args.requests, 300), 300, 8
        args.burst = min(args.burst, 40)
    check_generator(parser, args)
    args.wrk = args.generator == "wrk" or (args.generator == "auto" and wrk.available() and not args.quick)
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    if args.burst < 0 or args.burst_connections < 0:
        parser.error("--burst, --burst-connections: 0 or more")
    reports = []
    for index in range(args.repeat):  # each run starts every server afresh: runs interleave, so drift hits all alike
        if args.repeat > 1:
            print(f"run {index + 1} of {args.repeat}", flush=True)
        reports.append(run(args))
        print(table(reports[-1]), flush=True)
    saved: dict[str, Any] = reports[0]
    if args.repeat > 1:
        figures = spread(reports)
        print(spread_table(figures, args.repeat, args.rate))
        saved = {"runs": reports, "spread": figures}
    out = args.out or ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(saved, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
