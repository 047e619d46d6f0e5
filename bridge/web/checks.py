"""The checks a webhook passes after authentication: source, freshness, idempotency key, rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from starlette.requests import Request

from bridge.config.schema import Config, ServerConfig, Strategy
from bridge.config.secrets import redact_encoded
from bridge.signals.parse import ASSUMED_UTC
from bridge.web.limits import RateLimiter
from bridge.web.sources import (
    Client,
    Network,
    client_address,
    contains,
    forwarded_hops,
    parse_address,
    parse_networks,
    shown_text,
)

MAX_KEY_LENGTH = 255
KEY_FIELD = "idempotencyKey"


class Refusal(Exception):
    """A request refused with a 4xx: `status`, `code` (messageCode) and a message saying what to do."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@lru_cache(maxsize=256)
def _networks(entries: tuple[str, ...], aliases: bool) -> tuple[Network, ...]:
    return parse_networks(entries, aliases)


def client_of(request: Request, server: ServerConfig) -> Client:
    """The address this request is judged by: forwarded headers count only when the peer is a trusted proxy."""
    proxies = tuple(server.trusted_proxies)
    peer = request.client.host if request.client else None
    direct = _direct_client(peer, proxies)
    if direct is not None:  # the usual case: no header is read, none would count
        return direct
    hops = forwarded_hops(request.headers.getlist(server.forwarded_header), server.forwarded_header)
    return client_address(peer, hops, _networks(proxies, False))


@lru_cache(maxsize=4096)  # per request, from a few peers (the tunnel's, the sender's): the same answer each time
def _direct_client(peer: str | None, proxies: tuple[str, ...]) -> Client | None:
    """The client when `peer` is not one of the trusted `proxies` (it is judged by its own address), else None."""
    trusted = _networks(proxies, False)
    if contains(trusted, parse_address(peer)):
        return None
    return client_address(peer, (), trusted)


HEADER_NAMES = {"x-forwarded-for": "X-Forwarded-For", "forwarded": "Forwarded"}


def check_source(strategy: Strategy, name: str, client: Client, header: str = "x-forwarded-for") -> None:
    """403 unless the client address is in the strategy's `allowed_sources` (when it has one)."""
    if strategy.allowed_sources is None:
        return
    if contains(_networks(tuple(strategy.allowed_sources), True), client.address):
        return
    refused = f"requests from {client.shown} are not allowed for strategy {name} (allowed_sources)."
    shown = HEADER_NAMES.get(header, header)
    if client.unforwarded:
        # The proxy is trusted already: the advice to list it would not help, and allowing its address (or trusting
        # a forward that adds no header) would let any sender through, or let it pick its address by the header.
        how = (f"the request came without {shown}" if client.address is not None
               else f"the last entry of {shown} is not an address")  # fmt: skip
        why = (f" {client.peer} is one of server.trusted_proxies and {how}: a proxy "
               f"you trust must add {shown} with the address it saw (cloudflared, Caddy, Tailscale and ngrok do). "
               "A plain TCP forward (ssh -R, socat) adds none, and through it any sender could write the header "
               "itself: do not list such a forward in trusted_proxies nor its address in allowed_sources.")  # fmt: skip
    else:
        why = (" Behind a tunnel or reverse proxy, list its address in server.trusted_proxies so the sender's "
               f"address is seen (only a proxy that adds {shown} with the address it saw).")  # fmt: skip
    raise Refusal(403, "forbidden-ip", refused + why)


def check_rate(rates: RateLimiter, strategy: Strategy, name: str) -> None:
    """429 when the strategy has used its `rate_limit`, naming the one of its limits that holds the request back."""
    limit = strategy.rate_limit
    refused = rates.admit(name, ((limit.per_minute, 60.0), (limit.per_hour, 3600.0)))
    if refused is not None:
        wait, rule = refused
        per_minute = rule == 0
        setting = "per_minute" if per_minute else "per_hour"
        most, span = (limit.per_minute, "a minute") if per_minute else (limit.per_hour, "an hour")
        # Rounded up, as Retry-After is: a sender that retries on the second said must not be refused again.
        raise Refusal(
            429,
            "too-many-requests",
            f"strategy {name} takes at most {most} requests {span} (strategies.{name}.rate_limit.{setting}); "
            f"retry in {math.ceil(wait)}s, or raise that setting if the sender is meant to send more",
            retry_after=wait,
        )


