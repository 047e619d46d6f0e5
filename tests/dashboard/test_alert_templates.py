"""The ready-to-paste alert templates in examples/alerts/ and docs/exposure.md parse once substituted."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.config.schema import Subscription
from bridge.signals.parse import decode_body, parse_payload
from bridge.signals.resolve import resolve

ROOT = Path(__file__).resolve().parents[2]
# What TradingView / TrendSpider put in place of each placeholder on a typical fill.
VALUES = {
    "{{ticker}}": "NASDAQ:AMD",
    "{{strategy.order.action}}": "sell",
    "{{strategy.market_position}}": "short",
    "{{strategy.order.contracts}}": "3",
    "{{close}}": "101.25",
    "{{timenow}}": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "{{interval}}": "15",
    "%alert_symbol%": "AMD",
    "%last_price%": "101.25",
    "%alert_name%": "AMD breakout",
}


def _substitute(text: str) -> str:
    for placeholder, value in VALUES.items():
        text = text.replace(placeholder, value)
    return text


def _doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "exposure.md").read_text()
    return [b for b in re.findall(r"```json\n(.*?)```", text, re.S) if "action" in b]


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "alerts").glob("*.json")), ids=lambda p: p.name)
def test_each_template_file_is_a_valid_signal_once_substituted(path: Path) -> None:
    signal, _, _ = parse_payload(decode_body(_substitute(path.read_text()).encode()))
    assert signal.ticker and signal.action in ("buy", "sell", "exit")


def test_every_alert_message_in_the_exposure_guide_parses() -> None:
    blocks = _doc_blocks()
    assert len(blocks) >= 6
    for block in blocks:
        signal, _, _ = parse_payload(decode_body(_substitute(block).encode()))
        assert signal.ticker


def test_strategy_template_carries_the_order_variables() -> None:
    text = (ROOT / "examples" / "alerts" / "tradingview-strategy.json").read_text()
    for name in ("{{strategy.order.action}}", "{{strategy.market_position}}", "{{strategy.order.contracts}}",
                 "{{close}}", "{{timenow}}"):  # fmt: skip
        assert name in text
    signal, _, _ = parse_payload(json.loads(_substitute(text)))
    assert (signal.action, signal.sentiment, signal.quantity) == ("sell", "bearish", 3)


def test_readme_links_the_exposure_guide_and_templates() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/exposure.md" in readme and "examples/alerts" in readme


@pytest.mark.parametrize("block", [b for b in _doc_blocks() if "{{strategy.order.action}}" in b])
def test_each_strategy_template_in_the_guide_follows_a_scale_out_and_keeps_the_rest(block: str) -> None:
    # The strategy held long 3 and sold 2 of them: TradingView fills in a sell of 2 with market_position long.
    fill = {"{{strategy.order.action}}": "sell", "{{strategy.market_position}}": "long",
            "{{strategy.order.contracts}}": "2"}  # fmt: skip
    for placeholder, value in fill.items():
        block = block.replace(placeholder, value)
    signal, _, _ = parse_payload(decode_body(_substitute(block).encode()))
    plan = resolve(signal, Decimal(3), [], Subscription(broker="paper"))
    assert [(leg.side, leg.quantity) for leg in plan.legs] == [("sell", 2)], plan.decision
