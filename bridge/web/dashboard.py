"""The web dashboard at `/`: sign in with the admin token, watch signals live, halt or resume trading.

Sessions are server-side (a random id in an HttpOnly, SameSite=Strict cookie); the halt/resume forms
carry a per-session CSRF token. Tokens are never rendered: webhook URLs show `…abcd`, and the copy
button asks the server for the full URL only when pressed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bridge.config.secrets import mask
from bridge.metrics import off_admin_listener
from bridge.service import Bridge
from bridge.store.db import iso
from bridge.web.api import held_positions, number, present
from bridge.web.auth import token_matches
from bridge.web.control import not_persisted
from bridge.web.gate import AdminDoor, retry_after
from bridge.web.paths import NOT_FOUND
from bridge.web.webhook import BodyTooLarge, read_body

if TYPE_CHECKING:
    import jinja2

HERE = Path(__file__).resolve().parent
COOKIE = "bridge_session"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 100  # the oldest is forgotten beyond this, so a login loop cannot grow memory
TIMELINE = 50
MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 10  # the login and switch forms have one or two
QUOTE_TIMEOUT = 0.5  # seconds; a slow quote must not stall the page
# Seconds one reading of the positions serves every page's poll: each read is a request at the venue, under the
# adapter's rate limit, which the orders share (Alpaca's 200 a minute were gone with two tabs open).
POSITIONS_EVERY = 5.0


@functools.cache
def _templates() -> jinja2.Environment:
    """The page templates, loaded on the first page view: a daemon nobody looks at never pays for jinja2."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                              autoescape=jinja2.select_autoescape(["html"]))  # fmt: skip


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its CSRF token, when it expires (monotonic seconds), the admin token it signed in with."""

    csrf: str
    expires: float
    granted_by: str  # the admin token's digest: a reload that changes or removes the token ends the session


def _digest(admin_token: str | None) -> str:
    return "" if admin_token is None else hashlib.sha256(admin_token.encode()).hexdigest()


class Dashboard:
    """The dashboard's routes and its in-memory sessions (a restart signs everyone out)."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self._positions: tuple[float, list[dict[str, Any]]] | None = None  # (monotonic time read, rows)
        self._reading: asyncio.Task[list[dict[str, Any]]] | None = None

    def routes(self) -> list[Route]:
        """Routes to mount on the app."""
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/dashboard/state", self.state, methods=["GET"]),
            Route("/dashboard/url/{strategy}", self.webhook_url, methods=["GET"]),
            Route("/dashboard/halt", self.halt, methods=["POST"]),
            Route("/dashboard/resume", self.resume, methods=["POST"]),
            Route("/dashboard/static/dashboard.js", self.script, methods=["GET"]),
        ]

    def _session(self, request: Request) -> Session | None:
        sid = request.cookies.get(COOKIE, "")
        session = self.sessions.get(sid)
        admin_token = request.app.state.bridge.loaded.config.server.admin_token
        # A token rotated because it leaked must not leave its sessions open (they can halt and copy webhook URLs).
        if (session is None or session.expires < time.monotonic() or admin_token is None
                or not hmac.compare_digest(session.granted_by, _digest(admin_token))):  # fmt: skip
            self.sessions.pop(sid, None)
            return None
        return session

    def _hidden(self, request: Request) -> bool:
        return off_admin_listener(request)

    async def index(self, request: Request) -> Response:
        """The dashboard, or the sign-in form."""
        if self._hidden(request):
            return _not_found()
        session = self._session(request)
        bridge: Bridge = request.app.state.bridge
        if session is None:
            return _page("login.html", configured=bridge.loaded.config.server.admin_token is not None)
        return _page("dashboard.html", csrf=session.csrf, strategies=_strategies(bridge), config=_config(bridge))

    async def login(self, request: Request) -> Response:
        """Check the admin token and start a session."""
        if self._hidden(request):
            return _not_found()
        if _cross_site(request):  # not counted: any page the operator opens could lock their own address out
            return _forbidden("sign in from the dashboard's own page")
        bridge: Bridge = request.app.state.bridge
        expected = bridge.loaded.config.server.admin_token
        door = AdminDoor.of(request)  # the same lockout as a wrong token at /api: this form is a door to it too
        if (left := door.locked()) is not None:
            error = f"Too many wrong admin tokens from this address; retry in {left:.0f}s."
            return _page("login.html", status=429, headers=retry_after(left), configured=True, error=error)
        if (form := await _form(request)) is None:
            return _too_large()
        given = form.get("token")
        if not isinstance(given, str) or not token_matches(expected, given.strip()):
            if expected is not None and isinstance(given, str) and given.strip():
                door.failed()
            return _page(
                "login.html", status=401, configured=expected is not None, error="That is not the admin token."
            )
        if len(self.sessions) >= MAX_SESSIONS:
            self.sessions.pop(next(iter(self.sessions)))
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(secrets.token_urlsafe(32), time.monotonic() + SESSION_SECONDS, _digest(expected))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, sid, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                            secure=_over_https(request), path="/")  # fmt: skip
        return response

    async def logout(self, request: Request) -> Response:
        """End the session."""
        if self._hidden(request):
            return _not_found()
        if _cross_site(request):  # another site's page must not sign the operator out either
            return _forbidden("sign out from the dashboard's own page")
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def state(self, request: Request) -> Response:
        """Everything the page polls: the signals timeline, positions, trading and config status."""
        if self._hidden(request):
            return _not_found()
        if self._session(request) is None:
            return JSONResponse({"success": False, "messageCode": "unauthorized", "message": "sign in again"}, 401)
        bridge: Bridge = request.app.state.bridge
        signals = await bridge.store.run(timeline, bridge.store.conn, TIMELINE)
        halt = bridge.guard.halt.shown()
        return JSONResponse({
            "signals": signals,
            "positions": await self._held(bridge),
            "halted": bridge.recovering or halt.halted,
            "kill_switch": halt.as_json(),
            "config": _config(bridge),
        })  # fmt: skip

    async def _held(self, bridge: Bridge) -> list[dict[str, Any]]:
        """The positions, read at most once every POSITIONS_EVERY seconds whatever the number of pages polling."""
        if self._positions is not None and time.monotonic() - self._positions[0] < POSITIONS_EVERY:
            return self._positions[1]
        if self._reading is None or self._reading.done():  # polls arriving meanwhile wait for this one read
            self._reading = asyncio.ensure_future(self._read(bridge))
        return await asyncio.shield(self._reading)  # a page that goes away does not cancel the others' read

    async def _read(self, bridge: Bridge) -> list[dict[str, Any]]:
        rows = await _positions(bridge)
        self._positions = (time.monotonic(), rows)
        return rows

    async def webhook_url(self, request: Request) -> Response:
        """The full webhook URL of one strategy, for the copy button (never part of the page itself)."""
        if self._hidden(request):
            return _not_found()
        if self._session(request) is None:
            return JSONResponse({"success": False, "messageCode": "unauthorized", "message": "sign in again"}, 401)
        bridge: Bridge = request.app.state.bridge
        name = request.path_params["strategy"]
        strategy = bridge.loaded.config.strategies.get(name)
        if strategy is None:
            return _not_found()
        path = f"/webhook/{name}/{strategy.token}"
        # The page puts `path` after its own origin: behind a tunnel that ends TLS only the browser knows it is on
        # https://, and `url` (as the bridge sees it) would say http://, sending the token in clear if pasted.
        public = bridge.loaded.config.server.public_url  # where senders reach it: the page's own origin may not be
        base = public or str(request.base_url).rstrip("/")
        return JSONResponse({"url": base + path, "path": path, "public": public is not None},
                            headers={"cache-control": "no-store"})  # fmt: skip

    async def halt(self, request: Request) -> Response:
        """The halt button (form post with the CSRF token)."""
        return await self._switch(request, True)

    async def resume(self, request: Request) -> Response:
        """The resume button (form post with the CSRF token)."""
        return await self._switch(request, False)

    async def _switch(self, request: Request, halted: bool) -> Response:
        if self._hidden(request):
            return _not_found()
        session = self._session(request)
        if (form := await _form(request)) is None:
            return _too_large()
        given = form.get("csrf")
        # token_matches compares bytes: hmac.compare_digest refuses a str that is not ASCII (a TypeError, a 500).
        if session is None or not isinstance(given, str) or not token_matches(session.csrf, given):
            return JSONResponse({"success": False, "messageCode": "forbidden", "message": "stale form; reload"}, 403)
        bridge: Bridge = request.app.state.bridge
        try:
            await bridge.guard.halt.set(halted, "halted from the dashboard" if halted else None, "dashboard")
        except sqlite3.Error:  # a bare 500 would leave the operator guessing whether trading stopped
            return not_persisted(halted)
        return RedirectResponse("/", status_code=303)

    async def script(self, request: Request) -> Response:
        """The page's small script (no build step)."""
        if self._hidden(request):  # it would tell a stranger on the public listener that a dashboard is there
            return _not_found()
        return FileResponse(HERE / "static" / "dashboard.js", media_type="text/javascript")


