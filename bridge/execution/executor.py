"""Turn one signal into orders for one subscription: plan, commit the plan, then call the broker."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, NoReturn, TypeVar

from bridge.brokers import answers
from bridge.brokers.base import Broker, capabilities_in_force
from bridge.brokers.throttle import retry_read
from bridge.config.identity import removed, successor
from bridge.config.schema import Strategy, Subscription
from bridge.config.secrets import redact_encoded
from bridge.errors import (
    AccountRefused,
    BrokerError,
    DuplicateClientOrderId,
    HeldUnsent,
    OrderNotFound,
    OrderRejected,
    TemporaryBrokerError,
)
from bridge.execution import share
from bridge.execution.market import market_context
from bridge.execution.orders import (
    PUT_BACK_TRIES_HOURS,
    OrderRow,
    client_order_id,
    order_rows,
    request_from_rows,
    restore_id,
    restore_row,
    takes_reused_ids,
)
from bridge.models import FINAL_ORDER_STATUSES, OPEN_ORDER_STATUSES, Order, OrderRequest, Position, Signal, same_symbol
from bridge.notify.events import Event, order_change, order_event, signal_event
from bridge.risk import Guard, Proposal, SubmitRefused
from bridge.signals.resolve import Plan, broker_symbol, describe_position, fmt, is_share_exit, resolve
from bridge.signals.timing import aged_from
from bridge.store import journal, upkeep
from bridge.store.db import Store, iso, transaction, utcnow

log = logging.getLogger("bridge.executor")
R = TypeVar("R", sqlite3.Row, dict[str, Any])
# How long the last market order of a plan may take to fill before the symbol's next signal is planned: a venue
# that fills a moment after it answers (Alpaca's `accepted`) would otherwise show the next plan the old position,
# and a second buy while flat would open a second position. Bounded, since one placed while the market is closed
# waits for the open.
MARKET_SETTLE_SECONDS = 5.0
# A fill wait's reads are cut off at its deadline, but for the last, taken at the deadline (so an order left unfilled
# was seen unfilled when the wait ends): a venue that hangs must not hold a symbol's signals for longer.
LAST_READ_SECONDS = 0.5
Placed = tuple[OrderRow, Order]  # an order placed with its plan, and the broker's answer


@dataclass(frozen=True)
class Target:
    """Where a job executes, captured when it is queued: a config reload never changes a queued job's broker."""

    broker_name: str
    broker: Broker | None  # None: the broker was unavailable
    settings: Subscription
    # The SHA-256 of the strategy token a webhook signal was accepted with (None: not a webhook's, a flatten say):
    # a reload that changes or removes that token stops the signal from trading (the `revoked` the bridge passes).
    token: bytes | None = None
    # The job's strategy as that config had it (None: not known): tells a reload that removed the subscription
    # from one that renamed it (`_stopped`).
    strategy: Strategy | None = None


@dataclass(frozen=True)
class Job:
    """One signal for one subscription."""

    signal_id: str
    strategy: str
    subscription: str
    signal: Signal
    received_at: datetime
    target: Target | None = None  # None: look the subscription up in the live config when it runs


class Outcome(Exception):
    """Ends an execution early with a final state and its explanation."""

    def __init__(self, state: str, decision: str) -> None:
        super().__init__(decision)
        self.state = state
        self.decision = decision


# The order types of a stop: one working on a put-back's side covers the position as the put-back would.
STOPS = ("stop", "stop_limit", "trailing_stop")
# Said of a stop put back that did not reach the broker (down, say), which the order jobs send again (`jobs.putbacks`).
RETRIED = (f"; it is sent again, spaced out, until it works or nothing is left for it to close (for up to "
           f"{PUT_BACK_TRIES_HOURS:g}h), and this decision then says how it went")  # fmt: skip
# Said of a breakeven stop that did not start working after the stops it moves were canceled.
MOVES_FOLLOWED = 20  # breakevens that moved a stop one after the other, followed back to the leg they began at
UNPROTECTED = ("; the stop it replaces was canceled first, so until a new stop works the position has no stop at the "
               "broker: check it, then send the breakeven again or place a stop")  # fmt: skip


class Finished(Outcome):
    """Ends an execution whose final state was journaled with its plan: nothing is left to write."""


@dataclass(frozen=True)
class PutBack:
    """What became of the stops a breakeven canceled first, as they were sent again (`_put_back_moved`)."""

    back: list[Order] = field(default_factory=list)  # working again, each for the quantity it went for
    working: list[str] = field(default_factory=list)  # the client order ids they work under now, in turn
    passed: list[str] = field(default_factory=list)  # what held every other order back that they went through
    spared: list[Order] = field(default_factory=list)  # not sent: nothing is held on the side they close
    unsent: bool = False  # one of those lacking never reached the broker: the order jobs send it again
    held: Decimal | None = None  # the position as the broker showed it before they went (None: not read)
    # Of those working again for less than they were, each one's client order id (the stop's it puts back): the
    # quantity it had, and the room the position held now left for it on its side (`_put_back_moved`).
    capped: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)

    def lacking(self, canceled: Sequence[Order]) -> list[Order]:
        """Of the stops `canceled`, those the position lacks: neither working again nor left out for want of one."""
        done = {o.client_order_id for o in (*self.back, *self.spared)}
        return [o for o in canceled if o.client_order_id not in done]


async def _position(broker: Broker, symbol: str) -> Position | None:
    """The position in `symbol`: asked for alone where the broker can (`fetch_position`), else from the list."""
    one = getattr(broker, "fetch_position", None)
    if one is not None:
        found = await answers.within(broker, "fetch_position", one(symbol))
        return answers.position(broker, "fetch_position", found, symbol)
    listed = await answers.fetch_positions(broker)
    # The venue's letters first; else as it reads the symbol it was sent (`amd` trades and lists as AMD).
    exact = next((p for p in listed if p.symbol == symbol), None)
    return exact or next((p for p in listed if same_symbol(p.symbol, symbol)), None)


async def _position_and_orders(broker: Broker, symbol: str) -> tuple[Position | None, list[Order]]:
    """What the plan starts from: overlapping requests to a remote broker, one read after the other locally."""
    position = partial(retry_read, partial(_position, broker, symbol))
    orders = partial(retry_read, partial(answers.fetch_open_orders, broker, symbol))
    if getattr(capabilities_in_force(broker), "local", False):
        # Nothing to overlap: two tasks and a gather would cost more than the reads themselves.
        return await position(), await orders()
    both = (asyncio.ensure_future(position()), asyncio.ensure_future(orders()))
    try:
        return await asyncio.gather(*both)
    except BaseException:
        # The plan is given up: the other read, left running, would go on asking (retries and their waits included)
        # for a signal no longer waiting for it, spending the venue's rate limit beside the next signals' reads.
        for read in both:
            read.cancel()
        raise


