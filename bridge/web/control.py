"""The kill switch over HTTP (`POST /api/halt`, `POST /api/resume`), canceling a delayed signal, the admin guard."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.jobs.delayed import CancelRefused
from bridge.service import Bridge
from bridge.web.gate import admin_denied
from bridge.web.paths import NOT_FOUND

log = logging.getLogger("bridge.control")
MAX_REASON = 200


class AdminListener:
    """ASGI middleware: with `server.admin_port`, /api/* is served only on that (loopback) listener.

    The public listener answers 404, as if the API did not exist, so a tunnel that forwards the
    public port never exposes the admin API, whatever token a caller presents.
    """

    def __init__(self, app: ASGIApp, admin_port: int | None) -> None:
        self.app = app
        self.admin_port = admin_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.admin_port is not None and scope["type"] == "http" and scope["path"].startswith("/api"):
            local = scope.get("server")  # the address of the socket this connection arrived on
            if not local or local[1] != self.admin_port:
                await JSONResponse(NOT_FOUND, status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _reason(request: Request) -> str | None:
    """The optional `{"reason": "..."}` of a halt (anything else in the body is ignored)."""
    try:
        data = json.loads(await request.body() or b"{}")
    except Exception:  # the reason is optional: no body (nested too deep for json, a disconnect...) stops a halt
        return None
    reason = data.get("reason") if isinstance(data, dict) else None
    return reason[:MAX_REASON] if isinstance(reason, str) and reason.strip() else None


async def _switch(request: Request, halted: bool) -> JSONResponse:
    bridge: Bridge = request.app.state.bridge
    if (denied := admin_denied(request)) is not None:
        return denied
    reason = await _reason(request) if halted else None
    try:
        state = await bridge.guard.halt.set(halted, reason, "api")
    except sqlite3.Error:
        return not_persisted(halted)
    log.warning(
        "trading %s through the admin API%s", "HALTED" if halted else "resumed", f": {reason}" if reason else ""
    )
    return JSONResponse({"success": True, **state.as_json()})


def not_persisted(halted: bool) -> JSONResponse:
    """The 503 of a halt or resume the journal could not store (logged with its cause)."""
    log.exception("could not persist the %s", "halt" if halted else "resume")
    kept = "halted until restart, but not persisted" if halted else "still halted"
    message = f"the journal cannot be written: trading is {kept}; retry"
    return JSONResponse({"success": False, "messageCode": "unavailable", "message": message}, status_code=503)


async def halt(request: Request) -> JSONResponse:
    """`POST /api/halt`: no new order is sent from the moment this answers (cancels still run)."""
    return await _switch(request, True)


async def resume(request: Request) -> JSONResponse:
    """`POST /api/resume`: trading continues with the next signal."""
    return await _switch(request, False)


async def cancel_signal(request: Request) -> JSONResponse:
    """`POST /api/signals/{id}/cancel`: a delayed signal still waiting for its time never executes (409 if not)."""
    if (denied := admin_denied(request)) is not None:
        return denied
    bridge: Bridge = request.app.state.bridge
    signal_id = request.path_params["signal_id"]
    try:
        signal, canceled = await bridge.jobs.cancel_delayed(signal_id, "the admin API")
    except CancelRefused as refused:
        status = 404 if refused.code == "unknown-signal" else 409
        return JSONResponse({"success": False, "messageCode": refused.code, "message": str(refused)}, status)
    except sqlite3.Error:
        log.exception("could not cancel signal %s", signal_id)
        message = "the journal cannot be written: the signal was not canceled; retry"
        return JSONResponse({"success": False, "messageCode": "unavailable", "message": message}, status_code=503)
    return JSONResponse({"success": True, "id": signal_id, "state": signal["state"], "canceled": canceled,
                         "decision": signal["decision"]})  # fmt: skip


def listen_sockets(config: uvicorn.Config, admin_port: int | None) -> list[socket.socket] | None:
    """The public socket plus a loopback-only admin socket when `server.admin_port` is set (else uvicorn binds)."""
    if admin_port is None:
        return None
    public = config.bind_socket()
    admin = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    admin.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    admin.bind(("127.0.0.1", admin_port))  # loopback only, whatever server.host says
    admin.set_inheritable(True)
    log.info("admin API on http://127.0.0.1:%d/api/ only; the public listener answers 404 there", admin_port)
    return [public, admin]
