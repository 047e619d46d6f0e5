"""What a reload made of a subscription a signal was queued for: kept, moved to another broker, or removed."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.config.identity import removed
from bridge.config.schema import Strategy

TOKEN = "tok-0123456789abcdef"


def strategy(*subscriptions: dict[str, Any]) -> Strategy:
    """A strategy with these subscription entries, in file order."""
    return Strategy(token=TOKEN, subscriptions=list(subscriptions))


PAPER, ALPACA, IBKR = {"broker": "paper"}, {"broker": "alpaca"}, {"broker": "ibkr"}


@pytest.mark.parametrize(
    ("before", "key", "after", "gone"),
    [
        ((PAPER,), "paper", (PAPER, {"broker": "paper", "enabled": False}), False),  # kept; `enabled` decides
        ((PAPER,), "paper", (ALPACA,), False),  # its one entry's broker changed: moved (its key changes with it)
        ((PAPER, ALPACA), "paper", (ALPACA,), True),  # its entry deleted
        ((PAPER, ALPACA), "alpaca", (PAPER,), True),
        ((PAPER, ALPACA), "paper", (IBKR, ALPACA), False),  # edited into ibkr in place
        ((PAPER, ALPACA), "paper", (IBKR,), False),  # two gone, one brought: the first in file order was moved
        ((PAPER, ALPACA), "alpaca", (IBKR,), True),  # ... and the second removed
        (({"broker": "paper", "name": "main"},), "main", ({"broker": "alpaca", "name": "main"},), False),  # named
        (({"broker": "paper", "name": "main"},), "main", ({"broker": "paper", "name": "core"},), False),  # renamed
        (({"broker": "paper", "name": "main"}, ALPACA), "main", (ALPACA,), True),
        ((PAPER, PAPER), "paper-2", (PAPER,), True),  # the second on a broker deleted
        ((PAPER, PAPER), "paper-1", (PAPER, ALPACA), False),  # an older version's key for the first
    ],
)
def test_a_subscription_is_removed_only_when_nothing_took_its_place(
    before: tuple[dict[str, Any], ...], key: str, after: tuple[dict[str, Any], ...], gone: bool
) -> None:
    assert removed(strategy(*before), key, strategy(*after)) is gone


def test_a_subscription_whose_strategy_is_gone_was_removed() -> None:
    assert removed(strategy(PAPER), "paper", None)
