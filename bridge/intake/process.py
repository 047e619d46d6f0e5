"""In the daemon: start the intake process, take its signals over the link, keep its config in step, outlive it never.

Either process dying ends the daemon: without the intake nobody answers webhooks, and without the
daemon nobody executes them. A signal the intake journaled but could not hand over is executed by
start-up recovery at the next start (if still fresh), as after any crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge.intake import wire
from bridge.metrics import Metrics
from bridge.runtime import Runtime
from bridge.service import Bridge

log = logging.getLogger("bridge.intake")
CONNECT_SECONDS = 30.0  # for the intake process to import, connect and take the config
STOP_SECONDS = 15.0  # its graceful shutdown (10 s for requests in flight) and a margin
STOP_SIGNALS = (-signal.SIGINT, -signal.SIGTERM)  # uvicorn ends with the signal that stopped it


@dataclass
class IntakeSpec:
    """Where the intake process listens and how the daemon reaches it."""

    directory: Path  # private (0700): the link socket and the daemon's app socket
    sockets: list[socket.socket]  # the public (and admin) listeners it inherits
    limit_concurrency: int | None = None
    admin_port: int | None = None  # the listener the limit does not apply to (as the daemon's listeners opened)


class IntakeProcess:
    """The daemon's side of the intake process."""

    def __init__(self, bridge: Bridge, metrics: Metrics, spec: IntakeSpec, on_end: Callable[[bool], None]) -> None:
        self.bridge = bridge
        self.metrics = metrics
        self.spec = spec
        self.on_end = on_end  # the intake process ended by itself: stop the daemon (True: as a failure)
        self.stopping = False
        self._connected = asyncio.Event()
        self._stopping = asyncio.Event()  # `stop` began: the link reader no longer waits for room
        self._link: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        # The configs sent to the intake process by version, each leased until it says that version is done
        # with: its signals execute under the runtime that was live when it judged them.
        self._versions: dict[int, Runtime] = {}
        self._latest = -1

    async def start(self) -> None:
        """Serve the link, start the intake process on the inherited listeners, and wait until it is connected."""
        self._server = await asyncio.start_unix_server(
            self._accept_link, path=str(self.spec.directory / wire.LINK_SOCKET)
        )
        fds = [s.fileno() for s in self.spec.sockets]
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge.intake", str(self.spec.directory), str(self.spec.limit_concurrency or 0),
            str(self.spec.admin_port or 0), *map(str, fds), pass_fds=fds, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for listener in self.spec.sockets:  # the intake process accepts on them now; the daemon never does
            listener.close()
        self._watch = asyncio.create_task(self._watch_exit(), name="intake-watch")
        connected = asyncio.ensure_future(self._connected.wait())
        try:  # or its end: one that fails at import (a broken install) ends at once, not after the whole wait
            await asyncio.wait({connected, self._watch}, timeout=CONNECT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        finally:
            connected.cancel()
        if self._process.returncode is not None and not self._connected.is_set():
            raise RuntimeError(f"the intake process ended (exit status {self._process.returncode}) before it "
                               "connected; its error is above")  # fmt: skip
        if not self._connected.is_set():
            raise RuntimeError(f"the intake process did not connect within {CONNECT_SECONDS:g}s")
        log.info("intake process %d answers webhooks; this process executes them", self._process.pid)

    async def _accept_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._link is not None:  # only the intake process knows the socket; a second connection is refused
            writer.close()
            return
        self._link = writer
        # In the same step as the first config: a reload that lands before `start` resumes (a revoked token,
        # say) must reach the intake process too, or it would judge webhooks by the old config until the next.
        self.bridge.swapped.append(self._send_config)
        self._send_config(self.bridge.runtime)
        self._connected.set()
        self._reading = asyncio.current_task()
        try:
            # Not read while execution is behind (`room`): the socket fills, and the intake process's answers
            # wait for it to drain. A flood then grows neither process's memory.
            while True:
                if not self.bridge.has_room() and not await self._room_before_stop():
                    log.warning("stopping with execution behind: the signals still in the link to the intake "
                                "process are journaled and run at the next start")  # fmt: skip
                    break
                if (message := await wire.receive(reader)) is None:
                    break
                try:
                    await self._handle(message)
                except Exception:  # one bad message must not stop the signals behind it
                    log.exception("could not take a message from the intake process")
        finally:  # no more signals can come: the runtimes kept for them may go
            writer.close()
            versions, self._versions = self._versions, {}
            for runtime in versions.values():
                self.bridge.release(runtime)

    async def _room_before_stop(self) -> bool:
        """Wait until execution has room for more signals (True), or until the daemon stops (False).

        Stopping while execution is behind, the link is let go at once: waiting for room there, the intake
        process's last writes, and its exit, would wait for every queued signal to run.
        """
        room = asyncio.ensure_future(self.bridge.room())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({room, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            room.cancel()
            stop.cancel()
        return not self._stopping.is_set()

    async def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "signal":
            _, version, signal_id, strategy, keys, signal, received = message
            runtime = self._versions.get(version)  # kept until the intake process retires its version
            if runtime is None:
                log.warning("signal %s names config version %s, which is gone: the live one executes it",
                            signal_id, version)  # fmt: skip
                runtime = self.bridge.runtime
            await self.bridge.enqueue(signal_id, strategy, keys, signal, datetime.fromisoformat(received), runtime)
        elif kind == "answers":
            for status, count in message[1].items():
                self.metrics.count_webhook(status, count)
        elif kind == "commits":
            for seconds in message[1]:
                self.metrics.observe_commit(seconds, "intake")
        elif kind == "event":  # a refused webhook's notice, held back in the intake process when it repeats
            self.bridge.publish(message[1])
        elif kind == "retired":
            retired = self._versions.pop(message[1], None)
            if retired is not None:
                self.bridge.release(retired)

    def _send_config(self, runtime: Runtime) -> None:
        if self._link is not None and not self._link.is_closing():
            self._latest += 1
            self._versions[self._latest] = runtime.lease()  # ended when the intake process retires this version
            wire.send(self._link, ("config", self._latest, runtime.loaded))

    async def _watch_exit(self) -> None:
        assert self._process is not None
        code = await self._process.wait()
        if self.stopping:
            return
        if code in STOP_SIGNALS:  # stopped on purpose (Ctrl-C reaches both processes): stop as asked
            log.warning("the intake process was stopped (signal %d): the daemon stops too", -code)
            self.on_end(False)
        else:
            log.error("the intake process ended (exit status %s): the daemon stops too", code)
            self.on_end(True)

    async def stop(self) -> None:
        """Stop the intake process (its requests in flight finish), take its last signals, close the link."""
        self.stopping = True
        self._stopping.set()
        with contextlib.suppress(ValueError):
            self.bridge.swapped.remove(self._send_config)
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=STOP_SECONDS)
            except TimeoutError:
                log.warning("the intake process did not stop within %gs; killing it", STOP_SECONDS)
                process.kill()
                await process.wait()
        if self._reading is not None:  # its last messages, up to the end of the link
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._reading), timeout=STOP_SECONDS)
            # Still reading after that: nothing more is taken (the queues stop next), the rest is recovery's.
            self._reading.cancel()
        if self._watch is not None:
            await asyncio.gather(self._watch, return_exceptions=True)
        if self._server is not None:
            self._server.close()
