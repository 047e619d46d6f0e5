"""DNS rebinding: a page on another site's name, resolved to 127.0.0.1, must not reach the admin side.

The attacker's page makes the operator's browser resolve `rebind.attacker.example` to the bridge's loopback
address: the browser then treats the bridge as that site, and sends `Host: rebind.attacker.example:<port>`.
The dashboard, /api and /metrics answer only the names the operator uses; webhooks and /health answer any
(a tunnel passes on its own public name).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bridge.config.load import parse_config
from bridge.errors import ConfigError
from tests.conftest import ADMIN, Daemon
from tests.security.conftest import strategy

EVIL = "rebind.attacker.example"
WRONG = "adm-" + "0" * 20
BUY = {"ticker": "AMD", "action": "buy", "price": 10}
RIGHT = {"Authorization": f"Bearer {ADMIN}"}


def as_host(host: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Host": host, **(extra or {})}


def test_a_rebound_name_reaches_neither_the_admin_api_nor_the_dashboard(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()})
    base, evil = daemon.base, f"{EVIL}:{daemon.port}"
    answers = [
        httpx.get(f"{base}/api/signals", headers=as_host(evil, RIGHT)),
        httpx.post(f"{base}/api/halt", headers=as_host(evil, RIGHT)),
        httpx.get(f"{base}/metrics", headers=as_host(evil, RIGHT)),
        httpx.get(f"{base}/", headers=as_host(evil)),
        httpx.post(f"{base}/login", data={"token": ADMIN}, headers=as_host(evil, {"sec-fetch-site": "same-origin"})),
        httpx.get(f"{base}/dashboard/static/dashboard.js", headers=as_host(evil)),
    ]
    for answer in answers:
        assert answer.status_code == 403, (answer.request.url, answer.text)
        body = answer.json()
        assert body["messageCode"] == "forbidden-host" and "server.allowed_hosts" in body["message"], body
        assert "set-cookie" not in answer.headers
    assert httpx.get(f"{base}/health").json()["halted"] is False, "the rebound page's halt went through"


def test_a_rebound_page_cannot_lock_the_operator_out(start_daemon: Callable[..., Daemon]) -> None:
    # The page runs in the operator's browser: its requests come from the operator's own address.
    daemon = start_daemon({"sq": strategy()}, server="  auth_failure_limit: 3\n")
    evil = as_host(f"{EVIL}:{daemon.port}", {"Authorization": f"Bearer {WRONG}"})
    for _ in range(6):
        httpx.get(f"{daemon.base}/api/signals", headers=evil)
        httpx.post(f"{daemon.base}/login", data={"token": WRONG}, headers=as_host(f"{EVIL}:{daemon.port}"))
    answer = httpx.post(f"{daemon.base}/api/halt", headers=RIGHT)
    assert answer.status_code == 200, answer.text


def test_the_names_the_operator_uses_are_served(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server="  allowed_hosts: [Bridge.Example.com]\n")
    port = daemon.port
    served = (
        "127.0.0.1",
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        "LOCALHOST.",
        f"app.localhost:{port}",
        f"[::1]:{port}",
        f"192.168.1.20:{port}",
        f"bridge.example.com:{port}",
        "bridge.example.com.",
        "",
    )
    for host in served:
        answer = httpx.get(f"{daemon.base}/api/signals", headers=as_host(host, RIGHT))
        assert answer.status_code == 200, (host, answer.text)
    for host in (f"example.com:{port}", f"sub.bridge.example.com:{port}", f"127.0.0.1.nip.io:{port}"):
        assert httpx.get(f"{daemon.base}/api/signals", headers=as_host(host, RIGHT)).status_code == 403, host


def test_webhooks_and_health_answer_a_tunnels_public_name(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()})
    tunnel = as_host("quiet-river-1234.trycloudflare.com")
    assert daemon.post(BUY, headers=tunnel).status_code == 200
    assert httpx.post(f"{daemon.url}/", json=BUY | {"action": "sell"}, headers=tunnel).status_code == 200
    assert httpx.get(f"{daemon.base}/health", headers=tunnel).status_code == 200
    # The tunnel's name can be allowed for the dashboard too, by listing it.
    assert httpx.get(f"{daemon.base}/api/signals", headers=as_host(tunnel["Host"], RIGHT)).status_code == 403


def test_the_name_in_public_url_is_served_as_one_the_operator_uses(start_daemon: Callable[..., Daemon]) -> None:
    """Set to the tunnel's address, `server.public_url` names it: its dashboard there needs no allowed_hosts too."""
    daemon = start_daemon({"sq": strategy()}, server="  public_url: https://Quiet-River.example.com/bridge\n")
    for host in ("quiet-river.example.com", f"quiet-river.example.com:{daemon.port}"):
        assert httpx.get(f"{daemon.base}/api/signals", headers=as_host(host, RIGHT)).status_code == 200, host
    for host in (EVIL, "example.com", "river.example.com"):
        assert httpx.get(f"{daemon.base}/api/signals", headers=as_host(host, RIGHT)).status_code == 403, host


