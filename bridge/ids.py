"""Identifiers for webhooks, signals and paper orders: random UUIDs, made without a syscall each."""

from __future__ import annotations

import random
import secrets
import threading
import uuid

# Ids need to be unique, not secret (no id grants anything): a 128-bit generator seeded from the OS per
# process gives that, where uuid4() asks the kernel for randomness on every call (a tenth of the webhook path).
_generator = random.Random(secrets.randbits(256))  # noqa: S311 - uniqueness, not secrecy
_lock = threading.Lock()  # the journal thread makes paper order ids while the event loop makes signal ids


def new_id() -> str:
    """A random (version 4) UUID as text."""
    with _lock:
        bits = _generator.getrandbits(128)
    return str(uuid.UUID(int=bits, version=4))
