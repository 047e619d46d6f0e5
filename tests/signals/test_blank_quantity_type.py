"""A quantityType sent blank ("" from a placeholder or variable that gave nothing) is refused, not read as units.

Read as none, the quantity counts in units: 500 meant as dollars (or as a percent of equity) would buy 500
shares, a hundred times the order meant at $100 a share. Leaving the field out still means units.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.signals.parse import PayloadError, parse_body
from bridge.signals.resolve import resolve


def sent(**fields: object) -> bytes:
    return json.dumps({"ticker": "AMD", "action": "buy", "quantity": 500, "price": 100, **fields}).encode()


@pytest.mark.parametrize("blank", ["", " "])
def test_a_blank_quantity_type_is_refused_saying_what_to_send(blank: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_body(sent(quantityType=blank))
    assert caught.value.code == "invalid-quantity-type"
    message = caught.value.message
    assert "quantityType is empty" in message and "leave quantityType out" in message, message


def test_what_a_blank_would_have_traded() -> None:
    """The hazard the refusal keeps away: 500 meant as dollars at 100 is 5 shares; read as units, 500."""
    sub = Subscription(broker="paper")
    dollars, _, _ = parse_body(sent(quantityType="dollar_amount"))
    assert [leg.quantity for leg in resolve(dollars, Decimal(0), [], sub).legs] == [Decimal(5)]
    units, _, _ = parse_body(sent())
    assert [leg.quantity for leg in resolve(units, Decimal(0), [], sub).legs] == [Decimal(500)]


@pytest.mark.parametrize("action", ["buy", "exit", "cancel"])
def test_a_blank_quantity_type_without_a_quantity_is_no_quantity_type(action: str) -> None:
    """Nothing to misread: a template that always carries the field, blank on its exits, still exits."""
    body = json.dumps({"ticker": "AMD", "action": action, "quantityType": ""}).encode()
    signal, echo, _ = parse_body(body)
    assert signal.quantity_type is None and "quantityType" not in echo
