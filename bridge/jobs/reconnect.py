"""Brokers whose `connect` failed are connected again, backing off, so an outage at start-up heals by itself.

Without it a venue that was down when the daemon started (or the network not yet up after a reboot)
left its subscriptions failing every signal, and start-up recovery waiting on its unresolved orders,
until somebody reloaded the config.
"""

from __future__ import annotations

import logging
import time

from bridge.jobs.host import Host
from bridge.runtime import close_slots, open_slot, retry_delay

log = logging.getLogger("bridge.jobs")


async def reconnect_brokers(host: Host, now: float | None = None) -> list[str]:
    """Try again each broker of the live config whose `connect` failed and whose wait is over; return who connected.

    `now` is `time.monotonic()` unless a test says otherwise.
    """
    runtime = host.runtime
    now = time.monotonic() if now is None else now
    connected = []
    for name, slot in list(runtime.brokers.items()):
        if slot.healthy or not slot.retry or now < slot.next_attempt:
            continue
        fresh = await open_slot(runtime.loaded, host.store, name)
        if host.runtime is not runtime or runtime.brokers.get(name) is not slot:
            await close_slots([fresh])  # a reload replaced this config meanwhile, and made its own attempt
            continue
        if fresh.healthy:
            runtime.brokers[name] = fresh
            log.info("broker %s connected, after %d failed attempt(s)", name, slot.attempts)
            connected.append(name)
            continue
        slot.attempts += 1
        slot.error, slot.retry = fresh.error, fresh.retry
        slot.next_attempt = now + retry_delay(slot.attempts)
        log.warning("broker %s is still unavailable (attempt %d; next in %gs): %s", name, slot.attempts,
                    retry_delay(slot.attempts), slot.error)  # fmt: skip
    return connected
