"""The lockout at each door that takes a secret: webhook tokens, and the admin token of /api, /metrics and sign-in."""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse

from bridge.config.schema import ServerConfig
from bridge.web.auth import bearer_matches
from bridge.web.checks import client_of
from bridge.web.limits import Guards
from bridge.web.sources import SOURCE_ALIASES, Client, contains, parse_networks

log = logging.getLogger("bridge.auth")
# Admin token guesses are counted apart from webhook ones: behind a tunnel without trusted_proxies every sender
# shares the tunnel's address, and a stranger's bad webhook tokens must not lock the operator out of /api.
ADMIN_KEY = "admin "
# One subscriber gets a whole /64 (a home line, a VPS) and can take a fresh address of it for every guess.
IPV6_PREFIX = 64
# A site (or a provider's block of VPSs) gets a /48: 65,536 /64s, a fresh one for every guess or two, which the
# /64's lockout alone never met (and past MAX_TRACKED forgot). Its failures are counted too, against a threshold
# this many times the address's: a whole /48 is locked out only when many of its /64s fail together.
WIDE_PREFIX = 48
WIDE_LOCKOUT_FACTOR = 16
STRANGERS = "webhooks without a valid token"
# The published senders' addresses (TradingView's, TrendSpider's) are shared by all their users: any of them can send
# alerts with wrong tokens from there. Locked out, those addresses would refuse our own alerts too (429: TradingView
# never resends), so webhook failures from them are not counted. Guesses from there come at the sender's alert pace.
SHARED_SENDERS = parse_networks(SOURCE_ALIASES)


def guards_of(request: Request) -> Guards:
    """The app's request limits, created on first use; they outlive config reloads."""
    guards = getattr(request.app.state, "guards", None)
    if not isinstance(guards, Guards):
        guards = request.app.state.guards = Guards()
    return guards


def lockout_key(client: Client) -> str:
    """What the lockout counts failures by: the client's address, or for IPv6 its /64."""
    return lockout_keys(client)[0]


def lockout_keys(client: Client) -> tuple[str, ...]:
    """Every key the lockout counts the client's failures under: its address (IPv6: its /64, then its /48)."""
    address = client.address
    if address is None or address.version == 4:
        return (client.shown,)
    return tuple(str(ipaddress.ip_network(f"{address}/{bits}", strict=False)) for bits in (IPV6_PREFIX, WIDE_PREFIX))


def lockout_left(guards: Guards, client: Client, key: str = "", wide: bool = True) -> float | None:
    """Seconds left of the longest lockout the client is under (under `key`: the admin door's), or None.

    Without `wide`, only its own address's (IPv6: its /64's): a /48 holds a provider's other customers, the
    operator's own sender among them, whose requests with a valid token a neighbour's guesses must not refuse.
    """
    keys = lockout_keys(client) if wide else lockout_keys(client)[:1]
    left = [s for k in keys if (s := guards.lockout.locked(key + k)) is not None]
    return max(left) if left else None


def auth_failed(guards: Guards, client: Client, server: ServerConfig, key: str = "",
                what: str = "failed authentications") -> None:  # fmt: skip
    """Count a failed authentication against the address (under `key`); log when that starts a lockout."""
    if not key and contains(SHARED_SENDERS, client.address):  # the admin door has no business with them: counted
        return
    for index, counted in enumerate(lockout_keys(client)):
        limit = server.auth_failure_limit * (WIDE_LOCKOUT_FACTOR if index else 1)
        if guards.lockout.failure(key + counted, limit, server.auth_lockout):
            log.warning("locked out %s for %gs after %d %s within a minute%s", counted, server.auth_lockout, limit,
                        what, "; if that is your tunnel or proxy, list it in server.trusted_proxies" if client.address
                        and (client.address.is_loopback or client.address.is_private) else "")  # fmt: skip


