"""`POST /webhook/{strategy}/{token}`: authenticate, screen, parse, journal (committed), then answer.

The order of the checks is deliberate: nothing is read or parsed for a stranger (locked-out address,
unknown strategy or wrong token), the body is read only for an allowed source, and the duplicate
check happens in the same transaction that would journal the signal.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from bridge.config.encoded import Budget
from bridge.config.schema import Strategy
from bridge.config.secrets import MASK, redact_encoded
from bridge.ids import new_id
from bridge.runtime import Runtime
from bridge.signals.parse import PayloadError, parse_body
from bridge.store import journal
from bridge.store.accepted import Accepted, masked_payload, request_secrets
from bridge.store.db import JournalFull, iso, utcnow
from bridge.store.dedupe import Dedupe, Duplicate, KeyReused
from bridge.web.auth import capped, cut, first_headers, safe_headers, token_matches
from bridge.web.checks import (
    Refusal,
    check_due,
    check_encoding,
    check_fresh,
    check_rate,
    check_source,
    check_ticker,
    client_of,
    idempotency_key,
)
from bridge.web.counting import LOCKED_OUT, UNAUTHENTICATED_LIMITED, name_outcome
from bridge.web.gate import (
    auth_failed,
    guards_of,
    locked_out,
    lockout_left,
    retry_after,
    stranger_wait,
    strangers_refused,
)
from bridge.web.limits import STRANGER_ESCAPES, STRANGER_HEAD_CHARS
from bridge.web.paths import webhook_params
from bridge.web.pin import runtime_of
from bridge.web.signing import SignatureError, verify
from bridge.web.sink import SignalSink
from bridge.web.sources import Client

log = logging.getLogger("bridge.webhook")
UNAUTHORIZED = {
    "success": False,
    "messageCode": "unauthorized",
    "message": "Unknown strategy or wrong token: check the webhook URL "
    "(bridge run prints it; the token is case-sensitive).",
}

BAD_URL = Refusal(
    404,
    "invalid-webhook-url",
    "The webhook URL has an empty or extra part (a doubled slash, or something after the token): send to "
    "/webhook/<strategy>/<token> (or /trading/webhook/<strategy>/<token>) exactly as bridge run prints it, "
    "with at most one slash at its end.",
)
MAX_SHOWN_PATH = 200
METHOD_NOT_ALLOWED = {"success": False, "messageCode": "post-required", "message": "Webhooks must be sent with POST."}
UNAVAILABLE = {
    "success": False,
    "messageCode": "unavailable",
    "message": "The bridge cannot store signals right now (database busy or disk full); retry shortly.",
}


# As long as a request's head may take (bridge.web.protocol): a sender writes its body with its head, at once.
BODY_TIMEOUT = 10.0
# Past BODY_TIMEOUT, a body still arriving at this rate or faster is read on (each KiB received buys a second), as
# Apache's mod_reqtimeout's MinRate: a relay's 64 KiB alert over a tunnel of a few KB/s takes longer than 10 s. A
# trickle is still cut, and a connection held at most BODY_TIMEOUT plus max_body_bytes at this rate (74 s for 64 KiB).
BODY_MIN_RATE = 1024
BODY_LATE = Refusal(
    408,
    "request-timeout",
    f"The body did not arrive within {BODY_TIMEOUT:g}s of the request's headers, nor at {BODY_MIN_RATE} bytes a "
    "second after; send the whole body at once.",
)


class BodyTooLarge(Exception):
    """The body exceeds server.max_body_bytes."""


class BodyTimedOut(Exception):
    """The body did not arrive whole within BODY_TIMEOUT."""


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes within BODY_TIMEOUT (or at BODY_MIN_RATE); Starlette's own `body()` has no limit.

    Without the time limit, a sender with the token that sent a byte of body now and then held its connection (a
    place of `limit_concurrency`) and its request, unanswered and unjournaled, for as long as it liked.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    if _arrived(request.receive):
        return await _read_arrived(request, limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT) as timer:
            began = asyncio.get_running_loop().time()
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
                if size >= BODY_MIN_RATE:  # a usual body (a few hundred bytes) never moves the deadline
                    timer.reschedule(began + BODY_TIMEOUT + size / BODY_MIN_RATE)
    except TimeoutError:
        raise BodyTimedOut from None
    return b"".join(chunks)


def _cycle_type() -> type | None:
    """uvicorn's request cycle of its httptools protocol (the daemon's), if that is installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
    except ImportError:  # httptools absent: every body is read under the timer
        return None
    return RequestResponseCycle


