"""Reload in process: what a swap keeps, replaces and closes, and what it refuses (the old config keeps serving)."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any

import pytest

from bridge.config.load import parse_config
from bridge.config.reload import describe_changes
from bridge.logs import RedactSecrets, redact_more
from tests.conftest import ADMIN, TOKEN
from tests.reload.conftest import config_text
from tests.reload.venue import ChattyVenue, GatedPaper

OTHER = "tok-" + "0f0e0d0c0b0a09080706"


async def test_a_removed_strategy_answers_401_from_the_swap_on_and_an_added_one_is_served(running: Any) -> None:
    r = await running(config_text({"sq": TOKEN}))
    assert (await r.post("new", OTHER)).status_code == 401
    status = await r.edit(config_text({"new": OTHER}))
    assert (status.ok, status.changes) == (True, "strategies +new -sq")
    assert (await r.post("sq", TOKEN)).status_code == 401
    assert (await r.post("new", OTHER)).status_code == 200


async def test_an_unchanged_broker_keeps_its_connection_and_a_changed_one_is_rebuilt(running: Any) -> None:
    r = await running(config_text({"sq": TOKEN}))
    first = r.bridge.runtime.brokers["paper"]
    await r.edit(config_text({"sq": TOKEN, "new": OTHER}))
    assert r.bridge.runtime.brokers["paper"] is first, "same plugin and options: same connection"
    status = await r.edit(config_text({"sq": TOKEN, "new": OTHER}, cash=5000))
    assert status.changes == "brokers ~paper"
    assert r.bridge.runtime.brokers["paper"] is not first


async def test_a_queued_signal_finishes_on_the_broker_it_started_with_which_closes_afterwards(running: Any) -> None:
    GatedPaper.instances.clear()
    GatedPaper.gate = asyncio.Event()
    plugin = "tests.reload.venue:GatedPaper"
    try:
        r = await running(config_text({"sq": TOKEN}, plugin=plugin))
        old = GatedPaper.instances[-1]
        response = await r.post()
        assert response.status_code == 200
        while not old.created:  # the executor is inside create_order, held by the gate
            await asyncio.sleep(0.01)
        status = await r.edit(config_text({"sq": TOKEN}, plugin=plugin, cash=5000))
        new = GatedPaper.instances[-1]
        assert status.ok and new is not old and r.bridge.runtime.broker("paper") is new
        assert not old.closed, "a queued job still uses the old broker"
        GatedPaper.gate.set()
        await r.bridge.queues.join()
        while not old.closed:  # closing runs as a task once the last user let go
            await asyncio.sleep(0.01)
        assert new.created == [] and not new.closed
        orders = await r.client.get("/api/orders", headers={"Authorization": f"Bearer {ADMIN}"})
        assert [o["status"] for o in orders.json()] == ["filled"]
    finally:
        GatedPaper.gate = None


async def test_a_subscription_limit_tightened_by_a_reload_holds_back_the_signals_already_queued(running: Any) -> None:
    GatedPaper.instances.clear()
    GatedPaper.gate = asyncio.Event()
    text = config_text({"sq": TOKEN}, plugin="tests.reload.venue:GatedPaper") + "        allow_add: true\n"
    try:
        r = await running(text)
        venue = GatedPaper.instances[-1]
        assert (await r.post(quantity=1)).status_code == 200
        while not venue.created:  # the first order is inside create_order, held by the gate
            await asyncio.sleep(0.01)
        queued = (await r.post(quantity=500, price=101)).json()["id"]  # waits in AMD's queue behind it
        status = await r.edit(text + "        risk: {max_order_quantity: 10}\n")  # the runaway is noticed
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = r.bridge.store.peek(lambda c: c.execute("SELECT * FROM signals WHERE id = ?", (queued,)).fetchone())
        assert row["state"] == "rejected", row["decision"]
        assert "exceeds subscription paper's risk.max_order_quantity 10" in row["decision"]
        assert r.paper_position() == "1", "only the first order was sent"
    finally:
        GatedPaper.gate = None


async def test_an_invalid_edit_keeps_the_old_config_and_reports_file_and_line(running: Any) -> None:
    good = config_text({"sq": TOKEN})
    r = await running(good)
    bad = good.replace("- broker: paper", "- broker: paper\n        sides: sideways")
    line = bad.splitlines().index("        sides: sideways") + 1
    status = await r.edit(bad)
    assert not status.ok
    assert status.error.startswith(f"{r.config.resolve()}:{line}: strategies.sq.subscriptions.0.sides:"), status.error
    assert (await r.post()).status_code == 200, "the old config still serves"
    health = (await r.client.get("/health")).json()
    assert health["config"]["last_reload"]["ok"] is False and health["status"] == "degraded"
    assert health["config"]["last_reload"]["error"] == status.error
    restored = await r.edit(good)
    assert restored.ok and (await r.client.get("/health")).json()["config"]["last_reload"]["ok"] is True


async def test_a_broker_that_cannot_connect_keeps_the_old_runtime(running: Any) -> None:
    good = config_text({"sq": TOKEN})
    r = await running(good)
    before = r.bridge.runtime
    status = await r.edit(good.replace("plugin: paper", "plugin: tests.reload.venue:Unreachable"))
    assert not status.ok and r.bridge.runtime is before and r.bridge.runtime.broker("paper") is not None
    error = status.error or ""
    assert error.startswith(f"{r.config.resolve()}:5: brokers.paper: cannot connect: ") and "venue unreachable" in error
    assert (await r.post()).status_code == 200


async def test_changing_the_journal_file_needs_a_restart(running: Any) -> None:
    good = config_text({"sq": TOKEN})
    r = await running(good)
    status = await r.edit(good.replace("database: bridge.db", "database: other.db"))
    assert not status.ok and ":3: database: the journal file cannot change while running" in (status.error or "")


async def test_an_unchanged_file_is_not_reloaded(running: Any) -> None:
    r = await running(config_text({"sq": TOKEN}))
    runtime = r.bridge.runtime
    status = await r.bridge.reload("test")
    assert status.ok and status.trigger == "start" and r.bridge.runtime is runtime


async def test_the_admin_reload_endpoint_needs_the_admin_token(running: Any) -> None:
    r = await running(config_text({"sq": TOKEN}))
    r.config.write_text(config_text({"sq": TOKEN, "new": OTHER}))
    assert (await r.client.post("/api/reload")).status_code == 401
    assert (await r.client.post("/api/reload", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 401
    answer = await r.client.post("/api/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200 and answer.json()["changes"] == "strategies +new"
    r.config.write_text("strategies: [")
    answer = await r.client.post("/api/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 422 and answer.json()["ok"] is False


async def test_secrets_a_reload_brings_are_redacted_in_the_log_from_then_on(running: Any) -> None:
    r = await running(config_text({"sq": TOKEN}))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(r.bridge.loaded.secrets()))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        await r.edit(config_text({"sq": TOKEN, "new": OTHER}))
        logging.getLogger("bridge.test").warning("old %s new %s", TOKEN, OTHER)
    finally:
        root.removeHandler(handler)
    assert TOKEN not in stream.getvalue() and OTHER not in stream.getvalue()
    assert "old *** new ***" in stream.getvalue()


def test_redact_more_reaches_every_redacting_handler() -> None:
    handler = logging.StreamHandler(io.StringIO())
    redactor = RedactSecrets(["first-secret-value"])
    handler.addFilter(redactor)
    logging.getLogger().addHandler(handler)
    try:
        redact_more(["second-secret-value"])
    finally:
        logging.getLogger().removeHandler(handler)
    assert set(redactor.secrets) == {"first-secret-value", "second-secret-value"}


def test_the_change_summary_names_what_changed_and_never_a_value() -> None:
    old = parse_config(config_text({"a": TOKEN, "b": "tok-" + "b" * 20}))  # each strategy its own token
    new = parse_config(config_text({"b": OTHER, "c": TOKEN}, cash=1, extra="max_signal_age: 30\n"))
    line = describe_changes(old, new)
    assert line == "strategies +c -a ~b; brokers ~paper; settings max_signal_age"
    assert describe_changes(old, old) == "no effective change (formatting or comments)"


async def test_a_yaml_error_is_reported_without_quoting_the_line_which_may_hold_a_new_token(running: Any) -> None:
    good = config_text({"sq": TOKEN})
    r = await running(good)
    status = await r.edit(good.replace(f"token: {TOKEN}", f"token: {OTHER}: oops"))
    assert not status.ok and OTHER not in (status.error or "")
    assert status.error == f"{r.config.resolve()}:10: (top): invalid YAML: mapping values are not allowed here"
    health = (await r.client.get("/health")).text
    assert OTHER not in health


@pytest.mark.parametrize("prefix", ["*", "!"], ids=["alias", "tag"])
async def test_a_new_token_yaml_reads_as_an_alias_or_a_tag_is_not_quoted_in_health_or_the_log(
    running: Any, prefix: str, caplog: Any
) -> None:
    """To YAML, `*tok-...` is an undefined alias and `!tok-...` a tag: PyYAML's message quotes the name, whole."""
    good = config_text({"sq": TOKEN})
    r = await running(good)
    status = await r.edit(good.replace(f"token: {TOKEN}", f"token: {prefix}{OTHER}"))
    assert not status.ok and status.error
    assert status.error.startswith(f"{r.config.resolve()}:10: ")
    assert OTHER not in status.error
    assert OTHER not in (await r.client.get("/health")).text
    assert OTHER not in caplog.text


