"""Risk limits at their boundaries, the circuit breaker on a controlled clock, and both through a real daemon."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.config.schema import Config, Subscription
from bridge.config.security import GlobalRisk, RiskLimits
from bridge.errors import BrokerError, HeldUnsent, OrderRejected, TemporaryBrokerError
from bridge.models import Order, OrderRequest
from bridge.risk import Breaker, Guard, Proposal, SubmitRefused, breach
from bridge.signals.resolve import Leg
from bridge.store.db import Store
from tests.conftest import ADMIN, TOKEN, Daemon, eventually, free_port
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca
from tests.fakes.server import LocalServer
from tests.security.conftest import RELAXED, rows, strategy

D = Decimal
LEAKED = "tok-" + "0f9e8d7c6b5a49382716"  # the token of a second strategy, `leak`, that someone else holds


def entry(qty: str, side: str = "buy", limit: str | None = None, stop: str | None = None) -> Leg:
    kind = "stop" if stop else "limit" if limit else "market"
    return Leg("entry", side, D(qty), kind, D(limit) if limit else None, D(stop) if stop else None)  # type: ignore[arg-type]


def exit_(qty: str, side: str = "sell") -> Leg:
    return Leg("exit", side, D(qty))  # type: ignore[arg-type]


def proposal(*legs: Leg, position: str = "0", price: str | None = "100", ticker: str = "AMD", buys: str = "0",
             sells: str = "0", quote: str | None = None) -> Proposal:  # fmt: skip
    return Proposal(ticker, ticker, D(position), legs, None if price is None else D(price), D(buys), D(sells),
                    None if quote is None else D(quote))  # fmt: skip


@pytest.mark.parametrize(
    ("limits", "p", "recent", "found"),
    [
        (RiskLimits(max_order_quantity=D(10)), proposal(entry("9.99")), 0, None),
        (RiskLimits(max_order_quantity=D(10)), proposal(entry("10")), 0, None),
        (RiskLimits(max_order_quantity=D(10)), proposal(entry("10.01")), 0, "exceeds risk.max_order_quantity 10"),
        (RiskLimits(max_order_quantity=D(10)), proposal(exit_("50"), position="50"), 0, None),
        (RiskLimits(max_notional=D(1000)), proposal(entry("10")), 0, None),
        (RiskLimits(max_notional=D(1000)), proposal(entry("10.01")), 0, "1001 notional, over risk.max_notional 1000"),
        (RiskLimits(max_notional=D(1000)), proposal(entry("20", limit="50")), 0, None),
        (RiskLimits(max_notional=D(1000)), proposal(entry("1"), price=None), 0, "needs a price"),
        # A marketable sell limit, or a buy stop the market already passed, fills near the market, not at its price.
        (RiskLimits(max_notional=D(1000)), proposal(entry("11", "sell", limit="0.01")), 0, "at 100 is 1100 notional"),
        (RiskLimits(max_notional=D(1000)), proposal(entry("11", stop="1")), 0, "at 100 is 1100 notional"),
        (RiskLimits(max_notional=D(1000)), proposal(entry("10", stop="101")), 0, "at 101 is 1010 notional"),
        # The broker's quote counts too: the signal's price is whatever the sender wrote.
        (RiskLimits(max_notional=D(1000)), proposal(entry("10"), price="1", quote="150"), 0, "at 150 is 1500"),
        (RiskLimits(max_notional=D(1000)), proposal(entry("10"), price=None, quote="100"), 0, None),
        (RiskLimits(max_notional=D(1000)), proposal(entry("20", limit="50"), quote="150"), 0, None),
        (RiskLimits(max_position=D(5)), proposal(entry("5")), 0, None),
        (RiskLimits(max_position=D(5)), proposal(entry("1"), position="5"), 0, "leave long 6 AMD, over risk.max_posit"),
        (RiskLimits(max_position=D(5)), proposal(exit_("5"), entry("5", "sell"), position="5"), 0, None),
        (RiskLimits(max_position=D(5)), proposal(exit_("8"), entry("6", "sell"), position="8"), 0, "leave short 6"),
        (RiskLimits(max_position=D(5)), proposal(exit_("3"), position="8"), 0, None),
        (RiskLimits(max_position=D(5)), proposal(entry("4"), buys="1"), 0, None),
        (RiskLimits(max_position=D(5)), proposal(entry("4"), buys="2"), 0,
         "leave long 4 AMD and 2 more in buy orders still working (long 6 if they fill), over risk.max_position 5"),
        (RiskLimits(max_position=D(5)), proposal(entry("5"), sells="9"), 0, None),
        (RiskLimits(max_position=D(5)), proposal(entry("5", "sell"), sells="1"), 0, "(short 6 if they fill)"),
        (RiskLimits(max_position=D(5)), proposal(exit_("3"), position="3", sells="9"), 0, None),
        (RiskLimits(max_orders_per_minute=3), proposal(exit_("1"), entry("1", "sell"), position="1"), 1, None),
        (RiskLimits(max_orders_per_minute=3), proposal(exit_("1"), entry("1", "sell"), position="1"), 2,
         "2 more order(s) after 2 in the last minute would exceed risk.max_orders_per_minute 3"),
        (RiskLimits(allowed_symbols=["amd", "SQ"]), proposal(entry("1")), 0, None),
        (RiskLimits(allowed_symbols=["SQ"]), proposal(exit_("1"), position="1"), 0, "AMD is not in risk.allowed_symb"),
    ],
)  # fmt: skip
def test_each_limit_passes_at_its_value_and_refuses_just_past_it(
    limits: RiskLimits, p: Proposal, recent: int, found: str | None
) -> None:
    result = breach(limits, "risk", p, recent)
    if found is None:
        assert result is None
    else:
        assert result is not None and found in result, result


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_five_failures_lets_one_probe_through_and_closes_on_its_success() -> None:
    clock, breaker = Clock(), Breaker()
    for n in range(4):
        breaker.record("alpaca", False, "TemporaryBrokerError: 503", clock(), 5)
        assert breaker.refusal("alpaca", clock(), 60, take_probe=True) is None, n
    breaker.record("alpaca", False, "TemporaryBrokerError: 503", clock(), 5)
    refusal = breaker.refusal("alpaca", clock(), 60, take_probe=True)
    assert refusal is not None and "after 5 failed submission(s)" in refusal and "in 60s" in refusal
    clock.now = 59.9
    assert breaker.refusal("alpaca", clock(), 60, take_probe=True) is not None
    clock.now = 60
    assert breaker.status(clock(), 60) == "half-open"
    assert breaker.refusal("alpaca", clock(), 60, take_probe=True) is None, "the probe goes through"
    assert "probe" in (breaker.refusal("alpaca", clock(), 60, take_probe=True) or ""), "only one probe at a time"
    breaker.record("alpaca", False, "still down", clock(), 5, probe=True)
    assert breaker.status(clock(), 60) == "open", "a failed probe reopens for another cooldown"
    clock.now = 120
    assert breaker.refusal("alpaca", clock(), 60, take_probe=True) is None
    breaker.record("alpaca", True, "", clock(), 5, probe=True)
    assert breaker.status(clock(), 60) == "closed" and breaker.failures == 0


def test_an_order_sent_before_the_circuit_opened_neither_closes_it_nor_ends_the_probes_turn() -> None:
    """Orders of other tickers run side by side: one sent before the circuit opened may be answered after."""
    clock, breaker = Clock(), Breaker()
    for _ in range(5):
        breaker.record("alpaca", False, "TemporaryBrokerError: 503", clock(), 5)
    clock.now = 1
    breaker.record("alpaca", True, "", clock(), 5)  # a slow order sent before the opening, filled just now
    assert breaker.status(clock(), 60) == "open", "an old success does not send orders to a failing broker again"
    refusal = breaker.refusal("alpaca", clock(), 60, take_probe=True)
    assert refusal is not None and "in 59s" in refusal
    clock.now = 60
    assert breaker.refusal("alpaca", clock(), 60, take_probe=True) is None, "the probe goes through"
    breaker.record("alpaca", False, "ReadTimeout", clock(), 5)  # another old order, failed meanwhile
    assert "probe" in (breaker.refusal("alpaca", clock(), 60, take_probe=True) or ""), "still only the probe is out"
    assert breaker.failures == 6 and breaker.last_error == "ReadTimeout"
    breaker.record("alpaca", True, "", clock(), 5, probe=True)  # the probe's own answer decides
    assert breaker.status(clock(), 60) == "closed" and breaker.failures == 0


class HeldAnswers:
    """A broker whose answers the test gives one by one: orders of other tickers are in flight side by side."""

    def __init__(self) -> None:
        self.answers: dict[str, asyncio.Future[Order]] = {}

    async def create_order(self, request: OrderRequest) -> Order:
        self.answers[request.client_order_id] = asyncio.get_running_loop().create_future()
        return await self.answers[request.client_order_id]


def buy(coid: str) -> OrderRequest:
    return OrderRequest(coid, "AMD", "buy", D(1))


async def test_through_the_guard_an_order_answered_after_the_circuit_opened_does_not_close_it(
    fresh_store: Store,
) -> None:
    config = Config.model_construct(risk=GlobalRisk())  # five failures open it for 60 s
    guard, broker = Guard(fresh_store, lambda: config, Clock()), HeldAnswers()
    early = asyncio.ensure_future(guard.create_order("alpaca", broker, buy("early"), "sq"))  # type: ignore[arg-type]
    failing = [asyncio.ensure_future(guard.create_order("alpaca", broker, buy(f"f{i}"), "sq")) for i in range(5)]  # type: ignore[arg-type]
    await eventually(lambda: len(broker.answers) == 6, "six orders sent")
    assert sorted(broker.answers) == ["early", "f0", "f1", "f2", "f3", "f4"]  # all six sent while it was closed
    for i in range(5):
        broker.answers[f"f{i}"].set_exception(TemporaryBrokerError("503 Service Unavailable"))
    await asyncio.gather(*failing, return_exceptions=True)
    assert guard.status() == {"alpaca": "open"}
    broker.answers["early"].set_result(Order("early", "AMD", "buy", D(1), "market", "filled", filled_quantity=D(1)))
    assert (await early).status == "filled"
    assert guard.status() == {"alpaca": "open"}
    with pytest.raises(SubmitRefused, match="circuit breaker is open after 5 failed"):
        await guard.create_order("alpaca", broker, buy("next"), "sq")  # type: ignore[arg-type]
    assert "next" not in broker.answers


def test_a_success_resets_the_count_and_zero_never_opens() -> None:
    breaker = Breaker()
    for _ in range(3):
        for _ in range(4):
            breaker.record("b", False, "x", 0.0, 5)
        breaker.record("b", True, "", 0.0, 5)
    assert breaker.status(0.0, 60) == "closed"
    for _ in range(100):
        breaker.record("b", False, "x", 0.0, 0)
    assert breaker.status(0.0, 60) == "closed"


def test_limits_reject_with_a_sentence_and_never_reach_the_broker(start_daemon: Any) -> None:
    subscriptions = ("    subscriptions:\n      - broker: paper\n        allow_add: true\n"
                     "        risk: {max_order_quantity: 10, max_position: 15}\n")  # fmt: skip
    daemon: Daemon = start_daemon({"sq": strategy(extra=RELAXED + subscriptions)},
                                  top="risk: {allowed_symbols: [AMD, SQ, NEW], max_notional: 5000}\n")  # fmt: skip
    cases = {
        "too big": ({"ticker": "AMD", "action": "buy", "quantity": 11, "price": 10}, "rejected",
                    "subscription paper's risk.max_order_quantity 10"),
        "at the limit": ({"ticker": "AMD", "action": "buy", "quantity": 10, "price": 10}, "executed", "opened long 10"),
        "over the position": ({"ticker": "AMD", "action": "add", "quantity": 6, "price": 10}, "rejected",
                              "leave long 16 AMD, over subscription paper's risk.max_position 15"),
        "exit is never blocked by size": ({"ticker": "AMD", "action": "exit", "price": 10}, "executed", "sold 10"),
        "not allowed": ({"ticker": "TSLA", "action": "buy", "quantity": 1, "price": 10}, "rejected",
                        "TSLA is not in risk.allowed_symbols (AMD, SQ, NEW)"),
        "too much money": ({"ticker": "SQ", "action": "buy", "quantity": 9, "price": 600}, "rejected",
                           "5400 notional, over risk.max_notional 5000"),
        "no price": ({"ticker": "NEW", "action": "buy", "quantity": 1}, "rejected", "max_notional needs a price"),
    }  # fmt: skip
    outcomes = {}
    for name, (signal, _, _) in cases.items():
        outcomes[name] = daemon.wait_final(daemon.post(signal).json()["id"])
    for name, (_, state, fragment) in cases.items():
        assert outcomes[name]["state"] == state, (name, outcomes[name]["decision"])
        assert fragment in outcomes[name]["decision"], (name, outcomes[name]["decision"])
        if state == "rejected":
            assert "nothing was sent" in outcomes[name]["decision"]
    sent = [
        (r["symbol"], r["side"], D(r["quantity"])) for r in rows(daemon.db, "SELECT * FROM paper_orders ORDER BY rowid")
    ]
    assert sent == [("AMD", "buy", 10), ("AMD", "sell", 10)], "only the allowed orders reached the broker"
    assert rows(daemon.db, "SELECT count(*) FROM orders")[0][0] == 2, "a refused plan commits no order row"


def test_max_position_counts_entries_still_working_at_the_broker(start_daemon: Any) -> None:
    """Two resting 100-share limit buys under max_position 100: the second would make long 200 once both fill.

    The position is flat while the first rests, and `cancel_open_orders` is off by default: each entry
    must count what already works at the broker, or a leaked token stacks any number of them.
    """
    subscriptions = "    subscriptions:\n      - broker: paper\n        risk: {max_position: 100}\n"
    daemon: Daemon = start_daemon({"sq": strategy(extra=RELAXED + subscriptions)})
    first = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "buy", "quantity": 100, "price": 100,
                                           "orderType": "limit", "limitPrice": 95}).json()["id"])  # fmt: skip
    assert first["state"] == "executed", first["decision"]
    second = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "buy", "quantity": 100, "price": 100,
                                            "orderType": "limit", "limitPrice": 94}).json()["id"])  # fmt: skip
    assert second["state"] == "rejected", second["decision"]
    assert "100 more in buy orders still working (long 200 if they fill)" in second["decision"]
    working = rows(daemon.db, "SELECT quantity FROM paper_orders WHERE status = 'open' AND symbol = 'AMD'")
    assert [D(r["quantity"]) for r in working] == [100], "only the first entry reached the broker"


def test_a_sell_limit_far_below_the_market_is_valued_at_the_market_under_max_notional(start_daemon: Any) -> None:
    """A short of 100,000 AMD as a sell limit at 0.01, AMD at 100: 10,000,000 of exposure, not 1,000."""
    daemon: Daemon = start_daemon({"sq": strategy()}, top="risk: {max_notional: 10000}\n")
    final = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "sell", "quantity": 100000, "price": 100,
                                           "orderType": "limit", "limitPrice": 0.01}).json()["id"])  # fmt: skip
    assert final["state"] == "rejected", final["decision"]
    assert "at 100 is 10000000 notional, over risk.max_notional 10000" in final["decision"]
    assert rows(daemon.db, "SELECT count(*) FROM paper_orders")[0][0] == 0


def test_max_notional_values_a_market_order_at_the_quote_not_at_a_forged_signal_price(tmp_path: Path) -> None:
    """AMD trades at 150 at Alpaca (the fake): a market buy of 500 claiming `"price": 1` is 75,000, not 500."""
    fake = FakeAlpaca()
    with LocalServer(fake.app) as server:
        port = free_port()
        config = tmp_path / "config.yaml"
        config.write_text(
            f"server: {{host: 127.0.0.1, port: {port}, admin_token: {ADMIN}}}\n"
            "risk: {max_notional: 10000}\n"
            "brokers:\n  alpaca:\n    plugin: alpaca\n"
            f"    options: {{key_id: {KEY_ID}, secret_key: '${{ALPACA_SECRET}}', base_url: '{server.url}',"
            f" data_url: '{server.url}', max_requests_per_minute: 6000}}\n"
            f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: alpaca\n"
        )
        daemon = Daemon(config=config, port=port, env={"ALPACA_SECRET": SECRET_KEY}).start()
        try:
            final = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "buy", "quantity": 500,
                                                   "price": 1}).json()["id"])  # fmt: skip
        finally:
            daemon.stop()
    assert final["state"] == "rejected", final["decision"]
    assert "at 150 is 75000 notional, over risk.max_notional 10000" in final["decision"]
    assert not fake.order_requests, "an order over max_notional reached the venue"


FLAKY_VENUE = '''
from pathlib import Path

from bridge.brokers.paper import PaperBroker
from bridge.errors import BrokerError, OrderRejected, TemporaryBrokerError

HERE = Path(__file__).parent


class FlakyPaper(PaperBroker):
    """The paper book behind a venue that is down while a file named `down` exists; every attempt is logged."""

    async def create_order(self, request):
        with (HERE / "attempts.log").open("a") as log:
            log.write(request.client_order_id + "\\n")
        if (HERE / "down").exists():
            raise TemporaryBrokerError("venue unavailable (503)")
        return await super().create_order(request)
'''


def test_the_circuit_breaker_stops_sending_to_a_failing_broker_then_a_probe_closes_it(start_daemon: Any) -> None:
    import time

    import httpx

    daemon: Daemon = start_daemon({"sq": strategy(), "leak": strategy(LEAKED)}, plugin="flaky:FlakyPaper",
                                  files={"flaky.py": FLAKY_VENUE},
                                  top="risk: {breaker_failures: 3, breaker_cooldown: 1}\n")  # fmt: skip
    down = daemon.config.parent / "down"
    attempts = daemon.config.parent / "attempts.log"
    down.write_text("")
    finals = [daemon.wait_final(daemon.post({"ticker": f"T{n}", "action": "buy", "price": 5}).json()["id"])
              for n in range(5)]  # fmt: skip
    assert len(attempts.read_text().split()) == 3, "after 3 failures in a row the broker is not called again"
    assert [f["state"] for f in finals] == ["failed"] * 3 + ["rejected"] * 2
    assert "circuit breaker is open after 3 failed submission(s)" in finals[3]["decision"]
    other = daemon.wait_final(daemon.post({"ticker": "T9", "action": "buy", "price": 5},
                                          url=f"{daemon.base}/webhook/leak/{LEAKED}").json()["id"])  # fmt: skip
    assert "broker paper's circuit breaker is open" in other["decision"], "an outage stops every strategy"
    assert len(attempts.read_text().split()) == 3
    assert httpx.get(f"{daemon.base}/health").json()["circuit_breakers"] == {"paper": "open"}

    down.unlink()
    time.sleep(1.1)  # the cooldown: the next order is the probe
    probe = daemon.wait_final(daemon.post({"ticker": "PROBE", "action": "buy", "price": 5}).json()["id"])
    assert probe["state"] == "executed"
    assert httpx.get(f"{daemon.base}/health").json()["circuit_breakers"] == {"paper": "closed"}
    after = daemon.wait_final(daemon.post({"ticker": "AFTER", "action": "buy", "price": 5}).json()["id"])
    assert after["state"] == "executed" and len(attempts.read_text().split()) == 5


def test_max_orders_per_minute_holds_for_a_burst_over_many_tickers(start_daemon: Any) -> None:
    # A bar close: eight tickers' alerts at once, each on its own queue, all planned before any commits.
    daemon: Daemon = start_daemon({"sq": strategy()}, top="risk: {max_orders_per_minute: 2}\n")
    tickers = [f"T{n}" for n in range(8)]
    with ThreadPoolExecutor(len(tickers)) as pool:
        answers = list(pool.map(lambda t: daemon.post({"ticker": t, "action": "buy", "price": 10}), tickers))
    finals = [daemon.wait_final(answer.json()["id"]) for answer in answers]
    executed = [f["ticker"] for f in finals if f["state"] == "executed"]
    assert len(executed) == 2, {f["ticker"]: f["decision"] for f in finals}
    refused = [f["decision"] for f in finals if f["state"] == "rejected"]
    assert len(refused) == 6 and all("risk.max_orders_per_minute 2" in d for d in refused)
    assert rows(daemon.db, "SELECT count(*) FROM paper_orders")[0][0] == 2


class Scripted:
    """A venue that refuses orders in symbols starting with BAD, is down while `down`, and fills the rest."""

    def __init__(self) -> None:
        self.down = False
        self.sent: list[str] = []

    async def create_order(self, request: OrderRequest) -> Order:
        self.sent.append(request.client_order_id)
        if self.down:
            raise TemporaryBrokerError("503 Service Unavailable")
        if request.symbol.startswith("BAD"):
            raise OrderRejected(f"unknown symbol {request.symbol}")
        return Order(request.client_order_id, request.symbol, request.side, request.quantity, "market", "filled",
                     filled_quantity=request.quantity)  # fmt: skip


async def test_the_venues_refusals_open_one_strategys_circuit_and_an_outage_the_brokers(fresh_store: Store) -> None:
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=3, breaker_cooldown=60))
    clock = Clock()
    guard, venue = Guard(fresh_store, lambda: config, clock), Scripted()

    async def send(coid: str, strategy: str, symbol: str = "AMD") -> str:
        try:
            await guard.create_order("alpaca", venue, OrderRequest(coid, symbol, "sell", D(1)), strategy)  # type: ignore[arg-type]
        except BrokerError as exc:
            return str(exc)
        return "filled"

    for n in range(3):
        assert "unknown symbol" in await send(f"bad{n}", "leak", "BADSYM")
    refused = await send("bad3", "leak", "BADSYM")
    assert "strategy leak's circuit breaker at broker alpaca is open after 3 order(s) refused" in refused
    assert "bad3" not in venue.sent
    assert await send("exit", "sq") == "filled", "another strategy's exit is held by leak's refused orders"
    assert guard.status() == {"alpaca": "closed"}
    assert guard.strategy_status() == {"alpaca": {"leak": "open", "sq": "closed"}}

    venue.down = True  # an outage: every strategy's orders stop after three failures, whoever sent them
    for n in range(3):
        assert "503" in await send(f"down{n}", "sq")
    assert "broker alpaca's circuit breaker is open after 3 failed" in await send("other", "other")
    assert guard.status() == {"alpaca": "open"}

    venue.down, clock.now = False, 60.0  # after the cooldown one probe goes, and its success closes the circuit
    assert await send("probe", "other") == "filled"
    assert guard.status() == {"alpaca": "closed"}
    assert "probe" in venue.sent and len([c for c in venue.sent if c.startswith("down")]) == 3
    # leak's own circuit probes on its own: one order, refused again, opens it for another cooldown.
    assert "unknown symbol" in await send("bad4", "leak", "BADSYM")
    assert "order(s) refused by the venue in a row" in await send("bad5", "leak", "BADSYM")
    assert "bad5" not in venue.sent


async def test_a_probe_our_own_throttle_held_unsent_gives_its_turn_back(fresh_store: Store) -> None:
    """Held unsent (too late for its signal), the probe told nothing of the venue: neither circuit may stay waiting for
    its answer, nor count it, or the next order is refused as 'one probe order is on its way' for good."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=2, breaker_cooldown=60))
    clock = Clock()
    guard, venue = Guard(fresh_store, lambda: config, clock), Scripted()
    venue.down = True
    for n in range(2):
        with pytest.raises(TemporaryBrokerError):
            await guard.create_order("alpaca", venue, OrderRequest(f"down{n}", "AMD", "buy", D(1)), "sq")  # type: ignore[arg-type]
    for _ in range(2):  # the strategy's own circuit too: the venue refused two of its entries
        guard.strategy_breaker("alpaca", "sq").record("alpaca", False, "refused", clock(), 2)
    clock.now = 60.0

    class Late(Scripted):
        async def create_order(self, request: OrderRequest) -> Order:
            raise HeldUnsent("held by the rate limit; nothing was sent")

    with pytest.raises(HeldUnsent):
        await guard.create_order("alpaca", Late(), OrderRequest("late", "AMD", "buy", D(1)), "sq")  # type: ignore[arg-type]
    assert guard.breaker("alpaca").failures == 2 and guard.strategy_breaker("alpaca", "sq").failures == 2
    venue.down = False
    probe = await guard.create_order("alpaca", venue, OrderRequest("probe", "AMD", "buy", D(1)), "sq")  # type: ignore[arg-type]
    assert probe.status == "filled", "the probe's turn stayed taken by the order held unsent"
    assert guard.status() == {"alpaca": "closed"} and guard.strategy_status() == {"alpaca": {"sq": "closed"}}