def stranger_wait(guards: Guards, server: ServerConfig) -> float | None:
    """None when a webhook request without a valid token may be journaled, else the seconds until one may.

    Each address has its lockout; this bounds them all together (a botnet, the /48s of a /32, TradingView's shared
    addresses, which no lockout covers), so strangers cannot fill the disk with 401s. The refused are counted in
    /metrics by their 429, and said in the log: a line when refusing starts, one with their number when it ends.
    """
    limit = server.unauthenticated_journal_per_minute
    wait = guards.strangers.acquire(STRANGERS, ((limit, 60.0),))
    if wait is None:
        if guards.unjournaled:
            log.warning(
                "%d webhook requests without a valid token were answered 429 and not journaled (more than %d "
                "within a minute: server.unauthenticated_journal_per_minute)",
                guards.unjournaled,
                limit,
            )
            guards.unjournaled = 0
        return None
    if not guards.unjournaled:
        log.warning("more than %d webhook requests without a valid token within a minute: the next are answered 429 "
                    "and not journaled, only counted (server.unauthenticated_journal_per_minute); requests with a "
                    "valid token are journaled as ever", limit)  # fmt: skip
    guards.unjournaled += 1
    return wait


def strangers_refused(wait: float) -> JSONResponse:
    """429 for a request without a valid token past server.unauthenticated_journal_per_minute: not journaled."""
    message = (f"Too many requests with an unknown strategy or wrong token (server.unauthenticated_journal_per_minute)"
               f"; retry in {math.ceil(wait)}s, with the webhook URL as bridge run prints it.")  # fmt: skip
    content = {"success": False, "messageCode": "too-many-requests", "message": message}
    return JSONResponse(content, status_code=429, headers=retry_after(wait))


def locked_out(left: float) -> JSONResponse:
    """429 for a locked-out address: not journaled, so a flood of bad tokens cannot fill the journal."""
    message = f"Too many failed authentications from this address; retry in {math.ceil(left)}s."
    content = {"success": False, "messageCode": "too-many-requests", "message": message}
    return JSONResponse(content, status_code=429, headers=retry_after(left))


def retry_after(left: float) -> dict[str, str]:
    """The Retry-After header of a wait of `left` seconds (a lockout, a rate limit): whole seconds, rounded up.

    Rounded down, a sender that waits as told asks again before it may, and is refused once more.
    """
    return {"Retry-After": str(max(1, math.ceil(left)))}


@dataclass(frozen=True)
class AdminDoor:
    """One request's standing at the admin token's door: its address's lockout, and where failures count."""

    guards: Guards
    client: Client
    server: ServerConfig

    @classmethod
    def of(cls, request: Request) -> AdminDoor:
        """The door as this request meets it (the live config's limits and trusted proxies)."""
        server: ServerConfig = request.app.state.bridge.loaded.config.server
        return cls(guards_of(request), client_of(request, server), server)

    def locked(self) -> float | None:
        """Seconds left of this address's admin lockout, or None."""
        return lockout_left(self.guards, self.client, ADMIN_KEY)

    def failed(self) -> None:
        """Count a wrong admin token from this address."""
        auth_failed(self.guards, self.client, self.server, ADMIN_KEY, "wrong admin tokens")


def admin_denied(request: Request) -> JSONResponse | None:
    """None when the request carries `Authorization: Bearer <server.admin_token>`, else the 401 (or lockout 429)."""
    door = AdminDoor.of(request)
    if (left := door.locked()) is not None:  # even the right token: else guessing would go on at full speed
        return locked_out(left)
    expected = door.server.admin_token
    authorization = request.headers.get("authorization")
    if bearer_matches(expected, authorization):
        return None
    if expected is not None and authorization:  # no credentials at all (a bare scrape, a browser) guess nothing
        door.failed()
    hint = "send Authorization: Bearer <server.admin_token>" if expected else "set server.admin_token to use the API"
    return JSONResponse({"success": False, "messageCode": "unauthorized", "message": hint}, status_code=401)
