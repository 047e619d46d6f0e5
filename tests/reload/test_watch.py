"""The config watcher: content changes, a deletion and its restore, and an edit made before watching began."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config.reload import WATCH_DEBOUNCE_SECONDS, WATCH_POLL_SECONDS, watch_config
from tests.conftest import GUARD

# A few polls: long enough for a call that should not come to show up (a loaded machine only hides it, never
# invents one). A call that should come is waited for with `until`, however long a busy machine takes.
SETTLE = WATCH_POLL_SECONDS + WATCH_DEBOUNCE_SECONDS + 0.3


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait for `check` to hold: the watcher's call back, not a guess at how long it takes."""
    deadline = asyncio.get_running_loop().time() + GUARD
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"no {what}"
        await asyncio.sleep(0.02)


async def watching(
    path: Path, loaded: str | None = None
) -> tuple[list[bytes | None], asyncio.Event, asyncio.Task[None]]:
    seen: list[bytes | None] = []

    async def changed() -> None:
        seen.append(path.read_bytes() if path.exists() else None)

    stop = asyncio.Event()
    # The hash of the config as loaded, as the daemon passes it: else the watcher's first look, a moment after
    # its start on a busy machine, could come after the test's first edit and take that as the starting point.
    loaded = loaded or hashlib.sha256(path.read_bytes()).hexdigest()
    return seen, stop, asyncio.create_task(watch_config(path, changed, stop, loaded))


async def test_a_write_a_rename_over_and_a_delete_then_restore_each_call_back_once(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    seen, stop, task = await watching(config)
    await asyncio.sleep(SETTLE)
    assert seen == [], "no change, no call"
    config.write_text("a: 2\n")
    await until(lambda: len(seen) >= 1, "call for the write")
    temp = tmp_path / ".config.yaml.swp"
    temp.write_text("a: 3\n")
    os.replace(temp, config)
    await until(lambda: len(seen) >= 2, "call for the rename")
    config.unlink()
    await until(lambda: len(seen) >= 3, "call for the delete")
    config.write_text("a: 4\n")
    await until(lambda: len(seen) >= 4, "call for the restore")
    await asyncio.sleep(SETTLE)  # and no call more
    stop.set()
    await asyncio.wait_for(task, GUARD)
    assert seen == [b"a: 2\n", b"a: 3\n", None, b"a: 4\n"]


async def test_an_edit_between_loading_and_watching_is_picked_up(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    loaded = hashlib.sha256(config.read_bytes()).hexdigest()
    config.write_text("a: 2\n")  # before the watcher's first look
    seen, stop, task = await watching(config, loaded)
    await until(lambda: len(seen) >= 1, "call for the edit")
    await asyncio.sleep(SETTLE)  # and no call more
    stop.set()
    await asyncio.wait_for(task, GUARD)
    assert seen == [b"a: 2\n"]


async def test_a_config_made_unreadable_calls_back_once_and_again_once_readable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An edit that leaves a file the daemon cannot read (a root-owned 0600 copy, here a directory in its place)
    is a change: the reload says why it cannot read it, instead of a traceback a second and an ok /health."""
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    seen: list[bool] = []

    async def changed() -> None:
        seen.append(config.is_file())

    stop = asyncio.Event()
    task = asyncio.create_task(watch_config(config, changed, stop, hashlib.sha256(config.read_bytes()).hexdigest()))
    await asyncio.sleep(SETTLE)
    config.unlink()
    config.mkdir()
    await until(lambda: len(seen) >= 1, "call for the unreadable file")
    await asyncio.sleep(3 * SETTLE)  # several polls while it stays unreadable
    config.rmdir()
    config.write_text("a: 2\n")
    await until(lambda: len(seen) >= 2, "call for the readable file")
    await asyncio.sleep(SETTLE)  # and no call more
    stop.set()
    await asyncio.wait_for(task, GUARD)
    assert seen == [False, True]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_save_that_truncates_then_writes_is_not_reloaded_while_the_file_is_empty(tmp_path: Path) -> None:
    """nano, or an editor saving over SFTP, empties the file and then writes it: the empty moment is no config,
    and reloading it reports (and notifies) a failed reload for a save that was fine."""
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    seen, stop, task = await watching(config)
    await asyncio.sleep(SETTLE)
    config.write_bytes(b"")  # truncated; the new text is still on its way
    await asyncio.sleep(2 * SETTLE)
    config.write_text("a: 2\n")
    await until(lambda: len(seen) >= 1, "call for the whole file")
    await asyncio.sleep(SETTLE)  # and no call more
    stop.set()
    await asyncio.wait_for(task, GUARD)
    assert seen == [b"a: 2\n"]


async def test_a_file_still_growing_when_first_seen_is_reloaded_once_it_is_whole(tmp_path: Path) -> None:
    """Written in pieces (a slow upload): the first piece alone may read as a smaller, valid config."""
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    seen, stop, task = await watching(config)
    await asyncio.sleep(SETTLE)
    with config.open("w") as file:
        for piece in [f"k{i}: {i}\n" for i in range(12)]:
            file.write(piece)
            file.flush()
            await asyncio.sleep(WATCH_DEBOUNCE_SECONDS / 3)  # each piece well within the debounce
    whole = "".join(f"k{i}: {i}\n" for i in range(12)).encode()
    await until(lambda: whole in seen, "call for the whole file")
    await asyncio.sleep(SETTLE)  # and no call more
    stop.set()
    await asyncio.wait_for(task, GUARD)
    assert seen[-1] == "".join(f"k{i}: {i}\n" for i in range(12)).encode()
    assert all(content == seen[-1] for content in seen), seen


async def test_a_reload_that_read_a_save_in_progress_runs_again_until_the_config_in_force_is_the_file(
    tmp_path: Path,
) -> None:
    """A save repeated while the reload reads (an editor's autosave, `:w` twice; nano truncates, then writes)
    leaves the file as the watcher last saw it, while the reload parsed the first lines alone: a valid, smaller
    config (here without strategy `sq2`). The watcher compares what the reload parsed with the file and goes again."""
    from bridge.config.load import load_config
    from bridge.service import Bridge
    from tests.conftest import TOKEN
    from tests.reload.conftest import config_text

    config = tmp_path / "config.yaml"
    half = config_text({"sq": TOKEN})
    whole = config_text({"sq": TOKEN, "sq2": TOKEN[::-1]})
    assert whole.startswith(half)
    config.write_text(half)
    bridge = Bridge(load_config(config), scheduling=False, watching=False)
    await bridge.start()
    await bridge.ready()
    applied = asyncio.Event()
    calls = 0

    async def changed() -> object:
        nonlocal calls
        calls += 1
        if calls == 1:  # the save again, caught by the reload's read between its truncate and its last lines
            config.write_text(half)
            result = await bridge._file_changed()
            config.write_text(whole)
        else:
            result = await bridge._file_changed()
        if "sq2" in bridge.loaded.config.strategies:
            applied.set()
        return result

    stop = asyncio.Event()
    task = asyncio.create_task(watch_config(config, changed, stop, bridge.loaded.sha256))
    try:
        config.write_text(whole)
        await asyncio.wait_for(applied.wait(), GUARD)  # waits for the outcome; fails only if it never comes
        assert bridge.loaded.sha256 == hashlib.sha256(config.read_bytes()).hexdigest()
    finally:
        stop.set()
        await asyncio.wait_for(task, GUARD)
        await bridge.stop()