async def _form(request: Request) -> dict[str, str] | None:
    """A small url-encoded form (Starlette's own parser would need python-multipart for this); None when too large."""
    try:  # not request.body(): it would read a body of any size into memory before it could be measured
        body = await read_body(request, MAX_FORM_BYTES)
    except BodyTooLarge:
        return None
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more fields than ours have: answered as an empty form (401 / 403), not a 500
        return {}
    return {k: v[0] for k, v in fields.items()}


def _over_https(request: Request) -> bool:
    """Whether the browser is on HTTPS: behind a tunnel or proxy that ends TLS only its `Origin` says so."""
    # The Origin comes from the browser (a form post always carries it); a client that forges it gets itself a cookie
    # it cannot send over plain HTTP, nothing more. A page on plain HTTP (a LAN address) gets no Secure: its browser
    # would refuse the cookie.
    return request.url.scheme == "https" or request.headers.get("origin", "").lower().startswith("https://")


def _cross_site(request: Request) -> bool:
    """True for a form another site's page posted: the browser says so in `Sec-Fetch-Site` (ours are same-origin)."""
    # Not the Origin against the Host: a reverse proxy may rewrite the Host (nginx does by default).
    return request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")


def _forbidden(message: str) -> JSONResponse:
    return JSONResponse({"success": False, "messageCode": "forbidden", "message": message}, 403)