class Executor:
    """Runs jobs; the runtime is looked up per job so a reload never strands a queued signal."""

    def __init__(self, store: Store, max_signal_age: float, brokers: Callable[[], dict[str, Broker | None]],
                 settings: Callable[[str, str], tuple[str, Subscription] | None],
                 guard: Guard | None = None, secrets: Callable[[], Sequence[str]] = tuple,
                 at_signal_time: bool = False, clock_skew: float = 0.0,
                 revoked: Callable[[Job], str | None] | None = None,
                 strategy: Callable[[str], Strategy | None] | None = None,
                 journal_keys: Callable[[str, str], tuple[str, ...]] | None = None) -> None:  # fmt: skip
        self.store = store
        # Every key the journal may hold a subscription's rows under (`Runtime.journal_keys`); untold: its key.
        self._journal_keys = journal_keys or (lambda _strategy, key: (key,))
        # The live config's strategy by name (None: not asked, a job's subscription is never taken as removed).
        self._strategy = strategy
        # Why a queued job may no longer trade at all (the token it came with was revoked), or None.
        self._revoked = revoked
        # `bridge replay`: decide as at the job's own time (its trading windows), not at the replay's
        self.at_signal_time = at_signal_time
        self.guard = guard  # kill switch, risk limits, circuit breakers
        self._secrets = secrets  # the live config's secrets, masked in a broker's error text (`_clean`)
        self.max_signal_age = max_signal_age
        self.clock_skew = clock_skew  # allowed on a signal's `time`, as at the webhook (`check_fresh`)
        self._brokers = brokers
        self._settings = settings
        # Metrics and notifications; each must return at once (they only count or enqueue).
        self.observers: list[Callable[[Event], None]] = []

    async def run(self, job: Job) -> None:
        """Execute one job to a final state; never raises."""
        started = iso(utcnow())
        journaled = False
        try:
            state, decision = await self._execute(job, started)
        except Finished as outcome:
            state, decision, journaled = outcome.state, outcome.decision, True
        except Outcome as outcome:
            state, decision = outcome.state, outcome.decision
        except Exception as exc:
            log.exception("signal %s for %s failed", job.signal_id, job.subscription)
            # A broker error is the adapter's word on the venue; anything else is a bug, whose line is the fix.
            at = "" if isinstance(exc, BrokerError) else f" (raised at {answers.raised_at(exc)})"
            state, decision = "failed", f"failed: {type(exc).__name__}: {exc}{at}"
        finally:
            if self.guard is not None:  # a plan admitted but never saved (a refusal, a failed cancel) holds nothing
                self.guard.release((job.signal_id, job.subscription))
        decision = self._clean(decision)  # it may quote a broker's exception (`_submit`, `_cancel`, a read)
        if not journaled:
            await self.store.run(
                journal.finish_execution, self.store.conn, job.signal_id, job.subscription, state, decision, started
            )
        log.info("signal %s %s/%s %s: %s", job.signal_id, job.strategy, job.subscription, state, decision)
        self.emit(signal_event(job.strategy, job.subscription, job.signal.ticker, job.signal_id, state, decision))

    def _clean(self, text: str) -> str:
        """`text` with every configured secret masked: a venue's error may quote its own request, key included."""
        return redact_encoded(text, self._secrets())  # in a URL it quotes, percent-encoded

    def _masked(self, order: Order) -> Order:
        """A venue's answer as it may be journaled: its error with every configured secret masked."""
        if order.error is None:  # nearly every answer: nothing to mask, so the secrets are not gathered
            return order
        return journal.masked(order, self._secrets())

    def emit(self, event: Event) -> None:
        """Hand an event to every observer (metrics, notifications); an observer's failure is only logged."""
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # an observer's bug must never fail an execution
                log.exception("observer failed on %s", event.kind)

    def _aged_from(self, job: Job) -> datetime:
        """When `job`'s age starts: its arrival, its `time` (less clock_skew) if earlier, or its delay's end."""
        return aged_from(job.signal.time, job.signal.execute_at, job.received_at, self.clock_skew)

    def _too_old(self, job: Job) -> str | None:
        """How long past max_signal_age `job` would run now, or None when it is young enough."""
        signal, skew, limit = job.signal, self.clock_skew, self.max_signal_age
        start = self._aged_from(job)  # a delay counts from its time
        age = (utcnow() - start).total_seconds()
        if age <= limit:
            return None
        if signal.time is not None and signal.execute_at is None and start < job.received_at:
            return (f"{age + skew:.0f}s after its time {signal.time.isoformat()} when it would run "
                    f"(max_signal_age {limit:g}s + clock_skew {skew:g}s)")  # fmt: skip
        return f"waited {age:.0f}s before execution (max_signal_age {limit:g}s)"

    async def _execute(self, job: Job, started: str) -> tuple[str, str]:
        target = job.target
        found = (target.broker_name, target.settings) if target else self._settings(job.strategy, job.subscription)
        # A plan a crash interrupted: never plan twice.
        planned = self.store.peek(journal.planned_orders, job.signal_id, job.subscription)
        if found is None:
            return await self._orphaned(job, planned)
        broker_name, sub = found
        # A committed plan goes on whatever the config says now (its orders may be working); a fresh one is not
        # made for a signal whose token a reload revoked while it waited (in flight, queued, or in the intake).
        revoked = None if planned or self._revoked is None else self._revoked(job)
        if revoked is not None:
            return "rejected", revoked
        if not planned and (stopped := self._stopped(job, sub)) is not None:
            # A committed plan still goes on: its orders may be working already, and the order jobs keep
            # following them either way.
            return "ignored", stopped
        waited = self._too_old(job)
        # A cancel's plan holds only the legs it puts back (`_put_back_gone`): the signal did what it asked before
        # the restart, and what is left is the bridge undoing the venue's side effect, sent whatever the signal's
        # age (as a failed breakeven's stop put back), lest the position lack that leg unsaid.
        if waited is not None and not _put_back_rows(planned):
            if not planned:
                return "expired", f"expired: {waited}"
            # Resumed after a restart, and fresh when recovery queued it, but it waited past the limit since
            # (behind recovery's broker calls, say): what was sent stays on record, the rest is not sent.
            # A stop put back after its breakeven failed is not the signal trading: `_finish_move` sends it.
            unsent = [row for row in planned if row["leg"] != "restore"]
            await self.store.run(journal.close_pending, self.store.conn, unsent, "not sent: the signal expired")
            sent = sum(1 for row in planned if row["status"] != "pending")
            decision = f"expired: its plan resumed after a restart, but {waited}; {sent} order(s) had been sent"
            same = planned[0]["broker"] == broker_name  # else the rest of it belongs to another account
            broker = (target.broker if target else self._brokers().get(broker_name)) if same else None
            return "expired", decision + await self._finish_move(job, broker, planned, decision)
        if planned and planned[0]["broker"] != broker_name:
            return await self._abandon(planned, broker_name)
        broker = target.broker if target else self._brokers().get(broker_name)
        if broker is None:
            return "failed", f"failed: broker {broker_name} is unavailable"
        if planned:  # resuming after a restart: continue the committed plan, never plan twice
            decision = await self.store.read(self._decision, job)
            if back := _put_back_rows(planned):
                return await self._put_back_again(job, broker, back, decision)
            # A breakeven interrupted between its new stop and the cancel of the old: the move is finished.
            moved, canceled = await self._moves_now(broker, planned)
            if moved and _reserves(broker) and (row := _moving(planned)) is not None and row["status"] == "pending":
                # Killed between its plan's commit and the cancels that go before its stop: they go first now.
                ids = tuple(o.client_order_id for o in moved)
                canceled += await self._cancel_first(job, broker, ids, dict(zip(ids, moved, strict=True)), planned,
                                                     decision)  # fmt: skip
                moved = ()
            return await self._run_orders(job, broker, sub, planned, decision, bool(canceled), moved, None, canceled)
        symbol = broker_symbol(sub, job.signal.ticker)
        unsure = None if job.signal.action == "cancel" else await self._unknown_first(broker, broker_name, symbol)
        if unsure is not None and job.signal.action == "breakeven":
            # It may be an earlier breakeven's stop the venue holds but does not list yet: moving only the stops it
            # sees, this one would leave that one working beside its own once the venue lists it.
            return "rejected", (f"rejected: {unsure}; nor a breakeven, which would leave a stop it cannot see "
                                "working beside its own: nothing was canceled or sent, so the position keeps the "
                                "stop it has; send it again once that order is found")  # fmt: skip
        observe = getattr(broker, "observe_price", None)
        if job.signal.price is not None and observe is not None:
            await observe(symbol, job.signal.price)
        live = self._live(job, sub)
        again = ""
        for attempt in range(2):
            read_moment = utcnow()  # before the read: an order journaled filled by then is in what it returns
            read_at = iso(read_moment)
            held, open_orders = await _position_and_orders(broker, symbol)
            position = held.quantity if held else Decimal(0)
            if position == 0:  # flat: the shares from before the read are closed, however it got there
                await self._close_flat(broker_name, symbol, read_at, share.settled(broker, read_moment),
                                       share.unfilled(open_orders))  # fmt: skip
            # With a max_notional, the broker's quote too: the signal's `price` is whatever the sender wrote.
            priced = self.guard is not None and self.guard.values_notional(sub, live)
            avg_price = held.avg_price if held else None
            market = await market_context(broker, job.signal, sub, symbol, avg_price, quote=priced,
                                          now=job.received_at if self.at_signal_time else None)  # fmt: skip
            signal, said = job.signal, ""
            own: tuple[str, ...] = ()  # the subscription's own working orders, which flatten_at's share exit cancels
            if is_share_exit(job.signal):  # sized as the journal has its share now, a leg filled since the flatten
                signal, own, said = await self._share(job, broker_name, symbol, position)
            plan = resolve(signal, position, open_orders, sub, market, own) if signal.quantity != 0 else (
                _nothing_held(signal, position, own, said))  # fmt: skip
            if plan.state != "executed":
                return plan.state, again + plan.decision
            plan = replace(plan, decision=plan.decision + said) if said and signal.quantity != 0 else plan
            if unsure is not None and any(leg.kind == "entry" for leg in plan.legs):
                closing = tuple(leg for leg in plan.legs if leg.kind != "entry")
                if not closing:
                    return "rejected", f"{again}rejected: {unsure}; nothing was sent (the plan was: {plan.decision})"
                plan = replace(plan, legs=closing, decision=f"only the exit was sent, the entry was refused: {unsure} "
                               f"(the plan was: {plan.decision})")  # fmt: skip
            check = getattr(broker, "check_order", None)  # optional; most brokers (paper) have none to ask
            refusal = None if check is None else _refusal(check, order_rows(job.signal_id, job.subscription,
                                                                            broker_name, symbol, job.signal.price,
                                                                            plan))  # fmt: skip
            if refusal is not None:
                done = "sent" if attempt else "canceled or sent"
                return "rejected", f"{again}rejected: {refusal}; nothing was {done} (the plan was: {plan.decision})"
            if plan.legs and self.guard is not None:  # halted, circuit open or over a risk limit: nothing is sent
                buys, sells = _working(open_orders, plan.cancel, symbol)
                proposal = Proposal(job.signal.ticker, symbol, position, plan.legs, job.signal.price, buys, sells,
                                    market.quote, scheduled=job.signal.scheduled)  # fmt: skip
                admission = await self.guard.check_plan(job.strategy, job.subscription, broker_name, sub, proposal,
                                                        hold=(job.signal_id, job.subscription), live=live)  # fmt: skip
                if admission.refusal is not None and not admission.legs:
                    return "rejected", (f"{again}rejected: {admission.refusal}; nothing was sent "
                                        f"(the plan was: {plan.decision})")  # fmt: skip
                if admission.refusal is not None:  # only its entries were refused: it closes, and opens nothing
                    plan = replace(plan, legs=admission.legs, decision=f"only the exit was sent, the entry was "
                                   f"refused: {admission.refusal} (the plan was: {plan.decision})")  # fmt: skip
            # Checked again once the broker was read: its reads (a slow venue, a Retry-After waited, a lookup of an
            # earlier order) may take longer than max_signal_age, and a signal that old must not trade.
            waited = self._too_old(job)
            if waited is not None:
                return "expired", f"{again}expired: {waited}; nothing was sent (the plan was: {plan.decision})"
            seen = {o.client_order_id: o for o in open_orders}
            # Where the venue takes a second stop beside the first, the stops a breakeven moves go once its
            # own stop works: refused, unsent or unknown, the position keeps the stop it had. Where it holds the
            # shares for them they go first, but only once the plan that says so is committed (`_cancel_first`).
            first = _reserves(broker) and _moves_stop(plan)
            later = plan.cancel if first else plan.moves if _moves_stop(plan) else ()
            answered: dict[str, Order] = {}
            filled = await self._cancel(broker, tuple(c for c in plan.cancel if c not in later), seen,
                                        again + plan.decision, answered)  # fmt: skip
            # An exit that had nothing to sell plans again too (a trader's, or flatten_at's of its share or of the
            # whole position): an entry that filled before its cancel opened the position it was sent to close,
            # which the decision "canceled, nothing to exit" left open (a flatten's, overnight).
            if not filled or not (plan.legs or job.signal.action == "exit") or attempt:
                break
            # An order filled before its cancel reached the venue (a stop hit by the move that set the alert
            # off): the position the legs were sized on is gone. Plan once more from what the broker holds;
            # the discarded plan holds nothing against the risk limits.
            if self.guard is not None:
                self.guard.release((job.signal_id, job.subscription))
            again = f"{filled} order(s) filled before their cancel, so planned again: "
        if not plan.legs:
            went = _went_with(plan.cancel, seen, answered)
            if not went:
                return "executed", again + plan.decision
            return await self._put_back(job, broker, broker_name, symbol, went, seen, position, again + plan.decision,
                                        started)  # fmt: skip
        if again:  # else the decision is the plan's own: a copy of the plan would change nothing
            plan = replace(plan, decision=again + plan.decision)
        # The signal's cancelAfter, else the subscription's: kept with the orders, as the rest of the plan is.
        timeout = job.signal.cancel_after if job.signal.cancel_after is not None else sub.cancel_after
        resting = share.unfilled(open_orders) - set(plan.cancel)  # left working beside an exit: counted, not cut
        rows = order_rows(job.signal_id, job.subscription, broker_name, symbol, job.signal.price, plan, timeout,
                          (position, read_at), resting)  # fmt: skip
        for new in rows:  # journaled as it will work: a put-back of it later goes as it was, not as it was asked
            if new.get("replaces"):
                new["time_in_force"] = self._kept_time_in_force(new["replaces"], new["time_in_force"])
        # Placed with its plan, the breakeven stop would go before the cancels of a plan that cancels first.
        place = None if first else getattr(broker, "create_order_in_journal", None)
        try:
            if place is None or getattr(broker, "store", None) is not self.store:  # writes must join this journal's
                planned = await self.store.run(
                    journal.save_plan, self.store.conn, job.signal_id, job.subscription, plan.decision, rows, started
                )
                placed, finished = [], False
            else:
                planned, placed, finished = await self.store.run(self._plan_and_place, place, broker_name, job,
                                                                 plan.decision, rows, started)  # fmt: skip
        finally:
            if self.guard is not None:  # its orders are in the journal now (or never will be): they count from there
                self.guard.release((job.signal_id, job.subscription))
        for row, order in placed:  # counted and told once committed: a failed COMMIT took the orders with it
            if self.guard is not None:
                self.guard.count(broker_name, job.strategy, order)
            self.emit(_order_event(job, row, order))
        moved = () if first else tuple(seen[c] for c in later if c in seen)
        if finished:
            if moved:  # the breakeven stop filled at once: the stops it replaces are canceled all the same
                await self._retire(broker, moved, plan.decision)
            raise Finished("executed", plan.decision)
        in_place = next((seen.get(leg.replaces) for leg in plan.legs if leg.replaces), None)
        canceled = await self._cancel_first(job, broker, plan.cancel, seen, planned, plan.decision) if first else ()
        return await self._run_orders(job, broker, sub, planned, plan.decision, first, moved, in_place, canceled)

    async def _close_flat(self, broker_name: str, symbol: str, read_at: str, settled: str,
                          unfilled: frozenset[str]) -> None:  # fmt: skip
        """Mark the orders a read that found no position in `symbol` counted (`journal.close_flat`), if any are left;
        `unfilled`: the orders the same read listed working with nothing filled, which stay counted.

        Looked up first without waiting for a batch: most reads find none (an exit of all of it marked them).
        """
        if not self.store.peek(journal.flat_to_close, broker_name, symbol, read_at, unfilled):
            return
        marked, doubt = await self.store.run(journal.close_flat, self.store.conn, broker_name, symbol, read_at,
                                             settled, unfilled=unfilled)  # fmt: skip
        if doubt:
            log.info("%s at %s is flat, but the shares there are counted still, not closed: %s", symbol, broker_name,
                     doubt)  # fmt: skip
        elif marked:
            log.info("%s at %s is flat: %d order(s) from before are no share of what is held since", symbol,
                     broker_name, marked)  # fmt: skip

    async def _share(self, job: Job, broker_name: str, symbol: str,
                     position: Decimal) -> tuple[Signal, tuple[str, ...], str]:  # fmt: skip
        """flatten_at's exit of the subscription's share as the journal has it now: the signal sized to it (0: none
        held), the subscription's own working orders in `symbol` to cancel, and what the decision adds.

        A working order of its own (a bracket's take-profit and stop-loss, a resting exit) is canceled with the
        exit, its answer saying what it filled: one that filled first plans the exit again (`_execute`). One that
        no cancel can learn of (unsent yet, or of unknown outcome, which `_unknown_first` just asked the broker for)
        leaves the share unsure: the share the journal knows is closed all the same, and the decision says that
        order may change it. Closing the whole position would close another strategy's with it, and cancel its
        stop-loss; flatten_at waited within its grace for the order jobs to find out before it queued this exit.
        """
        keys = self._journal_keys(job.strategy, job.subscription)
        # In the next batch, after the writes before it (a cancel's answer, a fill the order jobs found) commit.
        rows = [row for row in await self.store.run(upkeep.traded_orders, self.store.conn, job.strategy, keys,
                                                    broker_name) if same_symbol(row["symbol"], symbol)]  # fmt: skip
        quantity, capped = share.capped(share.net(rows), position)
        said = f"; {capped}" if capped else ""
        if doubt := share.unsure(rows):
            log.warning("flatten_at for %s/%s: its order %s in %s is %s, so its share of the position is not sure: "
                        "only the share its known fills net to is closed; that order may have filled, leaving some "
                        "of it open or closing another's: check it at the broker", job.strategy, job.subscription,
                        doubt[0]["client_order_id"], symbol, doubt[0]["status"])  # fmt: skip
            said += (f"; this subscription's order {doubt[0]['client_order_id']} there is {doubt[0]['status']}, so its "
                     "share is not sure: only the share its known fills net to was closed, and that order may "
                     "change it")  # fmt: skip
        return replace(job.signal, quantity=quantity), share.working(rows), said

    async def _cancel_first(self, job: Job, broker: Broker, client_order_ids: tuple[str, ...], seen: dict[str, Order],
                            planned: list[sqlite3.Row], decision: str) -> tuple[Order, ...]:  # fmt: skip
        """Cancel what a committed breakeven cancels before its stop goes, the venue holding the shares for the stops
        it moves; return those stops, as they were.

        Committed first, so a restart between the cancels and the new stop finds what was canceled, and sends the
        stop or puts the old ones back (`_moves_now`). Not all canceled, or one filled first (the position the
        plan was sized on is gone), its stop is not sent; a stop canceled after a part of it filled is put back.
        """
        row = _moving(planned)
        if row is not None and self.guard is not None and (halt := self.guard.halt_reason()) is not None:
            # Halted since its plan was checked: its stop would be refused, so the stops it moves are left alone
            # rather than canceled, to be put back under new ids (resumed, those canceled before a restart go back).
            await self._skip_rest(planned, f"not sent: {halt}")
            said = await self._as_they_were(job, broker, planned, row, seen)
            raise Outcome("failed", f"{decision}; but the breakeven was not sent: {halt}{said}")
        answered: dict[str, Order] = {}
        try:
            filled = await self._cancel(broker, client_order_ids, seen, decision, answered)
        except Exception as exc:  # the execution fails saying why: nothing of its plan stays pending
            await self._skip_rest(planned, "not sent: the orders it cancels first were not all canceled")
            if row is None:
                raise
            # Those canceled before the one refused are put back: left out, the position would keep less
            # protection than before the signal, unsaid.
            why = exc.decision.rsplit("; but ", 1)[-1] if isinstance(exc, Outcome) else answers.failure(exc)
            # A cancel the venue took and has not done (Alpaca's pending_cancel): its stop may go any moment.
            taken = {coid for coid, order in answered.items() if order.status not in FINAL_ORDER_STATUSES}
            said = await self._as_they_were(job, broker, planned, row, {**seen, **answered}, taken)
            raise Outcome("failed", f"{decision}; but the stops it moves were not all canceled ({why}), so the "
                                    f"breakeven stop was not sent{said}") from exc  # fmt: skip
        if row is None:  # never: a plan that cancels first moves stops
            return ()
        if not filled:
            return tuple(seen[c] for c in json.loads(row["moves"]) if c in seen)
        await self._skip_rest(planned, "not sent: an order it cancels first filled before its cancel")
        _moved, canceled = await self._moves_now(broker, planned, {**seen, **answered})
        said = await self._restore(job, broker, row, canceled) if canceled else ""
        raise Outcome("failed", f"{decision}; but {filled} order(s) filled before their cancel, so the breakeven stop "
                                f"was not sent: check the position{said}")  # fmt: skip

    async def _moves_now(self, broker: Broker, planned: list[sqlite3.Row], known: Mapping[str, Order] | None = None,
                         unread: dict[str, str] | None = None) -> tuple[tuple[Order, ...],
                                                                        tuple[Order, ...]]:  # fmt: skip
        """The stops a committed plan's breakeven moves (its row's `moves`), as the broker has them now: (still
        working, canceled). The first are canceled once the breakeven stop works, the second put back if it fails.

        One the broker cannot show now is taken as `known` has it (its cancel's answer in this execution: a venue
        may list no order once canceled), else as working: its cancel is tried, and a refused one is said. Taken as
        working unread, it is in `unread`, with why: it may have been canceled all the same.
        """
        row = _moving(planned)
        if row is None:
            return (), ()
        working: list[Order] = []
        canceled: list[Order] = []
        # A put-back journaled (before a restart) for one of them says it was canceled: only a canceled stop gets one.
        put = {r["client_order_id"]: r for r in planned if r["leg"] == "restore"}
        for coid in json.loads(row["moves"]):
            try:
                order = self._masked(await retry_read(partial(answers.fetch_order, broker, coid)))
            except Exception as exc:
                why = self._clean(answers.failure(exc))
                order = (known or {}).get(coid) or _canceled_for(put.get(restore_id(row, coid)), coid) or Order(
                    coid, row["symbol"], row["side"], Decimal(row["quantity"]), "stop", "open")  # fmt: skip
                log.warning("order %s, moved by breakeven %s: not read, so taken as %s (%s)", coid,
                            row["client_order_id"], order.status, why)  # fmt: skip
                if order.is_open and unread is not None:
                    unread[coid] = why
            else:  # a cancel whose answer a crash lost: journaled now, not when the order jobs next look
                await self._journal_change(coid, order)
            if order.is_open:
                working.append(order)
            elif order.status == "canceled":
                canceled.append(order)
        return tuple(working), tuple(canceled)

    async def _finish_move(self, job: Job, broker: Broker | None, planned: list[sqlite3.Row], decision: str) -> str:
        """Finish the move of a resumed breakeven whose signal expired; what the decision adds.

        Its stop sent before the restart works: the stops it moves are canceled, as they would have been. Not sent
        (or refused), it never will be, so those canceled before it (cancel first, where the venue holds the shares
        for them) are put back as they were: the bridge undoing its own step, whatever the signal's age.
        """
        row = _moving(planned)
        if row is None or broker is None:
            return ""
        moved, canceled = await self._moves_now(broker, planned)
        if row["status"] in ("pending", "rejected"):  # as read before `close_pending` closed it
            return await self._restore(job, broker, row, canceled) if canceled else ""
        if moved and row["status"] in (*OPEN_ORDER_STATUSES, "filled"):
            said = await self._retire(broker, moved, decision)
            return said or f"; its stop works, so {_described(moved)} it replaces was canceled after the restart"
        return ""

    def _stopped(self, job: Job, sub: Subscription) -> str | None:
        """Why the job's subscription may make no new plan: disabled, or removed by a reload; None when it may.

        Disabled since the signal was journaled: a delayed signal runs under the config in force at its time, a
        resumed one under the config it restarted with. A queued job keeps the settings it was queued with (its
        broker), but `enabled: false` in a reload meanwhile stops it too: that is how an operator stops a
        subscription trading, and a burst waiting behind a slow venue must not go on trading after it.

        Deleting the subscription's entry, or its whole strategy, says the same and stops it the same way. A
        reload that renamed it does not: the job trades where it was judged to. Both leave the key it was queued
        under missing from the config now; `identity.successor` tells them apart (an entry whose key is gone was
        moved when the reload brought a new one in its place on the same broker, in file order; an unnamed
        entry's `broker:` edited reads as removed). Moved, it is stopped when what it was moved to is disabled.
        """
        disabled = f"ignored: subscription {job.subscription} is not enabled (enabled: false)"
        if not sub.enabled:
            return disabled
        found = self._settings(job.strategy, job.subscription)
        if found is not None:  # its key is still there (it may name another broker now): its `enabled` decides
            return None if found[1].enabled else disabled
        before = job.target.strategy if job.target is not None else None
        if before is None or self._strategy is None:
            return None  # looked up in the config now (`_orphaned` when gone), or nothing to compare with
        after = self._strategy(job.strategy)
        if after is None:
            return f"ignored: a reload removed strategy {job.strategy} after this signal arrived; nothing was sent"
        became = successor(before, job.subscription, after)
        if became is None:
            return removed(job.strategy, job.subscription)
        key, settings = became
        if not settings.enabled:
            return (f"ignored: subscription {job.subscription}, moved by a reload to {key} (broker "
                    f"{settings.broker}), is not enabled (enabled: false)")  # fmt: skip
        return None

    def _moved(self, job: Job) -> tuple[str, Subscription] | None:
        """(key, settings) now of the job's subscription, whose key a reload left out: where it was moved, or None."""
        before = job.target.strategy if job.target is not None else None
        if before is None or self._strategy is None:
            return None
        return successor(before, job.subscription, self._strategy(job.strategy))

    def _live(self, job: Job, sub: Subscription) -> Subscription | None:
        """The job's subscription in the config in force now, when a reload changed it since the job was queued.

        Found by its key, else where a reload moved it (`_moved`): its limits as reloaded apply there too.
        """
        found = self._settings(job.strategy, job.subscription) or self._moved(job)
        return None if found is None or found[1] is sub else found[1]

    async def _unknown_first(self, broker: Broker, broker_name: str, symbol: str) -> str | None:
        """Look up the symbol's orders of unknown outcome at this broker first; why no entry may go yet, or None.

        An order whose answer was lost may be working or filled at the venue before the venue lists it, or the
        position it made: an entry planned beside it, on that position, could open it twice (a second buy while
        flat). Each is asked for by its client order id and the answer journaled; one the broker does not show
        yet holds the symbol's entries back until the order jobs find it, or close it as never sent once their
        wait is over. Exits still go, as the risk limits let them: they close what the broker shows.
        """
        for row in self.store.peek(journal.unknown_orders, broker_name):
            if not same_symbol(row["symbol"], symbol):
                continue
            coid = row["client_order_id"]
            try:
                order = self._masked(await retry_read(partial(answers.fetch_order, broker, coid)))
            except Exception as exc:  # not found, or no answer: what it did is still not known
                said = "the broker does not list it yet" if isinstance(exc, OrderNotFound) else answers.failure(exc)
                return self._clean(
                    f"the outcome of an earlier order in {symbol} is unknown ({coid}, {row['side']} {row['quantity']} "
                    f"at broker {broker_name}; {said}): it may have filled, so no entry goes beside it until the "
                    "order jobs find it"
                )
            if journaled := await self.store.run(journal.record_order_change, self.store.conn, coid, order):
                owner = self.store.peek(journal.order_owner, coid)
                if owner is not None:
                    self.emit(order_change(owner["strategy"], owner["subscription"], owner["broker"], journaled))
        return None

    async def _orphaned(self, job: Job, planned: list[sqlite3.Row]) -> tuple[str, str]:
        """End a job whose subscription the config no longer has; a resumed plan's unsent orders are closed.

        One that planned nothing is ignored, as under `enabled: false`: the subscription was deleted (while the
        daemon was down, or before a delayed signal's time), which is how an operator stops it, not a failure.
        Left `pending`, a resumed plan's orders would read as about to go (in /api/orders, to flatten_at, to a
        reload removing their broker) until the next start. Recovery asked the broker first: none of them is there.
        """
        gone = f"subscription {job.subscription} is no longer in the config"
        if not planned:
            return "ignored", f"ignored: {gone}; nothing was sent"
        sent = sum(1 for row in planned if row["status"] != "pending")
        await self._close_unsent(planned, f"not sent: {gone}")
        return "failed", f"failed: {gone}; the rest of its plan was not sent ({sent} order(s) had been sent)"

    async def _close_unsent(self, planned: list[sqlite3.Row], reason: str) -> None:
        """Close a resumed plan's pending orders with `reason`; of unknown outcome where their broker is gone.

        Start-up recovery asked a configured broker about them, and left pending only what it does not hold.
        A broker no longer in the config was not asked: a pending row may have gone out just before the stop.
        """
        was_at = planned[0]["broker"]
        if was_at in self._brokers():
            await self.store.run(journal.close_pending, self.store.conn, planned, reason)
            return
        unknown = f"may have reached {was_at} before the restart; {was_at} is no longer in the config to ask"
        await self.store.run(journal.close_pending, self.store.conn, planned, unknown, "unknown")

    async def _abandon(self, planned: list[sqlite3.Row], now_at: str) -> tuple[str, str]:
        """A plan committed for one broker whose subscription now names another: send none of the rest anywhere.

        Its orders belong to the account they were planned for; the new one never held that position.
        """
        was_at = planned[0]["broker"]
        await self._close_unsent(planned, f"not sent: the subscription's broker changed from {was_at} to {now_at} "
                                          "after the plan")  # fmt: skip
        return "failed", (f"failed: planned for broker {was_at}, but the subscription now names {now_at}; the rest "
                          f"of the plan was not sent anywhere (check what {was_at} holds)")  # fmt: skip

    async def _cancel(self, broker: Broker, client_order_ids: tuple[str, ...], seen: dict[str, Order],
                      decision: str, answered: dict[str, Order] | None = None) -> int:  # fmt: skip
        """Cancel these orders, journal the broker's answers (kept in `answered`), and say how many filled (in part)
        since `seen`.

        A cancel the broker took but has not done (Alpaca's `pending_cancel`) ends the execution: the order
        can still fill, so the position the plan was sized on is not known. The plan is not committed yet,
        so nothing of it was sent or needs closing; the order jobs follow the open order from the journal.
        """
        filled = 0
        for coid in client_order_ids:
            canceled = self._masked(await answers.cancel_order(broker, coid))
            if answered is not None:
                answered[coid] = canceled
            # Record the broker's answer, or /api/orders keeps showing the order as open; a change is news, as the
            # order jobs tell it: a fill found here (the market reached the order first) is a position held.
            if journaled := await self.store.run(journal.record_order_change, self.store.conn, coid, canceled):
                owner = self.store.peek(journal.order_owner, coid)
                if owner is not None:
                    self.emit(order_change(owner["strategy"], owner["subscription"], owner["broker"], journaled))
            if canceled.status not in FINAL_ORDER_STATUSES:
                raise Outcome("failed", f"{decision}; but the cancel of {coid} was not confirmed (the broker still "
                                        f"shows it {canceled.status}), so nothing else was sent; check what the "
                                        "broker holds once it is canceled or filled")  # fmt: skip
            before = seen.get(coid)
            earlier = before.filled_quantity if before is not None else Decimal(0)
            # "filled" counts even without a quantity: some venues leave it out of a cancel's answer.
            filled += canceled.status == "filled" or canceled.filled_quantity > earlier
        return filled

    def _plan_and_place(
        self,
        place: Callable[[OrderRequest], Order],
        name: str,
        job: Job,
        decision: str,
        rows: list[dict[str, Any]],
        started: str,
    ) -> tuple[list[sqlite3.Row], list[Placed], bool]:
        """For a broker whose book is in the journal: commit the plan and place its orders in one journal job.

        The orders can never be durable without their plan, so they need not wait for its COMMIT, nor for
        one of their own; placed first, each is written once, with the broker's answer. They go in turn
        while each answer lets the next one go, as `_run_orders` sends them; the first that needs more (a
        halt or a circuit not closed, an id the book already holds, an exit still working) is left as
        planned, and `_run_orders` goes on from there as for any broker. A refusal is final, as from any
        broker: never sent again. Any other error fails the whole job, plan included: nothing was booked,
        since the book is written in this very transaction. When every order filled at once, the execution
        is finished in it too (the third value says so, and the first, the plan's rows, is empty): one commit
        fewer for the signal, and nothing left for `_run_orders`.
        """
        conn = self.store.conn
        placed: list[Placed] = []
        answered: dict[str, tuple[Order, datetime]] = {}
        planned_at = utcnow()
        with transaction(conn):
            sequence = _in_turn(rows)  # `order_rows` fills every column a request is built from
            for index, (row, children) in enumerate(sequence):
                if self.guard is not None and not self.guard.admits_at_once(name, job.strategy):
                    break
                if row.get("replaces"):  # a replace is the adapter's `replace_order`, sent by `_run_orders`
                    break
                request = request_from_rows(row, children)
                try:
                    order = self._masked(place(request))
                except DuplicateClientOrderId:  # `_run_orders` adopts the order the book holds, as for any broker
                    break
                except OrderRejected as exc:  # refused before it wrote anything, or its savepoint was rolled back
                    order = _rejected(request, self._clean(str(exc)))
                answered[row["client_order_id"]] = (order, utcnow())
                placed.append((row, order))
                if order.status == "rejected" or _exit_working(row, order.status, index + 1 < len(sequence)):
                    break
            # Every order (none with bracket children) filled at once: `_run_orders` would find nothing to do.
            finished = len(placed) == len(rows) and all(order.status == "filled" for _row, order in placed)
            if finished:
                journal.write_finished_plan(conn, job.signal_id, job.subscription, decision, rows, started, answered,
                                            planned_at)  # fmt: skip
                planned = []
            else:
                planned = journal.write_plan(conn, job.signal_id, job.subscription, decision, rows, started, answered,
                                             planned_at)  # fmt: skip
        return planned, placed, finished

    def _decision(self, job: Job) -> str:
        row = self.store.conn.execute(
            "SELECT decision FROM executions WHERE signal_id = ? AND subscription = ?",
            (job.signal_id, job.subscription),
        ).fetchone()
        return str(row["decision"] or "") if row else ""

    async def _run_orders(self, job: Job, broker: Broker, sub: Subscription, planned: list[sqlite3.Row],
                          decision: str, replaced: bool = False, moved: tuple[Order, ...] = (),
                          in_place: Order | None = None,
                          canceled: tuple[Order, ...] = ()) -> tuple[str, str]:  # fmt: skip
        """Send a committed plan's orders in turn.

        `replaced`: its cancels took the stops a breakeven moves (`canceled`, as they were); `moved`: those
        stops, still working, are canceled once the breakeven stop works; `in_place`: the stop its breakeven
        replaces in one step.
        """
        # Stops put back after a breakeven failed (before a restart) are sent by `_restore` alone, once it fails again.
        moving = _moving(planned) is not None
        sequence = _in_turn([row for row in planned if not (moving and row["leg"] == "restore")])
        for index, (row, mine) in enumerate(sequence):
            rest = _rows(sequence[index + 1 :])
            try:
                await self._run_order(job, broker, sub, row, mine, rest, decision)
            except Outcome as outcome:  # the rest was closed with the reason it names
                swapped = row["replaces"]
                if row["leg"] == "breakeven" and not isinstance(outcome, Finished) and (replaced or moved or swapped):
                    # The trader must learn whether the position still has a stop, not only that an order failed:
                    # the old one went first (a cancel, then a new stop) where the venue holds the shares for it.
                    if swapped:
                        said = await self._swap_failed(broker, swapped, in_place)
                    else:
                        said = await self._restore(job, broker, row, canceled) if replaced else _kept(moved)
                    raise Outcome(outcome.state, outcome.decision + said) from outcome
                raise
            except Exception as exc:  # a broker read or a journal write failed: nothing after it may stay "maybe sent"
                await self._skip_rest(rest, f"not sent: following the {row['leg']} order failed ({type(exc).__name__})")
                raise
            if row["leg"] == "breakeven" and moved:
                decision += await self._retire(broker, moved, decision)
            if row["leg"] == "breakeven":
                decision += self._for_the_day(job, row)
            if row["leg"] == "entry":
                _warn_day_legs(job, row, planned)
        return "executed", decision

    def _for_the_day(self, job: Job, row: sqlite3.Row) -> str:
        """What the decision adds of a breakeven stop that works for the day only: that it expires at the close.

        Its own time in force, or where it took a bracket leg's place in one step, the leg's (a leg's replace changes
        its prices only), also through breakevens that moved it before: a second breakeven in a day bracket took the
        gtc it asked for and said nothing. A fractional stop is a day order at Alpaca: no stop overnight.
        """
        tif = self._kept_time_in_force(row["replaces"], row["time_in_force"])
        if tif != "day":
            return ""
        log.warning("breakeven stop %s for %s %s (signal %s) is a day order: it expires at the close, and the position "
                    "then has no stop until one is placed again", row["client_order_id"], row["quantity"],
                    row["symbol"], job.signal_id)  # fmt: skip
        why = " (the broker takes a fractional stop for the day only)" if Decimal(row["quantity"]) % 1 else ""
        return (
            f"; the stop is a day order{why}: it expires at the close, leaving the position without a stop "
            "overnight; send the breakeven again after the open"
        )

    def _kept_time_in_force(self, replaces: str | None, asked: str) -> str:
        """The time in force a stop replacing `replaces` in one step works in: a bracket leg's (a leg's replace changes
        its prices only, "Orders at Alpaca"), also through breakevens that moved it before; else `asked`."""
        seen = replaces
        for _ in range(MOVES_FOLLOWED):
            old = self.store.peek(journal.order_owner, seen) if seen else None
            if old is None:
                break
            if old["leg"] in ("take_profit", "stop_loss"):
                return str(old["time_in_force"] or asked)
            seen = old["replaces"] if old["leg"] == "breakeven" else None  # it moved a breakeven that moved one
        return asked

    async def _restore(self, job: Job, broker: Broker, row: sqlite3.Row, canceled: tuple[Order, ...]) -> str:
        """Put back the stops a breakeven canceled first, its own stop not working; what the decision adds.

        Only where the venue holds the shares for a working stop (the cancel went first for that): should the
        breakeven stop be working after all (its outcome unknown), the venue refuses the stop put back, so the
        position never holds two. Each goes as a new reduce-only order in the journal, followed as any other.
        """
        put = await self._put_back_moved(job, broker, row, canceled)
        lacking, spared = put.lacking(canceled), _spared(put)
        if not put.back:  # none works again: the position has no stop, unless it has nothing left to protect
            if not lacking:
                return "; the stop it replaces was canceled first" + spared
            return UNPROTECTED + (RETRIED if put.unsent else "") + spared
        works = f"{_described(put.back)} {_it(put.back, 'work', 'works')} again{_capped(put)}"
        again = f"put back as a new order: {works} ({', '.join(put.working)}){_despite(put.passed, broker)}"
        if not lacking:
            return f"; the stop it replaces was canceled first, and was {again}{spared}"
        return (f"; the stops it replaces were canceled first, and not all put back: {again}, but "
                f"{_described(lacking)} could not be put back: the position lacks {_it(lacking, 'them')} at the "
                f"broker; check its orders there, and place what it lacks{RETRIED if put.unsent else ''}"
                f"{spared}")  # fmt: skip

    async def _as_they_were(self, job: Job, broker: Broker, planned: list[sqlite3.Row], row: sqlite3.Row,
                            known: Mapping[str, Order], taken: Container[str] = ()) -> str:  # fmt: skip
        """Put back the stops a breakeven that will not send its stop canceled first; what it says of them all.

        `known`: those stops as this execution last saw them (listed, or its cancel's answer), for one the broker
        cannot show now. `taken`: the stops whose cancel the venue took and had not done when it answered; read as
        working, they may yet be canceled, so they are not said to keep working; nor are those not read now.
        """
        unread: dict[str, str] = {}
        moved, canceled = await self._moves_now(broker, planned, known, unread)
        going = [o for o in moved if o.client_order_id in taken]
        doubt = [o for o in moved if o.client_order_id in unread and o.client_order_id not in taken]
        none = "" if doubt else "; nothing was canceled"
        said = await self._restored(job, broker, row, canceled) if canceled else none
        if moved := tuple(o for o in moved if o.client_order_id not in taken and o.client_order_id not in unread):
            said += f"; {_described(moved)} {'keeps' if len(moved) == 1 else 'keep'} working"
        if doubt:
            why = "; ".join(dict.fromkeys(unread[o.client_order_id] for o in doubt))
            said += (f"; {_described(doubt)} could not be read ({why}), so {_it(doubt, 'they', 'it')} may have been "
                     f"canceled, leaving the position without {_it(doubt, 'them')}: check {_it(doubt, 'them')} at "
                     f"the broker, and place a stop if {_it(doubt, 'they are', 'it is')} gone")  # fmt: skip
        if going:
            said += (f"; {_described(going)}, whose cancel the broker took but had not done, may yet be canceled, "
                     f"leaving the position without {_it(going, 'them')}: check {_it(going, 'them')} at the broker, "
                     f"and place a stop once {_it(going, 'they go', 'it goes')}")  # fmt: skip
        return said

    async def _restored(self, job: Job, broker: Broker, row: sqlite3.Row, canceled: tuple[Order, ...]) -> str:
        """Put back the stops a breakeven moves that were canceled, its own stop not to be sent; what is said."""
        put = await self._put_back_moved(job, broker, row, canceled)
        said = ""
        if put.back:
            said += (
                f"; {_described(put.back)}, canceled before it, {_it(put.back, 'were', 'was')} put back as "
                f"{_it(put.back, 'new orders', 'a new order')}{_capped(put)} ({', '.join(put.working)})"
                f"{_despite(put.passed, broker)}"
            )
        if lacking := put.lacking(canceled):
            said += (f"; {_described(lacking)} {_it(lacking, 'were', 'was')} canceled before it, and could not be put "
                     f"back: the position lacks {_it(lacking, 'them')} at the broker; check its orders there, and "
                     f"place what it lacks{RETRIED if put.unsent else ''}")  # fmt: skip
        return said + _spared(put)

    async def _put_back_moved(self, job: Job, broker: Broker, row: sqlite3.Row,
                              canceled: tuple[Order, ...]) -> PutBack:  # fmt: skip
        """Send again, each as a new reduce-only order, the stops a breakeven moves that were canceled: for no more
        than the position the breakeven was sized on (its own quantity), nor than the position held now on the side
        each closes, none where nothing is left there (`PutBack.spared`).

        Reduce-only is not enforced everywhere (Alpaca's equities): a sell stop sent for an account the take-profit
        just sold out of is taken as a short sale, which it opens once it triggers. Where the position cannot be
        read, each goes for the breakeven's quantity, as a stop the position likely still needs.
        """
        held = await self._held_now(broker, row["symbol"])
        room = None if held is None else {"sell": max(held, Decimal(0)), "buy": max(-held, Decimal(0))}
        # Journaled before a restart (and maybe sent: recovery asked the broker since), they are never added twice,
        # nor sent again: the plan resumed puts back only what is still pending.
        journaled = await self.store.run(journal.planned_orders, self.store.conn, row["signal_id"], row["subscription"])
        known = {r["client_order_id"]: r for r in journaled}
        back: list[Order] = []
        spared: list[Order] = []
        rows: list[dict[str, Any]] = []
        capped: dict[str, tuple[Decimal, Decimal]] = {}
        for old in (old for old in canceled if _restorable(old)):
            left = min(old.quantity - old.filled_quantity, Decimal(row["quantity"]))
            sent = known.get(restore_id(row, old.client_order_id))
            if sent is not None and sent["status"] != "pending":  # at the broker since before a restart: as it is
                left = Decimal(sent["quantity"])
            elif room is not None and left > room[old.side]:
                capped[old.client_order_id] = (left, room[old.side])
                left = room[old.side]
            if room is not None:
                room[old.side] -= min(left, room[old.side])
            if left <= 0:
                spared.append(old)
                continue
            back.append(replace(old, quantity=left, filled_quantity=Decimal(0)))
            # In its own time in force, as a leg put back goes: a fractional stop is a day order at Alpaca, and sent
            # gtc it was refused, the position left with no stop.
            rows.append(restore_row(row, back[-1], len(rows), self._time_in_force(old)))
        if gone := [known[coid] for old in spared if (coid := restore_id(row, old.client_order_id)) in known]:
            await self._skip_rest(gone, "not sent: no position is left for it to close")
        if not back:
            return PutBack(spared=spared, held=held)
        # One journaled before a restart and not sent goes for the quantity worked out now (the position may have
        # shrunk since), its row with it: sent as journaled, it could sell more than is held, short where the venue
        # does not enforce reduce-only.
        if resized := {
            r["client_order_id"]: r["quantity"]
            for r in rows
            if (k := known.get(r["client_order_id"])) is not None
            and k["status"] == "pending"
            and Decimal(k["quantity"]) != Decimal(r["quantity"])
        }:
            await self.store.run(journal.resize_pending, self.store.conn, resized)
            journaled = await self.store.run(journal.planned_orders, self.store.conn, row["signal_id"],
                                             row["subscription"])  # fmt: skip
            known = {r["client_order_id"]: r for r in journaled}
        added = await self.store.run(journal.add_orders, self.store.conn,
                                     [r for r in rows if r["client_order_id"] not in known])  # fmt: skip
        journaled_back = [known[r["client_order_id"]] for r in rows if r["client_order_id"] in known]
        unsent: list[str] = []
        working, passed = await self._send_pending(job, broker, journaled_back + added, unsent)
        again = [
            (old, r["client_order_id"]) for old, r in zip(back, rows, strict=True) if r["client_order_id"] in working
        ]
        went = {old.client_order_id for old, _ in again}
        return PutBack([old for old, _ in again], [coid for _, coid in again], passed, spared, bool(unsent), held,
                       {coid: cap for coid, cap in capped.items() if coid in went})  # fmt: skip

    async def put_back_again(self, row: sqlite3.Row, broker: Broker) -> tuple[str, str]:
        """Try once more a stop put back that never reached the broker (`upkeep.failed_put_backs`): its outcome, and
        what is said of it.

        `placed` (working, or found at the venue after all, never sent twice), `spared` (nothing left on its side to
        close, or the stops working there cover it: sent, it could open the other side; or the position it was for
        closed since, by an exit or found flat: what is held now was opened since, and its stop is the trader's),
        `refused` (the venue's word, final as any order's), `held` (not sent: the venue holds the shares for a working
        closing order there, a take-profit, and would refuse it: tried later), `failed` (not sent again: tried
        later) or `unknown` (its
        answer lost: the order jobs follow it, and close it as never sent once their wait is over, when it is tried
        again). Sent for no more than the position held now, as a put-back goes, through a halt and the broker's
        open circuit.
        """
        coid, symbol = row["client_order_id"], row["symbol"]
        try:
            found: Order | None = self._masked(await retry_read(partial(answers.fetch_order, broker, coid)))
        except OrderNotFound:
            found = None
        except Exception as exc:  # the venue still down, most likely: nothing is sent blind
            return "failed", f"the broker could not be asked for it ({self._clean(answers.failure(exc))})"
        if found is not None:  # it reached the venue after all: followed as it stands
            await self.store.run(journal.update_order, self.store.conn, coid, found)
            ended = found.status in ("canceled", "rejected")
            said = f"it had reached the broker after all: {coid} is {found.status} there"
            return ("refused" if ended else "placed"), said
        if row["closed_by"]:  # a stop working then would have been canceled with it: what is held now is newer
            why = f"the position it was for was closed since ({_closed_by(row['closed_by'])})"
            await self.store.run(journal.update_order, self.store.conn, coid, status="canceled",
                                 error=f"not sent again: {why}")  # fmt: skip
            return "spared", f"it was not put back: {why}"
        try:
            held, working = await _position_and_orders(broker, symbol)
        except Exception as exc:
            return "failed", f"the position could not be read ({self._clean(answers.failure(exc))})"
        position = held.quantity if held is not None else Decimal(0)
        # Where the venue holds the shares for a working closing order (Alpaca), a take-profit there leaves the stop
        # none: sent, it is refused ("insufficient qty available"), and that refusal would be taken as final. As a
        # breakeven is rejected before anything goes while one works (`resolve._reserved_beside`), it is not sent,
        # and tried again once the shares are free (`held`), the position still lacking its stop.
        room, covered, holders = _stop_room(position, working, row["side"], symbol, _reserves(broker))
        held_for = sum((o.quantity - o.filled_quantity for o in holders), Decimal(0))
        wanted = Decimal(row["quantity"])
        if room - covered > 0 and room - covered - held_for <= 0:
            return "held", f"not put back yet: {_held_by(holders)}"
        left = min(wanted, room - covered - held_for)
        if left <= 0:
            why = ("no position is left for it to close" if room == 0 else
                   f"the stops working there cover the position ({describe_position(position)})")  # fmt: skip
            await self.store.run(journal.update_order, self.store.conn, coid, status="canceled",
                                 error=f"not sent again: {why}")  # fmt: skip
            return "spared", f"it was not put back: {why}"
        fresh = await self.store.run(journal.pending_again, self.store.conn, coid, str(left))
        if fresh is None:  # no longer as read (never: its tries are queued one at a time, in its symbol's turn)
            return "spared", "it was no longer to be sent"
        strategy = row["strategy"]
        job = Job(row["signal_id"], strategy, row["subscription"], Signal(ticker=symbol, action="breakeven"), utcnow())
        passed: list[str] = []
        try:
            order = await self._submit(job, broker, fresh, [], passed)
        except Outcome as outcome:
            return "unknown", outcome.decision
        except Exception as exc:  # past `_submit`'s own handling (an adapter's answer it could not journal, a bug)
            return await self._put_back_in_doubt(row, exc)
        self.emit(order_event(strategy, row["subscription"], row["broker"], symbol, order.side, str(order.quantity),
                              order.status, None, order.error, None))  # fmt: skip
        if order.status == "rejected":
            unsent = (order.error or "").startswith("not sent")
            return ("failed" if unsent else "refused"), order.error or "rejected"
        what = _described([replace(order, parent_client_order_id=None)])
        if left == wanted:
            return "placed", f"{what} was put back as a new order ({coid}){_despite(passed, broker)}"
        # Said, lest the stop be taken for the one it was.
        holding = f", {fmt(held_for)} of it held for working orders there" if held_for else ""
        return "placed", (f"{what} was put back for {fmt(left)} of {fmt(wanted)} as a new order ({coid}): the "
                          f"position holds {fmt(abs(position))}{holding}{_despite(passed, broker)}")  # fmt: skip

    async def _put_back_in_doubt(self, row: sqlite3.Row, exc: Exception) -> tuple[str, str]:
        """A put-back tried again whose send raised past `_submit`: of unknown outcome from now on; what is said of it.

        Left `pending`, it was neither tried again nor followed (nor counted in /health) until a restart. It may
        have reached the venue (the answer came back, and what raised was its journaling), so it is not sent blind:
        the order jobs look it up, follow it if found, and close it as never sent once their wait is over, when it
        is tried again (`upkeep.failed_put_backs`).
        """
        coid = row["client_order_id"]
        error = self._clean(f"outcome unknown: {answers.failure(exc)}")
        log.error("stop %s (%s %s), put back after breakeven %s failed, raised when sent again: %s; it is looked up "
                  "at the broker, and sent again only once not found there", coid, row["side"], row["symbol"],
                  row["signal_id"], error, exc_info=exc)  # fmt: skip
        await self.store.run(journal.update_order, self.store.conn, coid, status="unknown", error=error,
                             sent_at=utcnow())  # fmt: skip
        return "unknown", f"its outcome is unknown ({error}): looked up at the broker, it is sent again if not there"

    async def _held_now(self, broker: Broker, symbol: str) -> Decimal | None:
        """The position in `symbol` as the broker shows it now (0: none held), or None when it cannot be read."""
        try:
            held = await retry_read(partial(_position, broker, symbol))
        except Exception as exc:  # an adapter's bug too: the stops go back as before this read was made
            log.warning("the position in %s could not be read before stops were put back, so each is put back for "
                        "the breakeven's quantity (%s)", symbol, self._clean(answers.failure(exc)))  # fmt: skip
            return None
        return held.quantity if held is not None else Decimal(0)

    def _time_in_force(self, old: Order) -> str:
        """The time in force the journal gave an order; gtc for one it does not know (placed by hand)."""
        owner = self.store.peek(journal.order_owner, old.client_order_id)
        return str(owner["time_in_force"]) if owner is not None and owner["time_in_force"] else "gtc"

    async def _put_back(self, job: Job, broker: Broker, broker_name: str, symbol: str, went: list[Order],
                        seen: dict[str, Order], position: Decimal, decision: str,
                        started: str) -> tuple[str, str]:  # fmt: skip
        """Journal the bracket legs a cancel of their sibling may have taken, and put back those it did; the outcome.

        A bracket's legs cancel together at some venues (Alpaca's): a cancel of its stop-loss alone takes its
        take-profit, and one of its take-profit the stop-loss, leaving the position without the order the signal
        did not ask to cancel. Each is asked for; one canceled unfilled goes back as a new reduce-only order (as a
        failed breakeven's stop does), for what is left of it and of the position. One filled is no position to
        protect (the other leg went with its fill), and one working is the venue's to keep.
        """
        gone: list[Order] = []
        unread: list[str] = []
        for old in went:
            coid = old.client_order_id
            try:
                now = self._masked(await retry_read(partial(answers.fetch_order, broker, coid)))
            except Exception as exc:  # not read: the trader checks it
                unread.append(f"{_described([old])} ({answers.failure(exc)})")
                continue
            if journaled := await self.store.run(journal.record_order_change, self.store.conn, coid, now):
                owner = self.store.peek(journal.order_owner, coid)
                if owner is not None:
                    self.emit(order_change(owner["strategy"], owner["subscription"], owner["broker"], journaled))
            if now.status == "canceled" and now.filled_quantity <= old.filled_quantity:
                gone.append(replace(now, parent_client_order_id=old.parent_client_order_id))
        lacks = "" if not unread else (f"; {' and '.join(unread)} may have been canceled with it (a bracket's legs "
                                       "cancel together at some brokers, Alpaca's included), and could not be read: "
                                       "check it at the broker")  # fmt: skip
        if not gone:
            return ("failed" if lacks else "executed"), decision + lacks
        return await self._put_back_gone(job, broker, broker_name, symbol, gone, seen, position, decision, started,
                                         lacks)  # fmt: skip

    async def _put_back_gone(self, job: Job, broker: Broker, broker_name: str, symbol: str, gone: list[Order],
                             seen: dict[str, Order], position: Decimal, decision: str, started: str,
                             lacks: str) -> tuple[str, str]:  # fmt: skip
        """Send again the legs canceled with their sibling, each for no more than the position: the outcome, and the
        decision that says what works again and what the position lacks (`lacks`: the legs that could not be read).

        Only the legs of a held position's bracket, on its closing side: those of an entry still working protect
        nothing yet, and sent alone they would open a position of their own.
        """
        closing = "sell" if position > 0 else "buy"
        entries = {o.client_order_id for o in seen.values() if o.is_open}
        held = [old for old in gone if position != 0 and old.side == closing and old.parent_client_order_id
                not in entries]  # fmt: skip
        base = {"signal_id": job.signal_id, "subscription": job.subscription, "broker": broker_name, "symbol": symbol,
                "seq": -1}  # fmt: skip
        rows = []
        # Stops first: where the venue holds the shares for each working closing order, the leg put back first holds
        # them, and a stop sent after a take-profit put back beside it was refused, the position left with no stop.
        restorable = sorted((old for old in held if _restorable(old)), key=lambda old: old.type not in STOPS)
        # Where the venue holds the shares for working closing orders, one placed since the cancel (a take-profit)
        # leaves a stop fewer: it goes for those left free, or waits for them as a put-back tried again does
        # (`put_back_again`), never sent to be refused ("insufficient qty available") and given up for good.
        read = await self._free_for_stops(broker, symbol, closing) if any(o.type in STOPS for o in restorable) else None
        free, room = (None, None) if read is None else ((read[0], read[1]), read[2])
        waits: dict[str, str] = {}  # client order id: why it is not sent now (journaled so, tried again later)
        capped: list[tuple[Order, Decimal, Decimal]] = []  # a leg put back for less: it, and what it went for of what
        crowded: list[Order] = []  # take-profits the stops put back (and the orders working there) leave no shares
        spared: list[Order] = []  # stops the position read now leaves nothing to close
        for index, old in enumerate(restorable):
            owner = self.store.peek(journal.order_owner, old.client_order_id)
            wanted = left = min(old.quantity - old.filled_quantity, abs(position))
            if room is not None and old.type in STOPS:
                # For no more than is held now (sold since the position was read, by hand say): Alpaca's equities
                # have no reduce-only, and take a sell stop for an account holding none as a short sale.
                if room <= 0:
                    spared.append(old)
                    continue
                wanted = left = min(left, room)
                room -= left
            if free is not None and (free[1] or old.type not in STOPS):  # a take-profit: what the stops left free
                left = min(left, max(free[0], Decimal(0)))
            if free is not None:
                free = (free[0] - left, free[1])
            if not left and old.type not in STOPS:  # refused if sent; not sent later either (`upkeep`): the trader's
                crowded.append(old)
                continue
            sized = replace(old, quantity=left or wanted, filled_quantity=Decimal(0))
            rows.append(restore_row(base, sized, index, owner["time_in_force"] if owner is not None else "gtc"))
            if free is not None and not left:
                waits[rows[-1]["client_order_id"]] = f"{_described([old])} was not put back yet: {_held_by(free[1])}"
            elif left < wanted:
                capped.append((old, left, wanted))
        decision += f"; the broker canceled {_described(gone)} with it (a bracket's legs cancel together there)"
        if spared:
            decision += (f"; {_described(spared)} {_it(spared, 'were', 'was')} not put back: no position is left for "
                         f"{_it(spared, 'them')} to close (flat at the broker now)")  # fmt: skip
        if bare := [old for old in held if old not in restorable]:  # a trailing stop, say: not sent again as it was
            lacks = (f"; {_described(bare)} could not be put back as {_it(bare, 'they were', 'it was')}: the "
                     f"position lacks {_it(bare, 'them')} at the broker; check its orders there, and place what it "
                     f"lacks{lacks}")  # fmt: skip
        if waiting := [old for old in gone if old not in held]:  # an entry's legs: the position it opens lacks them
            lacks = (f"; {_described(waiting)} {_it(waiting, 'were', 'was')} not put back, as its entry still works: "
                     f"the position that entry opens lacks {_it(waiting, 'them')}; cancel the entry, or place "
                     f"{_it(waiting, 'them')} once it fills{lacks}")  # fmt: skip
        # Journaled as the plan, with what it is for and what it cannot give back: a restart before they are sent
        # resumes it (`_put_back_again`), and it ends as it would have without the restart.
        if crowded:
            lacks = (f"; {_described(crowded)} {_it(crowded, 'were', 'was')} not put back: the broker holds the "
                     "shares for the stops put back and the orders working there, and refuses a take-profit beside "
                     f"them (the stop goes first: it protects the position); the position lacks "
                     f"{_it(crowded, 'them')} there: place {_it(crowded, 'them')} with the stop as one order (OCO) if "
                     f"wanted{lacks}")  # fmt: skip
        if waits:  # said last, with what the position lacks: it fails until the stop works (`jobs.putbacks`)
            lacks = "; " + "; ".join(waits.values()) + RETRIED + lacks
        # A stop that waits is journaled not sent with the plan, in one commit: pending in a plan resumed after a
        # crash, it was sent, to be refused for good. Never sent now: the order jobs send it once the shares are free.
        unsent = {coid: self._clean(f"not sent: {why}") for coid, why in waits.items()}
        planned = await self.store.run(journal.save_plan, self.store.conn, job.signal_id, job.subscription, decision,
                                       rows, started, lacks=lacks or None, unsent=unsent)  # fmt: skip
        state, said = await self._send_back(job, broker, planned, decision, lacks)
        for old, left, wanted in capped:
            said += (f"; {_described([old])} was put back for {fmt(left)} of {fmt(wanted)}: the broker holds the rest "
                     "for working orders there")  # fmt: skip
        return state, said

    async def _free_for_stops(self, broker: Broker, symbol: str,
                              side: str) -> tuple[Decimal, list[Order], Decimal] | None:  # fmt: skip
        """The shares a leg put back on `side` finds free where the venue holds them for working closing orders, the
        orders other than stops holding them (`_stop_room`; none, where only stops do), and the position it may close
        now; None elsewhere, or when not read (it is sent as before)."""
        if not _reserves(broker):
            return None
        try:
            held, working = await _position_and_orders(broker, symbol)
        except Exception as exc:  # an adapter's bug too: sent as it was, Alpaca's answer final as any order's
            log.warning("the position and orders in %s could not be read before a leg was put back, so it is put back "
                        "as it was (%s)", symbol, self._clean(answers.failure(exc)))  # fmt: skip
            return None
        room, covered, holders = _stop_room(held.quantity if held is not None else Decimal(0), working, side, symbol,
                                            True)  # fmt: skip
        held_for = sum((o.quantity - o.filled_quantity for o in holders), Decimal(0))
        return room - covered - held_for, holders, room

    async def _put_back_again(self, job: Job, broker: Broker, planned: list[sqlite3.Row],
                              decision: str) -> tuple[str, str]:  # fmt: skip
        """Resume a cancel's plan that puts back the legs the venue canceled with it: its outcome."""
        lacks = await self.store.read(journal.lacks_of, self.store.conn, job.signal_id, job.subscription)
        return await self._send_back(job, broker, planned, decision, lacks)

    async def _send_back(self, job: Job, broker: Broker, planned: list[sqlite3.Row], decision: str,
                         lacks: str) -> tuple[str, str]:  # fmt: skip
        """Send the journaled legs put back still pending: the outcome, and the decision that says what works again
        and what the position lacks (`lacks`: what no put-back gives back, said last); it fails if anything is."""
        unsent: list[str] = []
        working, passed = await self._send_pending(job, broker, planned, unsent)
        if len(working) < len(planned):
            return "failed", _lacks(decision) + (RETRIED if unsent else "") + lacks
        said = decision
        if planned:
            said += f", so it was put back as a new order ({', '.join(working)}){_despite(passed, broker)}"
        return ("failed" if lacks else "executed"), said + lacks

    async def _send_pending(self, job: Job, broker: Broker, rows: list[sqlite3.Row],
                            unsent: list[str] | None = None) -> tuple[list[str], list[str]]:  # fmt: skip
        """Send the orders put back (journaled, `restore`) that are still pending; the client order ids working, and
        what held every other order back that those sent now and working went through (`Guard.passed_by`). Told
        `unsent`, the stops among them that did not reach the broker, which the order jobs send again (not a
        take-profit: `upkeep.failed_put_backs` says why).

        One sent before a restart was read by recovery since: it counts as it stands, and is never sent again.
        """
        working: list[str] = []
        passed: list[str] = []
        for row in rows:
            if row["status"] != "pending":
                if row["status"] in OPEN_ORDER_STATUSES:
                    working.append(row["client_order_id"])
                continue
            went: list[str] = []
            try:
                order = await self._submit(job, broker, row, [], went)
            except Outcome:  # its outcome is unknown and it is not found: it is followed, but cannot be counted on
                continue
            self.emit(_order_event(job, row, order))
            if order.is_open:
                working.append(order.client_order_id)
                passed += [why for why in went if why not in passed]
            elif unsent is not None and _protective(row) and (order.error or "").startswith(upkeep.UNSENT):
                unsent.append(order.client_order_id)
        return working, passed

    async def _swap_failed(self, broker: Broker, coid: str, old: Order | None) -> str:
        """What a breakeven whose replace did not go through says of the stop it was to replace, as the broker has it.

        A refused replace leaves the old order as it was, but that order may have ended meanwhile (filled, or
        canceled by hand or with an order it was tied to): the trader learns when the position may be bare.
        """
        try:
            now = self._masked(await retry_read(partial(answers.fetch_order, broker, coid)))
        except Exception:  # not read: what a replace promises is all that is known
            return _swapped(old, coid)
        what = _described([now if old is None else old])
        if now.is_open:
            return f"; nothing was canceled: {what} keeps working, so the position keeps a stop"
        return (f"; {what} it was to replace is {now.status} at the broker ({now.error or 'not replaced by it'}): "
                "check that the position still has a stop, then send the breakeven again or place one")  # fmt: skip

    async def _follow_replaced(self, broker: Broker, coid: str) -> None:
        """Journal what became of the order a replace took the place of: over (`canceled`, replaced), so the journal
        and the order jobs follow its replacement alone; a read that fails leaves it to the order jobs."""
        try:
            order = self._masked(await retry_read(partial(answers.fetch_order, broker, coid)))
        except Exception as exc:  # the replacement is journaled and followed all the same
            log.warning("order %s: replaced, but not read back (%s)", coid, self._clean(answers.failure(exc)))
            return
        await self._journal_change(coid, order)

    async def _journal_change(self, coid: str, order: Order) -> None:
        """Journal what the broker shows of an order of any plan, and tell its change (a fill is news)."""
        if journaled := await self.store.run(journal.record_order_change, self.store.conn, coid, order):
            owner = self.store.peek(journal.order_owner, coid)
            if owner is not None:
                self.emit(order_change(owner["strategy"], owner["subscription"], owner["broker"], journaled))

    async def _retire(self, broker: Broker, moved: tuple[Order, ...], decision: str) -> str:
        """Cancel the stops a breakeven moved, once its own stop works; what the decision adds to say how it went.

        Not done, both stops work (an exit filled twice is what `reduce_only` keeps from opening the other side):
        the execution fails, saying which stop is left to cancel. Not by a cancel signal of type stop: that one
        cancels the breakeven stop too. The order jobs try again (`finish_moves`), and so does the breakeven sent
        again, which moves both stops to one.
        """
        try:
            filled = await self._cancel(broker, tuple(o.client_order_id for o in moved),
                                        {o.client_order_id: o for o in moved}, decision)  # fmt: skip
        except Exception as exc:  # a cancel refused, unanswered or still pending at the venue
            why = exc.decision.rsplit("; but ", 1)[-1] if isinstance(exc, Outcome) else answers.failure(exc)
            ids = ", ".join(o.client_order_id for o in moved)
            raise Outcome("failed", f"{decision}; the breakeven stop works, but {_described(moved)} it replaces "
                                    f"could not be canceled ({why}): both work until it is; the order jobs try "
                                    "its cancel again, or send the breakeven again (it moves both to one stop), or "
                                    f"cancel {ids} at the broker (not by a cancel signal of type stop, which "
                                    "cancels the breakeven stop too)") from exc  # fmt: skip
        return "; but the stop it replaces filled before its cancel: check the position" if filled else ""

    async def _run_order(self, job: Job, broker: Broker, sub: Subscription, row: sqlite3.Row,
                         mine: list[sqlite3.Row], rest: list[sqlite3.Row], decision: str) -> None:  # fmt: skip
        """Send one order of a plan (unless it was already) and see it through; an Outcome stops the `rest`."""
        if row["status"] == "unknown" and row["unfollowed"]:  # recovery left it to the account it may have reached
            await self._skip_rest(rest, "not sent: an earlier order's outcome is unknown")
            raise Outcome("failed", f"{decision}; but the {row['leg']} order is not at the account broker "
                                    f"{row['broker']} opens now (edited while the daemon was down): it may have "
                                    f"reached the account {row['broker']} named before, where the bridge no longer "
                                    "follows it, so nothing after it was sent; check there")  # fmt: skip
        if row["status"] == "unknown":  # resumed, its outcome still open: recovery left it to the order jobs
            await self._skip_rest(rest, "not sent: an earlier order's outcome is unknown")
            # Its broker by name, and recovery's reason (that broker edited while down, say): where to look.
            why = row["error"] or "it does not list it yet"
            raise Outcome("failed", f"{decision}; but the {row['leg']} order's outcome is unknown at broker "
                                    f"{row['broker']} ({why}), so nothing after it was sent; it is followed until "
                                    "it is listed")  # fmt: skip
        try:
            order = await self._submit(job, broker, row, mine) if row["status"] == "pending" else None
        except Outcome:  # its outcome is unknown: nothing after it goes, and nothing after it stays "maybe sent"
            # Its bracket children went with it: their outcome is its own, for the order jobs to follow.
            await self._skip_rest(mine, "sent with its parent order, whose outcome is unknown", "unknown")
            await self._skip_rest(rest, "not sent: an earlier order's outcome is unknown")
            raise
        if order is not None:
            self.emit(_order_event(job, row, order))
        status = order.status if order else row["status"]
        if row["replaces"] and status != "rejected":
            await self._follow_replaced(broker, row["replaces"])
        if mine and status != "rejected":  # bracket children are placed by the broker with their parent
            await self._refresh(broker, mine)
        if status == "rejected":
            error = order.error if order else row["error"]
            # Its bracket children were refused with it (the broker does not hold them): none stays pending.
            await self._skip_rest(mine, "rejected with its parent order", "rejected")
            await self._skip_rest(rest, "not sent: an earlier order was rejected")
            # "not sent...": the bridge held it back (a halt, an open circuit) or the venue could not be reached.
            said = f"was {error}" if (error or "").startswith("not sent") else f"was rejected by the broker: {error}"
            raise Outcome("failed", f"{decision}; but the {row['leg']} {said}")
        if status == "canceled":  # ended unfilled on arrival (immediate-or-cancel, fill-or-kill): it did not trade
            filled = order.filled_quantity if order else Decimal(row["filled_quantity"] or 0)
            await self._ended(row, status, filled, rest, decision)
        if not _exit_working(row, status, bool(rest)):
            if _settling(row, status, bool(rest)):  # the next signal in this symbol's queue plans on its fill
                await self._settle(job, row, broker, min(sub.exit_fill_timeout, MARKET_SETTLE_SECONDS))
            return
        seen = await self._wait_for_fill(job, row, broker, sub.exit_fill_timeout)
        if seen.status in ("canceled", "rejected"):  # ended at the broker while waited for: not a timeout
            await self._ended(row, seen.status, seen.filled_quantity, rest, decision)
        if seen.status != "filled":
            await self._skip_rest(rest, "not sent: the exit did not fill in time")
            raise Outcome("failed", f"{decision}; but the exit did not fill within {sub.exit_fill_timeout:g}s, "
                                    "so no entry was sent")  # fmt: skip

    async def _ended(self, row: sqlite3.Row, status: str, filled: Decimal, rest: list[sqlite3.Row],
                     decision: str) -> NoReturn:  # fmt: skip
        """Fail the execution of an order the broker ended without filling it in full; nothing after it is sent.

        The plan's decision says what was to be done ("sold 5"): left alone, a signal whose exit was canceled
        unfilled would read as executed, sold, while the position is still held.
        """
        quantity = Decimal(row["quantity"])
        got = "nothing filled" if filled == 0 else f"{fmt(filled)} of {fmt(quantity)} filled"
        tif = f" (time in force {row['time_in_force']})" if row["time_in_force"] in ("ioc", "fok") else ""
        leg = row["leg"]
        await self._skip_rest(rest, f"not sent: the {leg} was {status} with {got}")
        after = ", so no entry was sent" if leg == "exit" and rest else ", so nothing after it was sent" if rest else ""
        raise Outcome("failed", f"{decision}; but the {leg} was {status} with {got}{tif}{after}")

    async def _settle(self, job: Job, row: sqlite3.Row, broker: Broker, timeout: float) -> None:
        """Give the plan's last market order `timeout` to fill; a read that fails ends the wait, not the execution.

        The venue took the order: waiting only lets the symbol's next signal see its fill. Failing the execution
        for a lookup would report a trade that goes through as failed (and invite sending it again); the order
        jobs follow the order from here as they do every other.
        """
        try:
            await self._wait_for_fill(job, row, broker, timeout)
        except (BrokerError, OSError) as exc:
            log.warning("order %s: its fill could not be read (%s); the next signal in %s is planned without it",
                        row["client_order_id"], self._clean(repr(exc)), row["symbol"])  # fmt: skip

    async def _refresh(self, broker: Broker, rows: list[sqlite3.Row]) -> None:
        """Record what the broker holds of a placed order's bracket children; those it cannot show now are followed."""
        for row in rows:
            coid = row["client_order_id"]
            try:
                order = await retry_read(partial(answers.fetch_order, broker, coid))
            except Exception as exc:  # an adapter's bug too: the venue took them with their parent all the same
                # Failing the execution would report a trade that went through as failed, and a child left
                # pending is never polled: a stop-loss that fills would go unrecorded. `submitted` is followed.
                # Not found is no exception: a venue may list a bracket's children a moment after their entry.
                said = "not listed by the broker yet" if isinstance(exc, OrderNotFound) else "not read back yet"
                why = f"sent with its parent order; {said} ({answers.failure(exc)})"
                log.warning("order %s: %s", coid, self._clean(why))
                await self.store.run(journal.close_pending, self.store.conn, [row], self._clean(why), "submitted")
                continue
            await self.store.run(journal.update_order, self.store.conn, coid, self._masked(order))

    async def _submit(self, job: Job, broker: Broker, row: sqlite3.Row, children: list[sqlite3.Row],
                      passed: list[str] | None = None) -> Order:  # fmt: skip
        """Send one committed order exactly once; an ambiguous outcome is looked up, never re-sent.

        `passed` is told what held every other order back (a halt, an open circuit) that a stop put back went
        through, as the guard saw it right before the call."""
        # Checked young enough just before; held by the venue's rate limit past its age, it is refused unsent. A stop
        # put back after a breakeven failed is the bridge undoing its own cancel, not the signal trading: no limit.
        timeless = self.at_signal_time or row["leg"] == "restore"
        send_by = None if timeless else self._aged_from(job) + timedelta(seconds=self.max_signal_age)
        request = replace(request_from_rows(row, children), send_by=send_by)
        coid = request.client_order_id
        replaces = row["replaces"]  # a breakeven stop that takes a working stop's place in one step
        if takes_reused_ids(broker):
            # Journaled before it goes: should the daemon die before its answer is, recovery must not take the
            # pending order for one never sent, as this venue would place it a second time.
            await self.store.run(journal.update_order, self.store.conn, coid, sent_at=utcnow())
        try:
            if self.guard is not None:  # its halt check is the last thing before the broker call
                if passed is not None and _protective(row):  # read with no wait before the guard's own checks
                    passed += self.guard.passed_by(row["broker"])
                order = await self.guard.create_order(row["broker"], broker, request, job.strategy, replaces,
                                                      protective=_protective(row))  # fmt: skip
            else:
                order = await answers.create_order(broker, request, replaces)
        except DuplicateClientOrderId:
            try:
                # Sent before a crash: adopt it.
                order = await retry_read(partial(answers.fetch_order, broker, coid))
            except Exception as exc:  # the venue holds it, but cannot show it now
                await self.store.run(journal.update_order, self.store.conn, coid, status="unknown",
                                     error=self._clean(repr(exc)), sent_at=utcnow())  # fmt: skip
                raise Outcome("failed", f"the {row['leg']} order is at the broker already, but could not be read "
                                        f"({exc!r}); it is checked again at the next start") from exc  # fmt: skip
        except OrderRejected as exc:
            error = self._clean(str(exc))
            # Held back by the bridge (halted, a circuit open, the halt flag unreadable): it never left, so the
            # `sent_at` stamped just before the gate goes, lest the row read as an order that reached the venue.
            held = isinstance(exc, SubmitRefused)
            await self.store.run(journal.update_order, self.store.conn, coid, status="rejected", error=error,
                                 unsent=held)  # fmt: skip
            return _rejected(request, error)
        except TemporaryBrokerError as exc:
            # Our own throttle's refusal (HeldUnsent) never asked the venue: no outage to go looking for.
            why = "" if isinstance(exc, (AccountRefused, HeldUnsent)) else ", broker temporarily unavailable"
            message = self._clean(f"not sent{why}: {exc}")
            await self.store.run(journal.update_order, self.store.conn, coid, status="rejected", error=message)
            return _rejected(request, message)
        except Exception as exc:  # it may have reached the broker: from now on, it counts as sent
            error = self._clean(repr(exc))
            # Said here as well: the lookup's answer replaces this error on the order's row (an adapter's bug included).
            log.warning("order %s: its outcome is unknown (%s); looking it up by its client order id", coid, error)
            await self.store.run(journal.update_order, self.store.conn, coid, status="unknown", error=error,
                                 sent_at=utcnow())  # fmt: skip
            try:
                order = await retry_read(partial(answers.fetch_order, broker, coid))
            except Exception as lookup:  # not found, or not answered either: it may be there all the same
                raise Outcome("failed", f"the {row['leg']} order's outcome is unknown ({exc!r}; lookup: {lookup}); "
                                        "it is checked again at the next start") from exc  # fmt: skip
        # Not waited for: finishing the execution commits after it, and should a crash lose it, recovery asks
        # the broker for the order's state again (it is journaled, pending, since the plan was committed).
        order, answered = self._masked(order), utcnow()
        self.store.later(journal.update_order, self.store.conn, coid, order, at=answered, sent_at=answered)
        return order

    async def _wait_for_fill(self, job: Job, row: sqlite3.Row, broker: Broker, timeout: float) -> Order:
        """Poll the order until it fills, ends otherwise, or `timeout` passes: its last read (each change is an event).

        A read the venue leaves unanswered raises TemporaryBrokerError at the deadline (the last read, taken at
        the deadline, `LAST_READ_SECONDS` after it): a hung read must not hold the wait, and the symbol, open.
        """
        coid = row["client_order_id"]
        clock = asyncio.get_running_loop()
        deadline = clock.time() + timeout
        delay, last = 0.05, False
        while True:
            order = self._masked(
                await self._read_by(LAST_READ_SECONDS if last else deadline - clock.time(), broker, coid)
            )
            # Not bounded: a journal write cancelled mid-flight could record a change whose event is never emitted.
            if journaled := await self.store.run(journal.record_order_change, self.store.conn, coid, order):
                self.emit(order_change(job.strategy, job.subscription, row["broker"], journaled))
            left = deadline - clock.time()
            if order.status in ("filled", "canceled", "rejected") or last or left <= 0:
                return order
            # Too little time after the next poll for a read of its own: the next poll is the last, at the deadline.
            last = left - delay < LAST_READ_SECONDS
            await asyncio.sleep(left if last else delay)
            delay = min(delay * 2, 1.0)

    async def _read_by(self, within: float, broker: Broker, coid: str) -> Order:
        """The order as the broker shows it, answered `within` seconds, else TemporaryBrokerError."""
        try:
            return await asyncio.wait_for(retry_read(partial(answers.fetch_order, broker, coid)), within)
        except TimeoutError as exc:
            raise TemporaryBrokerError(f"the broker did not answer a read of order {coid} within {within:.2g}s, "
                                       "while waiting for its fill") from exc  # fmt: skip

    async def _skip_rest(self, rows: list[sqlite3.Row], why: str, status: str = "canceled") -> None:
        await self.store.run(journal.close_pending, self.store.conn, rows, why, status)