def test_a_strategy_whose_orders_are_refused_does_not_stop_another_strategys_exit(start_daemon: Any) -> None:
    """Buys far beyond the paper account's cash, sent with a leaked token, are refused by the venue one by one.

    Before, five of them opened the broker's circuit: the other strategy's exit was refused for a minute.
    """
    import httpx

    daemon: Daemon = start_daemon({"sq": strategy(), "leak": strategy(LEAKED)},
                                  top="risk: {breaker_failures: 3, breaker_cooldown: 600}\n")  # fmt: skip
    leak = f"{daemon.base}/webhook/leak/{LEAKED}"
    opened = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "buy", "quantity": 10,
                                            "price": 10}).json()["id"])  # fmt: skip
    assert opened["state"] == "executed", opened["decision"]
    finals = [daemon.wait_final(daemon.post({"ticker": f"T{n}", "action": "buy", "quantity": 1000000, "price": 100},
                                            url=leak).json()["id"]) for n in range(4)]  # fmt: skip
    assert all("insufficient buying power" in f["decision"] for f in finals[:3]), [f["decision"] for f in finals]
    assert "strategy leak's circuit breaker at broker paper is open" in finals[3]["decision"]
    closed = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "exit", "price": 10}).json()["id"])
    assert closed["state"] == "executed", closed["decision"]
    assert daemon.positions().get("AMD", 0) == 0
    health = httpx.get(f"{daemon.base}/health").json()
    assert health["circuit_breakers"] == {"paper": "closed"}
    assert health["strategy_circuit_breakers"] == {"paper": {"leak": "open", "sq": "closed"}}