def check_encoding(content_encoding: str | None) -> None:
    """415 for a compressed body: it is read as plain JSON text, and a small gzip can inflate to gigabytes."""
    codings = [c.strip() for c in (content_encoding or "").split(",") if c.strip()]
    # Quoted as sent, compared lowercased: quoted lowercased, a token with capitals was journaled but for its case.
    compressed = [shown_text(c, 20) for c in codings if c.lower() != "identity"]
    if compressed:
        raise Refusal(
            415,
            "unsupported-content-encoding",
            f"the body is compressed (Content-Encoding: {', '.join(compressed)}); send it uncompressed, "
            'as JSON text such as {"ticker": "AMD", "action": "buy"}',
        )


def _clean_key(value: Any, source: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_KEY_LENGTH or not text.isprintable():
        raise Refusal(
            400,
            "invalid-idempotency-key",
            f"{source} must be 1 to {MAX_KEY_LENGTH} printable characters, unique per signal",
        )
    return text.strip()


def idempotency_key(request: Request, unknown: dict[str, Any], signed_id: str | None) -> str | None:
    """The key: a verified `webhook-id`, else `Idempotency-Key`, else the `idempotencyKey` field, else `webhook-id`."""
    if signed_id is not None:
        # The signature covers the webhook-id, not the other headers: were an unsigned key to win, a captured
        # request replayed within the signature's 5 minutes with a key added (or removed) would trade again.
        return _clean_key(signed_id, "the webhook-id header")
    header = request.headers.get("idempotency-key")
    if header is not None:
        return _clean_key(header, "the Idempotency-Key header")
    if KEY_FIELD in unknown:
        return _clean_key(unknown[KEY_FIELD], KEY_FIELD)
    given = request.headers.get("webhook-id")
    return None if given is None else _clean_key(given, "the webhook-id header")


def check_ticker(ticker: str, secrets: Sequence[str]) -> None:
    """400 when the ticker carries a configured secret: the ticker is journaled and shown as sent, unlike the body."""
    if redact_encoded(ticker, secrets) != ticker:  # in clear, or percent-encoded or escaped: as the body is masked
        raise Refusal(
            400,
            "invalid-payload",
            "the ticker carries a configured secret (a token or key); put the symbol in ticker, e.g. "
            '{"ticker": "AMD", "action": "buy"}, and check the alert message',
        )


def check_due(execute_at: datetime | None, now: datetime, config: Config) -> None:
    """400 invalid-delay-format when a `delay` time passed more than `max_signal_age` ago (it would expire at once)."""
    if execute_at is None:
        return
    late = (now - execute_at).total_seconds()
    if late > config.max_signal_age:
        raise Refusal(
            400,
            "invalid-delay-format",
            f"delay {execute_at.isoformat()} is {late:.0f}s in the past; a signal is not executed more than "
            f"max_signal_age {config.max_signal_age:g}s after its delay ends. Send a time ahead, or seconds "
            "(e.g. \"delay\": 60), and check the sender's clock and this machine's (NTP).",
        )


def check_fresh(signal_time: datetime | None, now: datetime, config: Config) -> None:
    """400 stale-signal when the signal's `time` is older than `max_signal_age` or in the future (beyond skew)."""
    if signal_time is None:
        return
    age = (now - signal_time).total_seconds()
    skew, max_age = config.clock_skew, config.max_signal_age
    bare = (
        " It was sent with no offset, so it was read as UTC: send it with Z or its offset (e.g. -05:00)."
        if signal_time.tzinfo is ASSUMED_UTC
        else ""
    )
    if age > max_age + skew:
        raise Refusal(
            400,
            "stale-signal",
            f"the signal's time {signal_time.isoformat()} is {age:.0f}s old; signals older than max_signal_age "
            f"{max_age:g}s (+ clock_skew {skew:g}s) are refused so a late alert cannot trade at a stale price. "
            # TradingView's {{time}} is the bar's opening time: a bar's length old when its alert fires.
            'If the alert sends "{{time}}" (the bar\'s opening time), send "{{timenow}}" (when it fired); '
            "else check the alert's delivery and this machine's clock (NTP)." + bare,
        )
    if -age > skew:
        raise Refusal(
            400,
            "stale-signal",
            f"the signal's time {signal_time.isoformat()} is {-age:.0f}s in the future (clock_skew allows "
            f"{skew:g}s): check the sender's clock and this machine's (NTP)." + bare,
        )
