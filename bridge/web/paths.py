"""Where a webhook URL names its strategy and token, well formed or not."""

from __future__ import annotations


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
