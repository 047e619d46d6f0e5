"""Which paths take the webhook fast lane: exactly those the webhook routes would match."""

from __future__ import annotations

import pytest
from starlette.routing import Route

from bridge.web.app import WEBHOOK_METHODS, WEBHOOK_PATHS
from bridge.web.paths import webhook_params
from bridge.web.webhook import receive_webhook

ROUTES = [Route(p, receive_webhook, methods=WEBHOOK_METHODS) for p in WEBHOOK_PATHS]


def route_params(path: str) -> dict[str, str] | None:
    """What Starlette's own routes make of the path (None: no match)."""
    for route in ROUTES:
        match = route.path_regex.match(path)
        if match:
            return match.groupdict()
    return None


@pytest.mark.parametrize(
    "path",
    [
        "/webhook/sq/tok-123", "/trading/webhook/sq/tok-123", "/webhook/sq/tok-123/", "/webhook//tok",
        "/webhook/sq/", "/webhook/sq", "/webhooks/sq/tok", "/trading/webhook/sq", "/x/webhook/sq/tok",
        "/webhook/a b/t%20k", "/trading/webhooks/sq/tok", "/webhook/sq/tok/extra", "//webhook/sq/tok",
        "/trading/webhook/sq/tok/", "/webhook/sq/tok//", "/webhook/sq//", "/trading/webhook/sq/", "/webhook/sq/tok/x/",
    ],
)  # fmt: skip
def test_the_fast_lane_takes_exactly_the_paths_the_routes_match(path: str) -> None:
    assert webhook_params(path) == route_params(path)