_CYCLE: Any = _cycle_type()


def _arrived(receive: Any) -> bool:
    """Whether `receive` is uvicorn's and the request's whole body has arrived: one `receive()` hands it over.

    The usual webhook comes in one read, its body with its head: the timer of `read_body` (set, moved, cancelled)
    and Starlette's stream were some 3% of its CPU, for a wait that cannot happen.
    """
    cycle: Any = getattr(receive, "__self__", None)
    if cycle is None or type(cycle) is not _CYCLE:
        return False
    # Its `more_body` falls once the parser saw the body's end (on_message_complete), which also sets the event.
    # Read with defaults: a uvicorn that renamed them reads every body under the timer, as before, never fails one.
    event = getattr(cycle, "message_event", None)
    return getattr(cycle, "more_body", True) is False and event is not None and event.is_set()


async def _read_arrived(request: Request, limit: int) -> bytes:
    """The body of a request whose whole body has arrived (`_arrived`), as `read_body` would read it."""
    message = await request.receive()
    if message["type"] != "http.request":  # the connection was lost meanwhile
        raise ClientDisconnect
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise BodyTooLarge
    return body


class Intake:
    """One request's journal row and the way every answer is journaled and logged."""

    def __init__(self, request: Request, bridge: SignalSink, secrets: list[str], webhook: journal.WebhookRow) -> None:
        self.request = request
        self.bridge = bridge
        self.secrets = secrets
        self.webhook = webhook
        self.started = time.perf_counter()

    def took(self) -> float:
        """Milliseconds since the request arrived."""
        return (time.perf_counter() - self.started) * 1e3

    async def answer(self, status: int, content: dict[str, Any], code: str | None = None,
                     headers: dict[str, str] | None = None, signal_id: str | None = None) -> JSONResponse:  # fmt: skip
        """Journal this request with its outcome, log one line, and answer."""
        message = content.get("message")  # may quote the offending value, which may be a secret
        shown = None if message is None else redact_encoded(str(message), self.secrets)
        row = self.webhook.changed(status_code=status, message_code=code, signal_id=signal_id, message=shown)
        try:
            await self.bridge.store.run(journal.record_webhook, self.bridge.store.conn, row)
        except JournalFull:  # a duplicate answered while the rest of the journal is the executions': this line is all
            log.warning("not journaled, the journal is full (database_max_mb): %s %s %d %s", self.request.method,
                        row.path, status, code or "")  # fmt: skip
        except sqlite3.Error:
            log.exception("could not journal a %d answer", status)
        log.info("%s %s %d %s %.1fms", self.request.method, row.path, status, code or "", self.took())
        if row.strategy is not None and 400 <= status < 500:  # its token was right: the sender meant to trade
            self.bridge.refused(row.strategy, status, code, row.message or "")
        return JSONResponse(content, status_code=status, headers=headers)

    async def refuse(self, refusal: Refusal) -> JSONResponse:
        """Answer a refused request with its messageCode and message."""
        content = {"success": False, "logId": self.webhook.id, "messageCode": refusal.code, "message": refusal.message}
        headers = None if refusal.retry_after is None else retry_after(refusal.retry_after)
        return await self.answer(refusal.status, content, refusal.code, headers)


def _verify(strategy: Strategy, request: Request, body: bytes) -> str | None:
    """The verified `webhook-id` when the strategy requires signatures, else None."""
    if not strategy.signing_secrets:
        return None
    try:
        return verify(strategy.signing_secrets, request.headers, body, utcnow())
    except SignatureError as exc:
        raise Refusal(401, exc.code, exc.message) from None


