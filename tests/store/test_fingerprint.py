"""A signal's token fingerprint reads the same in every version: journals already written are checked with it."""

from __future__ import annotations

import hashlib
import hmac

from bridge.store.accepted import token_fingerprint


def test_a_token_fingerprint_is_the_hmac_sha256_of_the_token_keyed_by_the_signal_id() -> None:
    # As journaled before: a restart compares the journal's fingerprints with the config's token through this,
    # and a fingerprint made any other way would reject every signal accepted before the upgrade.
    signal_id, token = "01a21d60-aa13-7022-887b-5d59bc70f49e", "bench-token-0123456789abcdef"
    expected = hmac.new(signal_id.encode(), token.encode(), hashlib.sha256).hexdigest()
    assert token_fingerprint(signal_id, token) == expected
    assert token_fingerprint(signal_id, "another-token-000000000000") != expected