def test_another_strategys_orders_use_up_max_orders_per_minute_for_entries_but_never_block_an_exit(
    start_daemon: Any,
) -> None:
    """The top-level limit is shared: a leaked token spends it for every strategy's entries, not for their exits."""
    daemon: Daemon = start_daemon({"sq": strategy(), "leak": strategy(LEAKED)},
                                  top="risk: {max_orders_per_minute: 3}\n")  # fmt: skip
    leak = f"{daemon.base}/webhook/leak/{LEAKED}"
    opened = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "buy", "price": 10}).json()["id"])
    assert opened["state"] == "executed", opened["decision"]
    spent = [daemon.wait_final(daemon.post({"ticker": f"T{n}", "action": "buy", "price": 10}, url=leak).json()["id"])
             for n in range(3)]  # fmt: skip
    assert [f["state"] for f in spent] == ["executed", "executed", "rejected"], [f["decision"] for f in spent]
    entry = daemon.wait_final(daemon.post({"ticker": "MSFT", "action": "buy", "price": 10}).json()["id"])
    assert "risk.max_orders_per_minute 3" in entry["decision"], "entries share the limit"
    closed = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "exit", "price": 10}).json()["id"])
    assert closed["state"] == "executed", closed["decision"]
    assert "AMD" not in daemon.positions()