def _shown_path(path: str, strategy: str | None, malformed: bool) -> str:
    """The path as journaled: every segment after the prefix masked but a known strategy's name."""
    prefix = "/trading/webhook" if path.startswith("/trading/") else "/webhook"
    if not malformed:
        return f"{prefix}/{strategy}/{MASK}" if strategy else f"{prefix}/{MASK}/{MASK}"
    # A malformed one keeps its shape (where the slashes are), which is what the operator has to fix.
    parts, named = path[len(prefix) + 1 :].split("/"), False
    for index, part in enumerate(parts):
        if part:
            parts[index] = part if part == strategy and not named else MASK
            named = named or part == strategy
    return cut(f"{prefix}/{'/'.join(parts)}", MAX_SHOWN_PATH)


def _row(request: Request, strategy: str | None, client: Client, secrets: list[str],
         malformed: bool) -> journal.WebhookRow:  # fmt: skip
    """The journal row of this request so far; the token never appears in it, even masked by position.

    Whatever the sender chose is masked: header names as well as values, and the address a trusted proxy
    passed on when it is not one (then it is the text the sender wrote, which may be a secret). A stranger's (no
    strategy: no valid token) has its first STRANGER_HEAD_CHARS of headers masked and kept, the rest noted, and
    STRANGER_ESCAPES read in all: past them a value is journaled as a note.
    """
    budget = None if strategy is not None else Budget(STRANGER_ESCAPES)
    shown = client.shown if client.address is not None else redact_encoded(client.shown, secrets, budget=budget)
    # A header's name reaches the app lowercased (ASGI's rule): a secret with capitals in it, as tokens and signing
    # secrets have, is found there in lowercase, and masked so; in its own case it was stored folded, in clear.
    folded = [secret.lower() for secret in secrets]
    headers = safe_headers(request.headers)
    if budget is not None:
        headers = first_headers(headers, STRANGER_HEAD_CHARS)
    return _NEW_ROW.changed(
        id=new_id(), received_at=iso(utcnow()), strategy=strategy, remote_addr=shown,
        method=request.method, path=_shown_path(request.scope["path"], strategy, malformed),
        headers=capped({redact_encoded(key, folded, True, budget): redact_encoded(value, secrets, budget=budget)
                        for key, value in headers.items()}),
    )  # fmt: skip


# What every request's row is made from: no body (yet), no answer (status 0), no message, no signal. The frozen
# dataclass's constructor set its twelve fields one `object.__setattr__` at a time, some 24,000 instructions a
# request; a copy of this row with the request's own fields, some 16,000.
_NEW_ROW = journal.WebhookRow(id="", received_at="", strategy=None, remote_addr=None, method="", path="", headers={},
                              body=None, status_code=0)  # fmt: skip