def _reserves(broker: Broker) -> bool:
    """Whether the venue holds a position's shares for a working closing order: it refuses a second stop beside one."""
    return bool(getattr(capabilities_in_force(broker), "reserves_position", False))


def _holding(working: Sequence[Order], side: str, symbol: str) -> list[Order]:
    """The working orders in `symbol` on `side` other than stops (a take-profit, a resting exit) that hold the
    position's shares where the venue holds them for its closing orders; not the legs of an entry still working, nor
    a take-profit whose bracket's stop-loss works (the two hold the shares once, counted with the stops)."""
    ids = {o.client_order_id for o in working if o.is_open}
    mine = [o for o in working if o.is_open and o.side == side and same_symbol(o.symbol, symbol)
            and o.parent_client_order_id not in ids]  # fmt: skip
    stopped = {o.parent_client_order_id for o in mine if o.type in STOPS and o.parent_client_order_id}
    return [o for o in mine if o.type not in STOPS and (o.parent_client_order_id is None
                                                        or o.parent_client_order_id not in stopped)]  # fmt: skip


def _stop_room(position: Decimal, working: Sequence[Order], side: str, symbol: str,
               reserves: bool) -> tuple[Decimal, Decimal, list[Order]]:  # fmt: skip
    """What a stop put back on `side` finds: the position it may close, what the stops working there cover of it,
    and the other orders holding its shares where the venue holds them for its closing orders (`reserves`)."""
    room = max(position, Decimal(0)) if side == "sell" else max(-position, Decimal(0))
    # A stop-loss leg of an entry still working waits for that entry (Alpaca holds it): it protects none of what
    # is held now, and taken for cover it gave the put-back up for good, the position left with no stop.
    entries = {o.client_order_id for o in working if o.is_open}
    covered = sum((o.quantity - o.filled_quantity for o in working if o.is_open and o.side == side
                   and o.type in STOPS and same_symbol(o.symbol, symbol)
                   and o.parent_client_order_id not in entries), Decimal(0))  # fmt: skip
    return room, covered, (_holding(working, side, symbol) if reserves else [])


