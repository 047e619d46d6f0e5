"""Broker credentials with a line break or spaces at an end: refused at their line, saying how to fix it, unquoted."""

from __future__ import annotations

import pytest

from bridge.config.load import parse_config
from bridge.errors import ConfigError

KEY_ID = "PKTEST0123456789ABCD"
SECRET = "sEcReT0123456789abcdefghijklmnopqrstuvwx"

TEXT = """\
brokers:
  alpaca:
    plugin: alpaca
    options:
      key_id: {key_id}
      secret_key: {secret}
      paper: true
strategies:
  x:
    token: tok-0123456789abcdef
    subscriptions:
      - broker: alpaca
"""


def config(key_id: str = KEY_ID, secret: str = SECRET) -> str:
    return TEXT.format(key_id=key_id, secret=secret)


def errors(text: str, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", environ)
    return caught.value.lines


def test_a_secret_read_from_a_file_with_its_last_newline_is_refused_naming_the_variable_not_the_value() -> None:
    """`export ALPACA_SECRET=$(cat key.txt)` drops the newline, but an env file or systemd's does not."""
    lines = errors(config(secret="${ALPACA_SECRET}"), {"ALPACA_SECRET": SECRET + "\n"})
    assert len(lines) == 1, lines
    assert lines[0].startswith("c.yaml:6: brokers.alpaca.options.secret_key: environment variable ALPACA_SECRET")
    assert "line break" in lines[0] and "$(cat" in lines[0]
    assert SECRET not in lines[0] and SECRET[-4:] not in lines[0]


@pytest.mark.parametrize(
    ("written", "what"),
    [(f'"{KEY_ID} "', "a space"), (f'" {KEY_ID}"', "a space"), (f'"{KEY_ID}\\n"', "line break"),
     (f'"{KEY_ID}\\t"', "a space")],
    ids=["trailing-space", "leading-space", "newline", "tab"],
)  # fmt: skip
def test_a_literal_credential_with_spaces_or_a_line_break_at_an_end_is_refused_at_its_line(
    written: str, what: str
) -> None:
    lines = errors(config(key_id=written), {})
    assert len(lines) == 1, lines
    assert lines[0].startswith("c.yaml:5: brokers.alpaca.options.key_id: ") and what in lines[0], lines
    assert KEY_ID not in lines[0] and KEY_ID[-4:] not in lines[0]


def test_credentials_without_spaces_at_their_ends_load() -> None:
    loaded = parse_config(config(secret="${ALPACA_SECRET}"), "c.yaml", {"ALPACA_SECRET": SECRET})
    assert loaded.brokers["alpaca"].options["secret_key"] == SECRET


def test_a_pem_private_key_written_as_a_block_keeps_its_last_newline() -> None:
    """Coinbase's API secret is an EC private key; PEM ends with a newline and every reader of it takes one."""
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB0123456789abcdef\n-----END EC PRIVATE KEY-----\n"
    loaded = parse_config(config(secret="${PEM}"), "c.yaml", {"PEM": pem})
    assert loaded.brokers["alpaca"].options["secret_key"] == pem


def test_a_notification_token_or_url_with_a_line_break_at_its_end_is_refused_at_its_line() -> None:
    """Every notification to it failed with "Invalid non-printable ASCII character in URL": fills and halts unsaid."""
    text = config() + (
        "notifications:\n  targets:\n    - {type: telegram, bot_token: '${BOT}', chat_id: '1'}\n"
        "    - {type: discord, url: '${HOOK}'}\n"
    )
    token, hook = "123456:ABCdefGhIjKlMnOpQrStUvWxYz", "https://discord.com/api/webhooks/1/abcdefgh"
    lines = errors(text, {"BOT": token + "\n", "HOOK": hook + "\n"})
    assert [line.split(": ")[0:2] for line in lines] == [
        ["c.yaml:15", "notifications.targets.0.bot_token"],
        ["c.yaml:16", "notifications.targets.1.url"],
    ], lines
    assert all("line break" in line and "every notification" in line for line in lines)
    assert token not in "".join(lines) and hook not in "".join(lines)
