"""The resolver cancels the working orders on the closing side of a position it closes in full."""

from __future__ import annotations

from decimal import Decimal

from bridge.config.schema import Subscription
from bridge.models import Order, Signal
from bridge.signals.resolve import Market, resolve

SUB = Subscription(broker="paper")
PRICE = Decimal(110)  # past the breakeven stop at 100 a long bought at 100 moves to


def order(coid: str, side: str, kind: str = "stop", status: str = "open", parent: str | None = None) -> Order:
    return Order(client_order_id=coid, symbol="SQ", side=side, type=kind, quantity=Decimal(5), status=status,  # type: ignore[arg-type]
                 parent_client_order_id=parent)  # fmt: skip


LEGS = [order("tp", "sell", "limit", parent="old-entry"), order("sl", "sell", parent="old-entry")]


def test_a_full_exit_cancels_the_closing_side_and_a_partial_one_does_not() -> None:
    full = resolve(Signal(ticker="SQ", action="exit"), Decimal(5), LEGS, SUB)
    assert full.cancel == ("tp", "sl") and full.decision.startswith("exit while long 5: canceled 2 open orders")
    partial = resolve(Signal(ticker="SQ", action="exit", quantity=Decimal(2)), Decimal(5), LEGS, SUB)
    assert partial.state == "executed" and partial.cancel == ()  # the legs still protect the 3 left


def test_orders_that_would_add_and_legs_of_a_working_entry_are_left() -> None:
    add = order("add", "buy", "limit")  # a resting buy while long: an entry, not a leg of this position
    pending = [order("next", "buy", "limit"), order("next-sl", "sell", status="submitted", parent="next")]
    plan = resolve(Signal(ticker="SQ", action="exit"), Decimal(5), [*LEGS, add, *pending], SUB)
    assert plan.cancel == ("tp", "sl")


def test_a_reversal_cancels_the_old_sides_legs_and_cancel_false_keeps_them() -> None:
    swap = Subscription(broker="paper", allow_swap=True)
    reversed_ = resolve(Signal(ticker="SQ", action="sell"), Decimal(5), LEGS, swap)
    assert reversed_.cancel == ("tp", "sl") and [leg.kind for leg in reversed_.legs] == ["exit", "entry"]
    kept = resolve(Signal(ticker="SQ", action="exit", cancel=False), Decimal(5), LEGS, SUB)
    assert kept.state == "executed" and kept.cancel == ()  # the signal said so, explicitly


def test_exit_with_cancel_open_orders_cancels_every_open_order_as_sell_flat_does() -> None:
    orders = [*LEGS, order("add", "buy", "limit")]
    canceling = Subscription(broker="paper", cancel_open_orders=True)
    flat = resolve(Signal(ticker="SQ", action="sell", sentiment="flat"), Decimal(5), orders, canceling)
    exit_ = resolve(Signal(ticker="SQ", action="exit"), Decimal(5), orders, canceling)
    assert set(exit_.cancel) == set(flat.cancel) == {"tp", "sl", "add"}


def test_an_exit_while_flat_cancels_a_resting_entry_when_canceling_is_on() -> None:
    resting = [order("entry", "buy", "limit")]
    canceling = Subscription(broker="paper", cancel_open_orders=True)
    for signal in (Signal(ticker="SQ", action="exit"), Signal(ticker="SQ", action="sell", sentiment="flat")):
        plan = resolve(signal, Decimal(0), resting, canceling)
        assert plan.state == "executed" and plan.cancel == ("entry",) and not plan.legs, plan.decision
        assert plan.decision.endswith(": canceled 1 open order, nothing to exit")
    assert resolve(Signal(ticker="SQ", action="exit"), Decimal(0), resting, SUB).state == "rejected"  # canceling off


