"""Quantities are plain decimal numbers in text: brokers and the journal never see exponent notation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.signals.sizing import round_quantity


@pytest.mark.parametrize(
    ("raw", "fractional", "text"),
    [("200", False, "200"), ("200.9", False, "200"), ("1000", True, "1000"), ("2.500000", True, "2.5"),
     ("0.1234567", True, "0.123456"), ("1E+3", False, "1000"), ("0.4", False, "0")],
)  # fmt: skip
def test_rounded_quantities_print_without_an_exponent(raw: str, fractional: bool, text: str) -> None:
    assert str(round_quantity(Decimal(raw), fractional)) == text


@pytest.mark.parametrize(
    ("raw", "fractional", "step", "text"),
    [("0.0023142", True, "0.00001", "0.00231"), ("0.00000999", True, "0.00001", "0"), ("12.7", True, "0.5", "12.5"),
     ("1234.5", True, "10", "1230"), ("0.0023142", False, "0.00001", "0"), ("3.99", True, None, "3.99")],
)  # fmt: skip
def test_with_a_venues_step_a_fractional_quantity_rounds_down_to_a_multiple_of_it(
    raw: str, fractional: bool, step: str | None, text: str
) -> None:
    assert str(round_quantity(Decimal(raw), fractional, None if step is None else Decimal(step))) == text
