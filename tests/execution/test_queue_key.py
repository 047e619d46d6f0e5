"""Which signals wait for each other: one queue per broker account and symbol, the symbol's case aside."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge.config.load import parse_config
from bridge.execution.executor import Job, Target
from bridge.models import Signal
from bridge.service import Work, _queue_key
from tests.conftest import TOKEN
from tests.reload.conftest import config_text


def _key(ticker: str, strategy: str = "sq") -> tuple[str, ...]:
    config = parse_config(config_text({"sq": TOKEN, "other": TOKEN[::-1]}), "c.yaml", {})
    sub = config.strategies[strategy].subscriptions[0]
    signal = Signal(ticker=ticker, action="buy")
    job = Job("sig", strategy, "paper", signal, datetime.now(UTC), Target("paper", None, sub))
    runtime: Any = None  # the key reads the job alone
    return _queue_key(Work(job, runtime))


def test_symbols_that_differ_only_in_case_share_one_queue_whichever_strategy_sent_them() -> None:
    # Most venues read "amd" as AMD: two plans for that one position side by side would each pass max_position.
    assert _key("AMD") == _key("amd") == _key("Amd", strategy="other")
    assert _key("AMD") != _key("AAPL")
