"""What a reload made of a subscription a signal was queued for: the same one, moved, or removed.

A queued signal keeps the broker and settings it was judged with (`Target`), so a reload that moves its
subscription to another account leaves it to trade where it was judged to. A reload that removes the
subscription, or its whole strategy, stops it instead, as `enabled: false` does: deleting an entry is as
plain a way to say "stop trading there" as disabling it. The executor only sees that the key it was queued
under is gone from the config now; this module tells which of the two happened.

The rule, by the subscription's identity (its key: `name:`, else its broker, see `schema.subscription_key`):

- the strategy is gone from the config: the subscription was removed;
- its key is still in the strategy: the same subscription (moved, if it names another broker now; the
  key older versions gave it, `<broker>-1`, counts as the same key). Its `enabled` decides;
- its key is gone: an entry edited in place changes its key too when it has no `name:` and its broker
  changed (`broker: paper` -> `broker: alpaca`), and a renamed one changes it outright. So the keys the
  reload took away are paired, in file order, with the keys it brought that the strategy did not have: a key
  gone that pairs with one new was moved (edited into it), and that one's `enabled` decides; a key gone with
  none left to pair with was removed.

Deleting one entry and adding another in the same edit reads as a move (the two are the same text edit);
naming subscriptions (`name:`) keeps their keys through any edit, so a move never reads as a removal.
"""

from __future__ import annotations

from bridge.config.schema import Strategy, Subscription, journal_keys, subscription_key


def _index(strategy: Strategy, key: str) -> int | None:
    """The position of the subscription keyed `key` in `strategy` (an older version's key too), or None."""
    count = len(strategy.subscriptions)
    exact = next((i for i in range(count) if subscription_key(strategy, i) == key), None)
    if exact is not None:
        return exact
    return next((i for i in range(count) if key in journal_keys(strategy, i)), None)


def successor(before: Strategy, key: str, after: Strategy | None) -> tuple[str, Subscription] | None:
    """(key, settings) in `after` of the subscription keyed `key` in `before`; None when the reload removed it.

    Itself when its key is still there, the one it was edited into when it was moved (see the module's rule);
    `after` None: the strategy is gone. A key `before` does not hold either is looked up in `after` alone.
    """
    if after is None:
        return None
    mine = _index(after, key)
    if mine is not None:
        return subscription_key(after, mine), after.subscriptions[mine]
    mine = _index(before, key)
    if mine is None:
        return None
    keys = [subscription_key(before, i) for i in range(len(before.subscriptions))]
    gone = [i for i, k in enumerate(keys) if _index(after, k) is None]
    brought = [i for i in range(len(after.subscriptions)) if _index(before, subscription_key(after, i)) is None]
    if mine not in gone:  # asked for by an older version's key, and still there under its current one
        index = _index(after, keys[mine])
    else:
        pair = gone.index(mine)
        index = brought[pair] if pair < len(brought) else None
    return None if index is None else (subscription_key(after, index), after.subscriptions[index])


__all__ = ["successor"]
