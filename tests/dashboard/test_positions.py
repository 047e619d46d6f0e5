"""The dashboard and `bridge positions` with one broker whose position reads fail: the others still show."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.config.load import load_config
from bridge.models import OrderRequest
from bridge.service import Bridge
from tests.conftest import ADMIN, TOKEN
from tests.reload.conftest import running  # noqa: F401 - a fixture, registered by being here

OUTAGE = "tests.reload.venue:PositionsDown"


def two_brokers() -> str:
    """Strategy `sq` on the paper broker and on a broker in an outage."""
    return (
        f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n"
        f"brokers:\n  paper:\n    plugin: paper\n  down:\n    plugin: {OUTAGE}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: paper\n      - broker: down\n"
    )


async def test_the_dashboard_shows_signals_and_the_other_positions_while_one_broker_cannot_list_its_own(
    running: Any,  # noqa: F811 - the fixture imported above
) -> None:
    r = await running(two_brokers())
    assert (await r.post(action="buy")).status_code == 200
    await r.settled()
    assert (await r.client.post("/login", data={"token": ADMIN})).status_code == 303
    state = await r.client.get("/dashboard/state")
    assert state.status_code == 200, "not the whole page blank because one venue is down"
    body = state.json()
    assert [s["ticker"] for s in body["signals"]] == ["AMD"]
    assert {"broker": "paper", "symbol": "AMD", "quantity": 1} in [
        {k: p[k] for k in ("broker", "symbol", "quantity")} for p in body["positions"] if p["symbol"]
    ]
    [down] = [p for p in body["positions"] if p["broker"] == "down"]
    assert down["symbol"] is None and "503 Service Unavailable" in down["error"]


async def _buy_on_paper(config: Path) -> None:
    """Start a bridge on `config`, buy 1 AMD on the paper broker, stop."""
    bridge = Bridge(load_config(config), scheduling=False, watching=False)
    await bridge.start()
    await bridge.ready()
    try:
        paper = bridge.runtime.broker("paper")
        assert paper is not None
        await paper.create_order(OrderRequest("c-1", "AMD", "buy", Decimal(1), reference_price=Decimal(100)))
    finally:
        await bridge.stop()


def test_bridge_positions_lists_the_other_brokers_while_one_cannot_list_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(two_brokers())
    asyncio.run(_buy_on_paper(config))
    assert main(["positions", "--config", str(config), "--json"]) == 1  # incomplete: one broker unread
    rows = json.loads(capsys.readouterr().out)
    assert {"broker": "paper", "symbol": "AMD", "quantity": 1, "avg_price": 100} in rows
    [down] = [row for row in rows if row["broker"] == "down"]
    assert down["symbol"] is None and "503 Service Unavailable" in down["error"]


def test_the_positions_table_says_why_a_broker_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(two_brokers())
    asyncio.run(_buy_on_paper(config))
    assert main(["positions", "--config", str(config)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["broker", "symbol", "quantity", "avg_price", "error"]
    assert lines[1].split() == ["paper", "AMD", "1", "100"]
    assert lines[2].startswith("down") and "cannot read positions: TemporaryBrokerError: 503" in lines[2]


async def test_api_positions_lists_the_other_brokers_while_one_cannot_list_its_own(
    running: Any,  # noqa: F811 - the fixture imported above
) -> None:
    r = await running(two_brokers())
    assert (await r.post(action="buy")).status_code == 200
    await r.settled()
    answer = await r.client.get("/api/positions", headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200, "a JSON array, not a 500 because one venue is down"
    rows = answer.json()
    assert {"broker": "paper", "symbol": "AMD", "quantity": 1, "avg_price": 100} in rows
    [down] = [row for row in rows if row["broker"] == "down"]
    assert down["symbol"] is None and "503 Service Unavailable" in down["error"]


async def test_dashboards_polling_every_second_share_one_position_read_a_few_seconds(
    running: Any,  # noqa: F811 - the fixture imported above
) -> None:
    # Each read is a request at the venue, under the adapter's rate limit (Alpaca: 200 a minute): a phone and a laptop
    # polling every second, one position and one quote read each time, used it up, and orders waited behind them.
    from tests.reload.venue import CountedReads

    text = two_brokers().replace(OUTAGE, "tests.reload.venue:CountedReads").replace("down", "venue")
    r = await running(text)
    assert (await r.post(action="buy")).status_code == 200
    await r.settled()
    assert (await r.client.post("/login", data={"token": ADMIN})).status_code == 303
    CountedReads.reads.clear()
    tabs = await asyncio.gather(*(r.client.get("/dashboard/state") for _ in range(3)))
    tabs += [await r.client.get("/dashboard/state") for _ in range(3)]
    assert [t.status_code for t in tabs] == [200] * 6
    assert all(t.json()["positions"] == tabs[0].json()["positions"] for t in tabs)
    assert {"broker": "venue", "symbol": "AMD", "quantity": 1} in [
        {k: p[k] for k in ("broker", "symbol", "quantity")} for p in tabs[0].json()["positions"]
    ]
    assert CountedReads.reads == {"positions": 1, "quote": 1}


@pytest.mark.parametrize("as_json", [False, True])
def test_bridge_positions_exits_1_when_a_broker_could_not_say_what_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    """The list is incomplete: a script checking the exit status must not read it as every position held."""
    config = tmp_path / "config.yaml"
    config.write_text(two_brokers())
    asyncio.run(_buy_on_paper(config))
    # --limit 1 would keep only the paper row: the unread broker's row is kept, and the exit status tells it.
    assert main(["positions", "--config", str(config), "--limit", "1", *(["--json"] if as_json else [])]) == 1
    out, err = capsys.readouterr()
    assert "AMD" in out and "cannot read positions" in out, "what was read, and what was not, are printed"
    assert "down" in err and "cannot read positions" in err and "Traceback" not in err, err


async def test_api_positions_keeps_the_row_of_a_broker_it_could_not_read_past_the_limit(
    running: Any,  # noqa: F811 - the fixture imported above
) -> None:
    r = await running(two_brokers())
    assert (await r.post(action="buy")).status_code == 200
    await r.settled()
    answer = await r.client.get("/api/positions", params={"limit": 1}, headers={"Authorization": f"Bearer {ADMIN}"})
    rows = answer.json()
    assert [row["broker"] for row in rows] == ["paper", "down"], "a limit must not hide that a broker went unread"
