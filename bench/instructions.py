"""`python -m bench.instructions [REV ...]`: the daemon's CPU instructions per signal, counted by callgrind.

CPU time per signal (`bench.ab`) moves by a fifth from run to run on a shared 2-core machine, more than most
single changes to the signal path are worth. An instruction count does not: valgrind's callgrind runs the daemon
on a simulated CPU and counts what it executes, whatever else the machine does, so two runs of one build agree
within about 1%. It leaves out the time the kernel spends (about 3% of the daemon's CPU here) and what the
instructions cost in cache misses, so it measures the Python work of a signal, not its latency.

Each build (this tree, and each REV that `git archive` takes, exported as `bench.ab` does) serves the benchmark's
config (paper broker, `durability: full`) under callgrind with counting off; a warm-up of signals runs first (the
imports, the first query plans, the first orders), then counting is on for `--signals` signals at `--rate` a
second until every one has executed. Needs valgrind (Debian's `valgrind` package); several times slower than
the daemon alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from bench.__main__ import ROOT, TOKEN, bodies, daemon_config, free_port, stop, wait_drained, wait_ready
from bench.ab import export
from bench.load import run_load


def totals(outputs: Iterable[Path]) -> int:
    """The instructions counted in callgrind's output files (one per thread that ran while counting was on)."""
    total = 0
    for path in outputs:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
                break
    return total


def count(tree: Path, signals: int, rate: float, concurrency: int, warm_up: int, execute: bool = True,
          keep: Path | None = None) -> float:  # fmt: skip
    """Instructions per signal of the daemon of `tree` (its code on PYTHONPATH), over `signals` signals.

    With `execute=False`, the config `python -m bench` measures the intake alone with: the subscription disabled,
    every signal journaled (as `ignored`) and answered as before, nothing traded. With `keep`, callgrind's output
    files are copied there, for `callgrind_annotate`.
    """
    with tempfile.TemporaryDirectory(prefix="bridge-instructions-") as tmp:
        directory, port = Path(tmp), free_port()
        config = daemon_config(directory, port, "full", execute=execute)
        out = directory / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
               sys.executable, "-m", "bridge", "run", "--config", str(config)]  # fmt: skip
        env = {"PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, cwd=directory, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_ready(port, proc, timeout=180)  # start-up under callgrind takes tens of seconds
            path = f"/webhook/bench/{TOKEN}"
            asyncio.run(run_load(port, path, bodies(warm_up), concurrency))
            wait_drained(directory / "bridge.db")
            _control("-i", "on", proc.pid)
            asyncio.run(run_load(port, path, bodies(signals, warm_up), concurrency, rate=rate))
            wait_drained(directory / "bridge.db")
            _control("-i", "off", proc.pid)
            _control("-d", proc.pid)  # writes the counts of every thread
            deadline = time.monotonic() + 30
            while not list(directory.glob("callgrind.out*")) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)  # the dump of every thread's file
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                for one in directory.glob("callgrind.out*"):
                    shutil.copy(one, keep / one.name)
            return totals(directory.glob("callgrind.out*")) / signals
        finally:
            stop(proc)


def _control(*args: object) -> None:
    subprocess.run(["callgrind_control", *map(str, args)], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    """Count each build in turn, twice by default, and print instructions per signal and their ratio."""
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="*", help="other builds to count: commits, tags or branches")
    parser.add_argument("--signals", type=int, default=200, help="signals counted per run (default 200)")
    parser.add_argument("--rate", type=float, default=50, help="signals/s while counting (default 50)")
    parser.add_argument("--concurrency", type=int, default=8, help="connections (default 8)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each build, alternated (default 2)")
    parser.add_argument("--warm-up", type=int, default=100, help="signals sent before counting (default 100)")
    parser.add_argument("--intake-only", action="store_true",
                        help="execution off, as `python -m bench` measures the intake alone: each webhook accepted, "
                        "journaled and answered, none traded")  # fmt: skip
    parser.add_argument("--keep", type=Path, help="copy callgrind's output files here (DIR/<build>-<run>/)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        parser.error("needs valgrind (apt-get install valgrind)")
    found: dict[str, list[float]] = {}
    unit = "accepted webhook" if args.intake_only else "signal"
    with tempfile.TemporaryDirectory(prefix="bridge-instructions-tree-") as tmp:
        trees = {"this tree": ROOT}
        for index, rev in enumerate(args.base):
            try:
                trees[rev] = export(rev, Path(tmp) / str(index))
            except subprocess.CalledProcessError as error:
                parser.error(f"git archive {rev}: {error.stderr.decode(errors='replace').strip()}")
        for run in range(args.runs):
            for index, (name, tree) in enumerate(trees.items()):
                keep = None if args.keep is None else args.keep / f"{index}-{run + 1}"
                found.setdefault(name, []).append(count(tree, args.signals, args.rate, args.concurrency, args.warm_up,
                                                          execute=not args.intake_only, keep=keep))  # fmt: skip
                print(f"{name}: {found[name][-1] / 1e6:.3f} M instructions per {unit}", flush=True)
    head = sum(found["this tree"]) / len(found["this tree"])
    for name, counts in found.items():
        mean = sum(counts) / len(counts)
        runs = ", ".join(f"{c / 1e6:.3f}" for c in counts)
        print(f"{name:>12}: {mean / 1e6:.3f} M per {unit} (runs {runs}); this tree / it: {head / mean:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