def _held_by(holders: Sequence[Order]) -> str:
    """Said of a stop put back that waits for the shares `holders` hold: what holds them, and what frees them."""
    what = " and ".join(_holder(o) for o in holders)
    return (f"the broker holds the shares for {what} working there, and refuses a stop beside "
            f"{_it(holders, 'them')}: it is sent once they are free; cancel {_it(holders, 'them')} to let the stop "
            "go")  # fmt: skip


def _holder(order: Order) -> str:
    """`the limit sell of 10 at 120`: a working order that holds a position's shares, as a decision names it.

    By the quantity it was placed for, not what is left of it: said once while the put-back waits for it
    (`jobs.putbacks`), the note would come again at each of its part-fills, one more per fill."""
    price = order.limit_price if order.limit_price is not None else order.stop_price
    at = f" at {fmt(price)}" if price is not None else ""
    return f"the {order.type.replace('_', '-')} {order.side} of {fmt(order.quantity)}{at}"


def _moves_stop(plan: Plan) -> bool:
    """Whether the plan is a breakeven that takes the place of working stops."""
    return bool(plan.moves) and any(leg.kind == "breakeven" for leg in plan.legs)


def _protective(row: OrderRow) -> bool:
    """Whether an order puts back a stop the bridge's own cancel took (`restore`): the one order a halt, or the
    broker's open circuit, lets through."""
    return row["leg"] == "restore" and row["type"] in ("stop", "stop_limit")


