"""What an adapter answers, checked before the daemon acts on it: a plugin's bug is named, never traded on.

A user's adapter may hand back a venue's raw status (`accepted`, `pending_new`), a float quantity, None,
or one symbol listed twice. Acted on, each loses track of an order or misreads a position; so every
answer the executor and the order jobs use passes through here, and a bad one raises `BadAnswer`
naming the adapter's class, method, file and line, and what was wrong. A call that never answers is
cut off after `CALL_TIMEOUT`, so one hung adapter cannot hold the others' upkeep.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import traceback
from collections.abc import Awaitable, Coroutine, Generator
from decimal import Decimal
from types import CoroutineType, coroutine
from typing import Any, TypeVar, get_args

from bridge.brokers.base import Broker
from bridge.errors import BrokerError, OrderRejected, TemporaryBrokerError, UnknownOutcome
from bridge.models import Account, Order, OrderRequest, OrderStatus, Position, same_symbol

# "pending" is the journal's own status for an order planned and not yet sent: from a venue it would read as
# never sent. A venue's pending_new or accepted is "submitted".
STATUSES = tuple(s for s in get_args(OrderStatus) if s != "pending")
# How long an adapter's call may go unanswered: past any shipped adapter's own timeout and retries (10 s by default,
# 120 s at most), so only a call that would never return is cut off. A submission cut off is an unknown outcome,
# looked up by its client order id like any other.
CALL_TIMEOUT = 300.0
T = TypeVar("T")


class BadAnswer(BrokerError):
    """An adapter answered with a value the daemon cannot act on: a bug in the plugin, named with its file and line."""


class NoAnswer(TemporaryBrokerError):
    """An adapter's read did not return within `CALL_TIMEOUT`: not worth asking again at once."""


def where(broker: object, method: str) -> str:
    """`Class.method (file:line)` of an adapter's method, for messages that tell the plugin's author what to fix."""
    cls = type(broker)
    func: Any = getattr(cls, method, None) or getattr(broker, method, None)
    try:
        func = inspect.unwrap(func)
        location = f"{inspect.getsourcefile(func)}:{inspect.getsourcelines(func)[1]}"
    except (TypeError, OSError, ValueError):  # built in C, or its file is gone: its module still names the plugin
        location = cls.__module__
    return f"{cls.__name__}.{method} ({location})"


def raised_at(exc: BaseException) -> str:
    """`file:line in function` where `exc` was raised: the deepest frame outside Python's own and installed
    libraries (a plugin's, when its code called them), else the deepest of all."""
    frames = traceback.extract_tb(exc.__traceback__)
    libraries = tuple({sys.prefix, sys.base_prefix})
    ours = [f for f in frames if not f.filename.startswith(libraries)] or frames
    if not ours:
        return "an unknown place"
    return f"{ours[-1].filename}:{ours[-1].lineno} in {ours[-1].name}"


def failure(exc: BaseException) -> str:
    """An adapter call's exception for the log: a broker error as the adapter worded it, a bug with its line."""
    return str(exc) if isinstance(exc, BrokerError) else f"{exc!r} (raised at {raised_at(exc)})"


def _bad(broker: object, method: str, problem: str) -> BadAnswer:
    return BadAnswer(f"broker plugin bug: {where(broker, method)} returned {problem}")


def _number(name: str, value: Any, optional: bool = False) -> str | None:
    """What is wrong with a quantity or price, or None: a Decimal, finite (None where optional)."""
    if value is None and optional:
        return None
    if isinstance(value, Decimal) and value.is_finite():
        return None
    if isinstance(value, Decimal):
        return f"{name} {value}, not a finite number"
    hint = " (convert with Decimal(str(value)): a float is not exact)" if isinstance(value, float) else ""
    return f"{name} {value!r} of type {type(value).__name__}, not a Decimal{hint}"


