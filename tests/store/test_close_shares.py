"""What an exit of all of a position marks once it filled (`journal.close_shares`): the fills its read counted."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from bridge.models import Order, order_filled
from bridge.store import brokers, journal
from bridge.store.db import Store, transaction

READ_AT = "2026-11-23T20:55:00.000000+00:00"  # when the exit's position read began
BEFORE = "2026-11-23T20:50:00.000000+00:00"
AFTER = "2026-11-23T20:55:01.000000+00:00"


def _journal(tmp_path: Path) -> Store:
    store = Store(tmp_path / "j.db")
    store.open_sync()
    webhook = journal.WebhookRow(id="w", received_at=BEFORE, strategy="s", remote_addr=None, method="POST", path="/",
                                 headers={}, body=None, status_code=200)  # fmt: skip
    signal = {name: None for name in ("sentiment", "price", "quantity", "signal_time", "execute_at",
                                      "cancel_after", "token_fingerprint")}  # fmt: skip
    signal |= {"id": "sig", "webhook_id": "w", "strategy": "s", "ticker": "AMD", "action": "buy", "payload": "{}",
               "extras": "{}", "received_at": BEFORE}  # fmt: skip
    journal.record_signal(store.conn, webhook, signal, [("a", "paper"), ("b", "paper")])
    return store


def _order(store: Store, coid: str, subscription: str, side: str, quantity: str, status: str, at: str,
           closed_position_at: str | None = None) -> None:  # fmt: skip
    row: dict[str, Any] = dict.fromkeys(("limit_price", "stop_price", "reference_price", "trail_amount",
                                         "trail_percent", "parent_client_order_id", "cancel_after", "replaces",
                                         "moves"))  # fmt: skip
    row |= {"id": coid, "signal_id": "sig", "broker": "paper", "subscription": subscription,
            "leg": "entry", "seq": 0, "client_order_id": coid, "symbol": "AMD", "side": side, "type": "market",
            "quantity": quantity, "time_in_force": "day", "extended_hours": 0,
            "closed_position_at": closed_position_at}  # fmt: skip
    filled = quantity if status == "filled" else "0"
    state = {"status": status, "broker_order_id": None, "filled_quantity": filled, "avg_fill_price": None,
             "error": None, "updated_at": at, "sent_at": at}  # fmt: skip
    with transaction(store.conn):
        journal._insert_order(store.conn, row, state, at)


def _share(store: Store, subscription: str) -> Decimal:
    """What a subscription's orders not marked closed net to, as flatten_at counts them."""
    rows = store.conn.execute(
        "SELECT side, status, filled_quantity, quantity FROM orders WHERE subscription = ? AND closed_by IS NULL",
        (subscription,),
    ).fetchall()
    return sum((order_filled(row) for row in rows), Decimal(0))


def test_an_exit_that_sold_less_than_the_position_it_read_marks_nothing(tmp_path: Path) -> None:
    """It read 10 (a's 6, b's 4); b's stop sold its 4 before the exit reached the venue, which cut the reduce-only
    exit to the 6 left, and answered it filled. Marked as if it sold the 10, b's entry no longer counted but its
    stop did: b's share was -4, and once b bought 4 again, its flatten took them for no share of its own."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    _order(store, "b-entry", "b", "buy", "4", "filled", BEFORE)
    _order(store, "a-exit", "a", "sell", "10", "submitted", READ_AT, closed_position_at=READ_AT)
    _order(store, "b-stop", "b", "sell", "4", "filled", AFTER)
    cut = Order("a-exit", "AMD", "sell", Decimal(10), "market", "filled", filled_quantity=Decimal(6))
    journal.update_order(store.conn, "a-exit", cut)
    assert _share(store, "b") == 0
    assert _share(store, "a") == 0
    store.close_sync()


def test_an_exit_that_sold_all_of_the_position_it_read_marks_what_that_read_counted(tmp_path: Path) -> None:
    """The account was flat once it filled: the fills before its read are no share of what is held since."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    _order(store, "b-entry", "b", "buy", "4", "filled", BEFORE)
    _order(store, "a-exit", "a", "sell", "10", "submitted", READ_AT, closed_position_at=READ_AT)
    _order(store, "b-again", "b", "buy", "4", "filled", AFTER)  # bought after the read: held since, its own
    whole = Order("a-exit", "AMD", "sell", Decimal(10), "market", "filled", filled_quantity=Decimal(10))
    journal.update_order(store.conn, "a-exit", whole)
    assert _share(store, "b") == 4
    assert _share(store, "a") == 0
    store.close_sync()