@pytest.mark.parametrize(
    ("added", "setting"),
    [("database_max_mb: 500\n", "database_max_mb"), ("server:\n  limit_concurrency: 10\n", "server.limit_concurrency")],
    ids=["journal-cap", "concurrency"],
)
async def test_a_setting_only_a_restart_applies_is_named_in_the_reload_warnings(
    running: Any, added: str, setting: str
) -> None:
    """The reload applied the rest and said ok: a journal cap set for a filling disk was silently not in force."""
    good = config_text({"sq": TOKEN})
    r = await running(good)
    status = await r.edit(good.replace("server:\n", added, 1) if added.startswith("server:") else good + added)
    assert status.ok
    assert list(status.warnings) == [f"{setting} changed: it takes effect when the daemon restarts"]
    health = (await r.client.get("/health")).json()
    assert health["config"]["last_reload"]["warnings"] == list(status.warnings)


@pytest.mark.parametrize("reachable", [True, False], ids=["applied", "refused"])
async def test_a_new_broker_key_is_redacted_in_what_its_adapter_logs_while_the_reload_connects_it(
    running: Any, reachable: bool
) -> None:
    """Its client logs the request, key included, inside connect: before the swap, or for a reload that then fails."""
    key = "venue-key-" + "7a7a7a7a7a7a7a7a"
    r = await running(config_text({"sq": TOKEN}))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(r.bridge.loaded.secrets()))
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    ChattyVenue.reachable = reachable
    try:
        edited = config_text({"sq": TOKEN}, plugin="tests.reload.venue:ChattyVenue")
        status = await r.edit(edited.replace("options: {cash: 100000}", f"options: {{cash: 100000, api_key: {key}}}"))
    finally:
        root.removeHandler(handler)
        root.level = level
        ChattyVenue.reachable = True
    assert status.ok is reachable, status.error
    assert "apikey=***" in stream.getvalue(), "the adapter logged its request"
    assert key not in stream.getvalue()


