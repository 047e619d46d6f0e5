"""A config reached through a symlink (a release folder, a Kubernetes ConfigMap) reloads what the link names now.

Deployments that switch a symlink to the new version (`ln -sfn releases/v13/config.yaml config.yaml`, or
Kubernetes swapping a mounted ConfigMap's `..data` and removing the old version) change the file the
daemon was started with; the reload must read it, not the version it first found behind the link.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.config.load import load_config
from bridge.service import Bridge
from tests.conftest import TOKEN
from tests.reload.conftest import config_text

NEW = "tok-" + "7a7a7a7a7a7a7a7a7a7a"  # the token rotated to in the new version


def release(tmp_path: Path, name: str, token: str) -> Path:
    """A version of the config in a directory of its own, its journal at a fixed place."""
    folder = tmp_path / "releases" / name
    folder.mkdir(parents=True)
    text = config_text({"sq": token}).replace("database: bridge.db", f"database: {tmp_path / 'bridge.db'}")
    (folder / "config.yaml").write_text(text)
    return folder / "config.yaml"


def point(link: Path, target: Path) -> None:
    """Switch the symlink at once, as `ln -sfn` and Kubernetes do (a new link renamed over the old)."""
    staged = link.with_name(link.name + ".new")
    staged.symlink_to(target)
    os.replace(staged, link)


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[tuple[Bridge, Path]]:
    """A started bridge whose config path is a symlink to release v1."""
    link = tmp_path / "config.yaml"
    link.symlink_to(release(tmp_path, "v1", TOKEN))
    bridge = Bridge(load_config(link), scheduling=False, watching=False)
    await bridge.start()
    await bridge.ready()
    yield bridge, link
    await bridge.stop()


async def test_a_reload_after_the_symlink_moved_to_a_new_version_applies_that_version(
    linked: tuple[Bridge, Path], tmp_path: Path
) -> None:
    bridge, link = linked
    point(link, release(tmp_path, "v2", NEW))
    status = await bridge.reload("SIGHUP")
    assert status.ok, status.error
    assert bridge.runtime.strategies["sq"].token == NEW, "the old version's token still trades"


async def test_a_reload_after_the_old_version_behind_the_symlink_was_removed_applies_the_new_one(
    linked: tuple[Bridge, Path], tmp_path: Path
) -> None:
    """Kubernetes removes the old ConfigMap version once `..data` names the new one."""
    bridge, link = linked
    old = link.resolve()
    point(link, release(tmp_path, "v2", NEW))
    old.unlink()
    status = await bridge.reload("file change")
    assert status.ok, status.error
    assert bridge.runtime.strategies["sq"].token == NEW


async def test_a_relative_journal_that_the_new_version_would_move_is_refused_as_at_any_reload(tmp_path: Path) -> None:
    """`database: bridge.db` lies beside the file the link named at start; a new version elsewhere needs a restart."""
    link = tmp_path / "config.yaml"
    v1 = release(tmp_path, "v1", TOKEN)
    v1.write_text(config_text({"sq": TOKEN}))  # the journal beside the file: releases/v1/bridge.db
    link.symlink_to(v1)
    bridge = Bridge(load_config(link), scheduling=False, watching=False)
    assert bridge.loaded.database_path() == v1.parent / "bridge.db", "the journal stays where it always was"
    await bridge.start()
    try:
        v2 = release(tmp_path, "v2", NEW)
        v2.write_text(config_text({"sq": NEW}))
        point(link, v2)
        status = await bridge.reload("SIGHUP")
        assert not status.ok and "the journal file cannot change while running" in (status.error or "")
        assert bridge.runtime.strategies["sq"].token == TOKEN
    finally:
        await bridge.stop()
