"""What a reload made of a subscription a signal was queued for: the same one, moved, or removed.

A queued signal keeps the broker and settings it was judged with (`Target`), so a reload that changes its
subscription otherwise leaves it to trade where it was judged to. A reload that removes the subscription, or its
whole strategy, stops it instead, as `enabled: false` does: deleting an entry is as plain a way to say "stop
trading there" as disabling it. The executor only sees that the key it was queued under is gone from the config
now; this module tells which of the two happened.

The rule, by the subscription's identity (its key: `name:`, else its broker, see `schema.subscription_key`):

- the strategy is gone from the config: the subscription was removed;
- its key is still in the strategy: the same subscription (on another broker, if a named entry's `broker:`
  changed; the key older versions gave it, `<broker>-1`, counts as the same key). Its `enabled` decides;
- its key is gone: a renamed entry changes its key (`name: main` -> `name: core`, a `name:` added or taken
  away). So the keys the reload took away are paired, in file order, with the keys it brought that the strategy
  did not have, on the same broker: a key gone that pairs with one new was moved (renamed into it), and that
  one's `enabled` decides; a key gone with none left to pair with was removed.

Only on the same broker: deleting one entry and adding another in the same edit is the same text edit as
changing an unnamed entry's `broker:` (its key is its broker's name), and read as a move, the deleted one's
waiting signals would trade on (a delayed one under the new entry, at its broker). So an unnamed entry moved to
another broker is removed, and its waiting signals end `ignored`; a named one keeps its key, and is the same.
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

    Itself when its key is still there, the one it was renamed into on its broker (see the module's rule);
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
    broker = before.subscriptions[mine].broker  # moved only on its broker (see the module's rule)
    gone = [i for i, k in enumerate(keys) if _index(after, k) is None and before.subscriptions[i].broker == broker]
    brought = [i for i, sub in enumerate(after.subscriptions)
               if sub.broker == broker and _index(before, subscription_key(after, i)) is None]  # fmt: skip
    if mine not in gone:  # asked for by an older version's key, and still there under its current one
        index = _index(after, keys[mine])
    else:
        pair = gone.index(mine)
        index = brought[pair] if pair < len(brought) else None
    return None if index is None else (subscription_key(after, index), after.subscriptions[index])


def removed(strategy: str, key: str) -> str:
    """Why a signal waiting for subscription `key` of `strategy` was not sent: a reload removed the subscription."""
    return (f"ignored: a reload removed subscription {key} from strategy {strategy} after this signal arrived; "
            "nothing was sent")  # fmt: skip


__all__ = ["removed", "successor"]
