"""`python -m bench.ab REV`: the fixed-rate phase alone, alternating another build of the daemon with this one.

One `python -m bench` run measures each build once, minutes apart, and at 1,000 signals/s the tail of
one run moves several times over from run to run on a shared 2-core machine: two builds compared that
way tell noise from a regression only by chance. Here the same load (the fixed-rate phase: every
signal a paper order) goes to each build in turn, round after round, the order swapped each round so
drift hits both alike, and each daemon starts afresh on a journal of its own. Per round it records:
acknowledgement and signal-to-order latency; the CPU the daemon's processes spent per signal until
every signal had executed (the cost, which a shared machine disturbs least); and how long the daemon
was behind (100 ms windows whose median acknowledgement took over 10 ms), which tells a stall of a
few seconds from a build slower throughout. Then each figure's median per build, their ratio, and in
how many rounds this build did worse (a sign test: with no difference, each round is a coin toss).

REV is anything `git archive` takes (a commit, a tag, a branch); its tree is exported to a temporary
directory and run from there with the same interpreter and installed packages as this one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.__main__ import (
    ROOT,
    TOKEN,
    bodies,
    daemon_config,
    free_port,
    order_latencies,
    start,
    stop,
    summarize,
    wait_drained,
    wait_ready,
)
from bench.cpu import CpuMeter
from bench.load import LoadResult, run_load

WINDOW_S = 0.1  # how finely the phase is cut to find the stretches the daemon was behind
BEHIND_MS = 10.0  # a window whose median acknowledgement took longer than this counts as behind


def export(rev: str, into: Path) -> Path:
    """The tree of `rev` as files in `into` (raises CalledProcessError naming a revision git does not know)."""
    tar = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        # This repository's own tree; the "data" filter (Python 3.11.4+, absent from Debian 12's 3.11.2) only adds
        # a check that no member leaves `into`.
        if hasattr(tarfile, "data_filter"):
            archive.extractall(into, filter="data")
        else:
            archive.extractall(into)  # noqa: S202 - members come from `git archive` of this repository
    return into


def behind_seconds(result: LoadResult) -> float:
    """Seconds of the phase spent in 100 ms windows whose median acknowledgement took over `BEHIND_MS`."""
    windows: dict[int, list[float]] = {}
    for sent, latency in zip(result.sent_at, result.latencies, strict=True):
        windows.setdefault(int(sent / WINDOW_S), []).append(latency * 1000)
    return sum(WINDOW_S for times in windows.values() if statistics.median(times) > BEHIND_MS)


async def one_round(port: int, pid: int, db: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then the fixed-rate phase, with the daemon's CPU counted until every signal has executed."""
    path = f"/webhook/bench/{TOKEN}"
    await run_load(port, path, bodies(200), args.concurrency)
    await asyncio.to_thread(wait_drained, db)
    began = datetime.now(UTC).isoformat()
    with CpuMeter(pid) as cpu:
        rated = await run_load(port, path, bodies(args.requests, 200), args.concurrency, rate=args.rate)
        ended = datetime.now(UTC).isoformat()
        await asyncio.to_thread(wait_drained, db)
    spent = cpu.summary()
    return {
        "ack": summarize(rated),
        "signal_to_order": order_latencies(db, began, ended),
        "cpu_ms_per_signal": spent["tree_s"] / args.requests * 1000,
        "loop_ms_per_signal": spent["loop_s"] / args.requests * 1000,
        "behind_s": behind_seconds(rated),
        "max_ack_ms": max(rated.latencies) * 1000 if rated.latencies else math.nan,
    }


