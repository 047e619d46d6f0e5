"""The generated docs cover every payload field and every setting, and are up to date with the code."""

from __future__ import annotations

import argparse
import re
import typing
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from bridge.cli import parser
from bridge.config.schema import Config
from bridge.docgen import SETTINGS, payload_fields, render_settings, render_signals, undocumented_settings
from bridge.signals.reference import FIELDS
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
