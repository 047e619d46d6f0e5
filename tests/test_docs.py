"""The generated docs cover every payload field and every setting, and are up to date with the code."""

from __future__ import annotations

import argparse
import re
import typing
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from bridge import docgen
from bridge.cli import parser
from bridge.config.schema import Config
from bridge.docgen import (
    SETTINGS,
    fresh_journal,
    journal_meaning_gaps,
    journal_schema,
    payload_fields,
    render_journal,
    render_settings,
    render_signals,
    schema_versions,
    undocumented_settings,
)
from bridge.signals.reference import FIELDS
from bridge.store.migrations import MIGRATIONS
from tests.conftest import ADMIN, GUARD

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# What a user reads: every promise about a command, a metric or a messageCode is made in one of these.
USER_DOCS = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), ROOT / "config.example.yaml"]


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a field's annotation (`list[Subscription]`, `RiskLimits | None` ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models(arg)]


def test_every_payload_field_has_documentation_and_nothing_documented_is_missing_from_the_model() -> None:
    assert set(payload_fields()) == set(FIELDS)


def test_every_setting_has_a_description() -> None:
    assert undocumented_settings() == []


def test_docs_signals_md_is_generated_from_the_current_code() -> None:
    text = (DOCS / "signals.md").read_text()
    assert text == render_signals() + "\n", "run `python -m bridge.docgen` and commit docs/"
    for name in payload_fields():
        assert f"| `{name}` |" in text and f"### {name}" in text


def test_docs_settings_md_is_generated_from_the_current_code() -> None:
    text = (DOCS / "settings.md").read_text()
    assert text == render_settings(), "run `python -m bridge.docgen` and commit docs/"
    for setting in ("allow_swap", "trading_windows", "allow_signal_overrides", "ticker_map", "max_signal_age"):
        assert f"| `{setting}` |" in text


def test_docs_journal_md_is_generated_from_the_current_code() -> None:
    text = (DOCS / "journal.md").read_text()
    assert text == render_journal(), "run `python -m bridge.docgen` and commit docs/"
    with closing(fresh_journal()) as conn:
        schema = journal_schema(conn)
    for table, (columns, _indexes) in schema.items():
        assert f"## `{table}`" in text
        section = text.split(f"## `{table}`")[1].split("\n## ")[0]
        for column in columns:
            assert f"| `{column.name}` | {column.type} |" in section, f"{table}.{column.name} is not in docs/journal.md"
    assert f"applied: {len(MIGRATIONS)} for this version" in text


def test_every_journal_table_and_column_has_a_meaning_and_none_names_one_that_does_not_exist() -> None:
    assert journal_meaning_gaps() == []


def test_a_column_without_a_meaning_or_a_meaning_without_its_column_is_found(monkeypatch: Any) -> None:
    orders = {name: meaning for name, meaning in docgen.COLUMNS["orders"].items() if name != "moves"}
    orders["closed_at"] = "Never a column."
    orders["leg"] = "Its part in the plan, as `orders.kind` says."
    monkeypatch.setitem(docgen.COLUMNS, "orders", orders)
    monkeypatch.setitem(docgen.TABLES, "positions", "Never a table.")
    assert sorted(journal_meaning_gaps()) == sorted([
        "column orders.moves: no meaning",
        "column orders.closed_at: meaning of a column that does not exist",
        "table positions: meaning of a table that does not exist",
        "'Its part in the plan, as `orders.kind` says.' names orders.kind, which does not exist",
    ])  # fmt: skip


def test_every_table_column_and_index_of_a_new_journal_has_the_migration_that_added_it() -> None:
    versions = schema_versions()
    with closing(fresh_journal()) as conn:
        schema = journal_schema(conn)
    for table, (columns, indexes) in schema.items():
        names = [table, *(f"{table}.{c.name}" for c in columns), *(i.name for i in indexes)]
        assert all(1 <= versions[name] <= len(MIGRATIONS) for name in names)
    assert versions["orders.closed_by"] == 17 and versions["signals.token_fingerprint"] == 10
    assert versions["executions_unfinished"] == 6 and versions["webhooks"] == 1


def test_docs_settings_md_has_a_section_for_every_block_the_config_file_can_hold() -> None:
    documented = {model for _, model, _ in SETTINGS}
    todo: list[type[BaseModel]] = [Config]
    seen: set[type[BaseModel]] = set()
    while todo:
        model = todo.pop()
        seen.add(model)
        assert model in documented, f"{model.__name__} has no section in bridge.docgen.SETTINGS"
        todo += [m for info in model.model_fields.values() for m in _models(info.annotation) if m not in seen]


def test_every_bridge_command_flag_the_docs_show_exists() -> None:
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for doc in [*USER_DOCS, ROOT.parent / "shared" / "design.md"]:
        if not doc.exists():
            continue
        for line in doc.read_text().splitlines():
            for command, rest in re.findall(
                r"\bbridge ([a-z]+)((?: +\[?(?:--[a-z-]+|[A-Za-z0-9_./<>:{}…-]+)\]?)*)", line
            ):
                if command not in commands:
                    continue
                flags = {flag for action in commands[command]._actions for flag in action.option_strings}
                for flag in re.findall(r"--[a-z-]+", rest):
                    assert flag in flags, f"{doc.name}: `bridge {command} {flag}` is documented but does not exist"


def test_every_message_code_the_docs_name_can_be_answered() -> None:
    source = "\n".join(path.read_text() for path in (ROOT / "bridge").rglob("*.py"))
    for doc in USER_DOCS:
        text = doc.read_text()
        named = set(re.findall(r"\b(?:400|401|403|404|405|413|422|429|503) `?([a-z]+(?:-[a-z]+)+)`?", text))
        named |= {code for line in text.splitlines() if "messageCode" in line or "refused with" in line
                  for code in re.findall(r"`([a-z]+(?:-[a-z]+)+)`", line)}  # fmt: skip
        for code in named:
            assert f'"{code}"' in source, f"{doc.name} names messageCode {code!r}, which no answer carries"


def test_every_metric_the_docs_name_is_on_metrics(make_daemon: Any) -> None:
    daemon = make_daemon()
    answer = httpx.get(f"{daemon.base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)
    assert answer.status_code == 200
    exposed = set(re.findall(r"^# TYPE (\S+)", answer.text, re.M))
    exposed |= {f"{name}_total" for name in exposed}  # a counter's family is typed without its _total samples
    for doc in USER_DOCS:
        for name in set(re.findall(r"\bbridge_[a-z_]+[a-z]", doc.read_text())):
            assert name in exposed, f"{doc.name} names the metric {name}, which /metrics does not have"
