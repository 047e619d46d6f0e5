"""Journal rows for a plan's orders, and broker requests rebuilt from those rows."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.brokers.base import capabilities_in_force
from bridge.models import BracketLeg, Order, OrderRequest, leg_time_in_force
from bridge.signals.pricing import LegPrices
from bridge.signals.resolve import Leg, Plan

CHILD_LEGS = ("take_profit", "stop_loss")
# Legs that only ever close a position: an exit, a breakeven stop, a stop put back after one failed. Sent
# `reduce_only`; left working on a flat position (the take-profit filled first), the order jobs cancel them before
# they could open the other side.
REDUCING_LEGS = ("exit", "breakeven", "restore")
OrderRow = sqlite3.Row | Mapping[str, Any]  # a journaled order, or the plan's row for it before it is written
# An order of unknown outcome the venue has not heard of this long after it was sent never reached it (a venue
# may take a while to list an order it just took; "rejected" is final, so the wait is long). The order jobs
# close such an order then, and recovery sends nothing again before it where the venue takes a reused id.
UNKNOWN_GRACE_SECONDS = 600.0
# How long a stop put back that did not reach the broker is sent again (`jobs.putbacks`), from its first try.
PUT_BACK_TRIES_HOURS = 24.0


def seconds_since_sent(row: OrderRow, now: datetime) -> float:
    """Since the order went to the broker (`sent_at`); rows from before that was recorded: since their last change.

    Not from its plan: a swap's entry goes out after its exit fills, and a resumed plan after a restart.
    """
    return (now - datetime.fromisoformat(row["sent_at"] or row["updated_at"])).total_seconds()


def takes_reused_ids(broker: object) -> bool:
    """Whether the broker's venue takes a reused client order id again (ccxt's): an order sent there must never be
    sent again while the venue may still list it, since a second send would place a second order."""
    capabilities = capabilities_in_force(broker)  # the venue's: one class may serve venues that differ on this
    return capabilities is not None and not capabilities.rejects_duplicate_client_order_id


def client_order_id(signal_id: str, subscription: str, leg: str) -> str:
    """Deterministic per (signal, subscription, leg): a retry can never mint a second id.

    It starts with the signal id's first 12 hex digits (its millisecond, for a version 7 id), so the
    ids of new orders sort after the older ones and the journal's order indexes grow at their end.
    """
    digest = hashlib.sha256(f"{signal_id}|{subscription}|{leg}".encode()).hexdigest()
    return f"tb-{signal_id[:8]}{signal_id[9:13]}{digest[:17]}"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def restore_id(breakeven: OrderRow, moved: str) -> str:
    """The client order id of the order that puts back `moved` (`restore_row`), one per stop a breakeven moves."""
    return client_order_id(breakeven["signal_id"], breakeven["subscription"], f"restore-{moved}")


def restore_row(breakeven: OrderRow, old: Order, index: int, time_in_force: str = "gtc") -> dict[str, Any]:
    """The `orders` row of an order put back: a stop whose breakeven did not work (a new gtc order), or a bracket leg
    its sibling's cancel took at the venue (`breakeven` then gives the signal, subscription, broker and symbol).

    Its id comes from the order it puts back, not its place among them (`index`, for `seq` alone): a plan resumed
    after a restart may read another set of them canceled, and by position one put-back was taken for another's.
    """
    coid = restore_id(breakeven, old.client_order_id)
    return {"id": coid, "client_order_id": coid, "signal_id": breakeven["signal_id"], "broker": breakeven["broker"],
            "subscription": breakeven["subscription"], "symbol": breakeven["symbol"], "leg": "restore",
            "seq": breakeven["seq"] + 1 + index, "side": old.side, "type": old.type,
            "quantity": str(old.quantity - old.filled_quantity), "limit_price": _text(old.limit_price),
            "stop_price": _text(old.stop_price), "time_in_force": time_in_force, "reference_price": None}  # fmt: skip


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _row(base: dict[str, Any], leg: str, seq: int, coid: str, **fields: Any) -> dict[str, Any]:
    return {**base, "id": coid, "client_order_id": coid, "leg": leg, "seq": seq, **fields}


def _child(base: dict[str, Any], leg: str, seq: int, parent: str, entry: Leg, prices: LegPrices,
           signal_id: str, subscription: str) -> dict[str, Any]:  # fmt: skip
    return _row(
        base, leg, seq, client_order_id(signal_id, subscription, leg),
        side="sell" if entry.side == "buy" else "buy", type=prices.type, quantity=str(entry.quantity),
        limit_price=_text(prices.limit_price), stop_price=_text(prices.stop_price),
        time_in_force=leg_time_in_force(entry.time_in_force),
        trail_amount=_text(prices.trail_amount), trail_percent=_text(prices.trail_percent), extended_hours=0,
        parent_client_order_id=parent,
    )  # fmt: skip


def order_rows(signal_id: str, subscription: str, broker: str, symbol: str, reference: Decimal | None,
               plan: Plan, cancel_after: Decimal | float | None = None,
               read: tuple[Decimal, str] | None = None,
               resting: Collection[str] = ()) -> list[dict[str, Any]]:  # fmt: skip
    """The `orders` rows a plan commits (status pending) before any broker call, children after parents.

    `cancel_after` (seconds, or None) is the plan's: the order jobs cancel its entry or exit left unfilled
    that long, whatever a later config says. `read`: the position the plan was made on, and when its read began;
    an exit of all of it keeps that time (`closed_position_at`): filled, it left the account flat there; and the
    orders that read listed working with nothing filled (`resting`, kept as `resting_at_read`), which it leaves
    counted while it marks the rest.
    """
    position, read_at = read if read is not None else (Decimal(0), None)
    base = {"signal_id": signal_id, "broker": broker, "subscription": subscription, "symbol": symbol,
            "reference_price": _text(reference),
            "cancel_after": None if cancel_after is None else str(cancel_after)}  # fmt: skip
    rows: list[dict[str, Any]] = []
    for leg in plan.legs:
        coid = client_order_id(signal_id, subscription, leg.kind)
        rows.append(_row(
            base, leg.kind, len(rows), coid, side=leg.side, type=leg.order_type, quantity=str(leg.quantity),
            limit_price=_text(leg.limit_price), stop_price=_text(leg.stop_price), time_in_force=leg.time_in_force,
            trail_amount=_text(leg.trail_amount), trail_percent=_text(leg.trail_percent),
            extended_hours=int(leg.extended_hours), parent_client_order_id=None, replaces=leg.replaces,
            moves=json.dumps(plan.moves) if leg.kind == "breakeven" and plan.moves else None,
            closed_position_at=read_at if (closes := _closes(leg, position)) else None,
            resting_at_read=json.dumps(sorted(resting)) if closes and resting else None,
        ))  # fmt: skip
        for name, prices in (("take_profit", leg.take_profit), ("stop_loss", leg.stop_loss)):
            if prices is not None:
                rows.append(_child(base, name, len(rows), coid, leg, prices, signal_id, subscription))
    return rows


def _closes(leg: Leg, position: Decimal) -> bool:
    """Whether `leg` is an exit of all of the position the plan was read on."""
    return leg.kind == "exit" and position != 0 and leg.quantity >= abs(position)


def _bracket(row: OrderRow | None) -> BracketLeg | None:
    if row is None:
        return None
    return BracketLeg(client_order_id=row["client_order_id"], type=row["type"], limit_price=_dec(row["limit_price"]),
                      stop_price=_dec(row["stop_price"]), trail_amount=_dec(row["trail_amount"]),
                      trail_percent=_dec(row["trail_percent"]))  # fmt: skip


def request_from_rows(row: OrderRow, children: Sequence[OrderRow]) -> OrderRequest:
    """The broker request for an order row and its bracket children (committed, or about to be with the plan)."""
    by_leg = {child["leg"]: child for child in children}
    return OrderRequest(
        client_order_id=row["client_order_id"], symbol=row["symbol"], side=row["side"],
        quantity=Decimal(row["quantity"]), type=row["type"], limit_price=_dec(row["limit_price"]),
        stop_price=_dec(row["stop_price"]), time_in_force=row["time_in_force"],
        reference_price=_dec(row["reference_price"]), trail_amount=_dec(row["trail_amount"]),
        trail_percent=_dec(row["trail_percent"]), extended_hours=bool(row["extended_hours"]),
        take_profit=_bracket(by_leg.get("take_profit")), stop_loss=_bracket(by_leg.get("stop_loss")),
        reduce_only=row["leg"] in REDUCING_LEGS,
    )  # fmt: skip
