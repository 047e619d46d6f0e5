"""Ids are version-4 UUIDs, unique within a process and across processes."""

from __future__ import annotations

import subprocess
import sys
import uuid

from bridge.ids import new_id


def test_ids_are_uuid4_text_and_unique() -> None:
    ids = [new_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_two_processes_do_not_repeat_each_other() -> None:
    code = "from bridge.ids import new_id; print(' '.join(new_id() for _ in range(1000)))"
    runs = [set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
            for _ in range(2)]  # fmt: skip
    assert len(runs[0]) == len(runs[1]) == 1000
    assert not runs[0] & runs[1]
