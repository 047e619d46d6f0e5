"""A stop-loss at Alpaca outlives the close unless someone chose otherwise, and says so when it cannot.

Alpaca's bracket and oto legs carry their bracket's time in force, day or gtc ("Orders at Alpaca"); a day one
expires at the end of market hours, legs included, leaving the position it opened without a stop overnight.
With time_in_force unset in the subscription and in the signal, an entry with legs goes gtc. A fractional
quantity goes day only ("Fractional Trading"): then the decision and the log say that the stop expires at the
close, as they do where the subscription or the signal chose day.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.cli import main
from tests.brokers.test_alpaca_e2e import BRACKET, _working_exits, alpaca_daemon, send
from tests.conftest import TOKEN, Daemon
from tests.fakes.alpaca import FakeAlpaca

LAPSE = "expires at the close"


@pytest.fixture(scope="module")
def unset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, FakeAlpaca]]:
    """A subscription that sets no time_in_force, a 5% stop-loss on every entry, fractional quantities allowed."""
    directory = tmp_path_factory.mktemp("alpaca-tif")
    with alpaca_daemon(directory, sub=", fractional: true, stop_loss: {percent: 5}") as (daemon, fake):
        yield daemon, fake


@pytest.fixture
def flat(unset: tuple[Daemon, FakeAlpaca]) -> tuple[Daemon, FakeAlpaca]:
    """Each example starts on a fresh, flat Alpaca account at SQ 100."""
    unset[1].reset()
    unset[1].set_price("SQ", Decimal(100))
    return unset


def _sent_tif(fake: FakeAlpaca) -> str:
    (body,) = fake.order_requests
    return str(body["time_in_force"])


def test_a_signals_bracket_keeps_its_stop_loss_past_the_close(flat: tuple[Daemon, FakeAlpaca]) -> None:
    daemon, fake = flat
    entry = send(daemon, BRACKET)
    assert entry["state"] == "executed", entry["decision"]
    assert _sent_tif(fake) == "gtc"
    fake.close_market()
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)]
    assert LAPSE not in entry["decision"]


def test_the_subscriptions_stop_loss_keeps_working_past_the_close(flat: tuple[Daemon, FakeAlpaca]) -> None:
    daemon, fake = flat
    entry = send(daemon, {"ticker": "SQ", "action": "buy", "price": 100, "quantity": 10})
    assert entry["state"] == "executed", entry["decision"]
    fake.close_market()
    assert _working_exits(fake) == [("stop", "95", None)], entry["decision"]
    legs = {o["leg"]: o["time_in_force"] for o in daemon.api("orders", limit=100) if o["signal_id"] == entry["id"]}
    assert legs == {"entry": "gtc", "stop_loss": "gtc"}  # the journal has what was sent


def test_a_fractional_stop_loss_is_a_day_order_and_the_decision_and_log_say_it_expires(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = flat
    entry = send(daemon, {"ticker": "SQ", "action": "buy", "price": 100, "quantity": 2.5})
    assert entry["state"] == "executed", entry["decision"]
    assert _sent_tif(fake) == "day"  # Alpaca takes a fractional quantity for the day only
    assert LAPSE in entry["decision"] and "fractional" in entry["decision"], entry["decision"]
    daemon.wait_output(f"stop-loss is a day order: it {LAPSE}")
    fake.close_market()
    assert _working_exits(fake) == []  # as the decision said


def test_a_signal_that_asks_day_gets_day_and_is_told_the_stop_expires(flat: tuple[Daemon, FakeAlpaca]) -> None:
    daemon, fake = flat
    entry = send(daemon, {**BRACKET, "timeInForce": "day"})
    assert entry["state"] == "executed", entry["decision"]
    assert _sent_tif(fake) == "day"
    assert "take-profit and stop-loss are day orders" in entry["decision"], entry["decision"]
    assert "they expire at the close" in entry["decision"], entry["decision"]


def test_a_subscription_that_sets_day_gets_day_and_is_told_the_stop_expires(tmp_path: Path) -> None:
    with alpaca_daemon(tmp_path, sub=", time_in_force: day, stop_loss: {percent: 5}") as (daemon, fake):
        entry = send(daemon, {"ticker": "SQ", "action": "buy", "price": 100, "quantity": 10})
        assert entry["state"] == "executed", entry["decision"]
        assert _sent_tif(fake) == "day"
        assert LAPSE in entry["decision"], entry["decision"]


def _config(tmp_path: Path, sub: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "brokers:\n  alpaca: {plugin: alpaca, options: {key_id: K, secret_key: S}}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - {{broker: alpaca{sub}}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("sub", "warned"),
    [
        (", time_in_force: day, stop_loss: {percent: 5}", "time_in_force day"),
        (", fractional: true, take_profit: {percent: 5}", "fractional"),
        (", stop_loss: {percent: 5}", None),
        (", time_in_force: day", None),
    ],
)
def test_check_warns_of_a_subscription_whose_protective_legs_expire_at_the_close(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sub: str, warned: str | None
) -> None:
    path = _config(tmp_path, sub)
    assert main(["check", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    if warned is None:
        assert err == ""
    else:
        assert "warning: strategies.sq.subscriptions.0" in err and warned in err and LAPSE in err, err
