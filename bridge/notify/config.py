"""The `notifications:` block of the config file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bridge.notify.events import KINDS

EventKind = Literal["signal.rejected", "signal.failed", "signal.expired", "order.filled", "order.rejected",
                    "order.canceled", "order.partially_filled", "order.unfollowed", "reload.failed", "halt", "resume",
                    "webhook.refused", "flatten.missed"]  # fmt: skip
# Not `order.canceled` nor `order.partially_filled`: every exit and reversal cancels the working orders it replaces, and
# a resting order may fill in many parts; told by default, they would bury the fills and refusals that need a look.
DEFAULT_EVENTS: list[EventKind] = ["signal.rejected", "signal.failed", "signal.expired", "order.filled",
                                   "order.rejected", "order.unfollowed", "reload.failed", "halt", "resume",
                                   "webhook.refused", "flatten.missed"]  # fmt: skip


class Strict(BaseModel):
    """Base model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NotifyTarget(Strict):
    """One place notifications go: a generic JSON webhook, a Discord webhook, a Telegram chat or an ntfy topic."""

    type: Literal["webhook", "discord", "telegram", "ntfy"] = Field(description="the receiver's format")
    name: str | None = Field(default=None, description="names the target in the log (URLs are never logged)")
    url: str | None = Field(
        default=None,
        description="webhook/discord: the URL to POST to; ntfy: the topic URL, e.g. https://ntfy.sh/my-topic",
    )
    bot_token: str | None = Field(default=None, description="telegram: the bot's token from @BotFather")
    chat_id: str | None = Field(default=None, description="telegram: the chat to write to")
    api_url: str = Field(default="https://api.telegram.org", description="telegram: the Bot API's base URL")
    access_token: str | None = Field(default=None, description="ntfy: an access token for a protected topic")
    events: list[EventKind] | None = Field(
        default=None, description="only these events go here ([]: none); null: the block's"
    )

    @model_validator(mode="after")
    def _needs(self) -> NotifyTarget:
        if self.type == "telegram":
            if not self.bot_token or not self.chat_id:
                raise ValueError("a telegram target needs bot_token and chat_id")
            address = ("api_url", self.api_url)
        elif not self.url or not self.url.startswith(("http://", "https://")):
            raise ValueError(f"a {self.type} target needs url: an http(s) URL")
        else:
            address = ("url", self.url)
        # Else `bridge check` said ok, and every notice failed (a traceback each): the fills and halts went unsaid.
        if (trouble := _unsendable(address[1])) is not None:
            raise ValueError(f"a {self.type} target's {address[0]} cannot be sent to ({trouble}); check it")
        return self

    def wants(self, kind: str, default: list[EventKind]) -> bool:
        """Whether events of `kind` go here: its own list when it has one (`[]`: none), else the block's."""
        return kind in (default if self.events is None else self.events)

    @property
    def label(self) -> str:
        """How the log names this target (never by its URL, which often holds a token)."""
        return self.name or self.type

    def secrets(self) -> list[str]:
        """Values that must never be logged: tokens, and URLs that embed one (Discord's, a webhook's)."""
        found = [s for s in (self.bot_token, self.access_token, self.url) if s]
        return found + _as_sent(self.url) if self.url else found


def _unsendable(url: str) -> str | None:
    """Why no request can be sent to `url` (never quoting it: it may hold a token), or None."""
    import httpx  # only for a config with a notification target: most setups never load it

    if not url.startswith(("http://", "https://")):
        return "not an http(s) URL"
    try:
        # Stripped: a line break at an end (an env file's) is refused by the loader, naming the variable.
        host = httpx.URL(url.strip()).host
    except (httpx.InvalidURL, ValueError) as exc:
        # What is wrong ("Invalid port"), not the part it quotes: a password with a "/" in it reads as the port,
        # and this error goes to /health, the log and the reload.failed notice.
        return str(exc).split(":")[0].split(",")[0].rstrip(".")
    return None if host else "no host"


def _as_sent(url: str) -> list[str]:
    """`url` as httpx sends and prints it (lowercased host, no default port, percent-encoded), if it differs."""
    import httpx  # only for a config with a notification URL: most setups never load it

    try:
        sent = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):  # delivery fails too, and logs no URL
        return []
    # The whole URL only: its path alone ("/USD" of an ntfy topic) could mask a ticker ("BTC/USD") or a payload.
    return [str(sent)] if str(sent) != url else []


class Notifications(Strict):
    """Messages to the operator when something needs attention; sending never delays trading."""

    targets: list[NotifyTarget] = Field(default_factory=list, description="where notifications go; none: off")
    events: list[EventKind] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS),
        description="which events are sent: " + ", ".join(KINDS),
    )
    queue_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="events waiting to be sent, and waiting for each target; beyond it new ones are dropped",
    )
    timeout: float = Field(default=5.0, gt=0, le=60, description="seconds per delivery attempt")
    retries: int = Field(default=4, ge=0, le=20, description="further attempts after a failed delivery")
    backoff: float = Field(
        default=1.0,
        ge=0,
        le=300,
        description="seconds before the first retry; doubles after each attempt, up to 300 s between attempts",
    )

    def secrets(self) -> list[str]:
        """Every secret value of every target."""
        return [s for target in self.targets for s in target.secrets()]
