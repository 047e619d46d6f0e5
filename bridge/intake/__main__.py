"""`python -m bridge.intake DIR LIMIT ADMIN_PORT FD...`: the intake process, started by the daemon (never by hand)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from bridge.intake.app import build_intake_app
from bridge.web.protocol import http_protocol


async def _serve(config: uvicorn.Config, directory: Path, fds: list[int]) -> bool:
    """Serve until stopped; True when it stopped because the link to the daemon ended (a failure)."""
    server = uvicorn.Server(config)
    ended: list[bool] = []

    def link_ended() -> None:
        ended.append(True)
        server.should_exit = True  # uvicorn's own graceful shutdown: requests in flight still finish

    config.app = await build_intake_app(directory, link_ended)  # its link belongs to this loop
    await server.serve(sockets=[socket.socket(fileno=fd) for fd in fds])
    return bool(ended)


def main(argv: list[str]) -> int:
    """Serve webhooks on the listening sockets the daemon passed down, until SIGTERM or the daemon goes away."""
    directory, limit, admin_port, fds = Path(argv[0]), int(argv[1]), int(argv[2]), [int(fd) for fd in argv[3:]]
    # SIGHUP reloads the daemon, which sends this process the config it applied; sent to both (`systemctl kill
    # -s HUP`, a process group), its default action would end this one, and the daemon with it.
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = uvicorn.Config(
        "set-below",  # the app is built on the loop that serves it (`_serve`)
        access_log=False, log_config=None, lifespan="on", proxy_headers=False, server_header=False,
        timeout_graceful_shutdown=10, limit_concurrency=limit or None, http=http_protocol(admin_port or None),
    )  # fmt: skip
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:  # uvloop when installed, as the daemon
        link_failed = runner.run(_serve(config, directory, fds))
    # A failure status: the daemon then exits with one too (when it was not stopping), and systemd restarts it.
    return 1 if link_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