def _despite(passed: Sequence[str], broker: Broker) -> str:
    """What a decision adds of stops put back that went through what held every other order back (`passed`).

    Reduce-only is said only where the broker declares it (`Capabilities.reduce_only`): Alpaca's equities have none,
    and a stop there is held to the position only by the quantity the bridge gave it, as read before it went.
    """
    if not passed:
        return ""
    if getattr(capabilities_in_force(broker), "reduce_only", False):
        holds = "reduce-only, for no more than the position"
    else:
        holds = "for no more than the position as read before it went; this broker has no reduce-only"
    return (f" while {' and '.join(passed)}: a stop put back in place of one the bridge had just canceled is sent "
            f"all the same ({holds}), and nothing else is")  # fmt: skip


def _moving(planned: Sequence[sqlite3.Row]) -> sqlite3.Row | None:
    """A committed plan's breakeven stop that moves working stops by a new stop and a cancel (its `moves`), or None."""
    return next((row for row in planned if row["leg"] == "breakeven" and row["moves"]), None)


def _put_back_rows(planned: Sequence[sqlite3.Row]) -> list[sqlite3.Row]:
    """The bracket legs a cancel's plan puts back (`_put_back_gone`), or none: a breakeven's restores are its own."""
    return [] if _moving(planned) is not None else [row for row in planned if row["leg"] == "restore"]


