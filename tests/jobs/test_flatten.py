"""`flatten_at` on a controlled clock: 15:55 New York closes the subscription's positions; weekends do nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.config.load import parse_config
from bridge.config.schema import Subscription
from bridge.errors import ConfigError
from bridge.jobs.flatten import GRACE_SECONDS, _tickers_to_close, flatten, flatten_trigger
from bridge.jobs.orders import poll_orders
from bridge.notify.events import Event
from tests.conftest import ADMIN, TOKEN, eventually
from tests.jobs.conftest import OTHER_TOKEN, Clock, config_text, two_strategies
from tests.jobs.venue import FillingPaper, FlakyPaper, RefusingPaper, StallingPaper

NY = ZoneInfo("America/New_York")
MONDAY_1555 = datetime(2026, 11, 23, 15, 55, tzinfo=NY)
SATURDAY_1555 = datetime(2026, 11, 28, 15, 55, tzinfo=NY)
FLATTEN = 'flatten_at: "15:55"\ntimezone: America/New_York'
# Where the tests' clocks start: not the real time, at which a start or a reload within 5 minutes after a weekday's
# 15:55 in New York runs a flatten of its own.
BEFORE = MONDAY_1555 - timedelta(hours=1)


async def open_positions(r: Any) -> None:
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted(ticker="TSLA", action="sell", price=200)
    await r.accepted("other", ticker="NVDA", action="buy", price=50)  # another strategy, same broker account
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": 1, "NVDA": 1, "TSLA": -1}


async def test_flatten_at_closes_the_positions_the_subscription_opened(bridges: Any) -> None:
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await open_positions(r)
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 2
    assert await flatten(r.bridge, "sq", "paper") == 0, "a second run that day queues nothing more"
    await r.bridge.queues.join()
    assert await r.positions() == {"NVDA": Decimal(1)}, "the other strategy's position is not this subscription's"
    exits = r.rows(
        "SELECT s.ticker, s.action, s.state, o.side, o.type, o.status, o.client_order_id FROM signals s "
        "JOIN orders o ON o.signal_id = s.id WHERE s.webhook_id = 'job:flatten_at' ORDER BY s.ticker"
    )
    assert [(e["ticker"], e["action"], e["state"], e["side"], e["type"], e["status"]) for e in exits] == [
        ("AMD", "exit", "executed", "sell", "market", "filled"),
        ("TSLA", "exit", "executed", "buy", "market", "filled"),
    ]
    assert all(e["client_order_id"].startswith("tb-") for e in exits)


async def test_flatten_at_leaves_a_position_the_subscription_closed_and_another_strategy_reopened(
    bridges: Any,
) -> None:
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted(ticker="AMD", action="exit", price=101)  # the day trade is closed
    await r.accepted("other", ticker="AMD", action="buy", price=102, quantity=10)  # a swing trade, same account
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}
    clock.now = MONDAY_1555
    queued = await flatten(r.bridge, "sq", "paper")
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}, "the other strategy's position is not this subscription's"
    assert queued == 0


async def test_flatten_at_does_nothing_on_a_weekend(bridges: Any) -> None:
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await open_positions(r)
    clock.now = SATURDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 0
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": 1, "NVDA": 1, "TSLA": -1}
    assert r.rows("SELECT * FROM signals WHERE webhook_id = 'job:flatten_at'") == []


def test_the_flatten_job_fires_at_1555_new_york_on_weekdays_only() -> None:
    trigger = flatten_trigger(Subscription(broker="paper", flatten_at="15:55", timezone="America/New_York"))
    friday_after_close = datetime(2026, 11, 27, 16, 0, tzinfo=NY)
    assert trigger.get_next_fire_time(None, friday_after_close) == datetime(2026, 11, 30, 15, 55, tzinfo=NY)
    # US daylight saving time starts on Sunday 2027-03-14: 15:55 in New York moves from 20:55 to 19:55 UTC.
    saturday_before = datetime(2027, 3, 13, 12, 0, tzinfo=NY)
    assert trigger.get_next_fire_time(None, saturday_before) == datetime(2027, 3, 15, 19, 55, tzinfo=UTC)


CAIRO = ZoneInfo("Africa/Cairo")  # its clocks change on weekdays: Friday 2026-04-24 00:00 -> 01:00, Thursday
# 2026-10-29 24:00 -> 23:00 (US and European clocks change on Sundays, when no flatten runs)


def test_a_flatten_time_the_clocks_skip_runs_that_day_and_one_they_repeat_runs_once() -> None:
    """APScheduler's cron skipped Friday's 00:30 flatten outright (that day has no 00:30): a position held over."""
    skipped = flatten_trigger(Subscription(broker="paper", flatten_at="00:30", timezone="Africa/Cairo"))
    friday = skipped.get_next_fire_time(None, datetime(2026, 4, 23, 12, 0, tzinfo=CAIRO))
    assert friday is not None and friday.astimezone(CAIRO).date() == date(2026, 4, 24), friday
    assert friday == datetime(2026, 4, 23, 22, 30, tzinfo=UTC), "as if the clocks had not moved: 01:30 by the new"

    repeated = flatten_trigger(Subscription(broker="paper", flatten_at="23:30", timezone="Africa/Cairo"))
    first = repeated.get_next_fire_time(None, datetime(2026, 10, 29, 12, 0, tzinfo=CAIRO))
    assert first == datetime(2026, 10, 29, 20, 30, tzinfo=UTC), "the first 23:30 (summer time)"
    after = repeated.get_next_fire_time(first, first + timedelta(seconds=1))
    assert after == datetime(2026, 10, 30, 21, 30, tzinfo=UTC), "Friday's, not Thursday's second 23:30"


async def test_a_reload_rebuilds_the_flatten_jobs(bridges: Any) -> None:
    r = await bridges(config_text(), Clock())
    assert "cfg:flatten:sq:paper" not in r.bridge.jobs.next_runs()
    r.bridge.loaded.path.write_text(config_text(FLATTEN))
    assert (await r.bridge.reload("test")).ok
    next_run = r.bridge.jobs.next_runs()["cfg:flatten:sq:paper"]
    assert next_run is not None
    local = next_run.astimezone(NY)
    assert (local.hour, local.minute) == (15, 55) and local.weekday() < 5
    r.bridge.loaded.path.write_text(config_text())
    assert (await r.bridge.reload("test")).ok
    assert "cfg:flatten:sq:paper" not in r.bridge.jobs.next_runs()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("flatten_at: 15:55", 'write the time in quotes, e.g. "15:55"'),
        ('flatten_at: "3:55pm"', 'expected a 24-hour local time such as "15:55"'),
        ('flatten_at: "15:55"\ntimezone: New_York', "unknown time zone 'New_York'"),
    ],
)
def test_a_bad_flatten_setting_is_refused_with_a_fix(setting: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_text(setting), "c.yaml")
    assert message in str(caught.value)


async def test_flatten_at_finds_the_orders_an_older_version_journaled_under_the_first_subscriptions_old_key(
    bridges: Any,
) -> None:
    clock = Clock(BEFORE)
    r = await bridges(two_strategies(["broker: paper\n" + FLATTEN, "broker: paper\ntickers: [TSLA]"]), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    # Older versions keyed the first of two unnamed subscriptions on one broker `paper-1` (it is `paper` now).
    r.bridge.store.conn.execute("UPDATE orders SET subscription = 'paper-1' WHERE subscription = 'paper'")
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {}


async def test_a_flatten_run_late_past_local_midnight_closes_fridays_positions(bridges: Any) -> None:
    clock = Clock(BEFORE)
    r = await bridges(config_text('flatten_at: "23:58"\ntimezone: America/New_York'), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    clock.now = datetime(2026, 11, 28, 0, 1, tzinfo=NY)  # Friday's 23:58 run, 3 minutes late: within its grace
    assert await flatten(r.bridge, "sq", "paper") == 1, "Friday's flatten, not a Saturday's that does nothing"
    await r.bridge.queues.join()
    assert await r.positions() == {}
    clock.now = datetime(2026, 11, 28, 0, 5, tzinfo=NY)  # past the grace: Saturday now, no run of its own
    assert await flatten(r.bridge, "sq", "paper") == 0


async def test_a_restart_minutes_after_flatten_at_still_flattens_but_not_once_its_grace_is_over(
    bridges: Any,
) -> None:
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    await r.bridge.stop()
    clock.now = datetime(2026, 11, 23, 16, 10, tzinfo=NY)  # a Monday, 15 minutes late: too late to act on
    late = await bridges(config_text(FLATTEN), clock)
    await late.bridge.queues.join()
    assert await late.positions() == {"AMD": Decimal(1)}
    await late.bridge.stop()
    clock.now = datetime(2026, 11, 24, 15, 57, tzinfo=NY)  # Tuesday: the daemon was down at 15:55, back at 15:57
    again = await bridges(config_text(FLATTEN), clock)
    await again.bridge.queues.join()
    assert await again.positions() == {}, "the scheduler alone would next flatten on Wednesday"


async def test_flatten_at_closes_the_positions_of_a_subscription_that_ignores_exit_signals(bridges: Any) -> None:
    # ignore_exits is about the sender's exit signals (the brackets close the trades); the subscription's own
    # schedule must still close what it holds, or the position is kept overnight.
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN + "\nignore_exits: true"), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted(ticker="AMD", action="exit", price=101)
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(1)}, "the sender's exit is ignored, as configured"
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {}
    [row] = r.rows("SELECT e.state FROM executions e JOIN signals s ON s.id = e.signal_id "
                   "WHERE s.webhook_id = 'job:flatten_at'")  # fmt: skip
    assert row["state"] == "executed"


async def test_flatten_at_cancels_the_tickers_resting_orders_whatever_the_signal_may_override(bridges: Any) -> None:
    # The flatten is the bridge's own market exit that cancels first; a sender may not override `cancel` here,
    # but a resting add left working after the flatten would open a position overnight.
    clock = Clock(BEFORE)
    r = await bridges(
        config_text(FLATTEN + "\nallow_add: true\nallow_signal_overrides: [orderType, limitPrice]"), clock
    )
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted(ticker="AMD", action="buy", price=100, orderType="limit", limitPrice=90)  # rests below
    await r.bridge.queues.join()
    assert [o["status"] for o in r.rows("SELECT status FROM orders WHERE type = 'limit'")] == ["open"]
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {}
    assert [o["status"] for o in r.rows("SELECT status FROM orders WHERE type = 'limit'")] == ["canceled"]


async def test_flatten_at_closes_a_position_in_a_ticker_taken_off_the_subscriptions_tickers(bridges: Any) -> None:
    # `tickers` filters what senders may trade here; taking AMD off it must not keep the AMD already held open.
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN + "\ntickers: [AMD, TSLA]"), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    r.bridge.loaded.path.write_text(config_text(FLATTEN + "\ntickers: [TSLA]"))
    assert (await r.bridge.reload("test")).ok
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {}


async def test_flatten_at_closes_positions_whatever_the_per_minute_order_limit_has_counted(bridges: Any) -> None:
    # The limit stops a runaway sender; the schedule's own exits close what the config says to close.
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN + "\nrisk:\n  max_orders_per_minute: 2"), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted(ticker="TSLA", action="sell", price=200)
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": 1, "TSLA": -1}
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 2
    await r.bridge.queues.join()
    assert await r.positions() == {}


async def test_flatten_at_closes_a_position_in_a_symbol_since_taken_off_allowed_symbols(bridges: Any) -> None:
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN + "\nrisk:\n  allowed_symbols: [AMD, TSLA]"), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    r.bridge.loaded.path.write_text(config_text(FLATTEN + "\nrisk:\n  allowed_symbols: [TSLA]"))
    assert (await r.bridge.reload("test")).ok
    assert (await r.post(ticker="AMD", action="buy", price=100)).status_code == 200
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": 1}, "a sent buy in AMD is refused now"
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {}


async def test_a_reload_moving_flatten_at_to_a_time_just_passed_still_flattens_today(bridges: Any) -> None:
    # At 15:52 flatten_at moves from 16:00 to 15:50: the old time never comes today, the new one has just
    # passed. A restart runs a flatten up to 5 minutes late; a reload scheduled the next one for tomorrow.
    clock = Clock(BEFORE)
    r = await bridges(config_text('flatten_at: "16:00"\ntimezone: America/New_York'), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    clock.now = datetime(2026, 11, 23, 15, 52, tzinfo=NY)  # a Monday
    r.bridge.loaded.path.write_text(config_text('flatten_at: "15:50"\ntimezone: America/New_York'))
    assert (await r.bridge.reload("test")).ok
    await r.bridge.queues.join()
    assert await r.positions() == {}, "the position would be held overnight"
    r.bridge.loaded.path.write_text(config_text('flatten_at: "15:51"\ntimezone: America/New_York'))
    assert (await r.bridge.reload("test")).ok
    flattens = r.rows("SELECT id FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert len(flattens) == 1, "one flatten a day, however often a reload runs it"


async def test_a_flatten_that_expired_unsent_across_a_restart_runs_again_within_its_grace(bridges: Any) -> None:
    # The daemon journaled the 15:55 flatten, then stopped before the exit went out (here: the broker hung and the
    # stop's grace ran out; SIGKILL leaves the same rows). Back within the grace but past max_signal_age, recovery
    # expires that flatten: the restart must still close the position, as for a flatten it missed entirely.
    config = config_text(FLATTEN, extra="max_signal_age: 1\n").replace(
        "plugin: paper", "plugin: tests.jobs.venue:StallingPaper"
    )
    clock = Clock(BEFORE)
    r = await bridges(config, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    StallingPaper.stalled = True
    try:
        clock.now = MONDAY_1555
        assert await flatten(r.bridge, "sq", "paper") == 1
        await r.bridge.stop()  # the exit waits for the broker: it is still unsent when the daemon goes
    finally:
        StallingPaper.stalled = False
    [before] = r.rows("SELECT state FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert before["state"] == "received"
    clock.now = datetime(2026, 11, 23, 15, 57, tzinfo=NY)  # back 2 minutes later: within the flatten's grace
    again = await bridges(config, clock)
    await again.bridge.queues.join()
    assert await again.positions() == {}, "the position is held overnight"
    flattens = again.rows("SELECT state FROM signals WHERE webhook_id = 'job:flatten_at' ORDER BY received_at")
    assert [f["state"] for f in flattens] == ["expired", "executed"]


async def test_flatten_at_closes_a_position_the_broker_lists_in_other_letters(bridges: Any) -> None:
    """Sent as `amd`, held as AMD (as most venues list it; here the paper book saw AMD's price first): closed."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted("other", ticker="AMD", action="exit", price=99)  # rejected, nothing held; its price is seen
    await r.accepted(ticker="amd", action="buy", price=100)
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": 1}
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {}


async def test_flatten_at_leaves_a_position_the_subscription_closed_in_other_letters(bridges: Any) -> None:
    """Bought as `amd`, closed as AMD: the subscription is flat, whatever another strategy holds there since."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="amd", action="buy", price=100)
    await r.accepted(ticker="AMD", action="exit", price=101)
    await r.accepted("other", ticker="AMD", action="buy", price=102, quantity=10)  # a swing trade, same account
    await r.bridge.queues.join()
    assert await r.positions() == {"amd": 10}
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 0
    await r.bridge.queues.join()
    assert await r.positions() == {"amd": 10}


FLAKY = config_text(FLATTEN).replace("plugin: paper", "plugin: tests.jobs.venue:FlakyPaper")


async def run_job(r: Any, job_id: str) -> None:
    """Run a scheduled job's body now, as the scheduler would at its time."""
    job = r.bridge.jobs.scheduler.get_job(job_id)
    assert job is not None, f"no job {job_id}: {[j.id for j in r.bridge.jobs.scheduler.get_jobs()]}"
    await job.func()


async def run_retries(r: Any, clock: Any) -> None:
    """Run each flatten retry as the scheduler would: the test clock moved on by as long as it was scheduled after."""
    while (job := r.bridge.jobs.scheduler.get_job("cfg:flatten-retry:sq:paper")) is not None:
        r.bridge.jobs.scheduler.remove_job(job.id)
        clock.advance(max(0, round((job.trigger.run_date - datetime.now(UTC)).total_seconds())))
        await job.func()
        await r.bridge.queues.join()


async def test_a_flatten_whose_position_read_fails_is_tried_again_within_its_grace(bridges: Any) -> None:
    clock = Clock(BEFORE)
    r = await bridges(FLAKY, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    clock.now = MONDAY_1555
    FlakyPaper.failures = 2
    try:
        await run_job(r, "cfg:flatten:sq:paper")  # the venue answers 503 at 15:55
        clock.advance(15)
        await run_job(r, "cfg:flatten-retry:sq:paper")  # and once more
        clock.advance(15)
        await run_job(r, "cfg:flatten-retry:sq:paper")
    finally:
        FlakyPaper.failures = 0
    await r.bridge.queues.join()
    assert await r.positions() == {}, "a venue's brief outage at 15:55 held the position overnight"


async def test_a_flatten_whose_position_read_fails_past_its_grace_gives_up_saying_so(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(BEFORE)
    r = await bridges(FLAKY, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    clock.now = MONDAY_1555 + timedelta(seconds=GRACE_SECONDS - 5)  # the scheduler ran it late, near its grace
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    FlakyPaper.failures = 1
    try:
        await run_job(r, "cfg:flatten:sq:paper")
    finally:
        FlakyPaper.failures = 0
    assert r.bridge.jobs.scheduler.get_job("cfg:flatten-retry:sq:paper") is None, "too late to close now"
    assert "positions stay open" in caplog.text and "503 Service Unavailable" in caplog.text
    assert await r.positions() == {"AMD": Decimal(1)}
    (event,) = [e for e in events if e.kind == "flatten.missed"]  # a log line alone is read the next morning
    assert "positions stay open" in event.text and event.data["subscription"] == "paper", event


async def test_a_flatten_run_again_long_after_its_time_closes_nothing_and_says_so(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Its run again held up past the grace (the machine asleep): a late exit is a dangerous one, and it is told."""
    clock = Clock(BEFORE)
    r = await bridges(FLAKY, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    clock.now = MONDAY_1555
    FlakyPaper.failures = 1
    try:
        await run_job(r, "cfg:flatten:sq:paper")  # the venue answers 503 at 15:55
    finally:
        FlakyPaper.failures = 0
    clock.now = MONDAY_1555 + timedelta(minutes=30)  # its run again, 15 s later, came half an hour late
    await run_job(r, "cfg:flatten-retry:sq:paper")
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(1)}, "closed half an hour past its grace"
    assert any("came only at 16:25:00" in rec.getMessage() and "positions stay open" in rec.getMessage()
               for rec in caplog.records if rec.levelname == "ERROR")  # fmt: skip


async def test_a_restart_past_the_grace_of_a_flatten_that_never_ran_says_the_positions_stay_open(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(MONDAY_1555 - timedelta(hours=1))  # not the real time: after 16:00 on a weekday it warns at once
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    await r.bridge.stop()
    clock.now = datetime(2026, 11, 23, 16, 10, tzinfo=NY)  # down from before 15:55 to 16:10 on a Monday
    late = await bridges(config_text(FLATTEN), clock)
    await late.bridge.queues.join()
    assert await late.positions() == {"AMD": Decimal(1)}  # too late to act on, as before
    warned = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING" and "flatten_at" in rec.message]
    assert len(warned) == 1 and "sq/paper" in warned[0] and "still open" in warned[0], warned
    events: list[Event] = []
    late.bridge.executor.observers.append(events.append)
    await late.bridge.jobs.missed_flattens()  # as at the start, now heard by the test too
    (event,) = [e for e in events if e.kind == "flatten.missed"]
    assert "sq/paper" in event.text and "still open" in event.text, event


async def test_a_restart_after_a_flatten_that_ran_says_nothing_of_it(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    await r.bridge.stop()
    clock.now = datetime(2026, 11, 23, 17, 0, tzinfo=NY)  # restarted that evening
    await bridges(config_text(FLATTEN), clock)
    assert not [rec for rec in caplog.records if rec.levelname == "WARNING" and "flatten_at" in rec.getMessage()]


def test_a_pair_traded_as_btc_usd_is_closed_while_alpaca_lists_it_as_btcusd() -> None:
    """Alpaca lists a pair's position without its slash: a flatten_at skipped BTC/USD held as BTCUSD overnight."""
    bought = {"symbol": "BTC/USD", "ticker": "BTC/USD", "side": "buy", "filled_quantity": "0.02", "quantity": "0.02",
              "status": "filled"}  # fmt: skip
    assert list(_tickers_to_close([bought], {"BTCUSD": Decimal("0.02")})) == ["BTC/USD"]  # type: ignore[list-item]
    lower = [{**bought, "symbol": "btcusd", "ticker": "btcusd"}]
    assert list(_tickers_to_close(lower, {"BTCUSD": Decimal("0.02")})) == ["btcusd"]  # type: ignore[arg-type]


def test_a_flatten_closes_only_its_share_and_knows_when_an_order_of_its_own_leaves_it_unsure() -> None:
    """Positions are per account: its fills net to 1 of the 11 held; an order of unknown outcome may have filled
    unseen, while a working one is canceled with the exit, its answer saying what it filled."""
    bought = {"symbol": "AMD", "ticker": "AMD", "side": "buy", "filled_quantity": "1", "quantity": "1",
              "status": "filled", "client_order_id": "a", "parent_client_order_id": None}  # fmt: skip
    assert _tickers_to_close([bought], {"AMD": Decimal(11)})["AMD"].share == 1  # type: ignore[list-item]
    assert _tickers_to_close([bought], {"AMD": Decimal("0.5")})["AMD"].share == Decimal("0.5"), "no more than held"  # type: ignore[list-item]
    assert _tickers_to_close([bought], {"AMD": Decimal(-10)})["AMD"].share == 0, "the other side: none of it"  # type: ignore[list-item]
    stop = {**bought, "side": "sell", "filled_quantity": "0", "status": "open", "client_order_id": "b"}
    close = _tickers_to_close([bought, stop], {"AMD": Decimal(11)})["AMD"]  # type: ignore[list-item]
    assert not close.unsure and close.share == 1 and close.working == 1, close
    lost = {**stop, "status": "unknown"}
    close = _tickers_to_close([bought, lost], {"AMD": Decimal(11)})["AMD"]  # type: ignore[list-item]
    assert close.unsure and close.share == 1 and close.beside(), close


REFUSING = config_text(FLATTEN).replace("plugin: paper", "plugin: tests.jobs.venue:RefusingPaper")


@pytest.fixture
def refusing() -> Any:
    """RefusingPaper's class state, reset after the test."""
    yield RefusingPaper
    RefusingPaper.refusals, RefusingPaper.failure, RefusingPaper.sent = 0, "refused", 0
    RefusingPaper.lost, RefusingPaper.shown_as = set(), None


async def flatten_with_failing_exit(bridges: Any, refusing: Any, failure: str) -> Any:
    """A position in AMD; its 15:55 exit fails as `failure` says (once)."""
    clock = Clock(BEFORE)
    r = await bridges(REFUSING, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    clock.now = MONDAY_1555
    refusing.failure, refusing.refusals, refusing.sent = failure, 1, 0
    await run_job(r, "cfg:flatten:sq:paper")
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(1)}
    assert refusing.sent == 1
    return r, clock


@pytest.mark.parametrize("failure", ["refused", "503"])
async def test_a_flatten_whose_exit_order_fails_sends_it_again_within_its_grace(
    bridges: Any, refusing: Any, failure: str
) -> None:
    r, clock = await flatten_with_failing_exit(bridges, refusing, failure)
    clock.advance(15)
    await run_job(r, "cfg:flatten-retry:sq:paper")
    await r.bridge.queues.join()
    assert await r.positions() == {}, "an exit the venue failed once held the position overnight"
    assert refusing.sent == 2
    states = r.rows("SELECT state FROM signals WHERE webhook_id = 'job:flatten_at' ORDER BY received_at")
    assert [s["state"] for s in states] == ["failed", "executed"]


async def test_a_flatten_exit_of_unknown_outcome_is_looked_up_never_sent_again_blindly(
    bridges: Any, refusing: Any
) -> None:
    r, clock = await flatten_with_failing_exit(bridges, refusing, "lost")
    [order] = r.rows("SELECT status FROM orders WHERE side = 'sell'")
    assert order["status"] == "unknown"
    clock.advance(15)
    await run_job(r, "cfg:flatten-retry:sq:paper")  # the venue still cannot say: it may be working there
    await r.bridge.queues.join()
    assert refusing.sent == 1, "a second exit went out while the first may be working"
    refusing.shown_as = "canceled"  # the venue answers at last: it took the order and canceled it
    await poll_orders(r.bridge)
    clock.advance(15)
    await run_job(r, "cfg:flatten-retry:sq:paper")
    await r.bridge.queues.join()
    assert refusing.sent == 2
    assert await r.positions() == {}


async def test_a_flatten_exit_still_unresolved_at_the_end_of_its_grace_is_reported_loudly(
    bridges: Any, refusing: Any, caplog: pytest.LogCaptureFixture
) -> None:
    r, clock = await flatten_with_failing_exit(bridges, refusing, "lost")
    await run_retries(r, clock)
    assert clock.now <= MONDAY_1555 + timedelta(seconds=GRACE_SECONDS)
    assert refusing.sent == 1
    errors = [rec.getMessage() for rec in caplog.records if rec.levelname == "ERROR"]
    assert any("AMD" in e and "still open" in e for e in errors), errors


async def test_flatten_at_closes_only_its_share_of_a_position_held_with_another_strategy(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Positions are per account: the other strategy's 10 AMD, bought beside this one's 1, are not this one's."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)  # the day trade: 1
    # a swing trade, same account: its buy while long would be ignored, so it adds
    await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10)
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(11)}
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}, "the other strategy's share is left alone"
    (exit_row,) = r.rows("SELECT state, decision FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert exit_row["state"] == "executed" and "sold 1, still long 10" in exit_row["decision"], exit_row["decision"]
    assert await flatten(r.bridge, "sq", "paper") == 0, "its share closed, a second run finds nothing of its own"
    told = [
        rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING" and "rest stays open" in rec.message
    ]
    assert len(told) == 1 and "AMD" in told[0], told


async def test_a_disabled_subscription_holding_a_position_at_its_flatten_at_is_told_not_flattened(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """`enabled: false` trades nothing, its flatten neither; but the position it leaves overnight must be heard of."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    r.bridge.loaded.path.write_text(config_text(FLATTEN + "\nenabled: false"))
    assert (await r.bridge.reload("test")).ok
    assert "cfg:flatten:sq:paper" in r.bridge.jobs.next_runs(), "a disabled subscription's flatten time still comes"
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 0
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(1)}, "enabled: false sends no order, an exit neither"
    (event,) = [e for e in events if e.kind == "flatten.missed"]
    assert "AMD" in event.text and "enabled: false" in event.text, event.text
    assert any("AMD" in rec.getMessage() and "enabled: false" in rec.getMessage() for rec in caplog.records
               if rec.levelname == "WARNING")  # fmt: skip


async def beside_an_unknown_order(bridges: Any, refusing: Any) -> Any:
    """1 AMD of its own beside another strategy's 10, and an add of its own whose answer was lost (unknown)."""
    clock = Clock(BEFORE)
    r = await bridges(REFUSING, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10)
    await r.bridge.queues.join()
    refusing.failure, refusing.refusals = "lost", 1
    await r.accepted(ticker="AMD", action="add", price=100, quantity=1, orderType="limit", limitPrice=50)
    await r.bridge.queues.join()
    assert [row["status"] for row in r.rows("SELECT status FROM orders WHERE type = 'limit'")] == ["unknown"]
    assert await r.positions() == {"AMD": Decimal(11)}
    return r, clock


async def test_a_flatten_not_sure_of_its_share_waits_for_the_order_jobs_then_closes_only_its_share(
    bridges: Any, refusing: Any
) -> None:
    """An order of its own whose answer was lost may have filled unseen: the flatten closed the whole position then,
    the other strategy's 10 AMD with it (and canceled its stop-loss). It waits for the order jobs to find out
    (they run every poll_interval), within its grace, and closes its share once that is known."""
    r, clock = await beside_an_unknown_order(bridges, refusing)
    clock.now = MONDAY_1555
    await run_job(r, "cfg:flatten:sq:paper")
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(11)}, "sent before its share was known"
    assert r.bridge.jobs.scheduler.get_job("cfg:flatten-retry:sq:paper") is not None, "it must look again"
    refusing.shown_as = "canceled"  # the venue answers: it took the add and canceled it, nothing filled
    await poll_orders(r.bridge)
    clock.advance(15)
    await run_job(r, "cfg:flatten-retry:sq:paper")
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}, "the other strategy's share was closed with this one's"


async def test_a_flatten_still_not_sure_of_its_share_at_its_last_run_closes_the_share_known_saying_so(
    bridges: Any, refusing: Any, caplog: pytest.LogCaptureFixture
) -> None:
    r, clock = await beside_an_unknown_order(bridges, refusing)
    clock.now = MONDAY_1555
    await run_job(r, "cfg:flatten:sq:paper")
    await r.bridge.queues.join()
    await run_retries(r, clock)
    assert await r.positions() == {"AMD": Decimal(10)}, "held overnight, or the other strategy's share closed too"
    (exit_row,) = r.rows("SELECT state, decision FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert exit_row["state"] == "executed" and "sold 1" in exit_row["decision"], exit_row["decision"]
    told = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING" and "not sure" in rec.message]
    assert told and all("unknown" in t and "may" in t for t in told), told


async def test_a_flatten_not_sure_of_its_share_has_its_last_run_even_when_its_position_reads_are_slow(
    bridges: Any, refusing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that did not count itself the last, its slow read ending near the end of the grace, left its retry past
    the grace, dropped: no last run closed the share known, and the position was held overnight."""
    r, clock = await beside_an_unknown_order(bridges, refusing)
    broker = r.bridge.runtime.broker("paper")
    read = broker.fetch_positions

    async def slow_read() -> Any:
        clock.advance(10)  # the venue takes 10 s to list the positions
        return await read()

    monkeypatch.setattr(broker, "fetch_positions", slow_read)
    clock.now = MONDAY_1555 + timedelta(seconds=5)  # the scheduler ran it a few seconds late
    await run_job(r, "cfg:flatten:sq:paper")
    await r.bridge.queues.join()
    await run_retries(r, clock)
    assert clock.now <= MONDAY_1555 + timedelta(seconds=GRACE_SECONDS + 15), "run long past its grace"
    assert await r.positions() == {"AMD": Decimal(10)}, "its share held overnight"


async def test_a_restart_past_the_grace_of_a_flatten_with_nothing_to_close_raises_no_alarm(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Its journal says it holds nothing: "the positions it was to close are still open" would be a false alarm."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted(ticker="AMD", action="exit", price=100)  # closed before its flatten time
    await r.bridge.queues.join()
    await r.bridge.stop()
    clock.now = datetime(2026, 11, 23, 16, 10, tzinfo=NY)
    late = await bridges(config_text(FLATTEN), clock)
    events: list[Event] = []
    late.bridge.executor.observers.append(events.append)
    await late.bridge.jobs.missed_flattens()
    assert [e for e in events if e.kind == "flatten.missed"] == []
    assert not [rec for rec in caplog.records if rec.levelname == "WARNING" and "flatten_at" in rec.getMessage()]


async def test_a_reload_past_the_flatten_time_of_a_disabled_subscription_does_not_call_it_missed(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Disabled, its flatten closes nothing by design, told at its time: "if the daemon was down" misleads."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    clock.now = datetime(2026, 11, 23, 16, 10, tzinfo=NY)
    r.bridge.loaded.path.write_text(config_text(FLATTEN + "\nenabled: false"))
    assert (await r.bridge.reload("test")).ok
    assert not [rec for rec in caplog.records if rec.levelname == "WARNING" and "flatten_at" in rec.getMessage()]


async def test_flatten_at_does_not_cover_the_short_of_another_strategy_that_sold_its_long(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Positions are per account: the other's sell closed this one's long 1 and went short 10. An exit there would
    buy back the other strategy's short. The other's exit sold all of the position: this one's fills no longer count;
    one that closed only a part of it (by hand, say) leaves them counted, and a warning names the other side."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted("other", ticker="AMD", action="sell", price=100, quantity=10)  # sell while long: exit, then short
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(-10)}
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 0
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(-10)}, "the other strategy's short is not this subscription's"
    # Its fills counted again, as if that exit had sold only a part of the position: told of, nothing sent.
    r.bridge.store.conn.execute("UPDATE orders SET closed_by = NULL")
    assert await flatten(r.bridge, "sq", "paper") == 0
    told = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING" and "other side" in rec.message]
    assert len(told) == 1 and "AMD" in told[0], told


BRACKETED = FLATTEN + "\ntake_profit: {percent: 50}\nstop_loss: {percent: 50}"


def working(r: Any) -> list[tuple[str, str, str]]:
    """(subscription's strategy, side, type) of every order still working, in the journal."""
    rows = r.rows(
        "SELECT s.strategy, o.side, o.type FROM orders o JOIN signals s ON s.id = o.signal_id "
        "WHERE o.status IN ('submitted', 'open', 'partially_filled') ORDER BY s.strategy, o.type"
    )
    return [(row["strategy"], row["side"], row["type"]) for row in rows]


async def test_flatten_at_closes_only_its_share_canceling_only_its_own_bracket_legs(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Its take-profit and stop-loss still work at 15:55 (the usual bracket): they are its own orders, so its share
    is sure once they are canceled; the other strategy's 10 AMD and its legs are not this subscription's."""
    clock = Clock(BEFORE)
    # `other`'s subscription is the config's last: these lines are its own take-profit and stop-loss
    text = config_text(BRACKETED) + "        take_profit: {percent: 40}\n        stop_loss: {percent: 40}\n"
    r = await bridges(text, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)  # the day trade: 1, with its take-profit and stop-loss
    await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10)  # a swing trade, its own legs
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(11)}
    assert working(r) == [("other", "sell", "limit"), ("other", "sell", "stop"), ("sq", "sell", "limit"),
                          ("sq", "sell", "stop")]  # fmt: skip
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}, "the other strategy's share was sold with this one's"
    assert working(r) == [("other", "sell", "limit"), ("other", "sell", "stop")], "the other's legs were canceled"
    (exit_row,) = r.rows("SELECT state, decision FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert exit_row["state"] == "executed" and "sold 1, still long 10" in exit_row["decision"], exit_row["decision"]
    assert not [rec for rec in caplog.records if "not sure" in rec.getMessage()]
    assert await flatten(r.bridge, "sq", "paper") == 0, "its share closed, a second run finds nothing of its own"


STALLING = config_text(FLATTEN).replace("plugin: paper", "plugin: tests.jobs.venue:StallingPaper")


async def test_a_flatten_exit_finding_its_share_closed_by_another_strategy_since_it_was_queued_sends_nothing(
    bridges: Any,
) -> None:
    """The flatten read 11 AMD, 1 of them its own; the other strategy's sell, ahead of its exit in the symbol's queue,
    closed them all and went short 10. Its exit of 1 would buy back 1 of that short: none of it is its own."""
    clock = Clock(BEFORE)
    r = await bridges(STALLING, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10)
    await r.bridge.queues.join()
    StallingPaper.stalled = True
    try:
        await r.accepted("other", ticker="AMD", action="sell", price=100, quantity=10)  # waits for the broker
        clock.now = MONDAY_1555
        assert await flatten(r.bridge, "sq", "paper") == 1, "the flatten reads the positions as they are: 11 AMD"
    finally:
        StallingPaper.stalled = False
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(-10)}, "the other strategy's short was bought back in part"
    (exit_row,) = r.rows("SELECT state, decision FROM signals WHERE webhook_id = 'job:flatten_at'")
    # The other's sell exited all 11 before it went short: none of them is this subscription's any more.
    assert "short 10" in exit_row["decision"] and "nothing was sent" in exit_row["decision"], exit_row["decision"]


async def test_a_flatten_exit_finding_less_of_its_share_held_closes_what_is_held_and_says_what_was_left(
    bridges: Any,
) -> None:
    """Its fills net to long 5, the account holds 3 once the other strategy sold 2 more than its own share: 3 are
    sold, never more, and the decision says the rest was closed by another's trade."""
    clock = Clock(BEFORE)
    r = await bridges(STALLING, clock)
    await r.accepted(ticker="AMD", action="buy", price=100, quantity=5)
    await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10)
    await r.bridge.queues.join()
    StallingPaper.stalled = True
    try:
        await r.accepted("other", ticker="AMD", action="sell", sentiment="bullish", price=100, quantity=12)
        clock.now = MONDAY_1555
        assert await flatten(r.bridge, "sq", "paper") == 1
    finally:
        StallingPaper.stalled = False
    await r.bridge.queues.join()
    assert await r.positions() == {}
    (exit_row,) = r.rows("SELECT state, decision FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert exit_row["state"] == "executed" and "sold 3" in exit_row["decision"], exit_row["decision"]
    assert "long 5" in exit_row["decision"] and "only long 3" in exit_row["decision"], exit_row["decision"]


def two_accounts(day_broker: str) -> str:
    """Brokers `paper` and `live` (two paper accounts); `sq`'s subscription `day` on `day_broker`, `other` on live."""
    return (
        f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\nbrokers:\n"
        "  paper:\n    plugin: paper\n    options: {cash: 100000}\n"
        "  live:\n    plugin: paper\n    options: {cash: 100000}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n"
        f'      - broker: {day_broker}\n        name: day\n        flatten_at: "15:55"\n'
        "        timezone: America/New_York\n"
        f"  other:\n    token: {OTHER_TOKEN}\n    subscriptions:\n      - broker: live\n"
    )


async def test_a_flatten_of_a_subscription_moved_to_another_account_leaves_what_the_new_one_holds_alone(
    bridges: Any,
) -> None:
    """A named subscription keeps its key on another broker: its fills at the old account are no share of the
    new one's position (another strategy's 10 AMD there), which the old code sold 1 of."""
    clock = Clock(BEFORE)
    r = await bridges(two_accounts("paper"), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)  # left open at the paper account
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10)
    await r.bridge.queues.join()
    r.bridge.loaded.path.write_text(two_accounts("live"))  # moved to the live account, the name kept
    assert (await r.bridge.reload("test")).ok
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "day") == 0
    await r.bridge.queues.join()
    live = r.bridge.runtime.broker("live")
    assert live is not None
    assert {p.symbol: p.quantity for p in await live.fetch_positions()} == {"AMD": Decimal(10)}
    assert r.rows("SELECT * FROM signals WHERE webhook_id = 'job:flatten_at'") == []


async def test_flatten_at_cancels_the_subscriptions_resting_entry_in_a_ticker_nobody_holds(bridges: Any) -> None:
    """Flat at 15:55 with a limit entry still resting: left working, it could fill minutes later and be held
    overnight, as no later run of the flatten comes that day. The other strategy's resting order is its own."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100, orderType="limit", limitPrice=50)
    await r.accepted("other", ticker="AMD", action="buy", price=100, orderType="limit", limitPrice=40)
    await r.bridge.queues.join()
    assert await r.positions() == {}
    assert working(r) == [("other", "buy", "limit"), ("sq", "buy", "limit")]
    clock.now = MONDAY_1555
    await flatten(r.bridge, "sq", "paper")
    await r.bridge.queues.join()
    assert working(r) == [("other", "buy", "limit")], "its entry may still open a position after the flatten"
    assert await r.positions() == {}
    (exit_row,) = r.rows("SELECT state, decision FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert exit_row["state"] == "executed" and "canceled 1 open order" in exit_row["decision"], exit_row["decision"]
    assert "nothing to exit" in exit_row["decision"] and "long" not in exit_row["decision"], exit_row["decision"]


async def test_a_flatten_whose_cancel_finds_the_resting_entry_filled_closes_what_it_opened(bridges: Any) -> None:
    """Flat at 15:55 with a limit entry resting, which fills just before the flatten's cancel reaches the venue: the
    exit must close what that fill opened, as it does when a bracket leg fills first, not leave it held overnight."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN).replace("plugin: paper", "plugin: tests.jobs.venue:FillingPaper"), clock)
    await r.accepted(ticker="AMD", action="buy", price=100, orderType="limit", limitPrice=50)
    await r.bridge.queues.join()
    assert await r.positions() == {}
    FillingPaper.fill_at = Decimal(50)
    try:
        clock.now = MONDAY_1555
        await flatten(r.bridge, "sq", "paper")
        await r.bridge.queues.join()
    finally:
        FillingPaper.fill_at = None
    assert await r.positions() == {}, "the entry's fill was held overnight"
    (exit_row,) = r.rows("SELECT state, decision FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert exit_row["state"] == "executed" and "planned again" in exit_row["decision"], exit_row["decision"]


async def test_a_flatten_the_scheduler_missed_while_the_machine_slept_says_the_positions_stay_open(
    bridges: Any,
) -> None:
    """Up all along, but asleep at 15:55 (a laptop's lid closed) and awake at 16:10: the scheduler skips the run as
    past its grace, as a restart then does, and the positions it was to close must be heard of, as they are then."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    clock.now = datetime(2026, 11, 23, 16, 10, tzinfo=NY)
    jobs = r.bridge.jobs
    jobs.start()
    # The scheduler's own clock is the machine's: its 15:55 run comes due 15 minutes ago, as after a sleep.
    jobs.scheduler.modify_job("cfg:flatten:sq:paper", next_run_time=datetime.now(UTC) - timedelta(minutes=15))
    # The scheduler wakes for it on the loop, and the warning follows it there.
    await eventually(lambda: [e for e in events if e.kind == "flatten.missed"], "flatten.missed told")
    (event,) = [e for e in events if e.kind == "flatten.missed"]
    assert "sq/paper" in event.text and "still open" in event.text, event
    assert await r.positions() == {"AMD": Decimal(1)}, "too late to act on, as after a restart"


def test_a_stop_loss_journaled_filled_without_its_fill_closed_the_share() -> None:
    """Some venues answer a cancel that came too late (`filled`) without the fill: that stop-loss sold its 1 all the
    same, and the 10 held now are another strategy's, not a share of 1 to sell."""
    bought = {"symbol": "AMD", "ticker": "AMD", "side": "buy", "filled_quantity": "1", "quantity": "1",
              "status": "filled", "client_order_id": "a", "parent_client_order_id": None}  # fmt: skip
    stopped = {**bought, "side": "sell", "filled_quantity": "0", "client_order_id": "b", "parent_client_order_id": "a"}
    assert _tickers_to_close([bought, stopped], {"AMD": Decimal(10)}) == {}  # type: ignore[list-item]


FRIDAY_2358 = 'flatten_at: "23:58"\ntimezone: America/New_York'
FRIDAY_EVENING = datetime(2026, 11, 27, 22, 0, tzinfo=NY)


async def test_a_restart_past_the_grace_of_a_flatten_missed_over_midnight_says_the_positions_stay_open(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Down from 23:50 to 00:10: Friday's 23:58 flatten is Saturday's past, not "today's", and was told of by no one
    (a start the same day is, and a 23:58 one has no same day left after its grace)."""
    clock = Clock(FRIDAY_EVENING)
    r = await bridges(config_text(FRIDAY_2358), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    await r.bridge.stop()
    clock.now = datetime(2026, 11, 28, 0, 10, tzinfo=NY)
    late = await bridges(config_text(FRIDAY_2358), clock)
    await late.bridge.queues.join()
    assert await late.positions() == {"AMD": Decimal(1)}, "too late to act on, as on the same day"
    warned = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING" and "flatten_at" in rec.message]
    assert len(warned) == 1 and "sq/paper" in warned[0] and "still open" in warned[0], warned
    events: list[Event] = []
    late.bridge.executor.observers.append(events.append)
    await late.bridge.jobs.missed_flattens()
    (event,) = [e for e in events if e.kind == "flatten.missed"]
    assert "sq/paper" in event.text and "2026-11-27T23:58" in event.text, event


async def test_a_restart_within_the_grace_of_a_flatten_due_before_midnight_runs_it(bridges: Any) -> None:
    clock = Clock(FRIDAY_EVENING)
    r = await bridges(config_text(FRIDAY_2358), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    await r.bridge.stop()
    clock.now = datetime(2026, 11, 28, 0, 1, tzinfo=NY)  # Friday's 23:58, 3 minutes late
    again = await bridges(config_text(FRIDAY_2358), clock)
    await again.bridge.queues.join()
    assert await again.positions() == {}


async def test_a_restart_the_next_afternoon_says_nothing_of_a_flatten_missed_the_night_before(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Told of for a night, as a 15:55 one is for its evening, not at every start for a day."""
    clock = Clock(FRIDAY_EVENING)
    r = await bridges(config_text(FRIDAY_2358), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    await r.bridge.stop()
    clock.now = datetime(2026, 11, 28, 14, 0, tzinfo=NY)
    await bridges(config_text(FRIDAY_2358), clock)
    assert not [rec for rec in caplog.records if rec.levelname == "WARNING" and "flatten_at" in rec.getMessage()]


async def test_a_flatten_the_scheduler_missed_over_midnight_while_the_machine_slept_says_so(bridges: Any) -> None:
    """Asleep from 23:50 to 00:10: the scheduler skips Friday's 23:58 run as past its grace when it wakes on
    Saturday; the positions it leaves open must be heard of, as after a sleep over 15:55."""
    clock = Clock(FRIDAY_EVENING)
    r = await bridges(config_text(FRIDAY_2358), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    clock.now = datetime(2026, 11, 28, 0, 10, tzinfo=NY)
    jobs = r.bridge.jobs
    jobs.start()
    jobs.scheduler.modify_job("cfg:flatten:sq:paper", next_run_time=datetime.now(UTC) - timedelta(minutes=12))
    await eventually(lambda: [e for e in events if e.kind == "flatten.missed"], "flatten.missed told")
    (event,) = [e for e in events if e.kind == "flatten.missed"]
    assert "sq/paper" in event.text and "still open" in event.text, event
    assert await r.positions() == {"AMD": Decimal(1)}


MAPPED = FLATTEN + "\nticker_map: {NQ: NQZ6}"
ROLLED = FLATTEN + "\nticker_map: {NQ: NQH7}"  # the contract rolled: NQ's new signals trade March's


async def flatten_retried(r: Any, clock: Clock) -> None:
    """The 15:55 run and its retries until the grace is over, as the scheduler runs them."""
    clock.now = MONDAY_1555
    await run_job(r, "cfg:flatten:sq:paper")
    await r.bridge.queues.join()
    await run_retries(r, clock)


async def test_a_flatten_after_the_ticker_map_moved_closes_what_the_orders_were_placed_under(bridges: Any) -> None:
    """Bought as NQ -> NQZ6 with its bracket; the map then sends NQ to NQH7 (a roll). The exit went to NQH7, found
    none of its share there and was rejected, queued again at every retry up to 10 times, NQZ6 held overnight."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(MAPPED + "\ntake_profit: {percent: 50}\nstop_loss: {percent: 50}"), clock)
    await r.accepted(ticker="NQ", action="buy", price=100)
    await r.bridge.queues.join()
    assert await r.positions() == {"NQZ6": Decimal(1)}
    r.bridge.loaded.path.write_text(config_text(ROLLED + "\ntake_profit: {percent: 50}\nstop_loss: {percent: 50}"))
    assert (await r.bridge.reload("test")).ok
    await flatten_retried(r, clock)
    assert await r.positions() == {}, "the position under the old symbol was held overnight"
    assert working(r) == [], "its bracket legs still work"
    exits = r.rows("SELECT state FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert [e["state"] for e in exits] == ["executed"], [e["state"] for e in exits]


async def test_a_flatten_after_the_ticker_map_moved_cancels_a_resting_entry_under_the_old_symbol(
    bridges: Any,
) -> None:
    clock = Clock(BEFORE)
    r = await bridges(config_text(MAPPED), clock)
    await r.accepted(ticker="NQ", action="buy", price=100, orderType="limit", limitPrice=50)
    await r.bridge.queues.join()
    assert working(r) == [("sq", "buy", "limit")]
    r.bridge.loaded.path.write_text(config_text(ROLLED))
    assert (await r.bridge.reload("test")).ok
    await flatten_retried(r, clock)
    assert working(r) == [], "the entry resting under NQZ6 could still open a position overnight"
    exits = r.rows("SELECT state FROM signals WHERE webhook_id = 'job:flatten_at'")
    assert [e["state"] for e in exits] == ["executed"], [e["state"] for e in exits]


async def test_a_flatten_that_cannot_reach_the_symbol_its_orders_are_in_says_so_once(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The map sends NQ to NQH7 and NQZ6 itself to NQM7: no exit reaches NQZ6. Told once, not rejected all day."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(MAPPED), clock)
    await r.accepted(ticker="NQ", action="buy", price=100)
    await r.bridge.queues.join()
    r.bridge.loaded.path.write_text(config_text(FLATTEN + "\nticker_map: {NQ: NQH7, NQZ6: NQM7}"))
    assert (await r.bridge.reload("test")).ok
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    await flatten_retried(r, clock)
    assert await r.positions() == {"NQZ6": Decimal(1)}
    assert r.rows("SELECT * FROM signals WHERE webhook_id = 'job:flatten_at'") == [], "an exit to the wrong symbol"
    told = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING" and "ticker_map" in rec.message]
    assert len(told) == 1 and "NQZ6 is not closed" in told[0] and "NQM7" in told[0], told
    (event,) = [e for e in events if e.kind == "flatten.missed"]
    assert event.data["tickers"] == ["NQZ6"], event


async def test_a_share_stops_counting_fills_from_before_the_account_went_flat(bridges: Any) -> None:
    """This one buys 1, the other adds 10; the other's exit sells all 11 (its own and this one's), and it buys 10
    again. This subscription's fills still net to 1: its flatten sold 1 of the other's 10."""
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10)
    await r.accepted("other", ticker="AMD", action="exit", price=100)  # exits the whole position: the account is flat
    await r.bridge.queues.join()
    assert await r.positions() == {}
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10)
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 0
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}, "the other strategy's position was sold for this one's share"


async def test_a_share_counts_its_fills_after_the_account_went_flat(bridges: Any) -> None:
    clock = Clock(BEFORE)
    r = await bridges(config_text(FLATTEN), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10)
    await r.accepted("other", ticker="AMD", action="exit", price=100)
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10)
    await r.accepted(ticker="AMD", action="add", price=100, quantity=2, orderType="market")
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(12)}
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}, "its 2 bought since are its share, not 3"