def test_a_swap_whose_entry_other_strategies_orders_leave_no_room_for_still_exits(start_daemon: Any) -> None:
    """A sell while long is an exit and a short entry: the shared limit may refuse the entry, never the exit."""
    daemon: Daemon = start_daemon({"sq": strategy(), "leak": strategy(LEAKED)},
                                  top="risk: {max_orders_per_minute: 3}\n")  # fmt: skip
    leak = f"{daemon.base}/webhook/leak/{LEAKED}"
    opened = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "buy", "price": 10}).json()["id"])
    assert opened["state"] == "executed", opened["decision"]
    for n in range(2):
        spent = daemon.wait_final(daemon.post({"ticker": f"T{n}", "action": "buy", "price": 10}, url=leak).json()["id"])
        assert spent["state"] == "executed", spent["decision"]
    swap = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "sell", "price": 10}).json()["id"])
    assert swap["state"] == "executed", swap["decision"]
    assert "only the exit was sent" in swap["decision"] and "risk.max_orders_per_minute 3" in swap["decision"]
    assert "AMD" not in daemon.positions(), "the long was closed, and no short opened"
    sells = rows(daemon.db, "SELECT leg, status FROM orders WHERE symbol = 'AMD' AND side = 'sell'")
    assert [(r["leg"], r["status"]) for r in sells] == [("exit", "filled")]


