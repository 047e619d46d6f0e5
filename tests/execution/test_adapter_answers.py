"""A user's adapter that answers with values the daemon cannot act on is named, file and line, and never traded on."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.config.schema import Subscription
from bridge.models import Account, Order, OrderRequest, Position, Signal
from bridge.store.db import Store
from tests.conftest import GUARD
from tests.execution.test_executor import SUB, FakeBroker, Harness, rests


class ListsLotsApart(FakeBroker):
    """A venue that holds a position as lots, and an adapter that lists each lot as a position of its own."""

    async def fetch_positions(self) -> list[Position]:
        """Each unit a row: 2 SQ comes back as SQ 1, SQ 1."""
        return [Position(s, Decimal(1)) for s, q in self.positions.items() for _ in range(int(q))]


async def test_a_symbol_listed_twice_is_an_adapter_error_naming_the_method_not_a_partial_exit(
    fresh_store: Store,
) -> None:
    h = Harness(fresh_store, ListsLotsApart(positions={"SQ": Decimal(2)}))
    signal = await h.signal(await h.run(Signal(ticker="SQ", action="exit")))
    # Taking the first row, the exit sold 1 of the 2 held and left the other open, reported as executed.
    assert h.broker.creates == [], "an exit was sized on one lot of the position"
    assert signal["state"] == "failed", signal["decision"]
    decision = signal["decision"]
    assert "ListsLotsApart.fetch_positions" in decision and "test_adapter_answers.py:" in decision, decision
    assert "SQ more than once" in decision, decision


class FloatPositions(FakeBroker):
    """An adapter that converts the venue's JSON numbers with float()."""

    async def fetch_positions(self) -> list[Position]:
        """Quantities as floats."""
        return [replace(p, quantity=float(p.quantity)) for p in await super().fetch_positions()]  # type: ignore[arg-type]


async def test_a_float_position_is_refused_saying_to_use_a_decimal(fresh_store: Store) -> None:
    h = Harness(fresh_store, FloatPositions(positions={"SQ": Decimal("0.3")}))
    signal = await h.signal(await h.run(Signal(ticker="SQ", action="exit")))
    assert h.broker.creates == []
    assert "FloatPositions.fetch_positions" in signal["decision"], signal["decision"]
    assert "not a Decimal" in signal["decision"] and "Decimal(str(value))" in signal["decision"], signal["decision"]


class NoPositions(FakeBroker):
    """An adapter that forgot the `return`."""

    async def fetch_positions(self) -> list[Position]:
        """Returns None."""
        await super().fetch_positions()
        return None  # type: ignore[return-value]


async def test_none_for_positions_names_the_method_instead_of_a_type_error(fresh_store: Store) -> None:
    h = Harness(fresh_store, NoPositions())
    signal = await h.signal(await h.run(Signal(ticker="SQ", action="buy")))
    assert h.broker.creates == []
    decision = signal["decision"]
    assert signal["state"] == "failed" and "NoPositions.fetch_positions" in decision, decision
    assert "not a list of bridge.models.Position" in decision, decision
    assert "'NoneType' object is not iterable" not in decision


async def test_the_positions_page_lists_an_adapter_answering_none_as_an_error_row() -> None:
    from bridge.runtime import BrokerSlot
    from bridge.web.api import held_positions

    slots = {
        "mine": BrokerSlot("mine", "mine", NoPositions()),
        "ok": BrokerSlot("ok", "ok", FakeBroker({"SQ": Decimal(1)})),
    }
    rows = await held_positions(slots, [])  # before: TypeError out of the page, a 500 for every broker's rows
    assert rows[1] == ("ok", Position("SQ", Decimal(1)))
    name, why = rows[0]
    assert name == "mine" and isinstance(why, str) and "NoPositions.fetch_positions" in why, why


class PassesRawStatus(FakeBroker):
    """An adapter whose create_order hands back the venue's own word for a new order (Alpaca's `accepted`)."""

    async def create_order(self, request: OrderRequest) -> Order:
        """Placed (and filled) at the venue, answered with a status the daemon does not know."""
        return replace(await super().create_order(request), status="accepted")  # type: ignore[arg-type]


