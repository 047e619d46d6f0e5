"""What a broker name stood for: another plugin or other options is another account, a rotated key is not."""

from __future__ import annotations

from bridge.config.schema import BrokerConfig
from bridge.store import brokers as identities
from bridge.store.db import Store


async def test_an_edited_plugin_or_option_is_a_change_and_a_rotated_credential_is_not(fresh_store: Store) -> None:
    secret = "sk-" + "0123456789abcdef0123"
    before = {"live": BrokerConfig(plugin="alpaca", options={"paper": True, "api_key": "AK1", "secret_key": secret}),
              "paper": BrokerConfig(plugin="paper", options={"cash": 100000})}  # fmt: skip
    await fresh_store.run(identities.record, fresh_store.conn, identities.fingerprints(before))

    def changed(after: dict[str, BrokerConfig]) -> set[str]:
        return identities.changed_since(fresh_store.conn, identities.fingerprints(after))

    rotated = {**before, "live": BrokerConfig(plugin="alpaca", options={"paper": True, "api_key": "AK2",
                                                                        "secret_key": "sk-other"})}  # fmt: skip
    assert await fresh_store.read(changed, rotated) == set()
    live = {**before, "live": BrokerConfig(plugin="alpaca", options={"paper": False, "api_key": "AK1"})}
    assert await fresh_store.read(changed, live) == {"live"}
    assert await fresh_store.read(changed, {**before, "paper": BrokerConfig(plugin="mybroker")}) == {"paper"}
    assert await fresh_store.read(changed, {"new": BrokerConfig(plugin="paper")}) == set(), "never seen: no change"
    dump = await fresh_store.read(lambda: "\n".join(fresh_store.conn.iterdump()))
    assert secret not in dump and "AK1" not in dump