def test_a_star_allows_every_name(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server="  allowed_hosts: ['*']\n")
    assert httpx.get(f"{daemon.base}/api/signals", headers=as_host(EVIL, RIGHT)).status_code == 200


@pytest.mark.parametrize("entry", ["https://bridge.example.com", "bridge.example.com:8787", "*.example.com", " "])
def test_an_allowed_host_that_is_not_a_bare_name_is_refused_at_its_line(entry: str) -> None:
    text = f"server:\n  allowed_hosts: [{entry!r}]\nbrokers:\n  paper: {{plugin: paper}}\nstrategies:\n  sq:\n" + (
        "    token: tok-0123456789abcdef0\n    subscriptions:\n      - broker: paper\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", environ={})
    assert any(line.startswith("c.yaml:2: server.allowed_hosts") and "bare host name" in line
               for line in caught.value.lines), caught.value.lines  # fmt: skip


def test_allowed_hosts_are_kept_as_the_host_header_is_compared() -> None:
    text = "server:\n  allowed_hosts: [Bridge.Example.COM., '*']\nbrokers:\n  paper: {plugin: paper}\nstrategies:\n" + (
        "  sq:\n    token: tok-0123456789abcdef0\n    subscriptions:\n      - broker: paper\n"
    )
    assert parse_config(text, "c.yaml", environ={}).server.allowed_hosts == ["bridge.example.com", "*"]


def test_an_unknown_path_under_a_tunnels_name_is_not_found_saying_which_paths_exist(
    start_daemon: Callable[..., Daemon],
) -> None:
    """The name is right (a tunnel's), the path is not: 404, not a 403 that sends the operator to allowed_hosts."""
    daemon = start_daemon({"sq": strategy()})
    for host in ("quiet-river-1234.trycloudflare.com", "127.0.0.1"):
        for method, path in (("POST", "/webhooks/sq/x"), ("GET", "/favicon.ico"), ("POST", "/hook"),
                             ("GET", "/dashboard/nothing")):  # fmt: skip
            answer = httpx.request(method, f"{daemon.base}{path}", headers=as_host(host))
            assert answer.status_code == 404, (host, path, answer.text)
            body = answer.json()
            assert body["messageCode"] == "not-found", body
            assert "/webhook/<strategy>/<token>" in body["message"] and "/health" in body["message"], body
    # The admin side under that name is still refused as before.
    tunnel = as_host("quiet-river-1234.trycloudflare.com", RIGHT)
    assert httpx.get(f"{daemon.base}/api/signals", headers=tunnel).status_code == 403
    assert httpx.get(f"{daemon.base}/api/nothing", headers=tunnel).status_code == 403
    assert httpx.get(f"{daemon.base}/", headers=tunnel).status_code == 403