def measure(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One round against the daemon of `tree`, started afresh on a journal of its own."""
    with tempfile.TemporaryDirectory(prefix="bridge-ab-") as tmp:
        directory = Path(tmp)
        port = free_port()
        config = daemon_config(directory, port, args.durability, split=args.intake_process)
        env = {"PYTHONPATH": str(tree)}
        proc = start([sys.executable, "-m", "bridge", "run", "--config", str(config)], directory, env)
        try:
            wait_ready(port, proc)
            return asyncio.run(one_round(port, proc.pid, directory / "bridge.db", args))
        finally:
            stop(proc)


# The figures compared, each read from one round; for each, a higher value is worse.
FIGURES: tuple[tuple[str, Callable[[dict[str, Any]], float]], ...] = (
    ("ack p50 ms", lambda r: r["ack"]["p50_ms"]),
    ("ack p99 ms", lambda r: r["ack"]["p99_ms"]),
    ("slowest ack ms", lambda r: r["max_ack_ms"]),
    ("signal-to-order p50 ms", lambda r: r["signal_to_order"]["p50_ms"]),
    ("signal-to-order p99 ms", lambda r: r["signal_to_order"]["p99_ms"]),
    ("seconds behind", lambda r: r["behind_s"]),
    ("CPU ms per signal, processes", lambda r: r["cpu_ms_per_signal"]),
    ("CPU ms per signal, event loop", lambda r: r["loop_ms_per_signal"]),
)


def sign_test(worse: int, rounds: int) -> float:
    """Two-sided p-value of `worse` rounds out of `rounds` (ties left out) if each were a fair coin toss."""
    if rounds == 0:
        return 1.0
    tail = min(worse, rounds - worse)
    p = 2 * sum(math.comb(rounds, k) for k in range(tail + 1)) / 2**rounds
    return min(1.0, p)


def compare(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per figure: each build's median, head/base, and in how many paired rounds head did worse.

    Rounds where the two are equal (no time behind in either) count neither way.
    """
    found = {}
    for name, read in FIGURES:
        a, b = [read(r) for r in base], [read(r) for r in head]
        worse = sum(1 for x, y in zip(a, b, strict=True) if y > x)
        differing = sum(1 for x, y in zip(a, b, strict=True) if y != x)
        median_a, median_b = statistics.median(a), statistics.median(b)
        found[name] = {
            "base": median_a, "head": median_b, "ratio": median_b / median_a if median_a else math.nan,
            "head_worse": worse, "rounds": differing, "p": sign_test(worse, differing),
        }  # fmt: skip
    return found


def table(found: dict[str, dict[str, float]], base: str, rate: float) -> str:
    """The comparison as aligned text."""
    lines = [
        f"at {rate:g} signals/s, median over rounds; base {base}, head: this tree",
        f"{'figure':32} {'base':>9} {'head':>9} {'head/base':>10} {'head worse':>11} {'p':>6}",
    ]
    for name, f in found.items():
        lines.append(
            f"{name:32} {f['base']:9.2f} {f['head']:9.2f} {f['ratio']:10.2f} "
            f"{int(f['head_worse']):>5} of {int(f['rounds']):<3} {f['p']:6.3f}"
        )
    lines.append("(p: the chance of a split at least this uneven if the builds did not differ; a sign test)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, alternate the builds, print, save."""
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the build to compare this tree with: a commit, tag or branch")
    parser.add_argument("--rounds", type=int, default=6, help="rounds, each measuring both builds (default 6)")
    parser.add_argument("--requests", type=int, default=5000, help="signals per phase (default 5000)")
    parser.add_argument("--rate", type=float, default=1000, help="signals/s (default 1000)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--durability", choices=["normal", "full"], default="full")
    parser.add_argument("--intake-process", action="store_true", help="run both with server.intake_process: true")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default bench/results/ab-<time>.json)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="bridge-ab-tree-") as tmp:
        try:
            base_tree = export(args.base, Path(tmp))
        except subprocess.CalledProcessError as error:
            parser.error(f"git archive {args.base}: {error.stderr.decode(errors='replace').strip()}")
        trees = {"base": base_tree, "head": ROOT}
        for index in range(args.rounds):
            order = ("base", "head") if index % 2 == 0 else ("head", "base")
            for name in order:
                runs[name].append(measure(trees[name], args))
                r = runs[name][-1]
                print(f"round {index + 1} {name:4}: ack p50/p99 {r['ack']['p50_ms']:.1f}/{r['ack']['p99_ms']:.1f} ms, "
                      f"signal-to-order p50/p99 {r['signal_to_order']['p50_ms']:.1f}/"
                      f"{r['signal_to_order']['p99_ms']:.1f} ms, behind {r['behind_s']:.1f} s, "
                      f"CPU {r['cpu_ms_per_signal']:.3f} ms/signal", flush=True)  # fmt: skip
    found = compare(runs["base"], runs["head"])
    print(table(found, args.base, args.rate))
    out = args.out or ROOT / "bench" / "results" / f"ab-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = {"base": args.base, "rate": args.rate, "requests": args.requests, "intake_process": args.intake_process,
             "durability": args.durability, "python": sys.version.split()[0], "cpus": os.cpu_count(),
             "runs": runs, "comparison": found}  # fmt: skip
    out.write_text(json.dumps(saved, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
