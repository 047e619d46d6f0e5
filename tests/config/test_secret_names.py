"""Which option and header names hold credentials: their values are masked in logs, /health and errors, and such
request headers are not journaled; an idempotency key is not one (it is journaled, hashed, to spot resends)."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from bridge.config.load import _secret_values
from bridge.config.secrets import is_secret_key
from bridge.web.auth import safe_headers

# As broker SDKs and venues name them (Kraken, Schwab, E*TRADE, Coinbase, Binance, IBKR gateways, ...).
SECRET_NAMES = ["app_key", "access_key", "consumer_key", "client_secret", "private_key", "passphrase", "password",
                "api_key", "apiKey", "secretKey", "appKey", "accessKey", "APP_KEY", "key", "key_id", "access_token",
                "refresh_token", "signing_secret", "passwd", "X-Api-Key", "X-App-Key", "api-key", "x-access-token",
                "accesskey", "consumerkey", "credentials"]  # fmt: skip
PLAIN_NAMES = ["Idempotency-Key", "idempotency-key", "X-Idempotency-Key", "idempotency_key", "Webhook-Id",
               "base_url", "cash", "symbol", "account", "paper", "Content-Type", "User-Agent", "monkey", "keyboard",
               "key_file", "keys"]  # fmt: skip


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_credential_name_is_secret(name: str) -> None:
    assert is_secret_key(name), f"{name!r} holds a credential, but its value would be shown"


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_a_plain_name_is_not_secret(name: str) -> None:
    assert not is_secret_key(name), f"{name!r} holds no credential, but its value would be masked everywhere"


def test_credential_headers_are_not_journaled_and_the_idempotency_key_is_kept_hashed() -> None:
    kept = safe_headers(Headers({"Idempotency-Key": "alert-1", "X-Api-Key": "k" * 20, "X-App-Key": "a" * 20,
                                 "Content-Type": "application/json"}))  # fmt: skip
    assert set(kept) == {"idempotency-key", "content-type"}, kept
    assert kept["idempotency-key"].startswith("sha256:")


def test_a_broker_app_key_is_among_the_secrets_masked() -> None:
    # The options as written in the config: what the loader collects for redaction (`LoadedConfig.secrets`).
    options = {"app_key": "app-key-value-0001", "nested": {"consumer_key": "consumer-value-0002"}, "cash": "1000"}
    assert sorted(_secret_values(options)) == ["app-key-value-0001", "consumer-value-0002"]
