"""Shared fixtures: a real daemon on a free loopback port, a fresh journal store."""

from __future__ import annotations

import asyncio
import compileall
import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from bridge.store.db import Store

# httpx's top-level functions (httpx.get, httpx.post, ...) make a Client per call, and each Client loads
# certifi's CA bundle into a new SSL context: some 30 ms of CPU per request, spent hundreds of times per
# daemon by the tests' polling (health at start, wait_final) on a 2-core machine the daemon shares. Those
# calls go to loopback over plain HTTP, so one default context, made once, serves them all alike. Only the
# top-level functions' Client is changed: clients the bridge makes itself (httpx.AsyncClient, or a Client
# of its own) still load their certificates as they would, where they would (tests/notify checks where).
_TLS = httpx.create_ssl_context()
_DEFAULT_TIMEOUT = httpx._config.DEFAULT_TIMEOUT_CONFIG  # what httpx.get and the like pass when given no timeout


class _OneContextClient(httpx.Client):
    """httpx.Client, with the shared default SSL context unless told otherwise, and GUARD as its default timeout."""

    def __init__(self, *args: Any, verify: Any = True, timeout: Any = _DEFAULT_TIMEOUT, **kwargs: Any) -> None:
        # A call that names no timeout waits for its answer as any test waits for an outcome: httpx's own default
        # (5 s) would fail it on a machine loaded enough to answer a loopback request that late.
        timeout = GUARD if timeout is _DEFAULT_TIMEOUT else timeout
        super().__init__(*args, verify=_TLS if verify is True else verify, timeout=timeout, **kwargs)


httpx._api.Client = _OneContextClient  # type: ignore[misc]

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Write the bytecode of the bridge's own modules once, before any daemon starts.

    An editable install leaves them uncompiled, and where PYTHONDONTWRITEBYTECODE is set (as in many
    containers) no process writes it either: each daemon, and each `bridge` command a test runs, then
    compiled every module from source again, some 0.2 s of CPU per process, hundreds of times. Python
    reads bytecode whatever that variable says, and recompiles any module changed since in memory.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the controller compiled it before it started the workers
        return
    for package in ("bridge", "plugins"):
        compileall.compile_dir(ROOT / package, quiet=2)


