"""Guessing the admin token meets a lockout too: at the dashboard's sign-in form, /api and /metrics."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import ADMIN, Daemon
from tests.security.conftest import strategy

BUY = {"ticker": "AMD", "action": "buy", "price": 10}
WRONG = "adm-" + "0" * 20


def test_admin_token_guesses_at_every_door_lock_the_address_out(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server="  auth_failure_limit: 5\n  auth_lockout: 300\n")
    base = daemon.base
    wrong = {"Authorization": f"Bearer {WRONG}"}
    guesses = [
        httpx.post(f"{base}/login", data={"token": WRONG}).status_code,
        httpx.get(f"{base}/api/signals", headers=wrong).status_code,
        httpx.get(f"{base}/metrics", headers=wrong).status_code,
        httpx.post(f"{base}/api/halt", headers=wrong).status_code,
        httpx.post(f"{base}/api/reload", headers=wrong).status_code,
    ]
    assert guesses == [401] * 5
    locked = httpx.post(f"{base}/login", data={"token": ADMIN})
    assert locked.status_code == 429, "the fifth failure within a minute starts the lockout, even for the right token"
    assert int(locked.headers["Retry-After"]) > 200 and "set-cookie" not in locked.headers
    right = {"Authorization": f"Bearer {ADMIN}"}
    api = httpx.get(f"{base}/api/signals", headers=right)
    assert (api.status_code, api.json()["messageCode"]) == (429, "too-many-requests")
    assert httpx.get(f"{base}/metrics", headers=right).status_code == 429
    assert httpx.post(f"{base}/api/resume", headers=right).status_code == 429
    daemon.wait_output("locked out 127.0.0.1 for 300s after 5 wrong admin tokens")
    # Admin guesses lock out the admin side only: behind a tunnel every sender may share this address.
    assert daemon.post(BUY).status_code == 200


def test_a_missing_admin_token_is_no_failed_guess(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"sq": strategy()}, server="  auth_failure_limit: 2\n")
    for _ in range(4):  # a browser page or a scraper without credentials is not guessing
        assert httpx.get(f"{daemon.base}/api/signals").status_code == 401
        assert httpx.get(f"{daemon.base}/metrics").status_code == 401
    assert httpx.get(f"{daemon.base}/api/signals", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def test_a_cross_site_sign_in_is_refused_and_cannot_lock_the_operator_out(start_daemon: Callable[..., Daemon]) -> None:
    # Any web page the operator opens can post a form to http://127.0.0.1:8787/login: its wrong tokens must not lock
    # out the address `bridge resume` and the dashboard use. The sign-in form itself always posts from its own origin.
    daemon = start_daemon({"sq": strategy()}, server="  auth_failure_limit: 3\n")
    login = f"{daemon.base}/login"
    for site in ("cross-site", "same-site") * 3:
        forged = httpx.post(login, data={"token": WRONG}, headers={"sec-fetch-site": site})
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
    assert httpx.post(login, data={"token": ADMIN}, headers={"sec-fetch-site": "cross-site"}).status_code == 403
    assert httpx.post(login, data={"token": ADMIN}, headers={"sec-fetch-site": "same-origin"}).status_code == 303
    assert httpx.get(f"{daemon.base}/api/signals", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
