"""The value types stay frozen dataclasses whatever builds them: fields, defaults, equality, replace, pickling."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from decimal import Decimal
from typing import Any

import pytest

from bridge import models
from bridge.models import Order, Signal, StopLoss, TakeProfit
from bridge.notify.events import Event

VALUE_TYPES = [models.TakeProfit, models.StopLoss, models.Signal, models.BracketLeg, models.OrderRequest,
               models.Order, models.Position, models.Account, Event]  # fmt: skip


def sample(cls: type) -> Any:
    """An instance with every required field set to a text, the rest left at their defaults."""
    required = {f.name: f"v-{f.name}" for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}  # fmt: skip
    return cls(**required)


@pytest.mark.parametrize("cls", VALUE_TYPES, ids=lambda cls: cls.__name__)
def test_assigning_or_deleting_a_field_raises(cls: type) -> None:
    value = sample(cls)
    for f in dataclasses.fields(cls):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, f.name, "changed")
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(value, f.name)


@pytest.mark.parametrize("cls", VALUE_TYPES, ids=lambda cls: cls.__name__)
def test_the_constructor_takes_the_fields_in_order_with_their_defaults(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == [f.name for f in dataclasses.fields(cls)]
    value = sample(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            assert getattr(value, f.name) == f.default
    if any(p.default is inspect.Parameter.empty for p in params):
        with pytest.raises(TypeError):
            cls()
    with pytest.raises(TypeError):
        cls(**{f.name: 1 for f in dataclasses.fields(cls)}, surplus=1)


def test_a_factory_default_is_new_for_each_instance() -> None:
    one, two = Signal("AAPL", "buy"), Signal("AAPL", "buy")
    assert one.extras == {} and one.extras is not two.extras
    first, second = Event("halt", "a"), Event("halt", "b")
    assert first.data is not second.data and first.at <= second.at
    given = {"a": 1}
    assert Signal("AAPL", "buy", extras=given).extras is given


def test_equality_hash_repr_replace_and_pickle_are_the_dataclass_ones() -> None:
    leg = StopLoss(stop_price=Decimal(90))
    signal = Signal("AAPL", "buy", Decimal(1), take_profit=TakeProfit(limit_price=Decimal(110)), stop_loss=leg)
    same = Signal(ticker="AAPL", action="buy", sentiment=Decimal(1), take_profit=TakeProfit(Decimal(110)),  # type: ignore[arg-type]
                  stop_loss=StopLoss("stop", Decimal(90)))  # fmt: skip
    assert signal == same and repr(signal) == repr(same)
    assert repr(leg) == ("StopLoss(type='stop', stop_price=Decimal('90'), percent=None, amount=None, "
                         "limit_price=None, trail_amount=None, trail_percent=None)")  # fmt: skip
    assert hash(leg) == hash(StopLoss(stop_price=Decimal(90)))
    changed = dataclasses.replace(signal, ticker="MSFT")
    assert (changed.ticker, changed.stop_loss, signal.ticker) == ("MSFT", leg, "AAPL")
    order = Order("c1", "AAPL", "buy", Decimal(1), "market", "open")
    assert hash(order) == hash(Order("c1", "AAPL", "buy", Decimal(1), "market", "open"))
    assert dataclasses.replace(order, status="filled").status == "filled"
    for value in (signal, order, Event("halt", "x", {"a": 1})):
        assert pickle.loads(pickle.dumps(value)) == value  # noqa: S301 - our own bytes, as the intake's wire
    assert not hasattr(signal, "__dict__")  # still slotted
