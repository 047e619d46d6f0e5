"""Tokens that open more than they should are refused: the admin token in a webhook URL, the public placeholder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config.load import load_config, parse_config
from bridge.errors import ConfigError

TOKEN = "tok-0123456789abcdef"
ADMIN = "adm-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_TOKEN = "change-me-to-a-long-random-token"  # config.example.yaml's fallback: public
GENERATE = '`bridge init` or `python -c "import secrets; print(secrets.token_urlsafe(24))"` makes one'


def config_text(token: str = TOKEN, admin: str = ADMIN, broker: str = "paper") -> str:
    """One strategy on one broker; `broker` is `paper` or `live` (a plugin other than the paper broker)."""
    return f"""\
server:
  admin_token: {admin}
brokers:
  paper: {{plugin: paper}}
  live: {{plugin: template_broker}}
strategies:
  s1:
    token: {token}
    subscriptions:
      - broker: {broker}
"""


def errors(text: str) -> list[str]:
    """The error lines of a config that must be refused."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", {})
    return caught.value.lines


@pytest.mark.parametrize("broker", ["paper", "live"])
def test_an_admin_token_that_is_also_a_strategy_token_is_refused(broker: str) -> None:
    """The webhook URL TradingView (and every alert log) sees would open /api."""
    assert errors(config_text(token=ADMIN, broker=broker)) == [
        "c.yaml:2: server.admin_token: admin_token is also the token of strategy 's1', whose webhook URL its "
        f"senders see; give the admin API its own token ({GENERATE})"
    ]


def test_the_example_placeholder_token_is_refused_for_a_strategy_that_trades_at_a_broker_other_than_paper() -> None:
    assert errors(config_text(token=PLACEHOLDER_TOKEN, broker="live")) == [
        "c.yaml:8: strategies.s1.token: the example config's placeholder token is public, and this strategy trades "
        "at live: set the environment variable the config names, or write a token of your own "
        f"({GENERATE})"
    ]


def test_the_example_placeholder_token_is_fine_on_the_paper_broker_and_the_example_config_loads() -> None:
    assert parse_config(config_text(token=PLACEHOLDER_TOKEN), "c.yaml", {}).strategies["s1"].token == PLACEHOLDER_TOKEN
    example = load_config(ROOT / "config.example.yaml", environ={}).config
    assert example.strategies["sq-trend"].token == PLACEHOLDER_TOKEN  # the env variable unset: the fallback


def test_the_example_placeholder_as_admin_token_is_refused_when_a_broker_is_not_paper() -> None:
    assert errors(config_text(admin=PLACEHOLDER_TOKEN)) == [
        f"c.yaml:2: server.admin_token: the example config's placeholder token is public: use a token of your own "
        f"({GENERATE})"
    ]


def _example_environment() -> dict[str, str]:
    """systemd/bridge.env.example's variables, as a user who copied it without editing would export them."""
    lines = (ROOT / "systemd" / "bridge.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_example_environment_files_placeholder_tokens_are_refused_where_a_broker_other_than_paper_trades() -> None:
    """Copied unedited, the env file's tokens are as public as the example config's: anyone could post the URL."""
    env = _example_environment()
    assert set(env) == {"BRIDGE_ADMIN_TOKEN", "SQ_TREND_TOKEN"}, "a new placeholder there needs refusing too"
    text = config_text(token="${SQ_TREND_TOKEN}", admin="${BRIDGE_ADMIN_TOKEN}", broker="live")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", env)
    assert caught.value.lines == [
        "c.yaml:8: strategies.s1.token: the example environment file's placeholder token is public, and this "
        "strategy trades at live: set the environment variable the config names, or write a token of your own "
        f"({GENERATE})",
        "c.yaml:2: server.admin_token: the example environment file's placeholder token is public: use a token of "
        f"your own ({GENERATE})",
    ]


@pytest.mark.parametrize(
    ("token", "what"),
    [
        ("tok/0123456789abcdef", "a '/'"),  # the URL has one segment more: 404, every alert lost
        ("tok?0123456789abcdef", "a '?'"),  # the rest is the query string: 401
        ("tok#0123456789abcdef", "a '#'"),  # the rest is a fragment, never sent: 401
        ("tok%410123456789abcdef", "a '%'"),  # the server decodes %41 to A: 401
        ("tok-0123456789abcdef ", "a space or line break"),  # an env file's trailing blank, lost on copying the URL
    ],
    ids=["slash", "question-mark", "hash", "percent", "trailing-space"],
)
def test_a_token_a_url_cannot_carry_as_written_is_refused_without_quoting_it(token: str, what: str) -> None:
    """Such a token validated, then every alert to the URL was refused (and counted toward the sender's lockout)."""
    lines = errors(config_text(token=f'"{token}"'))
    assert lines == [
        f"c.yaml:8: strategies.s1.token: the token holds {what}, which a webhook URL cannot carry as written; use "
        f"letters, digits, '-' and '_' ({GENERATE})"
    ]
    assert token.strip() not in "\n".join(lines)


def test_a_token_with_other_url_safe_punctuation_loads() -> None:
    token = "tok+0123.456~789_abc=def-!"
    assert parse_config(config_text(token=token), "c.yaml", {}).strategies["s1"].token == token


def test_a_token_shared_by_two_strategies_is_refused_at_the_second() -> None:
    """Whoever holds one webhook URL could post to the other strategy by changing the name in it."""
    text = config_text() + f"  s2:\n    token: {TOKEN}\n    subscriptions:\n      - broker: paper\n"
    assert errors(text) == [
        "c.yaml:12: strategies.s2.token: the same token as strategy 's1': whoever has one of their webhook URLs can "
        f"send to the other by changing the name in it; give each strategy its own token ({GENERATE})"
    ]


@pytest.mark.parametrize("admin", [f"{ADMIN}\t", f"{ADMIN}\n", f" {ADMIN}", "adm-01234567 89abcdef"])
def test_an_admin_token_with_a_space_or_line_break_is_refused_without_quoting_it(admin: str) -> None:
    """`ADMIN_TOKEN=$(cat file)` may end in a line break: no header carries it, every admin call was 401."""
    text = config_text().replace(f"admin_token: {ADMIN}", "admin_token: ${ADMIN_TOKEN}")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", {"ADMIN_TOKEN": admin})
    assert caught.value.lines == [
        "c.yaml:2: server.admin_token: the admin token holds a space or line break, which an Authorization header "
        "cannot carry (a variable set from a file often ends in one); use letters, digits, '-' and '_' "
        f"({GENERATE})"
    ]