def test_an_exit_answered_filled_without_its_fill_quantity_sold_all_of_it(tmp_path: Path) -> None:
    """Some venues answer `filled` with no fill quantity (`journal._fill_kept`): it filled all it was sent for."""
    store = _journal(tmp_path)
    _order(store, "b-entry", "b", "buy", "4", "filled", BEFORE)
    _order(store, "a-exit", "a", "sell", "4", "submitted", READ_AT, closed_position_at=READ_AT)
    journal.update_order(store.conn, "a-exit", Order("a-exit", "AMD", "sell", Decimal(4), "market", "filled"))
    assert _share(store, "b") == 0
    store.close_sync()


def test_an_order_working_across_the_read_that_filled_leaves_the_shares_counted(tmp_path: Path) -> None:
    """b's take-profit worked as the exit's position was read, and filled about then: before the read (which counted
    it: 6 held, the exit sold 6) or after, the journal cannot tell. Its entry marked and it not, b's share was -4
    where the account was flat, and once b bought 4 again its flatten took them for no share of its own."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    _order(store, "b-entry", "b", "buy", "4", "filled", BEFORE)
    _order(store, "b-tp", "b", "sell", "4", "open", BEFORE)  # working when the exit's read began
    _order(store, "a-exit", "a", "sell", "6", "submitted", READ_AT, closed_position_at=READ_AT)
    tp = Order("b-tp", "AMD", "sell", Decimal(4), "limit", "filled", filled_quantity=Decimal(4))
    journal.update_order(store.conn, "b-tp", tp)  # its fill learned after the read began
    whole = Order("a-exit", "AMD", "sell", Decimal(6), "market", "filled", filled_quantity=Decimal(6))
    journal.update_order(store.conn, "a-exit", whole)
    assert _share(store, "b") == 0
    assert _share(store, "a") == 0
    store.close_sync()


def test_an_order_still_working_at_the_fill_of_an_exit_of_all_leaves_the_shares_counted(tmp_path: Path) -> None:
    """b's take-profit still works in the journal once the exit filled: it may have filled before the read, unseen
    yet (the read counting it), and what the journal learns of it later would count against a share marked closed."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    _order(store, "b-entry", "b", "buy", "4", "filled", BEFORE)
    _order(store, "b-tp", "b", "sell", "4", "open", BEFORE)
    _order(store, "a-exit", "a", "sell", "6", "submitted", READ_AT, closed_position_at=READ_AT)
    whole = Order("a-exit", "AMD", "sell", Decimal(6), "market", "filled", filled_quantity=Decimal(6))
    journal.update_order(store.conn, "a-exit", whole)
    tp = Order("b-tp", "AMD", "sell", Decimal(4), "limit", "filled", filled_quantity=Decimal(4))
    journal.update_order(store.conn, "b-tp", tp)
    assert _share(store, "b") == 0
    assert _share(store, "a") == 0
    store.close_sync()