async def receive_webhook(request: Request) -> Response:
    """Handle one webhook request end to end."""
    bridge: SignalSink = request.app.state.bridge
    runtime = runtime_of(request, bridge)  # one config for the whole request, even if a reload swaps it
    config = runtime.loaded.config
    name = request.path_params["strategy"]
    strategy = runtime.strategies.get(name)
    known = strategy is not None and token_matches(strategy.token, request.path_params["token"])
    malformed = webhook_params(request.scope["path"]) is None  # `/webhook/s/<token>//`: answered, never redirected
    secrets = request_secrets(bridge.store, runtime)  # those a reload replaced too
    client = client_of(request, config.server)
    guards = guards_of(request)

    # The lockout first: whatever the method, a locked-out address must not be able to fill the journal.
    # A valid token meets its own /64's lockout only: its rows are bounded by its rate limit, not by the /48's.
    if (left := lockout_left(guards, client, wide=not known)) is not None:
        name_outcome(request.scope, LOCKED_OUT)  # in /metrics apart from a strategy's rate limit
        return locked_out(left)
    if not known or strategy is None:
        auth_failed(guards, client, config.server)  # whatever the method: else a stranger's GETs never meet it
        if (wait := stranger_wait(guards, config.server)) is not None:  # strangers' rows: a bounded number a minute
            name_outcome(request.scope, UNAUTHENTICATED_LIMITED)  # in /metrics apart from a strategy's rate limit
            return strangers_refused(wait)
    # Only a request to be journaled has its row made: masking its headers reads every escape in them, and a stranger
    # refused above (never journaled) had 64 KiB of them read, tens of milliseconds, as often as it liked.
    intake = Intake(request, bridge, secrets, _row(request, name if known else None, client, secrets, malformed))
    if not known or strategy is None:
        if malformed:
            return await intake.refuse(BAD_URL)
        if request.method != "POST":  # the route takes every method so that this request is journaled too
            return await intake.answer(405, METHOD_NOT_ALLOWED, "post-required", {"Allow": "POST"})
        return await intake.answer(401, UNAUTHORIZED, "unauthorized")
    try:
        check_source(strategy, name, client, config.server.forwarded_header)
        if malformed or request.method != "POST":  # after the source and within the rate limit: each is journaled
            check_rate(guards.rates, strategy, name)
            if malformed:
                return await intake.refuse(BAD_URL)
            return await intake.answer(405, METHOD_NOT_ALLOWED, "post-required", {"Allow": "POST"})
        body = await read_body(request, config.server.max_body_bytes)
        # Masked also where the sender wrote a secret with JSON escapes (`\/`, `\u0041`) or percent-encoding.
        intake.webhook = intake.webhook.changed(body=redact_encoded(body.decode("utf-8", errors="replace"), secrets))
        signed_id = _verify(strategy, request, body)
        check_rate(guards.rates, strategy, name)
        check_encoding(", ".join(request.headers.getlist("content-encoding")))  # every header: one list of codings
    except Refusal as refusal:
        # A wrong signature, or the token from an address the strategy does not allow (403): whoever sends it has
        # the token without the rest. Not counted, the 403s of a leaked token were journaled without end.
        if refusal.status in (401, 403):
            auth_failed(guards, client, config.server)
        return await intake.refuse(refusal)
    except BodyTooLarge:
        limit = config.server.max_body_bytes
        message = f"The body is larger than {limit} bytes; send only the signal fields."
        return await intake.refuse(Refusal(413, "payload-too-large", message))
    except BodyTimedOut:
        # Journaled with no part of the body; the connection is closed, so the rest of it is not read as a request.
        content = {"success": False, "logId": intake.webhook.id, "messageCode": BODY_LATE.code,
                   "message": BODY_LATE.message}  # fmt: skip
        return await intake.answer(408, content, BODY_LATE.code, {"Connection": "close"})
    except ClientDisconnect:
        return JSONResponse({"success": False}, status_code=400)
    return await _accept(intake, name, strategy, body, signed_id)


def _revoked_since(bridge: SignalSink, runtime: Runtime, name: str, token: str) -> bool:
    """True when a reload since the request was pinned to `runtime` removed its strategy or changed its token."""
    live = bridge.runtime
    if live is runtime:
        return False
    strategy = live.strategies.get(name)
    return strategy is None or not token_matches(strategy.token, token)


def _in_query(request: Request, exc: PayloadError) -> str:
    """The refusal's message, or, for an empty body whose fields came in the URL, where they belong."""
    if exc.code != "empty-json" or not {"ticker", "action"} & set(request.query_params):
        return exc.message
    # requests.post(url, params={...}) or curl -G: nothing in the body, the signal in the query string.
    return ("the body is empty and the fields are in the URL's query string; send them as the JSON body, e.g. "
            'from Python requests.post(url, json={"ticker": "AMD", "action": "buy"}) rather than params=')  # fmt: skip


