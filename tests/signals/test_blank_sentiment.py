"""A sentiment sent blank ("" from a placeholder or variable that gave nothing) is refused, not read as none.

Read as none, a sell while long with the default allow_swap sells the long and opens a short: a sender whose
sentiment came out blank had meant one, and "flat" (exit only) is as likely as "bearish". Which one cannot be
guessed, so the signal is refused with a 400 that says what to send; leaving the field out still means none.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.signals.parse import PayloadError, parse_body
from bridge.signals.resolve import resolve


def sent(**fields: object) -> bytes:
    return json.dumps({"ticker": "AMD", "action": "sell", **fields}).encode()


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_sentiment_is_refused_saying_what_to_send(blank: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_body(sent(sentiment=blank))
    assert caught.value.code == "invalid-sentiment"
    message = caught.value.message
    assert "sentiment is empty" in message and "bullish, bearish or flat" in message, message
    assert "leave sentiment out" in message, message


def test_a_sell_while_long_opens_a_short_only_when_the_sender_said_so() -> None:
    """The hazard the refusal keeps away: without a sentiment the long is sold and a short opened."""
    sub = Subscription(broker="paper")
    plain, _, _ = parse_body(sent())
    assert [leg.kind for leg in resolve(plain, Decimal(5), [], sub).legs] == ["exit", "entry"]
    flat, _, _ = parse_body(sent(sentiment="flat"))
    assert [leg.kind for leg in resolve(flat, Decimal(5), [], sub).legs] == ["exit"]


def test_null_and_absent_still_mean_no_sentiment() -> None:
    assert parse_body(sent(sentiment=None))[0].sentiment is None
    assert parse_body(sent())[0].sentiment is None


@pytest.mark.parametrize("action", ["exit", "cancel", "add", "reverse", "breakeven"])
def test_a_blank_sentiment_beside_an_action_it_never_goes_with_is_no_sentiment(action: str) -> None:
    """A template that always carries the field, blank on its exits: refused, the exit would leave the position."""
    signal, echo, _ = parse_body(sent(action=action, sentiment=""))
    assert signal.sentiment is None and "sentiment" not in echo
