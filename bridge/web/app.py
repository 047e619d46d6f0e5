"""The Starlette application factory; its lifespan starts and stops the bridge."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.config.load import LoadedConfig
from bridge.intake.peer import FromIntakeProcess
from bridge.intake.process import IntakeProcess, IntakeSpec
from bridge.metrics import Metrics, metrics_endpoint
from bridge.notify.hub import Operations
from bridge.service import Bridge
from bridge.web.admin import reload_config
from bridge.web.api import journal_list, positions
from bridge.web.control import AdminListener, cancel_signal, halt, resume
from bridge.web.dashboard import Dashboard
from bridge.web.fast_webhook import FastWebhook
from bridge.web.health import health
from bridge.web.hosts import HostGuard
from bridge.web.paths import NOT_FOUND
from bridge.web.pin import PinRuntime
from bridge.web.webhook import receive_webhook

log = logging.getLogger("bridge")

# Starlette would default a function route to GET only.
WEBHOOK_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# With a trailing slash too: a sender may add one. (FastWebhook answers every webhook path before these routes,
# a malformed one with 404 invalid-webhook-url; they stay for an app built without it.)
WEBHOOK_PATHS = [f"{prefix}/webhook/{{strategy}}/{{token}}{end}" for prefix in ("", "/trading") for end in ("", "/")]


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(NOT_FOUND, status_code=404)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    # Webhook URLs take every method (their handler answers 405 itself): this is another endpoint, and
    # "send it with POST" would be the wrong advice for /health or /metrics.
    allow = str((getattr(exc, "headers", None) or {}).get("Allow", ""))
    code = "post-required" if allow == "POST" else "method-not-allowed"
    message = f"{request.url.path} takes {allow}." if allow else "This endpoint does not take that method."
    return JSONResponse({"success": False, "messageCode": code, "message": message}, status_code=405,
                        headers={"Allow": allow} if allow else None)  # fmt: skip


def _reload_on_sighup(bridge: Bridge) -> bool:
    """`kill -HUP` reloads the config (without a handler SIGHUP would end the process)."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[object]] = set()

    def on_hup() -> None:
        task: asyncio.Task[object] = loop.create_task(bridge.reload("SIGHUP"))
        pending.add(task)
        task.add_done_callback(pending.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals (Windows)
        log.warning("SIGHUP cannot be handled here; reload with the file watcher or POST /api/reload")
        return False
    return True


def build_app(loaded: LoadedConfig, *, handle_sighup: bool = False, bridge: Bridge | None = None,
              on_stopped: Callable[[], None] | None = None, intake: IntakeSpec | None = None,
              on_intake_end: Callable[[bool], None] | None = None,
              on_started: Callable[[], None] | None = None) -> Starlette:  # fmt: skip
    """Build the ASGI app for one config; the bridge starts in the lifespan (and SIGHUP reloads, if asked).

    `on_started` runs once everything has started; `on_stopped` at the very end of the lifespan, once the
    bridge and its notifications have stopped.
    With `intake`, a second process answers webhooks on the listeners and this app serves it everything
    else over a private socket; `on_intake_end(failed)` is called should that process end on its own.
    """
    bridge = bridge or Bridge(loaded)
    metrics = Metrics(bridge)
    bridge.store.commit_observers.append(metrics.observe_commit)
    operations = Operations(bridge, metrics)  # metrics and notifications from executions, halts and reloads
    helper = None if intake is None else IntakeProcess(bridge, metrics, intake, on_intake_end or (lambda failed: None))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bridge.start()
        await operations.start()
        if helper is not None:
            await helper.start()
        hooked = handle_sighup and _reload_on_sighup(bridge)
        if on_started is not None:
            on_started()
        try:
            yield
        finally:
            try:
                if hooked:
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
                if helper is not None:  # first: the signals it accepts until it stops are still queued here
                    await helper.stop()
                await bridge.stop()
                await operations.stop()  # after the bridge: the last executions' notifications still go out
            finally:
                if on_stopped is not None:  # also when stopping failed: its error is logged after this
                    on_stopped()

    routes = [
        # Every method reaches the handler, which answers non-POST with 405 after journaling it.
        *(Route(path, receive_webhook, methods=WEBHOOK_METHODS) for path in WEBHOOK_PATHS),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *Dashboard().routes(),  # `/` and /dashboard/*: sign in with the admin token
        Route("/api/positions", positions, methods=["GET"]),
        Route("/api/reload", reload_config, methods=["POST"]),
        Route("/api/halt", halt, methods=["POST"]),
        Route("/api/resume", resume, methods=["POST"]),
        Route("/api/signals/{signal_id:str}/cancel", cancel_signal, methods=["POST"]),
        Route("/api/{table:str}", journal_list, methods=["GET"]),
    ]
    # The admin port the listeners are opened with: a reload cannot move them, so /api, /metrics and the dashboard
    # keep telling the admin listener apart by this one until the daemon restarts.
    admin_port = loaded.config.server.admin_port
    behind = [Middleware(FromIntakeProcess)] if intake is not None else []  # each request's real sender and listener
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: _not_found, 405: _method_not_allowed},
                    middleware=[*behind,
                                Middleware(FastWebhook, bridge=bridge, metrics=metrics),  # webhooks skip what follows
                                Middleware(AdminListener, admin_port=admin_port),
                                # DNS rebinding; a path no route takes is answered 404 under any name
                                Middleware(HostGuard, bridge=bridge, admin_port=admin_port, routes=routes),
                                Middleware(PinRuntime, bridge=bridge)])  # fmt: skip
    # A path that matches no route but for a slash was answered 307 to the other form: a POST's body is not
    # reliably resent after a redirect, and the Location echoed whatever the path held. A plain 404 instead.
    app.router.redirect_slashes = False
    app.state.bridge = bridge
    app.state.metrics = metrics
    app.state.admin_port = admin_port
    return app