def test_a_partial_exit_keeps_the_legs_even_with_cancel_open_orders() -> None:
    canceling = Subscription(broker="paper", cancel_open_orders=True)
    partial = resolve(Signal(ticker="SQ", action="exit", quantity=Decimal(2)), Decimal(5), LEGS, canceling)
    assert partial.state == "executed" and partial.cancel == (), partial.decision  # they protect the 3 left
    full = resolve(Signal(ticker="SQ", action="exit"), Decimal(5), LEGS, canceling)
    assert full.cancel == ("tp", "sl")


def test_every_partial_exit_keeps_the_legs_with_cancel_open_orders_as_an_exit_of_part_does() -> None:
    """A sell that keeps the long (bullish, or a percent of it) is the same partial exit as `exit` with a quantity:
    canceling the legs would leave what is left of the position with no stop at all."""
    canceling = Subscription(broker="paper", cancel_open_orders=True)
    short_legs = [order("tp", "buy", "limit", parent="old-entry"), order("sl", "buy", parent="old-entry")]
    partial = [
        (Signal(ticker="SQ", action="sell", sentiment="bullish", quantity=Decimal(2)), Decimal(5), LEGS),
        (Signal(ticker="SQ", action="sell", quantity=Decimal(40), quantity_type="percent_of_position"), Decimal(5),
         LEGS),
        (Signal(ticker="SQ", action="buy", sentiment="bearish", quantity=Decimal(2)), Decimal(-5), short_legs),
    ]  # fmt: skip
    for signal, position, legs in partial:
        plan = resolve(signal, position, legs, canceling)
        assert plan.state == "executed" and plan.cancel == (), plan.decision
        assert plan.decision.endswith("2, still " + ("long 3" if position > 0 else "short 3")), plan.decision
    everything = resolve(Signal(ticker="SQ", action="sell", sentiment="bullish", quantity=Decimal(9)), Decimal(5),
                         LEGS, canceling)  # fmt: skip
    assert everything.cancel == ("tp", "sl")  # all of it: nothing is left to protect


def test_cancel_false_keeps_the_legs_only_where_the_signal_may_decide() -> None:
    locked = Subscription(broker="paper", allow_signal_overrides=["orderType"])  # the signal may not set `cancel`
    plan = resolve(Signal(ticker="SQ", action="exit", cancel=False), Decimal(5), LEGS, locked)
    assert plan.cancel == ("tp", "sl")


def test_a_breakeven_cancels_the_stops_it_moves_and_keeps_the_take_profit() -> None:
    earlier = order("be", "sell")  # a breakeven stop placed before, on its own
    pending = [order("next", "buy", "limit"), order("next-sl", "sell", status="held", parent="next")]
    avg = Market(avg_price=Decimal(100))
    plan = resolve(
        Signal(ticker="SQ", action="breakeven", price=PRICE), Decimal(5), [*LEGS, earlier, *pending], SUB, avg
    )
    assert plan.state == "executed" and plan.cancel == ("sl", "be"), plan.decision  # not "tp", nor a working entry's
    kept = resolve(Signal(ticker="SQ", action="breakeven", price=PRICE, cancel=False), Decimal(5), LEGS, SUB, avg)
    assert kept.state == "executed" and kept.cancel == ()  # the signal said so, explicitly


def test_a_breakeven_where_the_venue_holds_the_shares_goes_beside_the_legs_of_an_entry_still_working() -> None:
    # Alpaca holds a position's shares for its working closing orders, but not for the take-profit and stop of an
    # entry that has not filled: they hold nothing until it does, so the breakeven stop is taken beside them.
    stop_only = [order("sl", "sell", parent="old-entry")]
    pending = [order("next", "buy", "limit"), order("next-tp", "sell", "limit", status="submitted", parent="next"),
               order("next-sl", "sell", status="submitted", parent="next")]  # fmt: skip
    alpaca = Market(avg_price=Decimal(100), reserves_position=True)
    plan = resolve(
        Signal(ticker="SQ", action="breakeven", price=PRICE), Decimal(5), [*stop_only, *pending], SUB, alpaca
    )
    assert plan.state == "executed" and plan.cancel == ("sl",), plan.decision
    beside_tp = resolve(
        Signal(ticker="SQ", action="breakeven", price=PRICE), Decimal(5), [*LEGS, *pending], SUB, alpaca
    )
    assert beside_tp.state == "rejected" and "cancel that order first" in beside_tp.decision  # the filled one's


