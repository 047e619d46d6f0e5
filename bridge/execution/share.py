"""flatten_at's share of a position the account holds for several strategies: what one subscription's fills net to."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from bridge.brokers.base import capabilities_in_force
from bridge.models import FINAL_ORDER_STATUSES, OPEN_ORDER_STATUSES, Order, order_filled
from bridge.signals.resolve import describe_position, fmt
from bridge.store.db import iso

# How long a venue's positions may take to show a fill its orders answered (its position service behind its order
# service): a read finding a symbol flat this soon after a fill journaled there closes no share (`settled`).
POSITION_LAG_SECONDS = 10.0


def net(rows: Sequence[sqlite3.Row]) -> Decimal:
    """What these orders' fills net to: long above zero, short below (`order_filled`, as the prune counts)."""
    return sum((order_filled(row) for row in rows), Decimal(0))


def unsure(rows: Sequence[sqlite3.Row]) -> list[sqlite3.Row]:
    """The orders whose fills the journal cannot know, nor a cancel learn: unsent yet (`pending`) or of unknown
    outcome. Working ones are known: canceled, their answer says what they filled."""
    return [row for row in rows if row["status"] not in FINAL_ORDER_STATUSES | OPEN_ORDER_STATUSES]


def working(rows: Sequence[sqlite3.Row]) -> tuple[str, ...]:
    """The client order ids of the orders still working, entries before their bracket legs (a canceled entry
    takes its waiting legs with it, at most venues)."""
    open_rows = [row for row in rows if row["status"] in OPEN_ORDER_STATUSES]
    open_rows.sort(key=lambda row: row["parent_client_order_id"] is not None)
    return tuple(row["client_order_id"] for row in open_rows)


def capped(own: Decimal, position: Decimal) -> tuple[Decimal, str]:
    """The part of `position` that is the subscription's, its fills netting to `own`, and what the decision says of
    it ('' when all of its share is held).

    Never more than the account holds on that side, and nothing of the other side: another strategy's trade
    (or one by hand) that closed this subscription's position leaves its journal netting to a share the account
    no longer holds. More than is held would open the other side; an exit where the account holds the other side
    would buy back another's short (or sell another's long).
    """
    if own == 0:
        return Decimal(0), "this subscription's fills net to nothing now: it holds no share to close"
    if position == 0 or (position > 0) != (own > 0):
        return Decimal(0), (f"this subscription's fills net to {describe_position(own)}, but the account holds "
                            f"{describe_position(position)}: another strategy's trade (or one by hand) closed its "
                            "position, and what is held now is not this subscription's")  # fmt: skip
    if abs(position) < abs(own):
        return abs(position), (f"this subscription's fills net to {describe_position(own)}, but the account holds "
                               f"only {describe_position(position)} (another strategy's trade, or one by hand, closed "
                               f"the rest): {fmt(abs(position))} is closed, no more")  # fmt: skip
    return abs(own), ""


def settled(broker: object, read_at: datetime) -> str:
    """Since when a fill journaled may be missing from a read of `broker`'s positions that began at `read_at`: none
    at a broker that answers from this process (paper: its positions are its fills), else POSITION_LAG_SECONDS."""
    if getattr(capabilities_in_force(broker), "local", False):
        return iso(read_at)
    return iso(read_at - timedelta(seconds=POSITION_LAG_SECONDS))


def unfilled(listed: Sequence[Order]) -> frozenset[str]:
    """The client order ids of the orders a listing of open orders shows working with nothing filled.

    Listed as the positions were read or after, such an order had filled nothing by that read (fills only grow):
    it falls wholly after the read, and a flat read can mark the rest (`journal.close_flat`)."""
    return frozenset(o.client_order_id for o in listed if o.is_open and o.filled_quantity == 0)