def _too_large() -> JSONResponse:
    message = f"The form is larger than {MAX_FORM_BYTES} bytes."
    return JSONResponse({"success": False, "messageCode": "payload-too-large", "message": message}, 413)


def _not_found() -> JSONResponse:
    return JSONResponse(NOT_FOUND, 404)


def _page(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    headers = {
        **(headers or {}),
        "cache-control": "no-store",
        "x-frame-options": "DENY",
        # Nothing for other sites, and the real Origin on our own form posts (no-referrer makes it "null"): the
        # sign-in reads it to tell a page on HTTPS behind a tunnel.
        "referrer-policy": "same-origin",
        "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    }
    page = _templates().get_template(template).render(**context)
    return HTMLResponse(page, status_code=status, headers=headers)


def _strategies(bridge: Bridge) -> list[dict[str, Any]]:
    """Strategies with masked webhook paths and their subscriptions."""
    items = []
    for name, strategy in bridge.loaded.config.strategies.items():
        subs = [{"broker": s.broker, "name": s.name or s.broker, "enabled": s.enabled, "sides": s.sides,
                 "sizing": f"{s.sizing.type} {s.sizing.value}", "order_type": s.order_type}
                for s in strategy.subscriptions]  # fmt: skip
        items.append({"name": name, "path": f"/webhook/{name}/{mask(strategy.token)}", "subscriptions": subs,
                      "sources": ", ".join(strategy.allowed_sources or ["any"])})  # fmt: skip
    return items


def _config(bridge: Bridge) -> dict[str, Any]:
    """Which config is loaded, and how the last reload went (errors are already redacted)."""
    path = bridge.loaded.path
    return {"file": path.name if path else "built-in demo", "sha256": bridge.loaded.sha256[:12],
            "loaded_at": iso(bridge.loaded_at), "last_reload": bridge.reloader.status.as_json()}  # fmt: skip


def timeline(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest signals, each with its executions and orders (fills and errors included)."""
    signals = [dict(r) for r in conn.execute(
        "SELECT id, strategy, ticker, action, sentiment, price, quantity, state, decision, received_at, updated_at "
        "FROM signals ORDER BY received_at DESC, rowid DESC LIMIT ?", (limit,))]  # fmt: skip
    if not signals:
        return []
    ids = [s["id"] for s in signals]
    marks = ",".join("?" * len(ids))
    orders: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(f"SELECT signal_id, subscription, broker, leg, symbol, side, type, quantity, limit_price, "  # noqa: S608
                            f"stop_price, status, filled_quantity, avg_fill_price, error FROM orders "
                            f"WHERE signal_id IN ({marks}) ORDER BY created_at, seq", ids):  # fmt: skip
        orders.setdefault(row["signal_id"], []).append(present(dict(row)))
    executions: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(f"SELECT signal_id, subscription, broker, state, decision FROM executions "  # noqa: S608
                            f"WHERE signal_id IN ({marks}) ORDER BY subscription", ids):  # fmt: skip
        executions.setdefault(row["signal_id"], []).append(dict(row))
    for s in signals:
        s.update(present({"price": s["price"], "quantity": s["quantity"]}))
        s["orders"] = orders.get(s["id"], [])
        s["executions"] = executions.get(s["id"], [])
    return signals


async def _positions(bridge: Bridge) -> list[dict[str, Any]]:
    """Each broker's positions, with unrealized P&L when the broker knows a price; a row saying why for one that
    cannot list them now (`held_positions`)."""
    items: list[dict[str, Any]] = []
    brokers = bridge.runtime.brokers
    for name, held in await held_positions(brokers, bridge.loaded.secrets()):
        if isinstance(held, str):
            items.append({"broker": name, "symbol": None, "error": held})
            continue
        last = await _quote(brokers[name].broker, held.symbol)
        pnl = None if last is None or held.avg_price is None else (last - held.avg_price) * held.quantity
        items.append({"broker": name, "symbol": held.symbol, "quantity": number(str(held.quantity)),
                      "avg_price": None if held.avg_price is None else number(str(held.avg_price)),
                      "last": None if last is None else number(str(last)),
                      "pnl": None if pnl is None else number(str(round(pnl, 2)))})  # fmt: skip
    return items


async def _quote(broker: object, symbol: str) -> Decimal | None:
    fetch = getattr(broker, "fetch_quote", None)
    if fetch is None:
        return None
    try:
        price = await asyncio.wait_for(fetch(symbol), QUOTE_TIMEOUT)
    except Exception:  # a quote is a nicety here; the position is still shown
        return None
    return price if isinstance(price, Decimal) else None
