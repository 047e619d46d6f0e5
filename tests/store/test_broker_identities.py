"""What a broker name stood for: another plugin, other options or other credentials is (likely) another account."""

from __future__ import annotations

import hashlib

from bridge.config.schema import BrokerConfig
from bridge.store import brokers as identities
from bridge.store.db import Store


async def test_an_edited_plugin_option_or_credential_is_a_change_and_no_secret_is_stored(fresh_store: Store) -> None:
    secret = "sk-" + "0123456789abcdef0123"
    before = {"live": BrokerConfig(plugin="alpaca", options={"paper": True, "api_key": "AK1", "secret_key": secret}),
              "paper": BrokerConfig(plugin="paper", options={"cash": 100000})}  # fmt: skip
    await fresh_store.run(identities.record, fresh_store.conn, before)

    def changed(after: dict[str, BrokerConfig]) -> set[str]:
        return identities.changed_since(fresh_store.conn, after)

    assert await fresh_store.read(changed, before) == set()
    # Same plugin and options, another key pair: another account at most venues (a rotated key reads the same).
    other_keys = {**before, "live": BrokerConfig(plugin="alpaca", options={"paper": True, "api_key": "AK2",
                                                                           "secret_key": "sk-other"})}  # fmt: skip
    assert await fresh_store.read(changed, other_keys) == {"live"}
    live = {**before, "live": BrokerConfig(plugin="alpaca", options={"paper": False, "api_key": "AK1"})}
    assert await fresh_store.read(changed, live) == {"live"}
    assert await fresh_store.read(changed, {**before, "paper": BrokerConfig(plugin="mybroker")}) == {"paper"}
    assert await fresh_store.read(changed, {"new": BrokerConfig(plugin="paper")}) == set(), "never seen: no change"
    dump = await fresh_store.read(lambda: "\n".join(fresh_store.conn.iterdump()))
    assert secret not in dump and "AK1" not in dump
    for plain in (secret, "AK1"):  # nor a plain hash that a table of guesses would find
        assert hashlib.sha256(plain.encode()).hexdigest() not in dump


async def test_credentials_recorded_before_they_were_compared_are_not_read_as_a_change(fresh_store: Store) -> None:
    """A journal upgraded from the version that recorded plugin and options only: its first start is no edit."""
    brokers = {"live": BrokerConfig(plugin="alpaca", options={"api_key": "AK1"})}
    await fresh_store.run(identities.record, fresh_store.conn, brokers)
    await fresh_store.run(lambda: fresh_store.conn.execute("UPDATE broker_identities SET credentials = NULL"))
    assert await fresh_store.read(identities.changed_since, fresh_store.conn, brokers) == set()
