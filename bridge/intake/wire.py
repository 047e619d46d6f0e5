"""The link between the daemon and its intake process: length-prefixed pickles over a private Unix socket.

Pickle, because both ends are this same program, the socket lives in a directory only the daemon's
user can enter, and messages carry the bridge's own objects (a `Signal`, a `LoadedConfig`).
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

_HEADER = struct.Struct(">I")
LINK_SOCKET = "link.sock"  # intake process -> daemon: accepted signals, answer counts, commit times; back: configs
APP_SOCKET = "app.sock"  # the daemon's HTTP app, for every request that is not a webhook


def send(writer: asyncio.StreamWriter, message: tuple[Any, ...]) -> None:
    """Queue one message (never blocks: the stream buffers it); none once the link is gone."""
    if writer.is_closing():  # the other process is gone (uvloop raises on such a write): nobody would read it
        return
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_HEADER.pack(len(data)) + data)


async def receive(reader: asyncio.StreamReader) -> tuple[Any, ...] | None:
    """The next message, or None once the other end has closed the link."""
    try:
        header = await reader.readexactly(_HEADER.size)
        (size,) = _HEADER.unpack(header)
        message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))  # noqa: S301 - our own process
    except (asyncio.IncompleteReadError, ConnectionError):  # a peer killed with messages unread resets the link
        return None
    return message
