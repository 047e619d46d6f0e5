"""Journal an accepted signal with the executions it starts, whichever process took the webhook."""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from bridge.config.secrets import redact_encoded, redacted_copy, redacted_json
from bridge.ids import new_id
from bridge.models import Signal
from bridge.runtime import Runtime
from bridge.store import journal
from bridge.store.db import Store, dumps, iso
from bridge.store.dedupe import Dedupe


class Accepted(NamedTuple):
    """A journaled signal: its id, and its payload as the journal holds it (JSON text, secrets masked)."""

    signal_id: str
    payload: str  # what the 200 answer echoes: the journal's own text, not the payload encoded once more


async def journal_signal(store: Store, webhook: journal.WebhookRow, strategy: str, signal: Signal,
                         payload: dict[str, Any], unknown: dict[str, Any], runtime: Runtime,
                         dedupe: Dedupe | None) -> tuple[Accepted, list[str]]:  # fmt: skip
    """Commit the signal and one execution per enabled subscription; return it and those subscriptions.

    Raises `Duplicate` (nothing stored) for a repeat of an accepted signal.
    """
    signal_id = new_id()
    subs = runtime.subscriptions(strategy)
    secrets = request_secrets(store, runtime)
    # The body may carry a secret (a passphrase field, a note): the journal never stores one in clear.
    journaled = dumps(masked_payload(payload, secrets))
    row = {
        "id": signal_id, "webhook_id": webhook.id, "strategy": strategy, "ticker": signal.ticker,
        "action": signal.action, "sentiment": signal.sentiment,
        "price": None if signal.price is None else str(signal.price),
        "quantity": None if signal.quantity is None else str(signal.quantity),
        "signal_time": None if signal.time is None else iso(signal.time),
        "payload": journaled,
        "extras": redacted_json(unknown, secrets, numbers=True, default=str) if unknown else "{}",  # the sender's own
        "received_at": webhook.received_at,
        "execute_at": None if signal.execute_at is None else iso(signal.execute_at),
        "cancel_after": None if signal.cancel_after is None else str(signal.cancel_after),
        # What the token it came with was, for a delayed signal's check at its time (after a restart too).
        "token_fingerprint": token_fingerprint(signal_id, runtime.strategies[strategy].token),
    }  # fmt: skip
    webhook = webhook.changed(signal_id=signal_id)
    await store.run(journal.record_signal, store.conn, webhook, row, [(key, sub.broker) for key, sub in subs], dedupe)
    return Accepted(signal_id, journaled), [key for key, _sub in subs]


# The payload's fields a sender writes freely, where a secret may be put. Every other is a value the parser checked
# (a number, a moment, one of a few words): a secret's digits are in one by chance only, and masked there it is no
# value, and a delayed or resumed signal rebuilt from it fails (a 17-digit price and the time are journaled as text).
FREE_TEXT = ("message", "interval")


def masked_payload(payload: dict[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
    """The normalised payload as journaled and echoed: secrets masked in its free text, and in `extras` in numbers too.

    `extras` is the sender's own, never acted on: a token of digits sent there as a number is masked. The signal's
    own values are left as parsed: a delayed signal, or one resumed at start-up, is rebuilt from them, and a price
    or a time holding a short secret's digits would no longer be one.
    """
    shown = payload
    for field in FREE_TEXT:
        text = payload.get(field)
        if isinstance(text, str) and (masked := redact_encoded(text, secrets)) != text:
            shown = {**shown, field: masked}
    extras = payload.get("extras")
    if isinstance(extras, dict) and (masked_extras := redacted_copy(extras, secrets, numbers=True)) is not extras:
        shown = {**shown, "extras": masked_extras}
    return shown


def request_secrets(store: Store, runtime: Runtime) -> list[str]:
    """What a request's rows are masked with before they are journaled: every secret held since the start.

    The config's alone missed a token or a key a reload replaced: the old URL pasted into an alert's message or
    passed on in a proxy's header was journaled in clear (and served by /api), where the logs masked it.
    """
    return list(store.secrets()) or runtime.loaded.secrets()  # `Store.secrets`: empty until a service sets it


def token_fingerprint(signal_id: str, token: str) -> str:
    """A signal's fingerprint of a strategy token: tells a changed token from the same one, and reveals neither.

    Keyed by the signal id, so two signals' fingerprints of one token differ and a table of guessed tokens'
    hashes is no use against a copy of the journal.
    """
    # HMAC-SHA256 in one call to the C digest, without `hmac.new`'s Python object (some 900 of its 25,700
    # instructions: the rest is OpenSSL setting up its two SHA-256 contexts, which any HMAC here pays).
    return hmac.digest(signal_id.encode(), token.encode(), "sha256").hex()


def revoked_since(row: sqlite3.Row, runtime: Runtime) -> str | None:
    """Why a journaled signal may not trade under `runtime`'s config: its strategy is gone or its token changed.

    A reload ends such signals itself; this catches those a restart made so, the config edited while the daemon
    was down (a leaked token rotated, say). `row` is a signal's, or an execution's joined with its signal. A signal
    journaled without a fingerprint (by an older version, or made by a job) is let be: there is nothing to compare.
    """
    accepted_with, name = row["token_fingerprint"], row["strategy"]
    if accepted_with is None:
        return None
    strategy = runtime.strategies.get(name)
    if strategy is None:
        return f"rejected: the config in force removed strategy {name} after this signal arrived; nothing was sent"
    signal_id = row["signal_id"] if "signal_id" in row.keys() else row["id"]  # noqa: SIM118 - `in` reads values
    if not hmac.compare_digest(token_fingerprint(signal_id, strategy.token), accepted_with):
        return (f"rejected: the config in force changed strategy {name}'s token after this signal arrived with the "
                "old one; nothing was sent")  # fmt: skip
    return None
