"""The benchmark harness runs end to end (a smoke test: it checks that figures come out, not what they are)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import ab, instructions
from bench.load import LoadResult, run_burst
from tests.conftest import eventually

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Any]:
    """One quick benchmark run twice over (its output and saved JSON): each run starts every server afresh and
    saves the same report a single run does, so one such run serves both tests below at the cost of two runs,
    not three."""
    out = tmp_path_factory.mktemp("bench") / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--requests", "30", "--repeat", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result, json.loads(out.read_text())


@pytest.mark.parametrize("run", [0, 1])
def test_the_quick_benchmark_runs_and_reports_every_figure(quick_twice: Any, run: int) -> None:
    result, saved = quick_twice
    assert "accepted req/s" in result.stdout and "daemon/insert" in result.stdout and "intake/insert" in result.stdout
    report = saved["runs"][run]
    for target in ("daemon", "intake_only", "insert", "echo"):
        assert report[target]["throughput"]["ok"] == 30
        assert report[target]["at_rate"]["ok"] == 30
    assert report["daemon"]["journal"]["signals"] == 200 + 30 + 30 + 40  # warm-up, two phases, the burst
    assert report["daemon"]["signal_to_order"]["orders_filled"] == 30  # the fixed-rate phase's signals only
    for target in ("daemon", "intake_only", "insert", "echo"):  # a bar close: --quick's 40 webhooks at once
        burst = report[target]["burst"]
        assert burst["ok"] == 40 and burst["statuses"] == {"200": 40} and burst["connections"] == 40
        assert 0 < burst["p50_ms"] <= burst["p99_ms"] <= burst["max_ms"] <= burst["last_answer_ms"]
    burst = report["daemon"]["burst"]  # and when the last of its signals had its order, from the journal
    assert burst["signal_to_order"]["orders_filled"] == 40 and burst["last_order_ms"] > 0
    assert "burst of 40: accepted" in result.stdout and "burst: last answer ms" in result.stdout
    assert "the daemon's last order filled" in result.stdout
    assert report["daemon"]["peak_rss_mb"] > 0
    flood = report["daemon"]["throughput"]  # how far execution kept up with the closed loop, and what it left
    assert flood["executed_per_s"] >= 0 and flood["backlog_s"] >= 0
    assert "in the closed loop the daemon executed" in result.stdout
    for target in ("daemon", "intake_only", "insert", "echo"):  # the disk was timed beside each fixed-rate phase
        disk = report[target]["disk_at_rate"]
        assert disk["syncs"] >= 1 and 0 < disk["p50_ms"] <= disk["max_ms"]
    assert "disk sync p50 / slowest ms" in result.stdout
    for target in ("daemon", "intake_only", "insert", "echo"):  # and the CPU each server used meanwhile
        cpu = report[target]["cpu_at_rate"]
        assert cpu["loop_busy"] >= 0 and cpu["cores"] >= 0  # a light server may use less than a clock tick
    assert report["daemon"]["cpu_at_rate"]["loop_busy"] > 0
    assert "event loop busy, share of a core" in result.stdout
    for target in ("daemon", "intake_only", "insert"):  # and what each server wrote to storage meanwhile
        assert report[target]["written_at_rate"]["bytes"] > 0  # its journal at least: every one commits
    assert report["echo"]["written_at_rate"]["bytes"] >= 0
    assert "written to storage per request, KiB" in result.stdout
    assert set(report["versions"]) == {"sqlite", "uvloop", "httptools", "uvicorn", "starlette"}
    assert f"uvicorn {report['versions']['uvicorn']}" in result.stdout  # the stack the figures were measured on


def test_repeated_runs_report_each_figure_over_the_runs(quick_twice: Any) -> None:
    result, saved = quick_twice
    assert "run 2 of 2" in result.stdout and "over 2 runs" in result.stdout
    runs, spread = saved["runs"], saved["spread"]
    assert len(runs) == 2 and all(run["daemon"]["at_rate"]["ok"] == 30 for run in runs)
    daemon = sorted(run["daemon"]["throughput"]["rps"] for run in runs)
    assert spread["accepted req/s, daemon"] == {"median": sum(daemon) / 2, "min": daemon[0], "max": daemon[1]}
    ratios = sorted(run["daemon"]["throughput"]["rps"] / run["insert"]["throughput"]["rps"] for run in runs)
    assert spread["daemon/insert"]["min"] == ratios[0] and spread["daemon/insert"]["max"] == ratios[1]
    lasts = sorted(run["daemon"]["burst"]["last_order_ms"] / run["insert"]["burst"]["last_answer_ms"] for run in runs)
    figure = spread["burst: last order/insert's last answer"]
    assert figure["min"] == lasts[0] and figure["max"] == lasts[1]
    assert "burst: last answer, daemon/insert" in result.stdout


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)")
def test_the_closed_loop_phase_runs_under_wrk(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--requests", "100", "--rate", "200", "--concurrency", "4",
         "--generator", "wrk", "--seconds", "1", "--burst", "0", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "closed loop, wrk, 1 s" in result.stdout
    report = json.loads(out.read_text())
    for target in ("daemon", "intake_only", "insert", "echo"):
        throughput = report[target]["throughput"]
        assert throughput["generator"] == "wrk" and throughput["ok"] > 0 and throughput["rps"] > 0
        assert "burst" not in report[target]  # --burst 0 turns the burst off
    assert "burst" not in result.stdout


@pytest.mark.parametrize("connections", [0, 3])
def test_a_burst_sends_each_webhook_on_a_new_connection_of_its_own(connections: int) -> None:
    opened: list[bytes] = []  # each connection's request
    after: list[bytes] = []  # what each connection carried after its request's answer
    open_now = [0, 0]  # connections open now, and the most at once

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_now[0] += 1
        open_now[1] = max(open_now)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length:")).split(b":")[1])
        opened.append(head + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        after.append(await reader.read())  # until the sender closes the connection
        open_now[0] -= 1
        writer.close()

    async def burst() -> LoadResult:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            result = await run_burst(port, "/webhook/x/y", [b'{"n": %d}' % i for i in range(12)], connections)
            await eventually(lambda: len(after) == 12, "every connection closed by the sender")
            return result

    result = asyncio.run(burst())
    assert result.ok == result.sent == 12 and result.errors == 0 and len(result.latencies) == 12
    assert sorted(request.rsplit(b"\r\n\r\n", 1)[1] for request in opened) == sorted(
        b'{"n": %d}' % i for i in range(12)
    )
    assert all(b"Connection: close" in request for request in opened) and after == [b""] * 12
    assert open_now[1] <= (connections or 12)


@pytest.mark.parametrize(("shape", "processes"), [([], 1), (["--intake-process"], 2)])
def test_the_memory_benchmark_runs_and_reports_each_process(tmp_path: Path, shape: list[str], processes: int) -> None:
    out = tmp_path / "memory.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--webhooks", "300", "--generator", "python", "--out", str(out), *shape],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    assert report["webhooks"] >= 300 and report["rounds"]
    assert len(report["start"]) == len(report["end"]) == processes
    for one in report["end"]:
        assert 0 < one["pss"] <= one["rss"] <= one["peak_rss"]
    assert "memory after" in result.stdout and ("together" in result.stdout) == (processes == 2)


def test_the_ab_comparison_runs_both_builds_and_compares_each_figure(tmp_path: Path) -> None:
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: there is no other build to export")
    out = tmp_path / "ab.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.ab", "HEAD", "--rounds", "1", "--requests", "40", "--rate", "200",
         "--concurrency", "4", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    saved = json.loads(out.read_text())
    for build in ("base", "head"):
        (run,) = saved["runs"][build]
        assert run["ack"]["ok"] == 40 and run["signal_to_order"]["orders_filled"] == 40
        assert run["cpu_ms_per_signal"] > 0 and run["behind_s"] >= 0
    assert set(saved["comparison"]) == {name for name, _ in ab.FIGURES}
    assert "head/base" in result.stdout and "round 1 base" in result.stdout and "round 1 head" in result.stdout


def test_the_ab_comparison_names_a_revision_git_does_not_know() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.ab", "no-such-revision-here", "--rounds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "git archive no-such-revision-here" in result.stderr


def test_the_sign_test_is_the_binomial_tail_and_ties_count_neither_way() -> None:
    assert ab.sign_test(0, 6) == pytest.approx(2 / 64)  # all six rounds one way: 2 of 64 equally likely splits
    assert ab.sign_test(6, 6) == pytest.approx(2 / 64)
    assert ab.sign_test(1, 5) == pytest.approx(2 * 6 / 32)
    assert ab.sign_test(3, 6) == 1.0
    assert ab.sign_test(0, 0) == 1.0
    rounds = [{"behind_s": 0.0}, {"behind_s": 0.0}, {"behind_s": 1.0}]
    found = ab.compare(
        [dict(r, ack={"p50_ms": 1, "p99_ms": 1}, signal_to_order={"p50_ms": 1, "p99_ms": 1}, max_ack_ms=1,
              cpu_ms_per_signal=1, loop_ms_per_signal=1) for r in rounds],
        [dict(r, ack={"p50_ms": 2, "p99_ms": 2}, signal_to_order={"p50_ms": 2, "p99_ms": 2}, max_ack_ms=2,
              cpu_ms_per_signal=2, loop_ms_per_signal=2, behind_s=r["behind_s"] + 0.5 * (i == 2))
         for i, r in enumerate(rounds)],
    )  # fmt: skip
    assert found["ack p50 ms"]["head_worse"] == 3 and found["ack p50 ms"]["rounds"] == 3
    assert found["seconds behind"]["head_worse"] == 1 and found["seconds behind"]["rounds"] == 1  # two ties


def test_time_behind_counts_the_windows_whose_median_acknowledgement_was_slow() -> None:
    result = LoadResult()
    # 0.0-0.1 s fast, 0.1-0.2 s slow (median 30 ms), 0.2-0.3 s one slow of three (median fast)
    for sent, ms in ((0.01, 1), (0.05, 2), (0.11, 30), (0.15, 40), (0.19, 2), (0.21, 50), (0.25, 1), (0.29, 1)):
        result.sent_at.append(sent)
        result.latencies.append(ms / 1000)
    assert ab.behind_seconds(result) == pytest.approx(0.1)


@pytest.mark.skipif(shutil.which("callgrind_control") is None, reason="valgrind is not installed")
def test_the_instruction_count_runs_under_callgrind_for_this_tree_and_another_build() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "HEAD", "--signals", "5", "--warm-up", "5", "--runs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    counts = {line.split(":")[0].strip(): float(line.split(":")[1].split()[0])
              for line in result.stdout.splitlines() if "M per signal" in line}  # fmt: skip
    assert set(counts) == {"this tree", "HEAD"} and all(c > 0.1 for c in counts.values()), result.stdout


@pytest.mark.skipif(shutil.which("callgrind_control") is None, reason="valgrind is not installed")
def test_the_instruction_count_of_the_intake_alone_counts_accepted_webhooks(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--intake-only", "--signals", "5", "--warm-up", "5", "--runs", "1",
         "--keep", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    counts = [float(line.split(":")[1].split()[0]) for line in result.stdout.splitlines()
              if "M per accepted webhook" in line]  # fmt: skip
    assert len(counts) == 1 and counts[0] > 0.1, result.stdout
    kept = list(tmp_path.rglob("callgrind.out*"))
    assert kept and instructions.totals(kept) > 0, result.stdout


def test_the_instruction_count_adds_up_every_threads_totals(tmp_path: Path) -> None:
    for index, total in enumerate((1200, 34)):
        (tmp_path / f"callgrind.out-0{index}").write_text(f"events: Ir\nfl=x\n1 5\ntotals: {total}\nsummary: 9\n")
    (tmp_path / "callgrind.out-02").write_text("events: Ir\n")  # a thread that ran nothing while counting
    assert instructions.totals(sorted(tmp_path.iterdir())) == 1234