async def test_the_shared_limit_leaves_a_swap_its_exit_for_others_orders_not_its_own(fresh_store: Store) -> None:
    config = Config.model_construct(risk=GlobalRisk(max_orders_per_minute=3))
    guard, sub = Guard(fresh_store, lambda: config), Subscription(broker="paper")
    swap = proposal(exit_("1"), entry("1", "sell"), position="1")
    spend = proposal(entry("1"), entry("1"), ticker="T1")
    assert (await guard.check_plan("leak", "paper", "paper", sub, spend, hold=("s1", "paper"))).legs == spend.legs
    admission = await guard.check_plan("sq", "paper", "paper", sub, swap, hold=("s2", "paper"))
    assert admission.refusal is not None and "risk.max_orders_per_minute 3" in admission.refusal
    assert admission.legs == (swap.legs[0],), "other strategies' orders held back the exit"
    guard.release(("s1", "paper"))
    guard.release(("s2", "paper"))
    assert (await guard.check_plan("sq", "paper", "paper", sub, spend, hold=("s3", "paper"))).refusal is None
    admission = await guard.check_plan("sq", "paper", "paper", sub, swap, hold=("s4", "paper"))
    assert admission.legs == (swap.legs[0],), "its own 2 orders of 3 leave room for its exit, as for an exit alone"
    guard.release(("s4", "paper"))
    third = proposal(entry("1"), ticker="T3")
    assert (await guard.check_plan("sq", "paper", "paper", sub, third, hold=("s5", "paper"))).refusal is None
    admission = await guard.check_plan("sq", "paper", "paper", sub, swap, hold=("s6", "paper"))
    assert admission.refusal is not None and admission.legs == (), "its own runaway orders stop the whole plan"


