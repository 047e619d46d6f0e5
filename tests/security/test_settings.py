"""A misspelt safety setting is an error that names it, never a silently open door."""

from __future__ import annotations

import pytest

from bridge.config.load import parse_config
from bridge.errors import ConfigError

BASE = """server:
  trusted_proxies: {proxies}
brokers:
  paper: {{plugin: paper}}
strategies:
  sq:
    token: tok-0123456789abcdef0
    allowed_sources: {sources}
    signing_secrets: {secrets}
    subscriptions:
      - broker: paper
"""
GOOD = {"proxies": "[127.0.0.1, '10.0.0.0/8', '::1']", "sources": "[tradingview, TrendSpider, 203.0.113.0/24]",
        "secrets": "[whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]"}  # fmt: skip


def errors(**changes: str) -> list[str]:
    try:
        parse_config(BASE.format(**{**GOOD, **changes}), "c.yaml", environ={})
    except ConfigError as exc:
        return exc.lines
    return []


def test_the_good_settings_load() -> None:
    assert errors() == []
    config = parse_config(BASE.format(**GOOD), "c.yaml", environ={})
    assert config.strategies["sq"].dedupe_window == 120 and config.strategies["sq"].rate_limit.per_minute == 60
    assert config.server.auth_failure_limit == 20 and config.risk.breaker_failures == 5


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sources": "[tradingvew]"}, "c.yaml:8: strategies.sq.allowed_sources: 'tradingvew' is not tradingview"),
        ({"sources": "[]"}, "c.yaml:8: strategies.sq.allowed_sources: an empty allowed_sources would refuse every"),
        ({"proxies": "[tradingview]"}, "c.yaml:2: server.trusted_proxies: 'tradingview' is not an IP address"),
        # Every sender a trusted proxy: a forged X-Forwarded-For: 52.89.214.238 would pass allowed_sources.
        ({"proxies": "['0.0.0.0/0']"}, "c.yaml:2: server.trusted_proxies: '0.0.0.0/0' is every address"),
        ({"proxies": "[127.0.0.1, '::/0']"}, "c.yaml:2: server.trusted_proxies: '::/0' is every address"),
        ({"secrets": "[MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]"}, "c.yaml:9: strategies.sq.signing_secrets: signing secrets "
                                                           "start with whsec_"),
        ({"secrets": "[whsec_c2hvcnQ=]"}, "needs at least 24 random bytes, this one has 5"),
    ],
)  # fmt: skip
def test_a_bad_safety_setting_is_reported_with_file_line_and_path(changes: dict[str, str], expected: str) -> None:
    found = errors(**changes)
    assert any(expected in line for line in found), found
    assert not any("MfKQ9r8GKYqr" in line for line in found), "a rejected secret is not echoed"
