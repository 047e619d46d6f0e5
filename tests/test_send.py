"""`bridge send`: one signal posted; its exit status says whether it was taken, and the token never shows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
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


def test_send_interrupted_while_it_waits_for_the_answer_ends_in_one_line_without_a_traceback() -> None:
    # Ctrl+C on a command waiting for a daemon that does not answer printed a KeyboardInterrupt traceback.
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)  # a guard: the command connects at once
        url = f"http://127.0.0.1:{server.getsockname()[1]}/webhook/sq/{TOKEN}"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        process = subprocess.Popen([sys.executable, "-m", "bridge", "send", url, "--ticker", "AMD", "--action", "buy"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)  # the request arrived: the command now waits for an answer that never comes
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
    assert process.returncode == 130, (process.returncode, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and TOKEN not in err, err
    assert "interrupted: the send may or may not have taken effect" in err, err


def test_send_whose_request_arrived_but_got_no_answer_does_not_say_it_could_not_reach(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The daemon read the signal, then the connection dropped (a proxy's idle cut, a restart): it may well be
    # journaled and trading. "cannot reach" read as "nothing was sent", and sent again it was a second order.
    import threading

    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)  # a guard: the command connects at once

        def drop_after_reading() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)

        reader = threading.Thread(target=drop_after_reading)
        reader.start()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/webhook/sq/{TOKEN}"
        assert main(["send", url, "--ticker", "AMD", "--action", "buy"]) == 1
        reader.join()
    err = capsys.readouterr().err
    assert not err.startswith("cannot reach") and "may or may not" in err and "bridge signals" in err, err
    assert TOKEN not in err
