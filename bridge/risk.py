"""Pre-trade risk limits, the kill switch gate and the circuit breakers, applied by the executor.

A plan is checked before any of its orders is committed (a refusal leaves a clear decision and no
order row); then every single submission passes `Guard.create_order`, the last gate before the
broker: it refuses while trading is halted or a circuit the order depends on is open. A paper order
booked inside its plan's journal job passes `Guard.admits_at_once` instead, which lets it through only
when that gate would have nothing to decide; otherwise it goes through `create_order` after all.

Two kinds of circuit: a broker's opens on failed submissions in a row (a timeout, a lost connection, a 5xx, a 429, an
unknown outcome: the venue is down for everyone; not an order the adapter's own throttle refused unsent, too late for
its signal: `HeldUnsent`), and at once on refused API keys or an account the venue lets no
order through for (they refuse everyone's orders); a strategy's at one broker opens on orders of that strategy the
venue refused in a row (insufficient funds, an unknown symbol, a bad quantity: the venue is up, the orders are wrong).
A refusal says nothing of the venue, so whoever holds one strategy's token cannot shut the broker, and every other
strategy's exits, by sending orders the venue refuses. A strategy's open circuit holds its entries only: its exits (an
order that only closes: an exit, a swap's exit half, a breakeven stop, a flatten) still go, or the refusals of its
entries would keep the position it wants out of open. A broker's open circuit holds every order but its probe, exits
too: sent during an outage they fail anyway, and the probe finds out first when the venue is back. A stop the bridge
puts back in place of one its own cancel took is the exception (`Guard.create_order`'s `protective`): held back, the
position would be left without it. Nor does the venue's refusal of it count in its strategy's circuit: the strategy
did not send it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from bridge.brokers import answers
from bridge.brokers.base import Broker
from bridge.config.schema import Config, Subscription
from bridge.config.security import RiskLimits
from bridge.errors import AccountRefused, DuplicateClientOrderId, HeldUnsent, OrderRejected
from bridge.halt import HaltSwitch
from bridge.models import Order, OrderRequest
from bridge.signals.resolve import Leg, describe_position, fmt
from bridge.store.db import Store, iso, utcnow

log = logging.getLogger("bridge.risk")
WINDOW = timedelta(minutes=1)


class SubmitRefused(OrderRejected):
    """The bridge itself refused to send an order (halted, circuit open); the broker never saw it."""


@dataclass(frozen=True)
class Proposal:
    """What a plan would do, as the limits see it."""

    ticker: str
    symbol: str
    position: Decimal
    legs: Sequence[Leg]
    price: Decimal | None  # the signal's price, for notional: whoever holds the token writes it
    # What still works at the broker after the plan's cancels, bracket children aside (they only close):
    # the remaining quantity to buy and to sell. Each can fill and add to the position the plan leaves.
    working_buys: Decimal = Decimal(0)
    working_sells: Decimal = Decimal(0)
    quote: Decimal | None = None  # the broker's quote, asked for whenever a max_notional applies
    scheduled: bool = False  # the subscription's own schedule queued it (flatten_at), no sender did


def _opening(legs: Sequence[Leg]) -> list[Leg]:
    return [leg for leg in legs if leg.kind == "entry"]


@dataclass(frozen=True)
class Admission:
    """A plan's check: why it may not run as planned (None: it may), and which of its legs may run all the same.

    `legs` is every leg when nothing refuses the plan, none when something refuses its exits too, and its exits
    alone when only its entries are refused (over a size limit, or other strategies' orders used the top-level
    max_orders_per_minute up): a swap then closes its position and opens none.
    """

    refusal: str | None
    legs: tuple[Leg, ...] = ()


def _valued_at(leg: Leg, p: Proposal) -> Decimal | None:
    """The price max_notional values an opening order at: the highest it may fill at, as far as is known.

    A buy limit (or stop-limit) never pays more than its limit. Any other order may fill at the market
    whatever its limit or stop says (a sell limit far below the market, a buy stop the market already
    passed fill at once near the market), so it counts at the largest of its limit, its stop, the
    signal's price and the broker's quote. Without a quote, the signal's price is trusted as it is sent.
    """
    if leg.side == "buy" and leg.order_type in ("limit", "stop_limit") and leg.limit_price is not None:
        return leg.limit_price
    return max((x for x in (leg.limit_price, leg.stop_price, p.price, p.quote) if x is not None), default=None)


def _final_position(p: Proposal) -> Decimal:
    moved = sum((leg.quantity if leg.side == "buy" else -leg.quantity for leg in p.legs if leg.kind != "breakeven"),
                Decimal(0))  # fmt: skip
    return p.position + moved


def _reach(p: Proposal, final: Decimal) -> tuple[Decimal, str]:
    """The position the plan may end in once the working orders on its entries' side fill too, and which those are.

    Only that side adds to what the entries open: working orders on the other side would take it back.
    """
    reach, working = final, ""
    sides = {leg.side for leg in _opening(p.legs)}
    if "buy" in sides and p.working_buys and abs(final + p.working_buys) > abs(reach):
        reach, working = final + p.working_buys, f"{fmt(p.working_buys)} more in buy orders still working"
    if "sell" in sides and p.working_sells and abs(final - p.working_sells) > abs(reach):
        reach, working = final - p.working_sells, f"{fmt(p.working_sells)} more in sell orders still working"
    return reach, working


def breach(limits: RiskLimits, where: str, p: Proposal, recent_orders: int) -> str | None:
    """The first limit the proposal breaks, as a sentence naming the setting; None when it passes."""
    if p.scheduled and not _opening(p.legs):
        # The limits bound what a sender can do. The schedule's own exits close what the config says to close:
        # refused for a symbol since taken off allowed_symbols, or after a busy minute, a position stays overnight.
        return None
    if limits.allowed_symbols is not None:
        allowed = {s.upper() for s in limits.allowed_symbols}
        if p.ticker.upper() not in allowed and p.symbol.upper() not in allowed:
            return f"{p.symbol} is not in {where}.allowed_symbols ({', '.join(limits.allowed_symbols)})"
    if limits.max_orders_per_minute is not None and recent_orders + len(p.legs) > limits.max_orders_per_minute:
        return (f"{len(p.legs)} more order(s) after {recent_orders} in the last minute would exceed "
                f"{where}.max_orders_per_minute {limits.max_orders_per_minute}")  # fmt: skip
    for leg in _opening(p.legs):
        if limits.max_order_quantity is not None and leg.quantity > limits.max_order_quantity:
            return (f"the {leg.side} of {fmt(leg.quantity)} {p.symbol} exceeds {where}.max_order_quantity "
                    f"{fmt(limits.max_order_quantity)}")  # fmt: skip
        if limits.max_notional is not None:
            price = _valued_at(leg, p)
            if price is None:
                return (f"{where}.max_notional needs a price and none is known: send `price` in the signal "
                        "or use a broker that quotes")  # fmt: skip
            notional = leg.quantity * price
            if notional > limits.max_notional:
                return (f"the {leg.side} of {fmt(leg.quantity)} {p.symbol} at {fmt(price)} is {fmt(notional)} "
                        f"notional, over {where}.max_notional {fmt(limits.max_notional)}")  # fmt: skip
    cap = limits.max_position
    if cap is None or not _opening(p.legs):  # exits alone are never blocked
        return None
    final = _final_position(p)
    reach, working = _reach(p, final)
    if abs(reach) > cap:
        if working:  # entries resting at the broker fill later: each must count, or any number of them stack up
            return (f"it would leave {describe_position(final)} {p.symbol} and {working} "
                    f"({describe_position(reach)} if they fill), over {where}.max_position {fmt(cap)} "
                    f"(now {describe_position(p.position)})")  # fmt: skip
        return (f"it would leave {describe_position(final)} {p.symbol}, over {where}.max_position {fmt(cap)} "
                f"(now {describe_position(p.position)})")  # fmt: skip
    return None


def recent_orders(conn: sqlite3.Connection, strategy: str, subscription: str, since: str) -> tuple[int, int, int]:
    """Orders planned since `since`: (this subscription's, this strategy's, everyone's); bracket children ride
    with their parent."""
    total = conn.execute(
        "SELECT count(*) FROM orders WHERE created_at >= ? AND parent_client_order_id IS NULL", (since,)
    ).fetchone()[0]
    ours, mine = conn.execute(
        "SELECT count(*), coalesce(sum(o.subscription = ?), 0) FROM orders o JOIN signals s ON s.id = o.signal_id "
        "WHERE o.created_at >= ? AND o.parent_client_order_id IS NULL AND s.strategy = ?",
        (subscription, since, strategy),
    ).fetchone()
    return int(mine), int(ours), int(total)


def subscription_limits(sub: Subscription, live: Subscription | None) -> list[RiskLimits]:
    """A subscription's own limits: as its job was queued, and as a reload has them now (if it changed them).

    Both apply, so for a queued job a reload can only tighten them: a reload made to stop a runaway strategy
    must hold back the signals already waiting in its queue too, not only the ones that come after it.
    """
    found = [sub.risk] if sub.risk is not None else []
    if live is not None and live.risk is not None and live.risk != sub.risk:
        found.append(live.risk)
    return found


@dataclass
class Breaker:
    """One circuit: opens after consecutive failed submissions, then lets one probe through.

    A broker's circuit (no `strategy`) counts outages; a strategy's at a broker counts the venue's refusals.
    """

    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    last_error: str = ""
    strategy: str | None = None  # None: the broker's own circuit

    def _title(self, name: str) -> str:
        if self.strategy is None:
            return f"broker {name}'s circuit breaker"
        return f"strategy {self.strategy}'s circuit breaker at broker {name}"

    def _exits(self) -> str:
        """Said of a strategy's open circuit, which holds entries only (see `Guard._circuits_refuse`)."""
        return "" if self.strategy is None else " (its exits still go)"

    def _counted(self) -> str:
        return "failed submission(s)" if self.strategy is None else "order(s) refused by the venue in a row"

    def refusal(self, name: str, now: float, cooldown: float, take_probe: bool) -> str | None:
        """Why an order may not go to this broker now; a closed circuit, or the probe's turn, gives None."""
        if self.opened_at is None:
            return None
        if self.probing:
            return f"{self._title(name)} is open; one probe order is on its way to test it{self._exits()}"
        left = self.opened_at + cooldown - now
        if left > 0:
            # The last error after the `;`: a notice of refused signals is one kind up to there (`reason_kind`), and
            # a leaked token's refused orders, each in a new symbol, must not make each refusal after them news.
            return (f"{self._title(name)} is open after {self.failures} {self._counted()}; it lets one order "
                    f"through in {left:.0f}s{self._exits()} (last: {self.last_error})")  # fmt: skip
        self.probing = self.probing or take_probe
        return None

    def record(self, name: str, ok: bool, error: str, now: float, limit: int, probe: bool = False) -> None:
        """Count a submission's outcome; open on the limit-th failure in a row, or on a failed probe.

        While the circuit is open nothing but its probe is sent, so any other outcome is that of an order
        sent before it opened, answered late (orders of other tickers run side by side): it says nothing of
        the broker now, so it neither closes the circuit nor ends the probe's turn.
        """
        if probe:
            self.probing = False
        elif self.opened_at is not None:
            if not ok:
                self.failures += 1
                self.last_error = error[:200]
            return
        if ok:
            if self.opened_at is not None:
                log.warning("%s closed, the probe order went through", self._title(name))
            self.failures, self.opened_at = 0, None
            return
        self.failures += 1
        self.last_error = error[:200]
        if probe or (limit > 0 and self.failures >= limit and self.opened_at is None):
            self.opened_at = now
            log.warning("%s open after %d %s: %s", self._title(name), self.failures, self._counted(), error)

    def status(self, now: float, cooldown: float) -> str:
        """`closed`, `open` or `half-open` (the next order is a probe)."""
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.probing or now >= self.opened_at + cooldown else "open"


class Guard:
    """Risk checks, the kill switch and the circuit breakers of one daemon (they survive config reloads)."""

    def __init__(self, store: Store, config: Callable[[], Config], clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.config = config
        self.clock = clock
        self.halt = HaltSwitch(store)
        self.breakers: dict[str, Breaker] = {}  # outages, by broker
        self.refusals: dict[tuple[str, str], Breaker] = {}  # the venue's refusals, by (broker, strategy)
        # Orders of plans admitted under max_orders_per_minute that are not in the journal yet, by the
        # (signal, subscription) that holds them, with their (strategy, subscription) and count.
        self._held: dict[tuple[str, str], tuple[tuple[str, str], int]] = {}

    async def load(self) -> None:
        """Read the persisted kill switch (call once the journal is open)."""
        self.halt.reread()

    async def check_plan(self, strategy: str, subscription: str, broker: str, sub: Subscription,
                         proposal: Proposal, hold: tuple[str, str] | None = None,
                         live: Subscription | None = None) -> Admission:  # fmt: skip
        """Why this plan may not run (halted, circuit open, a limit), or None; and which of its legs may run.

        `sub` is the subscription as the job was queued under; `live` is the same subscription in the config
        in force now, if a reload changed it since: the limits of both apply (see `subscription_limits`).
        With `hold` (its signal and subscription), an admitted plan's orders count against the per-minute
        limits until `release(hold)`, which the caller makes once they are in the journal (or never will be).
        """
        if (halt := self._halt_refusal()) is not None:
            return Admission(halt)
        risk = self.config().risk
        # The broker's circuit (an outage) holds the whole plan; the strategy's own (the venue's refusals of its
        # orders), only its entries: it is asked below, with the limits, so that a swap still sends its exit.
        refusal = self._circuits_refuse(broker, strategy, take_probe=False, closing=True)
        if refusal is not None:
            return Admission(refusal)
        mine = ours = total = 0
        own = subscription_limits(sub, live)
        counted = [limits for limits in (risk, *own) if limits.max_orders_per_minute]
        if counted:  # counting orders is a query per plan: only when a limit needs the count
            since = iso(utcnow() - WINDOW)
            mine, ours, total = await self.store.read(recent_orders, self.store.conn, strategy, subscription, since)
            # Plans admitted but not in the journal yet count too (counted and held below with no wait in
            # between): else a burst over many tickers reads one count, and every plan of it passes.
            mine += sum(n for owner, n in self._held.values() if owner == (strategy, subscription))
            ours += sum(n for owner, n in self._held.values() if owner[0] == strategy)
            total += sum(n for _owner, n in self._held.values())
        # The top-level max_orders_per_minute is shared: whoever holds one strategy's token can spend it. A plan
        # that only closes (exits, breakeven stops) is held back by its own strategy's orders alone, so that no
        # other strategy's can keep a position open; a runaway loop of its own still stops.
        opens = bool(_opening(proposal.legs))
        held = self._circuits_refuse(broker, strategy, take_probe=False) if opens else None
        found = held or self._breach(risk, own, subscription, proposal, total if opens else ours, mine)
        admitted = tuple(proposal.legs) if found is None else ()
        closing = tuple(leg for leg in proposal.legs if leg.kind != "entry")
        if found is not None and opens and closing:
            # A swap refused for its entries (its own circuit open, one over a size limit, or other strategies'
            # orders using the shared limit up) still closes, as its exits alone would: what only its entries break
            # never keeps a position open the strategy turned away from. What refuses its exits too (allowed_symbols,
            # its own strategy's orders in the minute) refuses them here as well.
            exits = replace(proposal, legs=closing)
            admitted = () if self._breach(risk, own, subscription, exits, ours, mine) else closing
        if admitted and counted and hold is not None:
            self._held[hold] = ((strategy, subscription), len(admitted))
        return Admission(found, admitted)

    @staticmethod
    def _breach(risk: RiskLimits, own: list[RiskLimits], subscription: str, proposal: Proposal, shared: int,
                mine: int) -> str | None:  # fmt: skip
        """The first limit the proposal breaks, the top-level ones counting `shared` recent orders, its own `mine`."""
        found = breach(risk, "risk", proposal, shared)
        for limits in own:
            found = found or breach(limits, f"subscription {subscription}'s risk", proposal, mine)
        return found

    def release(self, hold: tuple[str, str]) -> None:
        """The held plan's orders are in the journal now (or will never be): they count from there."""
        self._held.pop(hold, None)

    def values_notional(self, sub: Subscription, live: Subscription | None = None) -> bool:
        """Whether a max_notional applies to this subscription's orders: then they are valued at a quote too."""
        limits = (self.config().risk, *subscription_limits(sub, live))
        return any(each.max_notional is not None for each in limits)

    # Looked up several times per signal (its plan's check, each order's gate and count): a new Breaker is made only
    # for a circuit not there yet, not built and thrown away at every lookup, as `setdefault` would.
    def breaker(self, broker: str) -> Breaker:
        """The circuit of one broker (by its config name), which outages open."""
        found = self.breakers.get(broker)
        if found is None:
            found = self.breakers[broker] = Breaker()
        return found

    def strategy_breaker(self, broker: str, strategy: str) -> Breaker:
        """The circuit of one strategy at one broker, which the venue's refusals of its orders open."""
        found = self.refusals.get((broker, strategy))
        if found is None:
            found = self.refusals[broker, strategy] = Breaker(strategy=strategy)
        return found

    def _circuits_refuse(self, broker: str, strategy: str, take_probe: bool, closing: bool = False) -> str | None:
        """Why the broker's circuit or the strategy's there refuses an order now; None lets it through.

        An order that only closes (`closing`) is asked of the broker's circuit alone: the strategy's holds its
        entries, not its exits, and an exit never takes its probe's turn (it says nothing of the entries).
        Both are asked before either takes a probe's turn: a turn taken by one circuit for an order the
        other then refuses would never be given back, and that circuit would stay open for good.
        """
        cooldown, now = self.config().risk.breaker_cooldown, self.clock()
        circuits: tuple[Breaker, ...] = (self.breaker(broker),)
        if not closing:
            circuits += (self.strategy_breaker(broker, strategy),)
        for circuit in circuits:
            refusal = circuit.refusal(broker, now, cooldown, take_probe=False)
            if refusal is not None:
                return refusal
        if take_probe:
            for circuit in circuits:
                circuit.refusal(broker, now, cooldown, take_probe=True)
        return None

    async def create_order(self, name: str, broker: Broker, request: OrderRequest, strategy: str,
                           replaces: str | None = None, protective: bool = False) -> Order:  # fmt: skip
        """The last gate: refuse while halted or while a circuit is open, else send and count the outcome.

        `protective`: a reduce-only stop the bridge puts back in place of one its own cancel just took (a
        breakeven's old stop, its new one not sent; a bracket's stop-loss the venue canceled with its sibling). It
        passes a halt and the broker's open circuit (`passed_by`), said in the log: a halt stops trading, and an
        outage (often the breakeven stop's own, which opened the circuit) may have ended a moment later; neither
        must leave a position without the stop it had. Sent through an open circuit it is no probe: the circuit
        stays as it was, whatever its answer.

        An outage (any error but the venue's refusal) counts in broker `name`'s circuit; the venue's refusal
        of the order counts in `strategy`'s circuit there, and in the broker's as an answer: the venue is up. A
        stop put back counts in neither way in `strategy`'s: it is the bridge's order, not the strategy's, and its
        refusal (the venue's word on a stop the strategy did not send) must not hold the strategy's entries back,
        nor its success clear the refusals of the strategy's own orders before it.
        An order that only closes (`request.reduce_only`) passes `strategy`'s open circuit, not the broker's.
        With `replaces`, the request takes the place of that working order in one step (`replace_order`).
        """
        risk = self.config().risk
        breaker, refused = self.breaker(name), self.strategy_breaker(name, strategy)
        # Checked synchronously and immediately before the call: a halt acknowledged before this line runs
        # is always seen, and nothing can interleave between the check and the submission. Read again from
        # the journal, where `bridge halt` writes when the daemon does not confirm it.
        closing = request.reduce_only
        put_back = protective and closing
        halt = self._halt_refusal()
        # A stop put back goes whatever the circuit says, so it is no probe: it takes no probe's turn, and its answer
        # neither closes the circuit nor opens it again (the probe, when its turn comes, says whether the venue is up).
        refusal = halt or self._circuits_refuse(name, strategy, take_probe=not put_back, closing=closing)
        if refusal is not None:
            if not put_back:
                raise SubmitRefused(f"not sent: {refusal}")
            log.warning("sending order %s (%s %s %s, stop at %s) although %s: it puts back a stop the bridge had "
                        "just canceled, so the position is not left without one", request.client_order_id,
                        request.side, request.quantity, request.symbol, request.stop_price, refusal)  # fmt: skip
        # Let through an open circuit: this order is its probe (an exit passes the strategy's without probing it).
        probe = breaker.opened_at is not None and not put_back
        # Sent through the open circuit: its outage is none the circuit counts (it opened already, and the probe
        # says when the venue is back), lest a put-back change what the circuit shows.
        through = breaker.opened_at is not None and put_back
        probe_refused = refused.opened_at is not None and not closing
        try:
            order = await answers.create_order(broker, request, replaces)
        except DuplicateClientOrderId:  # the venue answered sensibly
            self._answered(name, breaker, None if put_back else refused, None, probe, probe_refused)
            raise
        except OrderRejected as exc:  # the venue refused this order: it is up, the order is wrong
            error = f"{type(exc).__name__}: {exc}"
            self._answered(name, breaker, None if put_back else refused, error, probe, probe_refused)
            raise
        except HeldUnsent:
            # Our own throttle's refusal, too late for its signal: the venue was never asked, so neither circuit
            # counts it (a burst at a bar's close would open the broker's for the fresh signals after it); a probe's
            # turn comes again.
            if probe:
                breaker.probing = False
            if probe_refused:
                refused.probing = False
            raise
        except Exception as exc:
            # Refused keys, or an account that may not trade, refuse every strategy's next order too: no need to
            # spend more of them to be sure.
            limit = 1 if isinstance(exc, AccountRefused) else risk.breaker_failures
            if not through:
                breaker.record(name, False, f"{type(exc).__name__}: {exc}", self.clock(), limit, probe)
            if probe_refused:  # the outage says nothing of the strategy's orders: its probe's turn comes again
                refused.probing = False
            raise
        except BaseException:
            if probe:  # cancelled at shutdown: neither a success nor a failure
                breaker.probing = False
            if probe_refused:
                refused.probing = False
            raise
        self.count(name, strategy, order, probe, probe_refused, protective=put_back)
        return order

    def _answered(self, name: str, breaker: Breaker, refused: Breaker | None, error: str | None, probe: bool,
                  probe_refused: bool) -> None:  # fmt: skip
        """Count an answer of the venue: a success for the broker's circuit; `error` (a refusal) for the strategy's
        (`refused`; None: a stop put back, which the strategy did not send)."""
        failures, now = self.config().risk.breaker_failures, self.clock()
        breaker.record(name, True, "", now, failures, probe)
        if refused is not None:
            refused.record(name, error is None, error or "", now, failures, probe_refused)

    def admits_at_once(self, name: str, strategy: str) -> bool:
        """Whether an order may go to broker `name` with nothing to decide: not halted, and its circuits closed.

        For orders placed inside a journal job (`create_order_in_journal`): anything else (a halt, an open
        or half-open circuit) is left to `create_order`, which refuses, or sends the probe, and says why.
        """
        closed = self.breaker(name).opened_at is None and self.strategy_breaker(name, strategy).opened_at is None
        return closed and self._halt_refusal() is None

    def passed_by(self, name: str) -> tuple[str, ...]:
        """What holds every order to broker `name` back now but a stop put back (`create_order`'s `protective`)."""
        passed = []
        if self._halt_refusal() is not None:
            passed.append("trading is halted" if self.halt.halted else "the kill switch cannot be read")
        cooldown = self.config().risk.breaker_cooldown
        if self.breaker(name).refusal(name, self.clock(), cooldown, take_probe=False) is not None:
            passed.append(f"broker {name}'s circuit breaker is open")
        return tuple(passed)

    def halt_reason(self) -> str | None:
        """Why the kill switch holds new orders back now (halted, or its flag unreadable), or None."""
        return self._halt_refusal()

    def _halt_refusal(self) -> str | None:
        """Why the kill switch holds an order back now: trading is halted, or its flag cannot be read; else None."""
        try:
            state = self.halt.reread()
        except (sqlite3.Error, RuntimeError) as exc:  # RuntimeError: the store is not open (stopping)
            # Not knowing whether trading is halted is no licence to send: the order stays unsent, and says why
            # (read as an unknown outcome, it would be looked up at the broker as if it might have gone).
            return (f"the kill switch could not be read from the journal ({type(exc).__name__}: {exc}), so it "
                    "is not known whether trading is halted; check the journal file and its disk")  # fmt: skip
        return state.explain() if state.halted else None

    def count(self, name: str, strategy: str, order: Order, probe: bool = False, probe_refused: bool = False,
              protective: bool = False) -> None:  # fmt: skip
        """Count an answered submission: a rejection in `strategy`'s circuit at broker `name`, as a refusal; a stop
        put back (`protective`) in the broker's alone."""
        error = None if order.status != "rejected" else order.error or "rejected"
        refused = None if protective else self.strategy_breaker(name, strategy)
        self._answered(name, self.breaker(name), refused, error, probe, probe_refused)

    def status(self) -> dict[str, str]:
        """Each broker's circuit state (the one outages open), for /health."""
        cooldown = self.config().risk.breaker_cooldown
        return {name: b.status(self.clock(), cooldown) for name, b in sorted(self.breakers.items())}

    def strategy_status(self) -> dict[str, dict[str, str]]:
        """Each strategy's circuit state at each broker (the one the venue's refusals open), for /health."""
        cooldown, now = self.config().risk.breaker_cooldown, self.clock()
        found: dict[str, dict[str, str]] = {}
        for (broker, strategy), b in sorted(self.refusals.items()):
            found.setdefault(broker, {})[strategy] = b.status(now, cooldown)
        return found