def _order_problem(value: Any) -> str | None:
    if not isinstance(value, Order):
        return f"{value!r} of type {type(value).__name__}, not a bridge.models.Order"
    if value.status not in STATUSES:
        return f"an order with status {value.status!r}, which is none of {', '.join(STATUSES)}"
    for name in ("quantity", "filled_quantity"):
        if (problem := _number(name, getattr(value, name))) is not None:
            return f"an order with {problem}"
    for name in ("limit_price", "stop_price", "avg_fill_price"):
        if (problem := _number(name, getattr(value, name), optional=True)) is not None:
            return f"an order with {problem}"
    return None


def order(broker: object, method: str, value: Any, client_order_id: str) -> Order:
    """`value` as the adapter's answer for order `client_order_id`, or BadAnswer saying what is wrong with it."""
    problem = _order_problem(value)
    if problem is None and value.client_order_id != client_order_id:
        problem = f"order {value.client_order_id!r} when asked for {client_order_id!r}"
    if problem is not None:
        raise _bad(broker, method, problem)
    return value  # type: ignore[no-any-return]


def orders(broker: object, method: str, value: Any) -> list[Order]:
    """`value` as a list of orders, or BadAnswer."""
    if not isinstance(value, list | tuple):
        raise _bad(broker, method, f"{value!r} of type {type(value).__name__}, not a list of bridge.models.Order")
    for each in value:
        if (problem := _order_problem(each)) is not None:
            raise _bad(broker, method, f"a list holding {problem}")
    return list(value)


def _position_problem(value: Any) -> str | None:
    if not isinstance(value, Position):
        return f"{value!r} of type {type(value).__name__}, not a bridge.models.Position"
    if not isinstance(value.symbol, str) or not value.symbol:
        return f"a position with symbol {value.symbol!r}"
    return _number(f"a {value.symbol} position with quantity", value.quantity) or _number(
        f"a {value.symbol} position with avg_price", value.avg_price, optional=True
    )


def positions(broker: object, method: str, value: Any) -> list[Position]:
    """`value` as a list of positions, one per symbol, or BadAnswer.

    A symbol listed twice (two lots, a hedge-mode long and short) has no one signed quantity the daemon
    could plan on: taking either row would size an exit for part of the position, or the wrong side.
    """
    if not isinstance(value, list | tuple):
        raise _bad(broker, method, f"{value!r} of type {type(value).__name__}, not a list of bridge.models.Position")
    seen: set[str] = set()
    for each in value:
        if (problem := _position_problem(each)) is not None:
            raise _bad(broker, method, f"a list holding {problem}")
        if each.symbol in seen:
            raise _bad(broker, method, f"{each.symbol} more than once; list one net signed position per symbol")
        seen.add(each.symbol)
    return list(value)


def position(broker: object, method: str, value: Any, symbol: str) -> Position | None:
    """`value` as the optional `fetch_position(symbol)`'s answer (a Position in that symbol, or None), or BadAnswer."""
    if value is None:
        return None
    problem = _position_problem(value)
    if problem is None and not same_symbol(value.symbol, symbol):
        problem = f"a {value.symbol} position when asked for {symbol}"
    if problem is not None:
        raise _bad(broker, method, problem)
    return value  # type: ignore[no-any-return]


async def within(broker: object, method: str, call: Awaitable[T], error: type[BrokerError] = NoAnswer) -> T:
    """`call`'s result, or `error` naming the adapter's method once it has not answered in `CALL_TIMEOUT` seconds.

    A call that never returns would hold its symbol's signals, or a job that serves every broker, forever.
    """
    waiting: Awaitable[T] = call
    if isinstance(call, CoroutineType):
        # Run up to its first wait before the deadline is set: an answer found without one (the paper broker's, a
        # cached quote) lets the event loop run nothing meanwhile, so no deadline could pass. Setting one up and
        # taking it down (a timer on the loop's heap) cost more than such a call itself, twice per signal.
        try:
            first = call.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        waiting = _resumed(call, first)
    deadline = asyncio.timeout(CALL_TIMEOUT)  # no task of its own, unlike wait_for: nothing to pay per call
    try:
        async with deadline:
            return await waiting
    except TimeoutError as exc:
        if not deadline.expired():  # the adapter's own timeout, not ours
            raise
        raise error(f"{where(broker, method)} did not answer within {CALL_TIMEOUT:g}s") from exc


