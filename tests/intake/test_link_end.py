"""The link to the daemon ending under a running intake process: it stops, saying it failed.

The daemon takes an intake process that ended by a signal for one stopped on purpose (Ctrl-C reaches
both) and stops cleanly; an intake process that stopped because its link failed must say it failed,
so that the daemon exits with a failure status too and systemd's `Restart=on-failure` starts it again.
Here the test plays the daemon: a real journal, a real link socket, a real intake process.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
from pathlib import Path

import pytest

from bridge.config.load import load_config
from bridge.intake import wire
from bridge.store.db import Store
from tests.conftest import GUARD, TOKEN
from tests.reload.conftest import config_text


@pytest.mark.parametrize("end", ["unreadable message", "closed by the daemon"])
async def test_an_intake_process_whose_link_ends_exits_with_a_failure_status(tmp_path: Path, end: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_text({"sq": TOKEN}))
    loaded = load_config(path)
    journal = Store(loaded.database_path())
    await journal.open()  # the daemon's store makes the journal the intake process opens
    await journal.close()
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700)

    async def daemon_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        wire.send(writer, ("config", 0, loaded))
        await writer.drain()
        if end == "unreadable message":
            writer.write(struct.pack(">I", 5) + b"junk!")  # not a pickle
            await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(daemon_end, path=str(directory / wire.LINK_SOCKET))
    listener = socket.create_server(("127.0.0.1", 0))
    fd = listener.fileno()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.intake", str(directory), "0", "0", str(fd), pass_fds=[fd],
        stdin=asyncio.subprocess.DEVNULL, env={**os.environ},
    )  # fmt: skip
    listener.close()
    try:
        code = await asyncio.wait_for(process.wait(), timeout=GUARD)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        server.close()
    assert code == 1, f"exit status {code}: the daemon would take it for a stop on purpose and exit cleanly"