def test_a_breakeven_where_the_broker_replaces_orders_moves_the_one_stop_in_place() -> None:
    # Alpaca's "Replace an Order": the stop-loss is swapped for the breakeven stop in one step, never canceled
    # first (not even by a signal's cancel: true), and the take-profit the venue holds the shares for stays beside it.
    alpaca = Market(avg_price=Decimal(100), reserves_position=True, replaces=True)
    plan = resolve(Signal(ticker="SQ", action="breakeven", price=PRICE), Decimal(5), LEGS, SUB, alpaca)
    assert plan.state == "executed" and plan.cancel == () and plan.moves == (), plan.decision
    assert plan.legs[0].replaces == "sl" and "moved the stop to breakeven 100 for 5" in plan.decision, plan.decision
    # Told to cancel the take-profit too (cancel: true): a bracket's legs cancel together at Alpaca, so its stop-loss
    # would be gone before the replace reached it. Then both are canceled, and a new stop placed (put back if it fails).
    forced = resolve(Signal(ticker="SQ", action="breakeven", price=PRICE, cancel=True), Decimal(5), LEGS, SUB, alpaca)
    assert forced.legs[0].replaces is None and forced.cancel == ("tp", "sl") and forced.moves == ("sl",)
    alone = [*LEGS[1:], order("other-tp", "sell", "limit", parent="other-entry")]  # another bracket's take-profit
    apart = resolve(Signal(ticker="SQ", action="breakeven", price=PRICE, cancel=True), Decimal(5), alone, SUB, alpaca)
    assert apart.legs[0].replaces == "sl" and apart.cancel == ("other-tp",), apart.decision
    # A replace keeps the order's type, and swaps one order: otherwise the stops are canceled as before.
    limited = resolve(
        Signal(ticker="SQ", action="breakeven", price=PRICE, order_type="stop_limit"), Decimal(5), LEGS, SUB, alpaca
    )
    assert limited.state == "rejected" and "cancel that order first" in limited.decision
    two = [order("sl", "sell", parent="old-entry"), order("be", "sell")]
    both = resolve(Signal(ticker="SQ", action="breakeven", price=PRICE), Decimal(5), two, SUB, alpaca)
    assert both.legs[0].replaces is None and both.cancel == ("sl", "be") == both.moves, both.decision


def test_a_partial_exit_where_the_venue_holds_the_shares_for_the_legs_is_refused_before_anything_is_canceled() -> None:
    # Alpaca refuses the part beside the legs that hold the position ("insufficient qty available"), and canceling
    # them would leave the rest without its stop: refused, with how to do it. Elsewhere the legs stay beside it.
    alpaca = Market(reserves_position=True)
    part = Signal(ticker="SQ", action="exit", quantity=Decimal(2))
    plan = resolve(part, Decimal(5), LEGS, SUB, alpaca)
    assert plan.state == "rejected" and plan.cancel == () and not plan.legs, plan.decision
    assert "holds 5 of the position for its working limit sell of 5 and stop sell of 5" in plan.decision
    assert "cancel them (action cancel)" in plan.decision and "2 beside them, with 0 available" in plan.decision
    assert resolve(part, Decimal(5), LEGS, SUB).state == "executed"  # a venue that holds nothing takes it
    # A bracket's two legs hold the shares once: beside 5 held of 8, 3 can go; the legs of a working entry hold none.
    pending = [order("next", "buy", "limit"), order("next-sl", "sell", status="submitted", parent="next")]
    assert resolve(part, Decimal(8), [*LEGS, *pending], SUB, alpaca).state == "executed"
    more = Signal(ticker="SQ", action="exit", quantity=Decimal(4))
    assert resolve(more, Decimal(8), LEGS, SUB, alpaca).state == "rejected"
    # The whole position cancels them itself, and so does a partial exit told to (cancel: true).
    assert resolve(Signal(ticker="SQ", action="exit"), Decimal(5), LEGS, SUB, alpaca).cancel == ("tp", "sl")
    told = Subscription(broker="paper", allow_signal_overrides=["cancel"])
    forced = resolve(Signal(ticker="SQ", action="exit", quantity=Decimal(2), cancel=True), Decimal(5), LEGS, told,
                     alpaca)  # fmt: skip
    assert forced.state == "executed" and forced.cancel == ("tp", "sl"), forced.decision
    # A short's buy-to-cover legs hold it the same way.
    short = [order("tp", "buy", "limit", parent="old-entry"), order("sl", "buy", parent="old-entry")]
    cover = resolve(Signal(ticker="SQ", action="buy", sentiment="bearish", quantity=Decimal(2)), Decimal(-5), short,
                    SUB, alpaca)  # fmt: skip
    assert cover.state == "rejected" and "refuse to buy back 2" in cover.decision, cover.decision


