"""Identifiers for webhooks, signals and paper orders: random UUIDs, made without a syscall each."""

from __future__ import annotations

import random
import secrets
import threading

# Ids need to be unique, not secret (no id grants anything): a 128-bit generator seeded from the OS per
# process gives that, where uuid4() asks the kernel for randomness on every call (a tenth of the webhook path).
_generator = random.Random(secrets.randbits(256))  # noqa: S311 - uniqueness, not secrecy
_lock = threading.Lock()  # cheap insurance: ids may be made on more than one thread


_VERSION_4 = (0x4 << 76) | (0x2 << 62)  # RFC 9562: version 4, variant 10
_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)


def new_id() -> str:
    """A random (version 4) UUID as text."""
    with _lock:
        bits = _generator.getrandbits(128)
    text = f"{bits & _KEEP | _VERSION_4:032x}"  # what uuid.UUID(int=..., version=4) makes, without the object
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
