"""`bridge.store.db.dumps`: the journal's JSON text, exactly `json.dumps`'s with its default settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.store import db
from bridge.store.db import dumps

VALUES: list[Any] = [
    {"ticker": "AAPL", "action": "buy", "price": 51, "quantity": 0.1, "time": "2026-01-02T15:04:05+00:00"},
    {"ticker": "BTC/USDT", "action": "sell", "price": "1e+400", "extras": {"note": 'café ☕ "q" \\ \n\t', "n": None}},
    {"extras": {"a": [1, 2.5, True, False, None, [], {}], "big": 2**70, "tiny": 1e-300, "neg": -0.0}},
    {"host": "127.0.0.1:8080", "content-type": "application/json", "x-Ünïcode": "\u2028\ud7ff"},
    {"inf": float("inf"), "ninf": float("-inf")},
    {},
    [],
    "text",
    42,
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_writes_what_json_dumps_writes(value: Any) -> None:
    assert dumps(value) == json.dumps(value)


def test_dumps_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(TypeError):
        dumps({"price": object()})
    assert dumps({"after": "a refusal"}) == '{"after": "a refusal"}'  # the encoder is made once: still usable


def test_dumps_without_the_c_encoder_is_json_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "_ENCODER", None)
    for value in VALUES:
        assert dumps(value) == json.dumps(value)
