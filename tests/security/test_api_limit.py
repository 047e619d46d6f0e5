"""`GET /api/<table>?limit=`: a value that is not a row count is refused with how to fix it, not taken silently."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN
from tests.dashboard.test_positions import two_brokers
from tests.reload.conftest import running  # noqa: F401 - a fixture, registered by being here


@pytest.mark.parametrize("table", ["signals", "orders", "webhooks", "positions"])
@pytest.mark.parametrize("limit", ["-1", "0", "x", "", "1.5", "²"])
async def test_a_limit_that_is_not_a_row_count_is_a_400_saying_what_to_give(
    running: Any,  # noqa: F811 - the fixture imported above
    table: str,
    limit: str,
) -> None:
    r = await running(two_brokers())
    answer = await r.client.get(f"/api/{table}", params={"limit": limit},
                                headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["success"] is False and body["messageCode"] == "invalid-limit", body
    assert "1 to 1000" in body["message"] and repr(limit) in body["message"], body


async def test_a_good_limit_and_one_above_the_cap_still_list(
    running: Any,  # noqa: F811 - the fixture imported above
) -> None:
    r = await running(two_brokers())
    assert (await r.post(action="buy")).status_code == 200
    await r.settled()
    auth = {"Authorization": f"Bearer {ADMIN}"}
    for limit in ("1", "5000", "9" * 5000):
        answer = await r.client.get("/api/signals", params={"limit": limit}, headers=auth)
        assert answer.status_code == 200 and len(answer.json()) == 1, answer.text
    assert len((await r.client.get("/api/signals", headers=auth)).json()) == 1