async def test_an_order_answered_with_an_unknown_status_is_looked_up_not_journaled_as_is(
    fresh_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(fresh_store, PassesRawStatus())
    signal_id = await h.run(Signal(ticker="SQ", action="buy"))
    entry = (await h.orders(signal_id))["entry"]
    # Journaled "accepted", the order was none of the open statuses the order jobs follow: its fill went unseen.
    assert entry["status"] == "filled", entry
    assert len(h.broker.creates) == 1, "never sent again"
    assert "PassesRawStatus.create_order" in caplog.text and "status 'accepted'" in caplog.text, caplog.text


class AnswersAnotherOrder(FakeBroker):
    """An adapter whose fetch_order answers the venue's latest order, whatever id it was asked for."""

    async def fetch_order(self, client_order_id: str) -> Order:
        """The last order placed."""
        await super().fetch_order(client_order_id)
        return replace(list(self.orders.values())[-1], client_order_id="tb-someone-else")


async def test_an_answer_for_another_order_is_refused_naming_the_method(fresh_store: Store) -> None:
    h = Harness(fresh_store, AnswersAnotherOrder(), exit_fill_timeout=GUARD)  # never waited: the first read fails
    h.broker.behaviours = [rests]  # a resting exit, whose fill the executor waits for before the entry
    h.broker.positions = {"SQ": Decimal(1)}
    signal = await h.signal(await h.run(Signal(ticker="SQ", action="reverse", price=Decimal(10))))
    assert "AnswersAnotherOrder.fetch_order" in signal["decision"], signal["decision"]
    assert "'tb-someone-else' when asked for" in signal["decision"], signal["decision"]


class RaisesInAHelper(FakeBroker):
    """An adapter whose position parsing has a bug."""

    async def fetch_positions(self) -> list[Position]:
        """Parses a venue answer it misreads."""
        return [self._parse({"sym": "SQ", "qty": "1"})]

    def _parse(self, row: dict[str, str]) -> Position:
        return Position(row["symbol"], Decimal(row["qty"]))  # the venue says "sym"


async def test_a_bug_in_an_adapter_method_is_reported_with_its_file_and_line(fresh_store: Store) -> None:
    h = Harness(fresh_store, RaisesInAHelper())
    signal = await h.signal(await h.run(Signal(ticker="SQ", action="buy")))
    source = Path(__file__).read_text().splitlines()
    line = next(n for n, text in enumerate(source, 1) if 'Position(row["symbol"]' in text)
    # Before: "failed: KeyError: 'symbol'", with no word of where.
    assert signal["decision"] == f"failed: KeyError: 'symbol' (raised at {__file__}:{line} in _parse)", signal


class FloatAccount(FakeBroker):
    """An adapter that converts the venue's balances with float()."""

    async def fetch_account(self) -> Account:
        """Balances as floats."""
        return Account(cash=100000.0, equity=100000.0, buying_power=100000.0)  # type: ignore[arg-type]


async def test_float_balances_are_refused_naming_fetch_account(fresh_store: Store) -> None:
    h = Harness(fresh_store, FloatAccount())
    h.sub = Subscription.model_validate({"broker": SUB, "sizing": {"type": "percent_of_equity", "value": 1}})
    signal = await h.signal(await h.run(Signal(ticker="SQ", action="buy", price=Decimal(50))))
    assert h.broker.creates == []
    assert "FloatAccount.fetch_account" in signal["decision"], signal["decision"]
    assert "cash 100000.0 of type float, not a Decimal" in signal["decision"], signal["decision"]


class FloatQuote(FakeBroker):
    """An adapter whose quote is the venue's JSON number, a float."""

    async def fetch_quote(self, symbol: str) -> Decimal | None:
        """A float quote."""
        return 50.1  # type: ignore[return-value]


async def test_a_float_quote_is_no_quote_with_a_warning_naming_fetch_quote(
    fresh_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(fresh_store, FloatQuote())
    h.sub = Subscription.model_validate({"broker": SUB, "sizing": {"type": "dollar_amount", "value": 1000}})
    signal = await h.signal(await h.run(Signal(ticker="SQ", action="buy")))
    assert h.broker.creates == []
    assert signal["state"] == "rejected" and "dollar_amount sizing needs a price" in signal["decision"], signal
    assert "FloatQuote.fetch_quote" in caplog.text and "not a Decimal" in caplog.text, caplog.text


class FloatStep(FakeBroker):
    """An adapter whose lot step is the exchange's JSON number, a float."""

    def quantity_step(self, symbol: str) -> Decimal | None:
        """A float step."""
        return 0.001  # type: ignore[return-value]


async def test_a_float_quantity_step_fails_the_signal_naming_the_method(fresh_store: Store) -> None:
    h = Harness(fresh_store, FloatStep())
    h.sub = Subscription.model_validate(
        {"broker": SUB, "fractional": True, "sizing": {"type": "dollar_amount", "value": 100}}
    )
    signal = await h.signal(await h.run(Signal(ticker="SQ", action="buy", price=Decimal(3))))
    assert h.broker.creates == []
    # Before: "TypeError: unsupported operand type(s) for /: 'decimal.Decimal' and 'float'", at the daemon's sizing.
    assert "FloatStep.quantity_step" in signal["decision"] and "not a Decimal" in signal["decision"], signal
