"""Constant-time secret checks and the header scrubbing applied before anything is journaled."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from starlette.datastructures import Headers

from bridge.config.secrets import is_secret_key

# Compared against when the strategy does not exist, so both failures take the same time.
_DUMMY_TOKEN = "x" * 48
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization", "set-cookie"}
# Idempotency keys are journaled as their sha256 (of the key as used, stripped): a client may put anything in one.
_KEY_HEADERS = {b"idempotency-key", b"webhook-id"}
# A request is journaled with its headers, a wrong token's 401 too, and uvicorn's parser sets no limit on them: kept
# whole, a few wrong tokens a minute with megabytes of headers each filled the journal up to database_max_mb, and
# every real alert was then answered 503. Real senders' headers fit well within these (a row stays under a body's).
MAX_HEADERS_KEPT = 50
MAX_HEADER_NAME = 100
MAX_HEADER_VALUE = 1024


def token_matches(expected: str | None, given: str) -> bool:
    """True when `given` equals `expected`; constant time, and an unknown strategy always fails."""
    same = hmac.compare_digest((expected or _DUMMY_TOKEN).encode(), given.encode())
    return same and expected is not None


def bearer_matches(expected: str | None, authorization: str | None) -> bool:
    """Check an `Authorization: Bearer <token>` header against the admin token."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(expected, given.strip())


def safe_headers(headers: Headers) -> dict[str, str]:
    """Request headers without credentials, as stored in the journal."""
    # From the raw list: decoding it through `Headers.items()` cost a tenth of a webhook's handling.
    return {k.decode("latin-1"): _hashed(v) if k.lower() in _KEY_HEADERS else v.decode("latin-1")
            for k, v in headers.raw if _storable(k)}  # fmt: skip


def capped(headers: dict[str, str]) -> dict[str, str]:
    """The first MAX_HEADERS_KEPT headers, long names and values cut; cut after the masking, never through a secret."""
    if len(headers) <= MAX_HEADERS_KEPT and all(
        len(k) <= MAX_HEADER_NAME and len(v) <= MAX_HEADER_VALUE for k, v in headers.items()
    ):
        return headers  # the usual request: nothing to cut
    kept = list(headers.items())[:MAX_HEADERS_KEPT]
    return {cut(name, MAX_HEADER_NAME): cut(value, MAX_HEADER_VALUE) for name, value in kept}


# The key of the entry that says how much of a stranger's headers was not kept: no header is named so, as a header's
# name cannot hold a parenthesis or a space (RFC 9110's token).
NOT_KEPT = "(not kept)"


def first_headers(headers: dict[str, str], most: int) -> dict[str, str]:
    """`headers` in order as far as `most` characters (names and values) hold them, the rest measured, not read.

    Each character kept is searched for every secret before it is journaled: a stranger's are journaled to say who
    knocked, not to cost the event loop what its sender likes. A value that does not fit is noted by its size, and
    a header whose name does not fit either is counted in an entry NOT_KEPT, with their characters.
    """
    kept: dict[str, str] = {}
    size, left_out = 0, []
    for name, value in headers.items():
        if len(kept) == MAX_HEADERS_KEPT or size + len(name) > most:
            left_out.append(len(name) + len(value))
            continue
        whole = size + len(name) + len(value) <= most
        kept[name] = value if whole else f"({len(value)} characters, not read)"
        size += len(name) + (len(value) if whole else 0)
    if not left_out:
        return kept
    if len(kept) == MAX_HEADERS_KEPT:  # room for the note within what `capped` keeps
        name, _ = kept.popitem()
        left_out.append(len(name) + len(headers[name]))
    note = (f"{len(left_out)} more headers, {sum(left_out)} characters, not read: a request without a valid token "
            f"has its first {most} characters of headers journaled")  # fmt: skip
    return {**kept, NOT_KEPT: note}


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def _hashed(value: bytes) -> str:
    return "sha256:" + hashlib.sha256(value.decode("latin-1").strip().encode()).hexdigest()


@lru_cache(maxsize=1024)  # header names repeat from request to request
def _storable(name: bytes) -> bool:
    key = name.decode("latin-1")
    return key.lower() not in _SECRET_HEADERS and not is_secret_key(key)
