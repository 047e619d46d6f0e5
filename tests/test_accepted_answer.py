"""The accepted webhook's 200 answer: the messages Starlette's own JSON `Response` of its body would send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.responses import Response

from bridge.store.accepted import Accepted
from bridge.web.webhook import _accepted_answer


async def _sent(response: Response) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        messages.append(dict(message))

    await response({"type": "http", "method": "POST"}, receive, send)
    return messages


@pytest.mark.parametrize(
    "payload", ['{"ticker": "AMD", "action": "buy"}', '{"ticker": "caf\\u00e9", "action": "sell"}']
)
def test_the_accepted_answer_is_sent_as_a_json_response_of_its_body(payload: str) -> None:
    answer = _accepted_answer(Accepted("0190e3f2-aaaa-7bbb-8ccc-123456789012", payload), "log-id")
    body = f'{{"success":true,"id":"0190e3f2-aaaa-7bbb-8ccc-123456789012","logId":"log-id","payload":{payload}}}'
    expected = Response(body.encode(), media_type="application/json")
    assert answer.status_code == 200
    assert asyncio.run(_sent(answer)) == asyncio.run(_sent(expected))
    assert answer.headers == expected.headers
