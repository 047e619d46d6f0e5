"""Journal retention (`retention_days`) and the daily summary line."""

from __future__ import annotations

import logging
from datetime import timedelta

from bridge.jobs.host import Host
from bridge.store import upkeep
from bridge.store.db import iso

log = logging.getLogger("bridge.jobs")
PRUNE_CHUNK = 2000


async def prune(host: Host) -> dict[str, int]:
    """Delete journal rows older than `retention_days`, never an order (or its signal) that is not final.

    Nor, for a subscription with flatten_at, the orders of a position the journal still shows open (see
    upkeep.prune): flatten_at reads them. A disabled one's too: enabled again, its flatten closes what it holds.
    """
    days = host.runtime.loaded.config.retention_days
    cutoff = host.clock() - timedelta(days=days)
    counts = dict.fromkeys(("orders", "executions", "signals", "webhooks", "paper_orders", "paper_fills"), 0)
    runtime = host.runtime
    # The positions still open in the journal of the subscriptions flatten_at closes (it reads them there) are
    # found by the first chunk, for all of them.
    flattened: list[tuple[str, str]] | None = [
        (strategy, journaled) for strategy, key, _sub in runtime.flattened()
        for journaled in runtime.journal_keys(strategy, key)
    ]  # fmt: skip
    while True:  # in chunks, each its own short transaction (see upkeep.prune)
        chunk = await host.store.run(upkeep.prune, host.store.conn, iso(cutoff), PRUNE_CHUNK, flattened)
        flattened = None
        counts = {table: counts[table] + chunk[table] for table in counts}
        if all(chunk[table] < PRUNE_CHUNK for table in ("signals", "webhooks", "paper_orders", "paper_fills")):
            break
    if any(counts.values()):
        log.info("pruned journal rows older than %d days: %s", days, ", ".join(f"{n} {t}" for t, n in counts.items()))
    return counts


def _show(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "none"


async def daily_summary(host: Host) -> str:
    """Log one line of what happened in the last 24 hours."""
    since = host.clock() - timedelta(days=1)
    seen = await host.store.run(upkeep.activity, host.store.conn, iso(since))
    line = (
        f"daily summary (24h): webhooks by status {_show(seen['webhooks'])}; signals {_show(seen['signals'])}; "
        f"orders {_show(seen['orders'])}; open orders now {seen['open']['orders']}"
    )
    log.info("%s", line)
    return line