def test_a_partial_exit_that_cancels_the_stop_says_what_is_left_has_none() -> None:
    told = Subscription(broker="paper", allow_signal_overrides=["cancel"])
    part = Signal(ticker="SQ", action="exit", quantity=Decimal(2), cancel=True)
    for market in (Market(), Market(reserves_position=True)):
        plan = resolve(part, Decimal(5), LEGS, told, market)
        assert plan.state == "executed" and plan.cancel == ("tp", "sl"), plan.decision
        assert plan.decision.endswith("has no stop-loss working now (the signal's cancel took it): place a new stop "
                                      "for it"), plan.decision  # fmt: skip
    whole = resolve(Signal(ticker="SQ", action="exit", cancel=True), Decimal(5), LEGS, told)
    assert "no stop-loss" not in whole.decision  # nothing is left to protect
    tp_only = [LEGS[0]]
    assert "no stop-loss" not in resolve(part, Decimal(5), tp_only, told).decision  # there was none to take


def test_a_whole_exit_that_keeps_the_legs_where_the_venue_holds_the_shares_for_them_is_refused() -> None:
    kept = Signal(ticker="SQ", action="exit", cancel=False)
    plan = resolve(kept, Decimal(5), LEGS, SUB, Market(reserves_position=True))
    assert plan.state == "rejected" and not plan.legs and '"cancel": false keeps' in plan.decision, plan.decision
    assert resolve(kept, Decimal(5), LEGS, SUB).state == "executed"  # a venue that holds nothing takes it


def test_flatten_ats_share_exit_cancels_only_its_own_legs_and_goes_beside_the_others_where_the_venue_holds_them() -> (
    None
):
    # Alpaca holds 5 of 7 for another strategy's bracket and 2 for this subscription's: canceled, its own free its 2.
    mine = [order("my-tp", "sell", "limit", parent="my-entry"), order("my-sl", "sell", parent="my-entry")]
    alpaca = Market(reserves_position=True)
    share = Signal(ticker="SQ", action="exit", quantity=Decimal(2), scheduled=True)
    plan = resolve(share, Decimal(7), [*LEGS, *mine], SUB, alpaca, own=("my-tp", "my-sl"))
    assert plan.state == "executed" and plan.cancel == ("my-tp", "my-sl"), plan.decision
    assert [(leg.side, leg.quantity) for leg in plan.legs] == [("sell", Decimal(2))], plan.legs
    # Its share the whole position: the other's legs would open a short once it is sold, so they go too.
    whole = resolve(share, Decimal(2), [*LEGS, *mine], SUB, alpaca, own=("my-tp", "my-sl"))
    assert whole.state == "executed" and set(whole.cancel) == {"my-tp", "my-sl", "tp", "sl"}, whole.decision
