"""Ids are version-7 UUIDs: unique within a process and across processes, and in creation order."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from bridge import ids
from bridge.ids import new_id


def test_ids_are_uuid7_text_and_unique() -> None:
    ids = [new_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, text)


def test_ids_sort_in_creation_order_and_carry_the_time() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(20_000)]  # many within one millisecond: the sequence keeps them ordered
    after = time.time_ns() // 1_000_000
    assert ids == sorted(ids)
    stamps = [uuid.UUID(text).int >> 80 for text in (ids[0], ids[-1])]
    assert before <= stamps[0] <= stamps[1] <= after + 1  # +1: a full sequence carries into the next millisecond


def test_two_processes_do_not_repeat_each_other() -> None:
    code = "from bridge.ids import new_id; print(' '.join(new_id() for _ in range(1000)))"
    runs = [set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
            for _ in range(2)]  # fmt: skip
    assert len(runs[0]) == len(runs[1]) == 1000
    assert not runs[0] & runs[1]


def test_the_text_holds_every_bit_at_the_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    saved = list(ids._last)
    try:
        for ms in (0, 1, 0xFFFF, 0x10000, 0x123456789ABC, 0xFFFFFFFFFFFF):
            for seq in (0, 0xABC, 0xFFE):  # 0xFFE: the next id counts on to 0xFFF within the millisecond
                for rand in (0, 1, (1 << 62) - 1, 0x2345_6789_ABCD_EF01 & ((1 << 62) - 1)):
                    ids._last[:] = [ms, seq - 1]
                    monkeypatch.setattr(ids.time, "time_ns", lambda ms=ms: ms * 1_000_000)
                    monkeypatch.setattr(ids._generator, "getrandbits", lambda bits, rand=rand: rand)
                    text = new_id()
                    parsed = uuid.UUID(text)
                    assert str(parsed) == text and (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
                    assert (parsed.int >> 80, parsed.int >> 64 & 0xFFF, parsed.int & ((1 << 62) - 1)) == (ms, seq, rand)
    finally:
        monkeypatch.undo()
        ids._last[:] = saved
