"""`bridge send`: one signal posted; its exit status says whether it was taken, and the token never shows."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.cli import main
from tests.conftest import TOKEN, free_port


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/webhook/sq/{token}/",  # a trailing slash: the token is no longer the last part
        "http://127.0.0.1:{port}/webhook/sq/{token}?x=1",
        "http://me:{token}@127.0.0.1:{port}/webhook/sq/{token}",
        "http://[::1:{port}/webhook/sq/{token}",  # a URL httpx cannot read: a traceback before
        "http://127.0.0.1:99999/webhook/sq/{token}",
    ],
)
def test_send_to_no_daemon_exits_1_with_one_line_that_hides_the_token(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code = main(["send", url.format(port=free_port(), token=TOKEN), "--ticker", "AMD", "--action", "buy"])
    assert code == 1
    err = capsys.readouterr().err
    assert TOKEN not in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("cannot "), err


def test_send_exits_1_on_a_refused_signal_and_0_on_an_accepted_one(
    make_daemon: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon = make_daemon()
    assert main(["send", daemon.url, "--ticker", "AMD", "--action", "jump"]) == 1
    assert "invalid-action" in capsys.readouterr().out
    assert main(["send", daemon.url[:-4] + "nope", "--ticker", "AMD", "--action", "buy"]) == 1
    assert main(["send", daemon.url, "--ticker", "AMD", "--action", "buy"]) == 0
    assert '"success":true' in capsys.readouterr().out.replace(" ", "")
