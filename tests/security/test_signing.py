"""Standard Webhooks verification against the specification's vector and the reference suites' cases."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from bridge.web.signing import TOLERANCE_SECONDS, SignatureError, secret_key, sign, verify

# The specification's published vector (standard-webhooks, libraries' test suites).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SPEC_NOW = datetime.fromtimestamp(SPEC_TS, UTC)
OTHER_SECRET = "whsec_" + base64.b64encode(b"another secret, 32 bytes long!!!").decode()


def headers(signature: str = SPEC_SIGNATURE, msg_id: str = SPEC_ID, ts: int | str = SPEC_TS) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def code_of(secrets: list[str], hdrs: dict[str, str], body: bytes = SPEC_BODY, now: datetime = SPEC_NOW) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(secrets, hdrs, body, now)
    return caught.value.code


def test_signing_reproduces_the_specification_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


def test_the_specification_vector_verifies_and_returns_the_message_id() -> None:
    assert verify([SPEC_SECRET], headers(), SPEC_BODY, SPEC_NOW) == SPEC_ID


def test_rotation_any_configured_secret_and_any_offered_signature_may_match() -> None:
    both = f"v1,{base64.b64encode(b'x' * 32).decode()} {SPEC_SIGNATURE}"  # a stale signature, then the valid one
    assert verify([OTHER_SECRET, SPEC_SECRET], headers(both), SPEC_BODY, SPEC_NOW) == SPEC_ID
    new = sign(OTHER_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY)
    assert verify([OTHER_SECRET, SPEC_SECRET], headers(new), SPEC_BODY, SPEC_NOW) == SPEC_ID


@pytest.mark.parametrize(
    ("case", "secrets", "hdrs", "body"),
    [
        ("tampered body", [SPEC_SECRET], headers(), b'{"test": 2432232315}'),
        ("re-serialised body", [SPEC_SECRET], headers(), b'{"test":2432232314}'),
        ("wrong secret", [OTHER_SECRET], headers(), SPEC_BODY),
        ("other message id", [SPEC_SECRET], headers(msg_id="msg_other"), SPEC_BODY),
        ("other timestamp", [SPEC_SECRET], headers(ts=SPEC_TS + 1), SPEC_BODY),
        ("unknown scheme only", [SPEC_SECRET], headers(SPEC_SIGNATURE.replace("v1,", "v1a,")), SPEC_BODY),
        ("signature not base64", [SPEC_SECRET], headers("v1,***"), SPEC_BODY),
        ("missing signature", [SPEC_SECRET], {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS)}, SPEC_BODY),
        ("missing id", [SPEC_SECRET], {"webhook-timestamp": str(SPEC_TS), "webhook-signature": SPEC_SIGNATURE},
         SPEC_BODY),
        ("missing timestamp", [SPEC_SECRET], {"webhook-id": SPEC_ID, "webhook-signature": SPEC_SIGNATURE}, SPEC_BODY),
        ("non-numeric timestamp", [SPEC_SECRET], headers(ts="1614265330.0"), SPEC_BODY),
        ("id with a dot", [SPEC_SECRET], headers(msg_id="msg.1"), SPEC_BODY),
    ],
)  # fmt: skip
def test_every_forgery_is_refused_as_invalid_signature(
    case: str, secrets: list[str], hdrs: dict[str, str], body: bytes
) -> None:
    assert code_of(secrets, hdrs, body) == "invalid-signature", case


@pytest.mark.parametrize("offset", [TOLERANCE_SECONDS + 1, -(TOLERANCE_SECONDS + 1), 86400, -86400])
def test_a_timestamp_outside_five_minutes_either_way_is_expired_even_when_correctly_signed(offset: int) -> None:
    now = SPEC_NOW + timedelta(seconds=offset)
    assert code_of([SPEC_SECRET], headers(), now=now) == "expired-signature"


@pytest.mark.parametrize("offset", [TOLERANCE_SECONDS - 1, -(TOLERANCE_SECONDS - 1), 0])
def test_a_timestamp_inside_the_tolerance_verifies(offset: int) -> None:
    assert verify([SPEC_SECRET], headers(), SPEC_BODY, SPEC_NOW + timedelta(seconds=offset)) == SPEC_ID


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "start with whsec_"),
        ("whsec_not base64!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "at least 24"),
    ],
)
def test_weak_or_malformed_secrets_are_refused_at_load(secret: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        secret_key(secret)
