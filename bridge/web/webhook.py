"""`POST /webhook/{strategy}/{token}`: authenticate, parse, journal (committed), then answer."""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from bridge.config.secrets import MASK, redact
from bridge.service import Bridge
from bridge.signals.parse import PayloadError, parse_body
from bridge.store import journal
from bridge.store.db import iso, utcnow
from bridge.web.auth import safe_headers, token_matches
from bridge.web.pin import runtime_of

log = logging.getLogger("bridge.webhook")
UNAUTHORIZED = {
    "success": False,
    "messageCode": "unauthorized",
    "message": "Unknown strategy or wrong token: check the webhook URL "
    "(bridge run prints it; the token is case-sensitive).",
}

METHOD_NOT_ALLOWED = {"success": False, "messageCode": "post-required", "message": "Webhooks must be sent with POST."}


class BodyTooLarge(Exception):
    """The body exceeds server.max_body_bytes."""


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes; Starlette's own `body()` has no limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_webhook(request: Request) -> JSONResponse:
    """Handle one webhook request end to end."""
    started = time.perf_counter()
    bridge: Bridge = request.app.state.bridge
    runtime = runtime_of(request, bridge)  # one config for the whole request, even if a reload swaps it
    name = request.path_params["strategy"]
    secrets = runtime.loaded.secrets()
    strategy = runtime.strategies.get(name)
    known = strategy is not None and token_matches(strategy.token, request.path_params["token"])
    prefix = "/trading/webhook" if request.url.path.startswith("/trading/") else "/webhook"
    webhook = journal.WebhookRow(
        id=str(uuid.uuid4()),
        received_at=iso(utcnow()),
        strategy=name if known else None,
        remote_addr=request.client.host if request.client else None,
        method=request.method,
        path=f"{prefix}/{name}/{MASK}" if known else f"{prefix}/{MASK}/{MASK}",
        headers={key: redact(value, secrets) for key, value in safe_headers(request.headers).items()},
        body=None,
        status_code=0,
    )

    async def answer(status: int, content: dict[str, Any], code: str | None = None) -> JSONResponse:
        message = content.get("message")  # may quote the offending value, which may be a secret
        row = journal.WebhookRow(**{**webhook.__dict__, "status_code": status, "message_code": code,
                                    "message": None if message is None else redact(message, secrets)})  # fmt: skip
        try:
            await bridge.store.run(journal.record_webhook, bridge.store.conn, row)
        except sqlite3.Error:
            log.exception("could not journal a %d answer", status)
        log.info(
            "%s %s %d %s %.1fms", request.method, row.path, status, code or "", (time.perf_counter() - started) * 1e3
        )
        return JSONResponse(content, status_code=status)

    if request.method != "POST":  # the route takes every method so that this request is journaled too
        response = await answer(405, METHOD_NOT_ALLOWED, "post-required")
        response.headers["Allow"] = "POST"
        return response
    if not known:
        return await answer(401, UNAUTHORIZED, "unauthorized")
    try:
        body = await read_body(request, runtime.loaded.config.server.max_body_bytes)
    except BodyTooLarge:
        limit = runtime.loaded.config.server.max_body_bytes
        return await answer(413, {"success": False, "logId": webhook.id, "messageCode": "payload-too-large",
                                  "message": f"The body is larger than {limit} bytes; send only the signal fields."},
                            "payload-too-large")  # fmt: skip
    except ClientDisconnect:
        return JSONResponse({"success": False}, status_code=400)
    text = body.decode("utf-8", errors="replace")
    webhook = journal.WebhookRow(**{**webhook.__dict__, "body": redact(text, secrets)})
    try:
        signal, payload, unknown = parse_body(body)
    except PayloadError as exc:
        content = {"success": False, "logId": webhook.id, "messageCode": exc.code, "message": exc.message}
        return await answer(400, content, exc.code)
    webhook = journal.WebhookRow(**{**webhook.__dict__, "status_code": 200})
    try:
        signal_id = await bridge.accept(webhook, name, signal, payload, unknown, runtime)
    except sqlite3.Error:
        log.exception("cannot journal the signal: answering 503 so the sender retries")
        return JSONResponse(
            {"success": False, "messageCode": "unavailable",
             "message": "The bridge cannot store signals right now (database busy or disk full); retry shortly."},
            status_code=503,
        )  # fmt: skip
    log.info(
        "%s %s 200 signal=%s %.1fms", request.method, webhook.path, signal_id, (time.perf_counter() - started) * 1e3
    )
    return JSONResponse({"success": True, "id": signal_id, "logId": webhook.id, "payload": payload})