def _it(orders: Sequence[Order], many: str = "they", one: str = "it") -> str:
    """`one` of a single order, `many` of several: the words that name them in a decision."""
    return many if len(orders) > 1 else one


def _lacks(decision: str) -> str:
    """`decision`, naming the legs the broker canceled with a cancel's, saying that they were not all put back."""
    return (f"{decision}, and it was not put back as it was: the position lacks it at the broker; check its orders "
            "there, and place what it lacks")  # fmt: skip


def _spared(put: PutBack) -> str:
    """Said of the stops a breakeven canceled first that were not put back: nothing left on their side, or what is
    left covered by those put back before them."""
    if not put.spared:
        return ""
    now = "" if put.held is None else f" ({describe_position(put.held)} at the broker now)"
    held = put.held or Decimal(0)
    covered = [o for o in put.spared if (held > 0 if o.side == "sell" else held < 0)]
    bare = [o for o in put.spared if o not in covered]
    said = ""
    if bare:
        said += (f"; {_described(bare)} {_it(bare, 'were', 'was')} not put back: no position is left for "
                 f"{_it(bare, 'them')} to close{now}, and at a broker that does not enforce reduce-only "
                 f"{_it(bare, 'they', 'it')} would open one")  # fmt: skip
    if covered:
        said += (f"; {_described(covered)} {_it(covered, 'were', 'was')} not put back: the stops put back before "
                 f"{_it(covered, 'them')} cover all of the position held{now}, and more would close past it, at a "
                 "broker that does not enforce reduce-only opening the other side")  # fmt: skip
    return said


