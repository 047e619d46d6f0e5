"""A cancelOrderType sent blank ("" from a placeholder or variable that gave nothing) is refused, not read as none.

Read as none, a cancel meant for one type of order (the resting limit entries) cancels every open order of the
ticker, the position's stop-loss among them: the position is left with no stop. Leaving the field out still
cancels them all, as asked.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.models import Order
from bridge.signals.parse import PayloadError, parse_body
from bridge.signals.resolve import resolve

OPEN = [
    Order("entry-2", "AMD", "buy", Decimal(5), "limit", "open", limit_price=Decimal(90)),
    Order("stop-1", "AMD", "sell", Decimal(5), "stop", "open", stop_price=Decimal(80)),
]


def sent(**fields: object) -> bytes:
    return json.dumps({"ticker": "AMD", "action": "cancel", **fields}).encode()


@pytest.mark.parametrize("blank", ["", " "])
def test_a_blank_cancel_order_type_is_refused_saying_what_to_send(blank: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_body(sent(cancelOrderType=blank))
    assert caught.value.code == "invalid-order-type"
    message = caught.value.message
    assert "cancelOrderType is empty" in message and "leave cancelOrderType out" in message, message


def test_what_a_blank_would_have_canceled() -> None:
    """The hazard the refusal keeps away: the stop-loss of the position canceled with the entry meant."""
    sub = Subscription(broker="paper")
    limits, _, _ = parse_body(sent(cancelOrderType="limit"))
    assert resolve(limits, Decimal(5), OPEN, sub).cancel == ("entry-2",)
    every, _, _ = parse_body(sent())
    assert resolve(every, Decimal(5), OPEN, sub).cancel == ("entry-2", "stop-1")


@pytest.mark.parametrize("action", ["buy", "sell", "exit"])
def test_a_blank_cancel_order_type_beside_another_action_is_no_cancel_order_type(action: str) -> None:
    """A template that always carries the field, blank but on its cancels: its trades and exits still go."""
    signal, echo, _ = parse_body(sent(action=action, cancelOrderType=""))
    assert signal.cancel_order_type is None and "cancelOrderType" not in echo