async def _accept(intake: Intake, name: str, strategy: Strategy, body: bytes, signed_id: str | None) -> Response:
    """Parse, check freshness and the idempotency key, then journal the signal once (or answer duplicate)."""
    bridge, request = intake.bridge, intake.request
    runtime = runtime_of(request, bridge)
    config = runtime.loaded.config
    try:
        signal, payload, unknown = parse_body(body)
        check_ticker(signal.ticker, intake.secrets)  # before the signal is journaled with its ticker in clear
        key = idempotency_key(request, unknown, signed_id)
        now = utcnow()
        check_fresh(signal.time, now, config)
        check_due(signal.execute_at, now, config)
    except PayloadError as exc:
        return await intake.refuse(Refusal(400, exc.code, _in_query(request, exc)))
    except Refusal as refusal:
        return await intake.refuse(refusal)
    except Exception:  # a parser bug must not become a 5xx that TradingView would resend
        log.exception("the payload parser failed; answering 400")
        message = "The bridge could not read this payload; send a JSON object with ticker and action."
        return await intake.refuse(Refusal(400, "invalid-payload", message))
    if _revoked_since(bridge, runtime, name, request.path_params["token"]):
        # Its token opened the door when the request began; a reload while the body arrived revoked it.
        return await intake.answer(401, UNAUTHORIZED, "unauthorized")
    retention = timedelta(days=config.idempotency_retention_days)
    # Keys are stored hashed: a client may put anything in them, a secret included.
    hashed = None if key is None else hashlib.sha256(key.encode()).hexdigest()
    dedupe = Dedupe(datetime.fromisoformat(intake.webhook.received_at), hashlib.sha256(body).hexdigest(), hashed,
                    strategy.dedupe_window, retention)  # fmt: skip
    webhook = intake.webhook.changed(status_code=200)
    try:
        accepted = await bridge.accept(webhook, name, signal, payload, unknown, runtime, dedupe)
    except Duplicate as dup:
        # Echoed as journaled: a secret sent in a field (a message, extras) is not sent back in clear.
        shown = masked_payload(payload, intake.secrets)
        note = f"Duplicate of signal {dup.signal_id} ({dup.reason}); nothing was executed again."
        content = {"success": True, "id": dup.signal_id, "logId": webhook.id, "payload": shown, "duplicate": True,
                   "message": note}  # fmt: skip
        return await intake.answer(200, content, "duplicate", signal_id=dup.signal_id)
    except KeyReused as reused:
        # 422 as the IETF Idempotency-Key draft answers a key reused with another payload: a 4xx, so nothing resends.
        message = (f"this idempotency key already made signal {reused.signal_id}, a different signal; nothing was "
                   "executed for this one. Send a new key with every signal (resend only a failed one with its own), "
                   "e.g. one made of the alert's {{timenow}} and action.")  # fmt: skip
        return await intake.refuse(Refusal(422, "idempotency-key-reused", message))
    except sqlite3.Error:
        log.exception("cannot journal the signal: answering 503 so the sender retries")
        return JSONResponse(UNAVAILABLE, status_code=503, headers={"Retry-After": "5"})
    log.info("%s %s 200 signal=%s %.1fms", request.method, webhook.path, accepted.signal_id, intake.took())
    return _accepted_answer(accepted, webhook.id)


def _accepted_answer(accepted: Accepted, log_id: str) -> Response:
    """The 200 answer, its payload the journal's own text (masked): the payload is not encoded to JSON again."""
    # The ids are the bridge's own (`new_id`: hex digits and dashes), which JSON writes as they are.
    body = f'{{"success":true,"id":"{accepted.signal_id}","logId":"{log_id}","payload":{accepted.payload}}}'
    return _JSONAnswer(body.encode())


class _JSONAnswer(Response):
    """A 200 with a JSON body: the head `Response` would write for it, without working it out for every answer.

    `Response.__init__` renders the body, looks at the media type and builds the headers (some 11,000
    instructions); these two headers, in its order, are all it comes to for a JSON body.
    """

    media_type = JSONResponse.media_type

    def __init__(self, body: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
