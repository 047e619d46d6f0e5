"""A reload that changes server.admin_token: whatever the old token opened is closed at once."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN, TOKEN
from tests.reload.conftest import config_text

NEW_ADMIN = "adm-" + "9a8b7c6d5e4f3a2b1c0d"


async def test_a_dashboard_session_signed_in_with_the_old_admin_token_ends_when_a_reload_changes_it(
    running: Any,
) -> None:
    r = await running(config_text({"sq": TOKEN}))
    assert (await r.client.post("/login", data={"token": ADMIN})).status_code == 303
    assert (await r.client.get("/dashboard/state")).status_code == 200, "signed in"
    status = await r.edit(config_text({"sq": TOKEN}).replace(ADMIN, NEW_ADMIN))  # rotated: the old one leaked
    assert status.ok
    assert (await r.client.get("/dashboard/state")).status_code == 401
    assert (await r.client.get("/dashboard/url/sq")).status_code == 401, "the URL (with its token) is not given out"
    assert 'name="token"' in (await r.client.get("/")).text, "the sign-in form, not the dashboard"


async def test_a_dashboard_session_ends_when_a_reload_removes_the_admin_token(running: Any) -> None:
    r = await running(config_text({"sq": TOKEN}))
    assert (await r.client.post("/login", data={"token": ADMIN})).status_code == 303
    status = await r.edit(config_text({"sq": TOKEN}).replace(f"server:\n  admin_token: {ADMIN}\n", ""))
    assert status.ok
    assert (await r.client.get("/dashboard/state")).status_code == 401


async def test_a_dashboard_session_outlives_a_reload_that_keeps_the_admin_token(running: Any) -> None:
    r = await running(config_text({"sq": TOKEN}))
    assert (await r.client.post("/login", data={"token": ADMIN})).status_code == 303
    assert (await r.edit(config_text({"sq": TOKEN, "new": "tok-" + "0f0e0d0c0b0a09080706"}))).ok
    assert (await r.client.get("/dashboard/state")).status_code == 200