@pytest.mark.parametrize(
    ("limits", "legs"),
    [
        (GlobalRisk(max_order_quantity=D(20)), 1),
        (GlobalRisk(max_position=D(20)), 1),
        (GlobalRisk(max_notional=D(1000)), 1),
        (GlobalRisk(allowed_symbols=["SQ"]), 0),  # it refuses the exit too
    ],
)
async def test_a_swap_refused_for_its_entry_alone_still_sends_its_exit(fresh_store: Store, limits: GlobalRisk,
                                                                       legs: int) -> None:  # fmt: skip
    config = Config.model_construct(risk=limits)
    guard, sub = Guard(fresh_store, lambda: config), Subscription(broker="paper")
    swap = proposal(exit_("10"), entry("50", "sell"), position="10")
    admission = await guard.check_plan("sq", "paper", "paper", sub, swap)
    assert admission.refusal is not None and admission.legs == swap.legs[:legs], admission


def test_a_strategys_own_open_circuit_holds_its_entries_but_lets_its_exits_close(start_daemon: Any) -> None:
    """Its refused orders open its circuit at the broker: it must still be able to close what it holds.

    Before, the open circuit refused its exit and the exit half of its swap too: the position stayed open.
    """
    import httpx

    daemon: Daemon = start_daemon({"sq": strategy()}, top="risk: {breaker_failures: 3, breaker_cooldown: 600}\n")
    for ticker in ("AMD", "MSFT"):
        opened = daemon.wait_final(daemon.post({"ticker": ticker, "action": "buy", "quantity": 10,
                                                "price": 10}).json()["id"])  # fmt: skip
        assert opened["state"] == "executed", opened["decision"]
    for n in range(3):  # far beyond the account's cash: the venue refuses each
        refused = daemon.wait_final(daemon.post({"ticker": f"T{n}", "action": "buy", "quantity": 1000000,
                                                 "price": 100}).json()["id"])  # fmt: skip
        assert "insufficient buying power" in refused["decision"], refused["decision"]
    assert httpx.get(f"{daemon.base}/health").json()["strategy_circuit_breakers"] == {"paper": {"sq": "open"}}
    entry = daemon.wait_final(daemon.post({"ticker": "NEW", "action": "buy", "price": 10}).json()["id"])
    assert entry["state"] == "rejected" and "strategy sq's circuit breaker at broker paper is open" in entry["decision"]
    assert "(its exits still go)" in entry["decision"], entry["decision"]
    closed = daemon.wait_final(daemon.post({"ticker": "AMD", "action": "exit", "price": 10}).json()["id"])
    assert closed["state"] == "executed", closed["decision"]
    swap = daemon.wait_final(daemon.post({"ticker": "MSFT", "action": "sell", "price": 10}).json()["id"])
    assert swap["state"] == "executed", swap["decision"]
    assert "only the exit was sent" in swap["decision"] and "circuit breaker" in swap["decision"]
    assert "AMD" not in daemon.positions() and "MSFT" not in daemon.positions(), daemon.positions()
    assert "NEW" not in daemon.positions()
    assert httpx.get(f"{daemon.base}/health").json()["strategy_circuit_breakers"] == {"paper": {"sq": "open"}}