def journal_floor(path: Path) -> int:
    """Bytes a freshly migrated journal at `path` takes (the floor under any `database_max_mb`); it is left there."""
    probe = Store(path)
    probe.open_sync()
    pages, size = (probe.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
    probe.close_sync()
    return int(pages) * int(size)


T = TypeVar("T")

TOKEN = "tok-" + "a1b2c3d4e5f6a7b8c9d0"
ADMIN = "adm-" + "f0e1d2c3b4a5f6e7d8c9"
# How long a test waits for an outcome before it calls it a hang. A wait ends the moment its outcome comes, so
# this costs nothing when things work; it is long so that a loaded CI machine (two pytest-xdist workers on two
# cores) is never mistaken for a failure. It must never measure speed: a test of a time limit waits for the
# outcome that limit brings about, not for a stopwatch.
GUARD = 60.0


async def eventually(check: Callable[[], T], what: str) -> T:
    """`check()`'s first truthy answer, asked on every turn of the event loop until GUARD passes (then it fails)."""
    deadline = time.monotonic() + GUARD
    while not (answer := check()):
        assert time.monotonic() < deadline, f"{what}: not within {GUARD:g}s"
        await asyncio.sleep(0.01)
    return answer


# `python -m bridge` as a terminal runs it, but waiting for a running daemon's answer (halt, resume, cancel) longer
# than the test's own guards, as the `patient` fixture of tests/test_control.py makes the command in-process. Else the
# command's own 10 s (control.ASK_TIMEOUT, unchanged for the operator) ran out on a loaded machine that left the daemon
# unscheduled that long, and the test saw "did not confirm (timed out)" where the daemon answers.
PATIENT_BRIDGE = (
    "import sys; import bridge.control as c; from bridge.cli import main; "
    f"c.ASK_TIMEOUT = {3 * GUARD}; raise SystemExit(main(sys.argv[1:]))"
)


def patient_bridge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `bridge *args` in a subprocess that waits for a running daemon's answer past the tests' guards."""
    # The process's own timeout only guards against a hang: past the command's wait, with room to start and write.
    return subprocess.run([sys.executable, "-c", PATIENT_BRIDGE, *args], capture_output=True, text=True,
                          timeout=5 * GUARD, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip


def serve_in_thread(config: uvicorn.Config) -> Iterator[int]:
    """Serve `config` (port 0) with a real uvicorn on a thread; yield its port, then stop it."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + GUARD
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(GUARD)


# Under pytest-xdist, each worker's own ports, below the kernel's ephemeral range (32768 on): a port the kernel
# handed one worker for `bind(0)` could be handed to the other before the first worker's daemon took it, and no
# client connection's source port is ever taken from here.
WORKER_PORTS = 3000
FIRST_WORKER_PORT = 11000


def free_port() -> int:
    """A TCP port nobody listens on right now (one of this xdist worker's own, under two workers or more)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit() or int(worker[2:]) >= 7:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    first = FIRST_WORKER_PORT + int(worker[2:]) * WORKER_PORTS
    # In turn, not at random: a test takes two or three ports before its daemons bind them, and a port drawn again
    # meanwhile would go to two daemons. One in use (another program's, a daemon still running, or a stopped one's
    # connections still closing) is passed over.
    for _ in range(WORKER_PORTS):
        port = first + next(_next_port) % WORKER_PORTS
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port among {first}-{first + WORKER_PORTS - 1}")


_next_port = itertools.count(secrets.randbelow(WORKER_PORTS))


def write_config(directory: Path, subscriptions: str | None = None, extra: str = "", strategy: str = "sq",
                 token: str = TOKEN, port: int = 0) -> Path:  # fmt: skip
    """Write a config with one strategy on the paper broker; `subscriptions` is raw YAML list text."""
    subs = subscriptions or "- broker: paper\n"
    text = (
        f"server:\n  host: 127.0.0.1\n  port: {port or 8787}\n  admin_token: {ADMIN}\n"
        "database: bridge.db\n"
        "brokers:\n  paper:\n    plugin: paper\n    options: {cash: 100000}\n"
        f"strategies:\n  {strategy}:\n    token: {token}\n"
        "    rate_limit: {per_minute: 100000, per_hour: 1000000}\n"  # tests post far faster than alerts fire
        "    subscriptions:\n" + textwrap.indent(subs, "      ") + extra
    )
    path = directory / "config.yaml"
    path.write_text(text)
    return path


@dataclass
class Daemon:
    """A `bridge run` subprocess serving a config from a temp dir."""

    config: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    token: str = TOKEN
    strategy: str = "sq"
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_path = self.config.parent / f"daemon-{self.port}.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/webhook/{self.strategy}/{self.token}"

    @property
    def db(self) -> Path:
        return self.config.parent / "bridge.db"

    def start(self, timeout: float = GUARD) -> Daemon:
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(self.config), "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.output()}")
            try:
                health = httpx.get(f"{self.base}/health", timeout=1).json()
                if not health.get("recovering"):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not start: {self.output()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_output(self, text: str, timeout: float = GUARD, count: int = 1) -> str:
        """The log once it shows `text`, `count` times: a running daemon writes its log from a thread, later."""
        deadline = time.monotonic() + timeout
        while (output := self.output()).count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the log within {timeout:g}s: {output[-2000:]}")
            time.sleep(0.02)
        return output

    def post(self, payload: Any = None, *, content: bytes | None = None, headers: dict[str, str] | None = None,
             url: str | None = None) -> httpx.Response:  # fmt: skip
        if content is None:
            return httpx.post(url or self.url, json=payload, headers=headers, timeout=GUARD)
        return httpx.post(url or self.url, content=content, headers=headers, timeout=GUARD)

    def api(self, what: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}/api/{what}", params=params,
                             headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)  # fmt: skip
        response.raise_for_status()
        return response.json()

    def wait_final(self, signal_id: str, timeout: float = GUARD) -> dict[str, Any]:
        """Poll the API until the signal reaches a final state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.api("signals", limit=1000):
                if item["id"] == signal_id and item["state"] not in ("received", "processing"):
                    return dict(item)
            time.sleep(0.05)
        raise AssertionError(f"signal {signal_id} did not finish: {self.output()[-2000:]}")

    def positions(self) -> dict[str, float]:
        """Symbol -> quantity of the positions held (a broker that cannot answer gives an error row: left out)."""
        return {p["symbol"]: p["quantity"] for p in self.api("positions") if not p.get("error")}

    def position_errors(self) -> dict[str, str]:
        """Broker -> why `/api/positions` could not list its positions."""
        return {p["broker"]: p["error"] for p in self.api("positions") if p.get("error")}


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Any]:
    """Factory: make_daemon(subscriptions_yaml=None, extra="") -> started Daemon; stopped at teardown."""
    started: list[Daemon] = []

    def factory(subscriptions: str | None = None, extra: str = "", start: bool = True, **kw: Any) -> Daemon:
        port = free_port()
        config = write_config(tmp_path, subscriptions, extra, port=port, **kw)
        daemon = Daemon(config=config, port=port, **{k: v for k, v in kw.items() if k in ("token", "strategy")})
        started.append(daemon)
        return daemon.start() if start else daemon

    yield factory
    for daemon in started:
        daemon.stop()


@pytest.fixture
async def fresh_store(tmp_path: Path) -> AsyncIterator[Store]:
    """An open, migrated journal in a temp dir."""
    store = Store(tmp_path / "journal.db")
    await store.open()
    yield store
    await store.close()
