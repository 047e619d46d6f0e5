"""Standard Webhooks signatures (HMAC-SHA256 over `id.timestamp.body`) for senders that can sign.

Written against the specification (standard-webhooks.com, v1.0): `webhook-id`, `webhook-timestamp`
and `webhook-signature` headers; the signature header is a space-separated list of `v1,<base64>`
entries (several during a key rotation); secrets are `whsec_` + base64; timestamps more than five
minutes off in either direction are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

SECRET_PREFIX = "whsec_"  # noqa: S105 - the specification's prefix, not a secret
TOLERANCE_SECONDS = 300
MIN_SECRET_BYTES = 24  # the specification asks for at least 192 bits
MAX_ID_LENGTH = 255
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SignatureError(Exception):
    """A request that fails verification: `code` is the messageCode, `message` says what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret; ValueError when it is not valid base64 of 24+ bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"signing secrets start with {SECRET_PREFIX} (then base64 of 24+ random bytes)")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a signing secret is {SECRET_PREFIX} followed by base64; this one is not base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a signing secret needs at least {MIN_SECRET_BYTES} random bytes, this one has {len(key)}")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of one message (what a sender puts in `webhook-signature`)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _invalid(message: str) -> SignatureError:
    return SignatureError("invalid-signature", message)


def _timestamp(text: str, now: datetime) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise _invalid("webhook-timestamp must be whole seconds since the Unix epoch")
    stamp = int(text)
    offset = now.timestamp() - stamp
    if abs(offset) > TOLERANCE_SECONDS:
        when = "old" if offset > 0 else "in the future"
        raise SignatureError(
            "expired-signature",
            f"webhook-timestamp is {abs(offset):.0f}s {when}; signatures are accepted for "
            f"{TOLERANCE_SECONDS}s either way. Sign each request when you send it and keep the clock in sync (NTP).",
        )
    return stamp


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: datetime) -> str:
    """Check a request against every configured secret; return its `webhook-id` or raise SignatureError."""
    msg_id, stamp, given = (headers.get(name, "").strip() for name in HEADERS)
    if not (msg_id and stamp and given):
        raise _invalid("this strategy requires signed requests: send webhook-id, webhook-timestamp and "
                       "webhook-signature (Standard Webhooks)")  # fmt: skip
    if len(msg_id) > MAX_ID_LENGTH or "." in msg_id or not msg_id.isascii() or not msg_id.isprintable():
        # A '.' would let bytes move between the id and the body without changing what is signed.
        raise _invalid(f"webhook-id must be printable ASCII without '.', at most {MAX_ID_LENGTH} characters")
    timestamp = _timestamp(stamp, now)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    offered = []
    for entry in given.split():
        version, _, value = entry.partition(",")
        if version == "v1":  # other schemes (v1a: ed25519) are not configured here, so they cannot match
            try:
                offered.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue
    matched = False
    for secret in secrets:
        expected = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
        for candidate in offered:
            # No early exit: every pair is compared, in constant time, whatever matches.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise _invalid("webhook-signature does not match: sign `webhook-id.webhook-timestamp.body` (the raw body "
                       "bytes) with HMAC-SHA256 and one of this strategy's signing_secrets")  # fmt: skip
    return msg_id
