"""The intake process's ASGI app: webhooks are answered here, everything else by the daemon's app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from bridge.heap import freeze_startup_objects
from bridge.intake import wire
from bridge.intake.proxy import Proxy
from bridge.intake.side import IntakeSide
from bridge.logs import setup_logging, write_directly
from bridge.store.db import Store
from bridge.web.fast_webhook import FastWebhook

log = logging.getLogger("bridge.intake")


async def _follow(side: IntakeSide, reader: asyncio.StreamReader, link_ended: Callable[[], None]) -> None:
    """Apply each config the daemon sends; when the daemon goes away, so does this process."""
    try:
        while (message := await wire.receive(reader)) is not None:
            if message[0] == "config":
                _, version, loaded = message
                side.use(loaded, version)
        log.warning("the daemon closed the link: the intake process stops")
    except Exception:  # without the link, nobody executes what this process would go on acknowledging
        log.exception("the link to the daemon failed: the intake process stops")
    # Not by SIGTERM to itself: ended by a signal, this process reads to the daemon as stopped on purpose
    # (Ctrl-C reaches both), and the daemon would exit cleanly where systemd should start it again.
    link_ended()


async def build_intake_app(directory: Path, link_ended: Callable[[], None]) -> Starlette:
    """Connect to the daemon, take its config and open the journal; return the app that serves webhooks.

    `link_ended` is called when the link to the daemon ends while this process serves: it stops, as a failure.
    """
    reader, writer = await asyncio.open_unix_connection(str(directory / wire.LINK_SOCKET))
    first = await wire.receive(reader)
    if first is None or first[0] != "config":
        raise RuntimeError("the daemon sent no config over the link")
    _, version, loaded = first
    setup_logging(loaded.secrets())
    logging.getLogger("uvicorn.access").propagate = False  # as the daemon's `access_log=False`
    cap = loaded.config.database_max_mb
    store = Store(
        loaded.database_path(),
        durability=loaded.config.durability,
        max_bytes=None if cap is None else int(cap * 1024 * 1024),
        checkpoints=False,  # the daemon's store checkpoints the journal
        shared=True,  # ... and writes it beside this one
    )
    side = IntakeSide(loaded, store, writer, version)
    proxy = Proxy(directory / wire.APP_SOCKET)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        follow = asyncio.create_task(_follow(side, reader, link_ended), name="intake-link")
        freeze_startup_objects()
        try:
            yield
        finally:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
            await proxy.close()
            await store.close()
            writer.close()  # after the last signal was handed over
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            write_directly()  # uvicorn ends the process with the signal again: no atexit would write these lines

    # Every webhook path, malformed ones too, is answered (and counted) here; any other goes on to the daemon.
    app = Starlette(routes=[Mount("", app=proxy)], lifespan=lifespan,
                    middleware=[Middleware(FastWebhook, bridge=side, metrics=side)])  # fmt: skip
    app.state.bridge = side
    return app