def _capped(put: PutBack) -> str:
    """Said of the stops put back for less than they were, capped to the position held now: for how much of it.

    By its price alone, a stop put back for 4 reads as the stop for 10 it was, and the trader would count on it.
    """
    said = ""
    for order in put.back:
        if (cap := put.capped.get(order.client_order_id)) is None:
            continue
        was, room = cap
        holds = abs(put.held or Decimal(0))
        what = "" if len(put.back) == 1 else f" {_described([order])}"
        said += f",{what} put back for {fmt(order.quantity)} of {fmt(was)}: the position holds {fmt(holds)}"
        if room < holds:  # the stops put back before it cover the rest
            said += f", and the stops put back before it cover {fmt(holds - room)}"
    return said


def _closed_by(closed_by: str) -> str:
    """What closed the position an order was placed for, as `orders.closed_by` holds it."""
    if closed_by.startswith(journal.FLAT):
        return f"the account read flat there at {closed_by.removeprefix(journal.FLAT)}"
    return f"by the exit {closed_by}"


def _canceled_for(put: sqlite3.Row | None, coid: str) -> Order | None:
    """Stop `coid`, canceled, as the put-back journaled for it (`put`) has it; None without one."""
    if put is None:
        return None
    return Order(coid, put["symbol"], put["side"], Decimal(put["quantity"]), put["type"], "canceled",
                 limit_price=_price(put["limit_price"]), stop_price=_price(put["stop_price"]))  # fmt: skip


