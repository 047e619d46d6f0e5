"""What a reload made of a subscription a signal was queued for: kept, moved (renamed on its broker), or removed."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.config.identity import successor
from bridge.config.schema import Strategy

TOKEN = "tok-0123456789abcdef"


def strategy(*subscriptions: dict[str, Any]) -> Strategy:
    """A strategy with these subscription entries, in file order."""
    return Strategy(token=TOKEN, subscriptions=list(subscriptions))


PAPER, ALPACA, IBKR = {"broker": "paper"}, {"broker": "alpaca"}, {"broker": "ibkr"}


@pytest.mark.parametrize(
    ("before", "key", "after", "now"),
    [
        ((PAPER,), "paper", (PAPER, {"broker": "paper", "enabled": False}), "paper"),  # kept; `enabled` decides
        # An unnamed entry's `broker:` edited reads as it deleted and another added (one text edit): removed.
        ((PAPER,), "paper", (ALPACA,), None),
        ((PAPER, ALPACA), "paper", (ALPACA,), None),  # its entry deleted
        ((PAPER, ALPACA), "alpaca", (PAPER,), None),
        ((PAPER, ALPACA), "paper", (IBKR, ALPACA), None),
        ((PAPER, ALPACA), "paper", (IBKR,), None),
        (({"broker": "paper", "name": "main"},), "main", ({"broker": "alpaca", "name": "main"},), "main"),  # named
        (({"broker": "paper", "name": "main"},), "main", ({"broker": "paper", "name": "core"},), "core"),  # renamed
        ((PAPER,), "paper", ({"broker": "paper", "name": "main"},), "main"),  # named now, on its broker
        (({"broker": "paper", "name": "main"},), "main", ({"broker": "alpaca", "name": "core"},), None),
        # Keys gone pair with keys brought on their own broker, in file order.
        (
            ({"broker": "paper", "name": "a"}, {"broker": "alpaca", "name": "b"}),
            "b",
            ({"broker": "alpaca", "name": "d"}, {"broker": "paper", "name": "c"}),
            "d",
        ),
        (
            ({"broker": "paper", "name": "a"}, {"broker": "paper", "name": "b"}),
            "b",
            ({"broker": "paper", "name": "c"},),
            None,
        ),  # two gone, one brought: the first in file order was renamed, the second removed
        (({"broker": "paper", "name": "main"}, ALPACA), "main", (ALPACA,), None),
        ((PAPER, PAPER), "paper-2", (PAPER,), None),  # the second on a broker deleted
        ((PAPER, PAPER), "paper-1", (PAPER, ALPACA), "paper"),  # an older version's key for the first
    ],
)
def test_a_subscription_is_removed_only_when_nothing_took_its_place(
    before: tuple[dict[str, Any], ...], key: str, after: tuple[dict[str, Any], ...], now: str | None
) -> None:
    """`now`: the key of what it became (itself, or the entry it was edited into); None: removed."""
    became = successor(strategy(*before), key, strategy(*after))
    assert (None if became is None else became[0]) == now


def test_what_a_moved_subscription_became_carries_its_settings_now() -> None:
    """An entry renamed and disabled in one edit: what it became says so (its key changed with its name)."""
    became = successor(strategy(PAPER), "paper", strategy({"broker": "paper", "name": "core", "enabled": False}))
    assert became is not None and became[0] == "core" and not became[1].enabled


def test_a_subscription_whose_strategy_is_gone_was_removed() -> None:
    assert successor(strategy(PAPER), "paper", None) is None
