"""The capabilities in force for a configured broker are its venue's (`capabilities_for(options)`), not its class's:
one class for many venues may serve one that takes a reused client order id though the class says it refuses them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bridge.brokers.base import Broker, BrokerContext
from bridge.brokers.registry import open_broker
from bridge.execution.orders import takes_reused_ids
from bridge.execution.recovery import resolve_orders
from bridge.store import journal
from bridge.store.db import Store, utcnow
from bridge.testing.contract import BrokerContract
from tests.execution.test_crash_recovery import seed_plan, seed_signal

VENUES = '''
from dataclasses import replace

from bridge.brokers.paper import PaperBroker


class Venues(PaperBroker):
    """One class for many venues: it declares that a reused id is refused, but `lax` venues take one again."""

    capabilities = replace(PaperBroker.capabilities, local=False, rejects_duplicate_client_order_id=True)

    @classmethod
    def capabilities_for(cls, options):
        lax = options.cash == 777  # the venue, as the options name it
        return replace(cls.capabilities, rejects_duplicate_client_order_id=not lax)
'''


async def venue(tmp_path: Path, store: Store, cash: int) -> Broker:
    (tmp_path / "venues.py").write_text(VENUES)
    context = BrokerContext(name="paper", store=store, base_dir=tmp_path)
    return await open_broker("venues", {"cash": cash}, context, [tmp_path])


async def test_the_venue_capabilities_decide_whether_a_reused_id_is_taken(tmp_path: Path, fresh_store: Store) -> None:
    assert takes_reused_ids(await venue(tmp_path, fresh_store, cash=777)), "this venue takes a reused id again"
    assert not takes_reused_ids(await venue(tmp_path, fresh_store, cash=1000))


async def test_recovery_does_not_resend_an_order_a_lax_venue_does_not_list_yet(
    tmp_path: Path, fresh_store: Store
) -> None:
    """Sent a moment before a crash, its answer lost: a venue that takes a reused id would place a resend twice."""

    def seed() -> str:
        signal_id = seed_signal(fresh_store, "LATE", "buy", age=2)
        coid = seed_plan(fresh_store, signal_id, "LATE", [("entry", "buy")])[0]
        journal.update_order(fresh_store.conn, coid, sent_at=utcnow() - timedelta(seconds=1))
        return coid

    coid = await fresh_store.run(seed)
    broker = await venue(tmp_path, fresh_store, cash=777)
    assert await resolve_orders(fresh_store, {"paper": broker}) == []
    row = await fresh_store.run(lambda: fresh_store.conn.execute("SELECT * FROM orders").fetchone())
    assert (row["client_order_id"], row["status"]) == (coid, "unknown"), (
        f"left {row['status']}: the resumed plan would send it again ({row['error']})"
    )


async def test_the_contract_kit_expects_of_an_adapter_what_its_venue_supports(
    tmp_path: Path, fresh_store: Store
) -> None:
    # Built as a kit user builds it (the class called with its options), not through the daemon's registry.
    broker = await venue(tmp_path, fresh_store, cash=777)
    built = type(broker)(broker.options, BrokerContext(name="paper", store=fresh_store))  # type: ignore[attr-defined]
    assert not BrokerContract().capabilities(built).rejects_duplicate_client_order_id, (
        "the kit would require this venue to refuse a reused id, which it takes"
    )