def _price(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _described(orders: Sequence[Order]) -> str:
    """`the stop-loss at 95` (a bracket's), `the stop at 100` (an earlier breakeven's), joined by `and`."""

    def one(order: Order) -> str:
        if order.type == "limit":  # a take-profit, or one put back
            what, price = ("take-profit" if order.parent_client_order_id else "limit"), order.limit_price
        else:
            what = "stop-loss" if order.parent_client_order_id else order.type.replace("_", "-")
            price = order.stop_price
        return f"the {what} at {fmt(price)}" if price is not None else f"the {what}"

    return " and ".join(one(order) for order in orders)


def _kept(moved: Sequence[Order]) -> str:
    """Said of a breakeven stop that did not start working, where the stops it moves were left to work."""
    verb = "keeps" if len(moved) == 1 else "keep"
    return f"; nothing was canceled before it: {_described(moved)} {verb} working, so the position is not left bare"


def _restorable(old: Order) -> bool:
    """Whether a canceled stop or take-profit can be sent again as it was: a stop (or stop-limit) with its prices, or
    a limit with its price, not a trailing stop (its trail is not in the order as the broker lists it), with something
    left to close."""
    if old.type == "limit":
        prices = old.limit_price is not None
    else:
        prices = old.stop_price is not None and (old.type == "stop" or old.limit_price is not None)
    return old.type in ("stop", "stop_limit", "limit") and prices and old.quantity > old.filled_quantity


def _nothing_held(signal: Signal, position: Decimal, own: tuple[str, ...], said: str) -> Plan:
    """flatten_at's exit of a subscription's share when none of it is held: its own working orders canceled, if any
    (a resting entry must not open a position after the flatten), and nothing sold."""
    head = f"exit while {describe_position(position)}"
    why = said.removeprefix("; ")
    if not own:
        return Plan("rejected", f"{head}: nothing was sent: {why}")
    orders = f"{len(own)} open order{'s' if len(own) > 1 else ''}"
    return Plan("executed", f"{head}: canceled {orders} of this subscription, nothing to exit: {why}", own)


def _went_with(canceled: Sequence[str], seen: dict[str, Order], answered: dict[str, Order]) -> list[Order]:
    """The working bracket legs beside the legs a plan canceled, which it did not cancel itself.

    A leg filled in part before its cancel took its sibling too (the stop-loss then for what was left, at Alpaca):
    left out, the position kept no stop for that rest, and the decision said nothing of it.
    """
    parents = {
        seen[c].parent_client_order_id for c, answer in answered.items() if c in seen and answer.status == "canceled"
    } - {None}  # fmt: skip
    return [o for o in seen.values()
            if o.is_open and o.parent_client_order_id in parents and o.client_order_id not in canceled]  # fmt: skip


def _swapped(old: Order | None, coid: str) -> str:
    """Said of a breakeven stop that did not start working in place of `coid`, which the broker swaps all at once."""
    what = _described([old]) if old is not None else f"order {coid}"
    return (f"; nothing was canceled: the broker replaces {what} with it in one step or not at all, so the position "
            "keeps a stop (the old one, unless the replace went through)")  # fmt: skip


def _in_turn(planned: Sequence[R]) -> list[tuple[R, list[R]]]:
    """A plan's orders in the order they are sent, each with its bracket children (the broker places them with it)."""
    children = [row for row in planned if row["parent_client_order_id"]]
    return [(row, [c for c in children if c["parent_client_order_id"] == row["client_order_id"]])
            for row in planned if not row["parent_client_order_id"]]  # fmt: skip


def _refusal(check: Callable[[OrderRequest], object], rows: list[dict[str, Any]]) -> str | None:
    """Why the broker would refuse one of the plan's orders (its optional `check_order`), asked before the plan
    cancels anything: an exit refused after its cancels left the position without the stop-loss they took."""
    for row, children in _in_turn(rows):
        try:
            check(request_from_rows(row, children))
        except OrderRejected as exc:
            return str(exc)
    return None


def _working(open_orders: Sequence[Order], canceled: Sequence[str], symbol: str) -> tuple[Decimal, Decimal]:
    """What is left to buy and to sell in the symbol's working orders a plan leaves (bracket children aside).

    A take-profit or stop-loss only closes the position its entry opened; every other working order may
    still fill and move the position past what the plan itself leaves. Orders in other symbols (an adapter
    that lists them all) move another position.
    """
    buys = sells = Decimal(0)
    for order in open_orders:
        mine = same_symbol(order.symbol, symbol) and order.is_open and not order.parent_client_order_id
        if not mine or order.client_order_id in canceled:
            continue
        left = max(order.quantity - order.filled_quantity, Decimal(0))
        if order.side == "buy":
            buys += left
        else:
            sells += left
    return buys, sells


def _exit_working(row: OrderRow, status: str, has_next: bool) -> bool:
    """Whether an order holds the rest of its plan back: an exit not (yet) filled, with an entry after it."""
    return has_next and row["leg"] == "exit" and status != "filled"


def _settling(row: OrderRow, status: str, has_next: bool) -> bool:
    """Whether the plan's last order is a market order the broker took but has not filled yet."""
    return not has_next and row["type"] == "market" and status in ("submitted", "open", "partially_filled")


def _rows(sequence: list[tuple[sqlite3.Row, list[sqlite3.Row]]]) -> list[sqlite3.Row]:
    """Every order of these, bracket children included: a skipped entry's children are not sent either."""
    return [order for row, children in sequence for order in (row, *children)]


def _order_event(job: Job, row: OrderRow, order: Order) -> Event:
    price = order.avg_fill_price if order.avg_fill_price is not None else order.limit_price
    latency = (utcnow() - job.received_at).total_seconds()
    return order_event(job.strategy, job.subscription, row["broker"], order.symbol, order.side, str(order.quantity),
                       order.status, None if price is None else str(price), order.error, latency,
                       str(order.filled_quantity))  # fmt: skip


def _rejected(request: OrderRequest, error: str) -> Order:
    return Order(client_order_id=request.client_order_id, symbol=request.symbol, side=request.side,
                 quantity=request.quantity, type=request.type, status="rejected", error=error)  # fmt: skip


def _warn_day_legs(job: Job, entry: sqlite3.Row, planned: list[sqlite3.Row]) -> None:
    """Log a WARNING for an entry sent with day take-profit/stop-loss legs: they expire at the close (the decision
    says it too), so a position it opens has no stop overnight unless one is placed again."""
    legs = [row["leg"].replace("_", "-") for row in planned
            if row["parent_client_order_id"] == entry["client_order_id"] and row["time_in_force"] == "day"]  # fmt: skip
    if not legs:
        return
    names = " and ".join(sorted(legs, reverse=True))  # take-profit and stop-loss, as the decision has them
    verb = "are day orders: they expire" if len(legs) > 1 else "is a day order: it expires"
    log.warning("entry %s for %s %s (signal %s): its %s %s at the close; the position then has no %s overnight",
                entry["client_order_id"], entry["quantity"], entry["symbol"], job.signal_id, names, verb,
                "stop" if "stop-loss" in legs else "take-profit")  # fmt: skip


__all__ = ["Executor", "Job", "client_order_id", "fmt"]
