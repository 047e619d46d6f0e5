"""The generated docs cover every payload field and every setting, and are up to date with the code."""

from __future__ import annotations

from pathlib import Path

from bridge.docgen import payload_fields, render_settings, render_signals, undocumented_settings
from bridge.signals.reference import FIELDS

DOCS = Path(__file__).resolve().parent.parent / "docs"


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