async def test_an_exit_passes_its_strategys_open_circuit_but_not_the_brokers(fresh_store: Store) -> None:
    """An exit planned before the strategy's circuit opened is still sent; during an outage only the probe goes."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=3, breaker_cooldown=60))
    clock = Clock()
    guard, venue = Guard(fresh_store, lambda: config, clock), Scripted()

    async def send(coid: str, symbol: str = "AMD", reduce_only: bool = False) -> str:
        request = OrderRequest(coid, symbol, "sell", D(1), reduce_only=reduce_only)
        try:
            await guard.create_order("alpaca", venue, request, "sq")  # type: ignore[arg-type]
        except BrokerError as exc:
            return str(exc)
        return "filled"

    for n in range(3):
        assert "unknown symbol" in await send(f"bad{n}", "BADSYM")
    assert "strategy sq's circuit breaker" in await send("entry")
    assert await send("exit", reduce_only=True) == "filled"
    assert guard.strategy_status() == {"alpaca": {"sq": "open"}}, "an exit is no probe: it says nothing of entries"
    clock.now = 60.0
    assert await send("exit2", reduce_only=True) == "filled"
    assert guard.strategy_status() == {"alpaca": {"sq": "half-open"}}, "an exit does not take the probe's turn"
    assert await send("probe") == "filled"
    assert guard.strategy_status() == {"alpaca": {"sq": "closed"}}

    venue.down = True  # an outage: sending fails anyway, so an exit waits for the broker's probe as any order does
    for n in range(3):
        assert "503" in await send(f"down{n}", reduce_only=True)
    assert "broker alpaca's circuit breaker is open" in await send("held", reduce_only=True)
    assert "held" not in venue.sent
    venue.down, clock.now = False, 120.0
    assert await send("exit-probe", reduce_only=True) == "filled", "an exit may be the broker's probe"
    assert guard.status() == {"alpaca": "closed"}
