"""A test venue: the paper broker with an `account` option, like Alpaca's `paper: true|false` or another key.

Each account is its own book (the paper book is keyed by the name the broker trades under), so changing the
option under the same broker name points the bridge at a different account, as it would at a real venue.
Loaded by the config as `tests.reload.venue_accounts:AccountPaper`, like any `module:Class` plugin.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import BaseModel

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.models import Order


class AccountOptions(PaperOptions):
    """Paper options plus the account the keys open."""

    account: str


class AccountPaper(PaperBroker):
    """A paper venue whose book is the configured account's."""

    options_model: ClassVar[type[BaseModel]] = AccountOptions
    lookups: ClassVar[asyncio.Event | None] = None  # set: order lookups wait for it (a slow start-up recovery)
    asked: ClassVar[asyncio.Event] = asyncio.Event()  # a lookup is waiting for `lookups`

    def __init__(self, options: AccountOptions | dict[str, Any], context: BrokerContext) -> None:
        opts = options if isinstance(options, AccountOptions) else AccountOptions.model_validate(options)
        super().__init__(opts, context)
        self.name = opts.account

    async def fetch_order(self, client_order_id: str) -> Order:
        """The paper broker's answer, once `lookups` (when a test sets it) lets it through."""
        if AccountPaper.lookups is not None:
            AccountPaper.asked.set()
            await AccountPaper.lookups.wait()
        return await super().fetch_order(client_order_id)
