"""The benchmark harness runs end to end (a smoke test: it checks that figures come out, not what they are)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_quick_benchmark_runs_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--requests", "60", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "accepted req/s" in result.stdout and "daemon/insert" in result.stdout and "intake/insert" in result.stdout
    report = json.loads(out.read_text())
    for target in ("daemon", "intake_only", "insert", "echo"):
        assert report[target]["throughput"]["ok"] == 60
        assert report[target]["at_rate"]["ok"] == 60
    assert report["daemon"]["journal"]["signals"] == 200 + 60 + 60
    assert report["daemon"]["signal_to_order"]["orders_filled"] == 60  # the fixed-rate phase's signals only
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


def test_repeated_runs_report_each_figure_over_the_runs(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--requests", "30", "--repeat", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run 2 of 2" in result.stdout and "over 2 runs" in result.stdout
    saved = json.loads(out.read_text())
    runs, spread = saved["runs"], saved["spread"]
    assert len(runs) == 2 and all(run["daemon"]["at_rate"]["ok"] == 30 for run in runs)
    daemon = sorted(run["daemon"]["throughput"]["rps"] for run in runs)
    assert spread["accepted req/s, daemon"] == {"median": sum(daemon) / 2, "min": daemon[0], "max": daemon[1]}
    ratios = sorted(run["daemon"]["throughput"]["rps"] / run["insert"]["throughput"]["rps"] for run in runs)
    assert spread["daemon/insert"]["min"] == ratios[0] and spread["daemon/insert"]["max"] == ratios[1]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)")
def test_the_closed_loop_phase_runs_under_wrk(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--requests", "100", "--rate", "200", "--concurrency", "4",
         "--generator", "wrk", "--seconds", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "closed loop, wrk, 1 s" in result.stdout
    report = json.loads(out.read_text())
    for target in ("daemon", "intake_only", "insert", "echo"):
        throughput = report[target]["throughput"]
        assert throughput["generator"] == "wrk" and throughput["ok"] > 0 and throughput["rps"] > 0


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