@coroutine
def _resumed(call: Coroutine[Any, Any, T], waits_on: Any) -> Generator[Any, Any, T]:
    """Await `call`, which ran up to its first wait (`waits_on`, what it yielded), on from there as `await` would.

    What the task sends in, or throws in (a cancel, the deadline's), goes on to `call`, until it returns.
    """
    while True:
        try:
            sent = yield waits_on
        except GeneratorExit:
            call.close()
            raise
        except BaseException as exc:  # thrown in by the task (a cancel, the deadline): `call` handles it or not
            try:
                waits_on = call.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                waits_on = call.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


def account(broker: object, method: str, value: Any) -> Account:
    """`value` as an account with Decimal balances, or BadAnswer."""
    if not isinstance(value, Account):
        raise _bad(broker, method, f"{value!r} of type {type(value).__name__}, not a bridge.models.Account")
    for name in ("cash", "equity", "buying_power"):
        if (problem := _number(name, getattr(value, name))) is not None:
            raise _bad(broker, method, f"an account with {problem}")
    return value


def step(broker: object, value: Any, method: str = "quantity_step") -> Decimal | None:
    """The optional `quantity_step(symbol)` or `price_step(symbol)`'s answer: a positive Decimal or None, else
    BadAnswer."""
    problem = _number("the step", value, optional=True)
    if problem is None and value is not None and value <= 0:
        problem = f"the step {value}, not above zero"
    if problem is not None:
        raise _bad(broker, method, problem)
    return value  # type: ignore[no-any-return]


def quote_problem(value: Any) -> str | None:
    """What is wrong with an optional `fetch_quote`'s answer (a Decimal or None), or None."""
    return _number("the quote", value, optional=True)


async def fetch_account(broker: Broker) -> Account:
    """The adapter's `fetch_account()`, checked."""
    return account(broker, "fetch_account", await within(broker, "fetch_account", broker.fetch_account()))


async def fetch_positions(broker: Broker) -> list[Position]:
    """The adapter's `fetch_positions()`, checked."""
    return positions(broker, "fetch_positions", await within(broker, "fetch_positions", broker.fetch_positions()))


async def fetch_open_orders(broker: Broker, symbol: str | None = None) -> list[Order]:
    """The adapter's `fetch_open_orders(symbol)`, checked."""
    listed = await within(broker, "fetch_open_orders", broker.fetch_open_orders(symbol))
    return orders(broker, "fetch_open_orders", listed)


async def fetch_order(broker: Broker, client_order_id: str) -> Order:
    """The adapter's `fetch_order(client_order_id)`, checked: that order, with a status the daemon knows."""
    found = await within(broker, "fetch_order", broker.fetch_order(client_order_id))
    return order(broker, "fetch_order", found, client_order_id)


async def create_order(broker: Broker, request: OrderRequest, replaces: str | None = None) -> Order:
    """The adapter's `create_order(request)`, checked; no answer in time is an unknown outcome, for a lookup.

    With `replaces`: its optional `replace_order(replaces, request)`, the working order `replaces` swapped for
    `request` in one step at the venue, checked the same way.
    """
    if replaces is None:
        placed = await within(broker, "create_order", broker.create_order(request), UnknownOutcome)
        return order(broker, "create_order", placed, request.client_order_id)
    swap = getattr(broker, "replace_order", None)
    if swap is None:  # the plan was made for an adapter that had it (a plugin changed while the daemon was down)
        raise OrderRejected(f"{type(broker).__name__} has no replace_order: order {replaces} was not replaced")
    placed = await within(broker, "replace_order", swap(replaces, request), UnknownOutcome)
    return order(broker, "replace_order", placed, request.client_order_id)


async def cancel_order(broker: Broker, client_order_id: str) -> Order:
    """The adapter's `cancel_order(client_order_id)`, checked."""
    canceled = await within(broker, "cancel_order", broker.cancel_order(client_order_id))
    return order(broker, "cancel_order", canceled, client_order_id)
