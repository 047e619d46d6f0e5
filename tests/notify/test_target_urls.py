"""A notification target's address is checked when the config loads: one it cannot be sent to is a config error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import main
from tests.conftest import write_config

SECRET = "hooksecret-" + "0a1b2c3d4e5f6a7b"


@pytest.mark.parametrize(
    ("target", "field"),
    [
        (f"{{type: webhook, url: 'http://localhost:PORT/hook/{SECRET}'}}", "url"),  # a placeholder left in
        (f"{{type: discord, url: 'https:///api/webhooks/1/{SECRET}'}}", "url"),  # no host
        (f"{{type: ntfy, url: 'http://[::1/{SECRET}'}}", "url"),
        (f"{{type: ntfy, url: 'https://me:{SECRET}/x@ntfy.example/topic'}}", "url"),  # a password with a / in it
        (f"{{type: telegram, bot_token: '1:{SECRET}', chat_id: '1', api_url: 'api.telegram.org'}}", "api_url"),
    ],
)
def test_a_target_address_no_notice_could_be_sent_to_is_refused_at_its_line_without_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, field: str
) -> None:
    """`bridge check` said ok; then every notice logged a traceback (or was retried and given up on): the fills
    and halts it should have told went unsaid, and nothing had said why when the config was written."""
    config = write_config(tmp_path, extra=f"notifications:\n  targets:\n    - {target}\n")
    assert main(["check", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "notifications.targets.0: a " in err and f"{field} cannot be sent to" in err, err
    assert SECRET not in err and "Traceback" not in err, err


def test_the_addresses_of_the_documented_targets_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = (
        "    - {type: webhook, url: 'https://example.com/hook?token=abc'}\n"
        "    - {type: discord, url: 'https://discord.com/api/webhooks/1/abc'}\n"
        "    - {type: telegram, bot_token: '123:abc', chat_id: '1'}\n"
        "    - {type: telegram, bot_token: '123:abc', chat_id: '1', api_url: 'http://127.0.0.1:8081/'}\n"
        "    - {type: ntfy, url: 'http://[::1]:8080/my-topic'}\n"
    )
    config = write_config(tmp_path, extra=f"notifications:\n  targets:\n{targets}")
    assert main(["check", "--config", str(config)]) == 0, capsys.readouterr().err
