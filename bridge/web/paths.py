"""Where a webhook URL names its strategy and token, well formed or not; what a path that names nothing hears."""

from __future__ import annotations

# Every 404 of a path that is not there, and of the admin side off its listener (as if absent: the same words).
# It says which paths are: a sender's typo (`/webhooks/...`, a path a proxy rewrote) has to learn where to send.
NOT_FOUND = {
    "success": False,
    "messageCode": "not-found",
    "message": "No such endpoint. Webhooks are sent with POST to /webhook/<strategy>/<token> (or "
    "/trading/webhook/<strategy>/<token>), exactly as bridge run prints it; GET /health says whether the bridge is up.",
}


def webhook_params(path: str) -> dict[str, str] | None:
    """`{"strategy", "token"}` of `/webhook/{strategy}/{token}` or `/trading/webhook/...`, else None."""
    parts = path.split("/")
    if len(parts) > 4 and parts[-1] == "":  # one trailing slash, as the routes take it
        parts.pop()
    if len(parts) == 4 and parts[1] == "webhook":
        strategy, token = parts[2], parts[3]
    elif len(parts) == 5 and parts[1] == "trading" and parts[2] == "webhook":
        strategy, token = parts[3], parts[4]
    else:
        return None
    return {"strategy": strategy, "token": token} if strategy and token and not parts[0] else None


def loose_params(path: str) -> dict[str, str]:
    """For a malformed webhook path: its first two non-empty segments after the prefix as strategy and token."""
    rest = path.removeprefix("/trading").removeprefix("/webhook/")
    parts = [part for part in rest.split("/") if part] + ["", ""]
    return {"strategy": parts[0], "token": parts[1]}
