"""A breakeven's stop found working after its execution ended: the stops it moves are canceled then."""

from __future__ import annotations

import logging

from bridge.brokers import answers
from bridge.jobs.host import Host
from bridge.jobs.orders import Retries, record_answer, space_out
from bridge.store import upkeep

log = logging.getLogger("bridge.jobs")


async def finish_moves(host: Host, retries: Retries | None = None) -> int:
    """Cancel the stops a breakeven moves that still work beside its own stop; return how many were canceled.

    Where the venue takes a second stop beside the first, a breakeven places its stop first and cancels the old
    one once it works. When the stop's answer is lost, the execution ends saying the old stop keeps working; a
    later read (the poll, start-up recovery, the next signal's) may find the new one working after all, and then
    both would work, a gap through them selling the position twice over. A cancel the venue refused is tried
    again, spaced out by `retries` (kept by the caller from one run to the next), as `cancel_expired` does.
    """
    store, now = host.store, host.clock()
    retries = {} if retries is None else retries
    canceled = 0
    rows = await store.run(upkeep.unfinished_moves, store.conn)
    for gone in retries.keys() - {row["client_order_id"] for row in rows}:  # ended: nothing more to space out
        del retries[gone]
    for row in rows:
        coid = row["client_order_id"]
        broker = host.runtime.follower(row["broker"], row["created_at"])
        waiting = retries.get(coid)
        if broker is None or (waiting is not None and now < waiting[0]):
            continue
        try:
            order = await answers.cancel_order(broker, coid)
        except Exception as exc:  # an adapter's bug too: the other moves are still finished
            space_out(retries, coid, now)
            log.warning("cannot cancel stop %s, which breakeven stop %s replaces, both working (tried again in "
                        "%gs): %s", coid, row["moved_by"], retries[coid][1], answers.failure(exc))  # fmt: skip
            continue
        if order.is_open:  # pending_cancel, or a venue that took the cancel and still works it
            space_out(retries, coid, now)
        else:
            retries.pop(coid, None)
        await record_answer(host, row, order)  # one that filled meanwhile is reported, as by a poll
        log.warning("order %s (%s %s %s, stop at %s): %s, as breakeven stop %s that replaces it was found working",
                    coid, row["side"], row["quantity"], row["symbol"], row["stop_price"], order.status,
                    row["moved_by"])  # fmt: skip
        canceled += order.status == "canceled"
    return canceled
