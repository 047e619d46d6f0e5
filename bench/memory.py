"""`python -m bench.memory`: the daemon's memory after a number of webhooks (the target: 100,000).

The daemon runs on the paper broker as `python -m bench` starts it, and a closed loop (wrk when
installed, else the bundled generator) floods it in rounds until the journal holds the webhooks asked
for; execution is then let finish. Each process's resident memory (VmRSS, and its peak VmHWM) and its
proportional share (PSS: a page shared with another process counts half in each) are read from /proc
at start, after each round and at the end. With the intake process, summed RSS counts the pages the
two share (the Python binary, its libraries) twice; summed PSS counts them once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import wrk
from bench.__main__ import (
    ROOT,
    TOKEN,
    add_daemon_arguments,
    bodies,
    check_generator,
    daemon_config,
    free_port,
    start,
    stop,
    wait_drained,
    wait_ready,
)
from bench.cpu import process_tree
from bench.load import run_load

ROUND_SECONDS = 20.0  # the longest closed-loop round of wrk; the bundled generator sends a fixed count instead
ROUND_REQUESTS = 5000


def memory_of(pid: int) -> dict[str, float]:
    """One process's VmRSS, VmHWM and PSS, in MiB."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        status[name] = value.split()
    pss = 0.0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            pss = int(line.split()[1]) / 1024
    return {"rss": int(status["VmRSS"][0]) / 1024, "peak_rss": int(status["VmHWM"][0]) / 1024, "pss": pss}


def snapshot(pid: int) -> list[dict[str, float]]:
    """The memory of the daemon, then of its intake process (when it has one)."""
    return [memory_of(one) for one in process_tree(pid)]


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def journaled(db: Path) -> int:
    """Webhooks the journal holds (every one of the flood is accepted: one signal each)."""
    return _count(db, "SELECT COUNT(*) FROM webhooks")


def waiting(db: Path) -> int:
    """Signals journaled and not yet finished executing (queued, in the link, or running)."""
    return _count(db, "SELECT COUNT(*) FROM signals WHERE state IN ('received', 'processing')")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Flood the daemon until `args.webhooks` are journaled; its memory at start, per round and at the end."""
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and wrk.available())
    path = f"/webhook/bench/{TOKEN}"
    report: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "webhooks_asked": args.webhooks,
                              "intake_process": args.intake_process, "durability": args.durability,
                              "generator": "wrk" if use_wrk else "python", "rounds": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bridge-bench-memory-") as tmp:
        directory = Path(tmp)
        port = free_port()
        config = daemon_config(directory, port, args.durability, split=args.intake_process)
        db = directory / "bridge.db"
        proc = start([sys.executable, "-m", "bridge", "run", "--config", str(config)], directory)
        try:
            wait_ready(port, proc)
            time.sleep(1.0)  # start-up's last allocations (the first prune, the config sent over the link)
            report["start"] = snapshot(proc.pid)
            sent, rate = 0, 0.0
            while (done := journaled(db)) < args.webhooks:
                left = args.webhooks - done
                if use_wrk:  # a fixed time per round: the first short, the rest sized by the rate seen
                    seconds = 2.0 if not rate else min(ROUND_SECONDS, max(1.0, left / rate))
                    batch = bodies(max(1000, int(seconds * (rate or 5000) * 1.5)), sent)
                    began = time.monotonic()
                    wrk.closed_loop(port, path, batch, args.concurrency, seconds)
                    rate = (journaled(db) - done) / (time.monotonic() - began)
                else:
                    batch = bodies(min(ROUND_REQUESTS, left), sent)
                    asyncio.run(run_load(port, path, batch, args.concurrency))
                sent += len(batch)
                report["rounds"].append({"webhooks": journaled(db), "waiting": waiting(db),
                                         "processes": snapshot(proc.pid)})  # fmt: skip
                print(_round_line(report["rounds"][-1]), flush=True)
            wait_drained(db)
            report["webhooks"] = journaled(db)
            report["end"] = snapshot(proc.pid)
        finally:
            stop(proc)
    return report


def _round_line(item: dict[str, Any]) -> str:
    rss = " + ".join(f"{one['rss']:.1f}" for one in item["processes"])
    return f"  {item['webhooks']:>8,} webhooks journaled, {item['waiting']:>6,} waiting to execute: RSS {rss} MiB"


def table(report: dict[str, Any]) -> str:
    """The end state as aligned text, with the start beside it."""
    names = ["daemon", "intake process"][: len(report["end"])]
    lines = [f"memory after {report['webhooks']:,} webhooks (closed loop, {report['generator']}; "
             f"durability {report['durability']}), once every signal had executed:",
             f"{'process':16} {'RSS MiB':>9} {'PSS MiB':>9} {'peak RSS':>9} {'RSS at start':>13}"]  # fmt: skip
    for name, end, begun in zip(names, report["end"], report["start"], strict=True):
        lines.append(f"{name:16} {end['rss']:9.1f} {end['pss']:9.1f} {end['peak_rss']:9.1f} {begun['rss']:13.1f}")
    if len(names) > 1:
        total = {key: sum(one[key] for one in report["end"]) for key in ("rss", "pss", "peak_rss")}
        begun_total = sum(one["rss"] for one in report["start"])
        lines.append(f"{'together':16} {total['rss']:9.1f} {total['pss']:9.1f} {total['peak_rss']:9.1f} "
                     f"{begun_total:13.1f}")  # fmt: skip
    most = max((item["waiting"] for item in report["rounds"]), default=0)
    lines.append(f"(most signals waiting to execute after a round: {most:,}; max_queued_signals bounds the queue)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print, save."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--webhooks", type=int, default=100_000, help="webhooks to journal (default 100000)")
    add_daemon_arguments(parser)
    parser.add_argument("--out", type=Path, help="where to write the JSON (default bench/results/memory-<time>.json)")
    args = parser.parse_args(argv)
    if args.webhooks < 1:
        parser.error("--webhooks: at least 1")
    check_generator(parser, args)
    report = measure(args)
    print(table(report), flush=True)
    out = args.out or ROOT / "bench" / "results" / f"memory-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