async def test_a_token_from_an_environment_variable_the_daemon_was_not_started_with_says_a_restart_is_needed(
    running: Any,
) -> None:
    """`export` in the operator's shell never reaches a running daemon: the error must not stop at "export it"."""
    good = config_text({"sq": TOKEN})
    r = await running(good)
    status = await r.edit(good.replace(f"token: {TOKEN}", "token: ${SQ_TOKEN_ADDED_AFTER_START}"))
    assert not status.ok and r.bridge.runtime.strategies["sq"].token == TOKEN
    error = status.error or ""
    assert error.startswith(f"{r.config.resolve()}:10: strategies.sq.token: environment variable "), error
    assert "restart" in error, error


async def test_a_reload_asked_for_with_the_file_unchanged_says_its_environment_variables_need_a_restart(
    running: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leaked token kept in the env file (as docs/security.md recommends) is rotated there, then a reload asked for.

    The daemon still holds the environment it started with: the old token keeps trading, and an answer of
    "reloaded" with nothing more let the operator believe it was revoked.
    """
    monkeypatch.setenv("SQ_TOKEN", TOKEN)
    r = await running(config_text({"sq": "${SQ_TOKEN}"}))
    monkeypatch.setenv("SQ_TOKEN", OTHER)  # the new value reaches the env file, never the running daemon
    answer = await r.client.post("/api/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200, answer.text
    warnings = answer.json()["warnings"]
    assert len(warnings) == 1 and "SQ_TOKEN" in warnings[0] and "restart" in warnings[0], warnings
    assert TOKEN not in answer.text and OTHER not in answer.text
    health = (await r.client.get("/health")).json()["config"]["last_reload"]
    assert health["warnings"] == warnings and health["trigger"] == "admin API"


async def test_a_reload_asked_for_with_the_file_unchanged_and_no_variable_in_it_warns_of_nothing(running: Any) -> None:
    r = await running(config_text({"sq": TOKEN}))
    answer = await r.client.post("/api/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200 and answer.json()["warnings"] == []


async def test_a_reload_asked_for_after_fixing_a_broken_plugin_file_imports_it_again(
    running: Any, tmp_path: Path
) -> None:
    """docs/writing-a-broker-plugin.md: "A changed file is imported again on the next reload", the config unchanged."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "mine.py").write_text('raise RuntimeError("not finished")\n')
    r = await running(config_text({"sq": TOKEN}, plugin="mine"))
    assert r.bridge.runtime.broker("paper") is None
    (plugins / "mine.py").write_text("from bridge.brokers.paper import PaperBroker\n\nBROKER = PaperBroker\n")
    status = await r.bridge.reload("SIGHUP")
    assert status.ok, status.error
    assert r.bridge.runtime.broker("paper") is not None, r.bridge.runtime.brokers["paper"].error
    assert status.changes == "no change in the file; brokers tried again: paper connected"
    signal_id = (await r.post(quantity=3)).json()["id"]
    await r.settled()
    row = r.bridge.store.peek(lambda c: c.execute("SELECT state FROM signals WHERE id = ?", (signal_id,)).fetchone())
    assert row["state"] == "executed" and r.paper_position() == "3"


async def test_a_reload_asked_for_with_every_broker_working_and_the_file_unchanged_keeps_the_runtime(
    running: Any,
) -> None:
    r = await running(config_text({"sq": TOKEN}))
    runtime = r.bridge.runtime
    assert (await r.bridge.reload("SIGHUP")).ok and r.bridge.runtime is runtime