def test_a_flat_read_just_after_a_protective_leg_filled_marks_what_it_closed_and_no_other_fill(tmp_path: Path) -> None:
    """A venue's positions may lag its fills: a fill journaled just before the read may be missing from it, and then
    its flat is no flat. A protective leg only closes: a read that missed its fill shows more held, not flat."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "4", "filled", BEFORE)
    _order(store, "a-tp", "a", "sell", "4", "filled", "2026-11-23T20:54:58.000000+00:00")
    settled = "2026-11-23T20:54:50.000000+00:00"  # the read began 10 s after this
    _, doubt = journal.close_flat(store.conn, "paper", "AMD", READ_AT, settled)
    assert "a-tp" in doubt and "just before" in doubt, doubt
    assert journal.close_flat(store.conn, "paper", "AMD", READ_AT, settled, ("a-tp",)) == (2, "")
    assert _share(store, "a") == 0
    _order(store, "b-entry", "b", "buy", "3", "filled", "2026-11-23T20:55:30.000000+00:00")
    _order(store, "b-tp", "b", "sell", "3", "filled", "2026-11-23T20:55:58.000000+00:00")
    _order(store, "b-add", "b", "buy", "1", "filled", "2026-11-23T20:55:59.000000+00:00")  # not in a lagging read
    _, doubt = journal.close_flat(store.conn, "paper", "AMD", "2026-11-23T20:56:00.000000+00:00",
                                  "2026-11-23T20:55:50.000000+00:00", ("b-tp",))  # fmt: skip
    assert "b-add" in doubt, doubt
    assert _share(store, "b") == 1


def _statements(store: Store) -> list[str]:
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    return statements


def test_an_exit_written_filled_with_its_plan_marks_what_its_read_counted_without_reading_itself_back(
    tmp_path: Path,
) -> None:
    """A paper exit is written once, already filled (placed in its plan's transaction): the mark takes the row's
    fields from what was just written, not from a read of the row, and marks what the read counted all the same."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    _order(store, "b-entry", "b", "buy", "4", "filled", BEFORE)
    statements = _statements(store)
    _order(store, "a-exit", "a", "sell", "10", "filled", READ_AT, closed_position_at=READ_AT)
    store.conn.set_trace_callback(None)
    assert _share(store, "b") == 0 and _share(store, "a") == 0
    assert [s for s in statements if s.startswith("UPDATE orders SET closed_by")], "the exit marks what it closed"
    read_back = [s for s in statements if s.startswith("SELECT") and "client_order_id = 'a-exit'" in s]
    assert not read_back, "the exit's own row, just written, is not read back"
    store.close_sync()


def test_an_exit_written_filled_for_less_than_it_was_sent_for_marks_nothing(tmp_path: Path) -> None:
    """Cut to what was left (another's stop sold some after the read) and written filled at once: no mark."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    _order(store, "b-entry", "b", "buy", "4", "filled", BEFORE)
    _order(store, "b-stop", "b", "sell", "4", "filled", AFTER)
    row = store.conn.execute("SELECT * FROM orders WHERE client_order_id = 'a-entry'").fetchone()
    order = {**dict(row), "id": "a-exit", "client_order_id": "a-exit", "side": "sell", "quantity": "10",
             "closed_position_at": READ_AT}  # fmt: skip
    state = {"status": "filled", "broker_order_id": None, "filled_quantity": "6", "avg_fill_price": None,
             "error": None, "updated_at": READ_AT, "sent_at": READ_AT}  # fmt: skip
    with transaction(store.conn):
        journal._insert_order(store.conn, order, state, READ_AT)
    assert _share(store, "b") == 0 and _share(store, "a") == 0
    assert store.conn.execute("SELECT COUNT(*) FROM orders WHERE closed_by IS NOT NULL").fetchone()[0] == 0
    store.close_sync()


def test_a_flat_read_costs_no_write_for_an_order_resting_unfilled_that_it_listed(tmp_path: Path) -> None:
    """Flat, with only the other strategy's limit buy resting there (listed working, nothing filled): nothing is
    to be marked, so the lookup every signal's flat read makes says so, and no write batch is run for it."""
    store = _journal(tmp_path)
    _order(store, "b-dip", "b", "buy", "4", "submitted", BEFORE)
    assert journal.flat_to_close(store.conn, "paper", "AMD", READ_AT, frozenset({"b-dip"})) is False
    assert journal.flat_to_close(store.conn, "paper", "AMD", READ_AT) is True  # not listed: it may have filled
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    assert journal.flat_to_close(store.conn, "paper", "AMD", READ_AT, frozenset({"b-dip"})) is True
    assert journal.close_flat(store.conn, "paper", "AMD", READ_AT, unfilled=frozenset({"b-dip"})) == (1, "")
    assert (
        _share(store, "a") == 0
        and store.conn.execute("SELECT closed_by FROM orders WHERE client_order_id = 'b-dip'").fetchone()[0] is None
    )
    store.close_sync()


def test_an_order_left_to_the_account_its_broker_name_opened_before_does_not_keep_the_shares_counted(
    tmp_path: Path,
) -> None:
    """b's order was left to the account `paper` opened before a reload pointed the name at another one (unknown,
    no longer followed): nothing ever learns its outcome, and its fills cannot be in a read of this account. Taken
    for an order working across every read, it kept a's share counted for good, though the account was read flat."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    _order(store, "b-entry", "b", "buy", "4", "submitted", BEFORE)
    brokers.unfollow(store.conn, "b-entry", "left to the account broker paper opened before")
    assert journal.close_flat(store.conn, "paper", "AMD", READ_AT) == (1, "")
    assert _share(store, "a") == 0
    store.close_sync()


def test_an_exit_written_filled_is_written_marked_and_marks_the_others_it_closed(tmp_path: Path) -> None:
    """Its cut is read before its row is written: the row is written marked (no UPDATE of it), the final orders its
    read counted are marked by one UPDATE, and with none of those no UPDATE runs at all."""
    store = _journal(tmp_path)
    statements = _statements(store)
    _order(store, "a-exit", "a", "sell", "6", "filled", READ_AT, closed_position_at=READ_AT)  # nothing else there
    assert not [s for s in statements if s.startswith("UPDATE")], statements
    _order(store, "a-entry", "a", "buy", "6", "filled", AFTER)
    _order(store, "b-entry", "b", "buy", "4", "filled", AFTER)
    _order(store, "a-flip", "a", "sell", "10", "filled", AFTER, closed_position_at=AFTER)  # a-exit's AFTER is not <
    store.conn.set_trace_callback(None)
    closed = dict(store.conn.execute("SELECT client_order_id, closed_by FROM orders").fetchall())
    assert closed == {"a-exit": "a-exit", "a-entry": None, "b-entry": None, "a-flip": "a-flip"}
    later = "2026-11-23T20:56:00.000000+00:00"
    _order(store, "b-exit", "b", "sell", "4", "filled", later, closed_position_at=later)
    closed = dict(store.conn.execute("SELECT client_order_id, closed_by FROM orders").fetchall())
    assert closed == {"a-exit": "a-exit", "a-entry": "b-exit", "b-entry": "b-exit", "a-flip": "a-flip",
                      "b-exit": "b-exit"}  # fmt: skip


def test_an_exit_written_filled_across_an_order_working_at_its_read_is_written_unmarked(tmp_path: Path) -> None:
    """Not sure of the cut (b's take-profit worked as the read ran), it marks nothing, itself included."""
    store = _journal(tmp_path)
    _order(store, "a-entry", "a", "buy", "6", "filled", BEFORE)
    _order(store, "b-tp", "b", "sell", "4", "open", BEFORE)
    _order(store, "a-exit", "a", "sell", "6", "filled", READ_AT, closed_position_at=READ_AT)
    assert store.conn.execute("SELECT COUNT(*) FROM orders WHERE closed_by IS NOT NULL").fetchone()[0] == 0
    store.close_sync()
