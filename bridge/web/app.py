"""The Starlette application factory; its lifespan starts and stops the bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.config.load import LoadedConfig
from bridge.service import Bridge
from bridge.web.api import journal_list, positions
from bridge.web.health import health
from bridge.web.webhook import receive_webhook

# Starlette would default a function route to GET only.
WEBHOOK_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"success": False, "messageCode": "not-found", "message": "No such endpoint."}, status_code=404)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"success": False, "messageCode": "post-required", "message": "Webhooks must be sent with POST."},
        status_code=405,
    )


def build_app(loaded: LoadedConfig) -> Starlette:
    """Build the ASGI app for one config; the bridge starts in the lifespan."""
    bridge = Bridge(loaded)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bridge.start()
        try:
            yield
        finally:
            await bridge.stop()

    routes = [
        # Every method reaches the handler, which answers non-POST with 405 after journaling it.
        Route("/webhook/{strategy}/{token}", receive_webhook, methods=WEBHOOK_METHODS),
        Route("/trading/webhook/{strategy}/{token}", receive_webhook, methods=WEBHOOK_METHODS),
        Route("/health", health, methods=["GET"]),
        Route("/api/positions", positions, methods=["GET"]),
        Route("/api/{table:str}", journal_list, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: _not_found, 405: _method_not_allowed})
    app.state.bridge = bridge
    return app
