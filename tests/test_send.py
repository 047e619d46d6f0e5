"""`bridge send`: one signal posted; its exit status says whether it was taken, and the token never shows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main, proxy_allowed
from tests.conftest import GUARD, TOKEN, free_port
from tests.notify.receiver import Bystander


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


def whole_request(connection: socket.socket) -> bytes:
    """A request read from `connection` to the end of its body (as long as its Content-Length says)."""
    data = b""
    while not _whole(data) and (chunk := connection.recv(65536)):
        data += chunk
    return data


def _whole(data: bytes) -> bool:
    head, found, body = data.partition(b"\r\n\r\n")
    lengths = [line.partition(b":")[2] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    return bool(found) and len(body) >= (int(lengths[0]) if lengths else 0)


def sender_waiting(server: socket.socket, ticker: str) -> socket.socket:
    """The connection the webhook POST of `ticker` came in whole on: its sender now waits for the answer.

    Headers and body both: httpx writes them apart, and an interrupt between the two would be one while sending.
    Any other connection is closed: a client of another program on this machine, or of another test, given this
    port before (the suite's tests share TOKEN: only the ticker, this test's own, tells its sender's request).
    """
    while True:
        connection, _ = server.accept()
        connection.settimeout(GUARD)
        request = whole_request(connection)
        if request.startswith(f"POST /webhook/sq/{TOKEN} ".encode()) and f'"{ticker}"'.encode() in request:
            return connection
        connection.close()


def asleep(pid: int) -> bool:
    """Whether process `pid` sleeps in a system call (Linux's /proc tells; elsewhere it is taken as so).

    After its request went out, the command's only sleep is its wait for the answer, which a signal interrupts at
    once. A signal landing earlier, in the few instructions between Python's last look at its pending signals and
    that wait (CPython's own race, no code of ours), is only seen when the wait ends: the command then waited its
    whole SEND_TIMEOUT, far past the test's guard, as if it never answered its Ctrl+C.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "S"  # the state follows the command's name, which may hold spaces


# `bridge send` as `python -m bridge send` runs it from a terminal, where Ctrl+C raises KeyboardInterrupt, and with
# a wait for the answer longer than the test's own guards. Else the send gave up first ("no answer came", exit 1)
# and the interrupt proved nothing: after its 10 s, when a loaded machine left the test unscheduled that long
# between the request's arrival and its Ctrl+C; and always, when the suite was started with SIGINT ignored (a
# background job of a script), which Python then leaves ignored in the command too.
PATIENT_SEND = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); import bridge.cli as c; "
    f"c.SEND_TIMEOUT = {3 * GUARD}; raise SystemExit(c.main(sys.argv[1:]))"
)


def test_send_interrupted_while_it_waits_for_the_answer_ends_in_one_line_without_a_traceback() -> None:
    # Ctrl+C on a command waiting for a daemon that does not answer printed a KeyboardInterrupt traceback.
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(GUARD)  # a guard: the command connects at once
        url = f"http://127.0.0.1:{server.getsockname()[1]}/webhook/sq/{TOKEN}"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        ticker = f"T{uuid.uuid4().hex[:8].upper()}"  # this run's own, told apart from any other sender's
        command = [sys.executable, "-c", PATIENT_SEND, "send", url, "--ticker", ticker, "--action", "buy"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        with sender_waiting(server, ticker):  # the request arrived: the command now waits for an answer never coming
            deadline = time.monotonic() + GUARD
            while not asleep(process.pid):  # its Ctrl+C lands once it waits, not on its way there
                assert time.monotonic() < deadline, "the command never waited for the answer"
                time.sleep(0.01)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=GUARD)
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


PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def proxy() -> Iterator[Bystander]:
    """A proxy listening on 127.0.0.1 that keeps what reaches it."""
    with Bystander() as bystander:
        yield bystander


def behind(proxy: Bystander, monkeypatch: pytest.MonkeyPatch) -> None:
    """Name `proxy` in every variable of the environment (a shell set up for pip and curl), NO_PROXY unset."""
    for name in PROXIES:
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def test_send_to_a_loopback_address_never_hands_the_token_to_a_proxy_the_environment_names(
    make_daemon: Any, proxy: Bystander, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The proxy was sent the URL, token in its path, in clear, and (unable to reach this host's loopback) failed
    the send that the daemon would have taken."""
    daemon = make_daemon()  # started (its health polled) before the proxy is named
    behind(proxy, monkeypatch)
    assert main(["send", daemon.url, "--ticker", "AMD", "--action", "buy"]) == 0, capsys.readouterr()
    assert proxy.received == []
    assert '"success":true' in capsys.readouterr().out.replace(" ", "")


def test_send_to_a_remote_https_url_goes_through_the_proxy_as_a_tunnel_that_hides_the_token(
    proxy: Bystander, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    behind(proxy, monkeypatch)
    # A corporate network may reach the sender's remote bridge only through its proxy: https is tunneled there,
    # and the proxy sees the host alone (the name is never looked up here: the proxy is asked to connect to it).
    assert main(["send", f"https://bridge.invalid/webhook/sq/{TOKEN}", "--ticker", "AMD", "--action", "buy"]) == 1
    assert TOKEN not in capsys.readouterr().err
    assert [request.split(b"\r\n")[0] for request in proxy.received] == [b"CONNECT bridge.invalid:443 HTTP/1.1"]
    assert all(TOKEN.encode() not in request for request in proxy.received)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://bridge.example.com/webhook/sq/t", True),
        ("HTTPS://Bridge.Example.com:8443/webhook/sq/t", True),
        ("http://bridge.example.com/webhook/sq/t", False),  # the proxy would read the token in the path
        ("https://127.0.0.1:8787/webhook/sq/t", False),
        ("https://127.1.2.3/webhook/sq/t", False),
        ("https://[::1]:8787/webhook/sq/t", False),
        ("https://[::ffff:127.0.0.1]/webhook/sq/t", False),
        ("https://localhost:8787/webhook/sq/t", False),
        ("https://LOCALHOST./webhook/sq/t", False),
        ("https://bridge.localhost/webhook/sq/t", False),
        ("https://0.0.0.0:8787/webhook/sq/t", False),
        ("https://[::1:8787/webhook/sq/t", False),  # unreadable: httpx refuses it, sent nowhere
    ],
)
def test_send_takes_a_proxy_only_for_https_to_a_host_off_loopback(url: str, allowed: bool) -> None:
    assert proxy_allowed(url) is allowed
