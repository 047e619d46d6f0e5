"""Hot reload: load and validate, build the new runtime completely, swap; on any error keep the old one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bridge.config.load import LoadedConfig, load_config
from bridge.config.schema import Config
from bridge.config.secrets import NOT_SET, redact
from bridge.errors import ConfigError
from bridge.logs import redact_more
from bridge.runtime import Runtime, build_runtime, close_slots
from bridge.store import journal
from bridge.store.db import Store, iso

log = logging.getLogger("bridge.reload")
# The config file is polled (its content hash, four times a second), not watched with inotify: the journal
# usually lives in the same directory, and an inotify watch there woke for every page SQLite wrote (a quarter
# of a core under load, measured with bench/). Polling costs the same whatever the write rate, sees an editor's
# rename like a plain write, and also works where inotify does not (network mounts, some container volumes).
WATCH_POLL_SECONDS = 0.25
WATCH_DEBOUNCE_SECONDS = 0.15  # editors write in bursts; a new URL is still served well within 2 s
WATCH_RETRY_SECONDS = 1.0
# A save that truncates the file and then writes it (nano, an SFTP upload from an editor on another machine)
# leaves it empty, or still growing, for as long as the write takes: the watcher waits up to this long for the
# file to hold something and to stop changing, rather than reload a moment of it (and notify a failed reload).
WATCH_SETTLE_SECONDS = 5.0
_EMPTY = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class ReloadStatus:
    """The outcome of the last reload attempt, as /health shows it."""

    ok: bool
    at: datetime
    error: str | None = None
    trigger: str | None = None
    changes: str | None = None
    warnings: tuple[str, ...] = ()  # applied, but something needs the operator (names and counts only: public)
    # The SHA-256 of the file as this attempt read it (None: it could not read it). Not in /health: the watcher
    # compares it with the file, which a save may have changed and changed back while the reload read it.
    read: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The `config.last_reload` object of /health."""
        return {"ok": self.ok, "at": iso(self.at), "error": self.error, "trigger": self.trigger,
                "changes": self.changes, "warnings": list(self.warnings)}  # fmt: skip


def _names(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    added = [f"+{n}" for n in new if n not in old]
    removed = [f"-{n}" for n in old if n not in new]
    changed = [f"~{n}" for n in new if n in old and old[n] != new[n]]
    return added + removed + changed


def describe_changes(old: Config, new: Config) -> str:
    """One line naming what changed (`strategies +a ~b; brokers -x; settings server`); never a value."""
    parts = []
    for section in ("strategies", "brokers"):
        names = _names(getattr(old, section), getattr(new, section))
        if names:
            parts.append(f"{section} {' '.join(names)}")
    settings = [
        n for n in Config.model_fields if n not in ("strategies", "brokers") and getattr(old, n) != getattr(new, n)
    ]
    if settings:
        parts.append(f"settings {' '.join(settings)}")
    return "; ".join(parts) or "no effective change (formatting or comments)"


def line_of(path: Path, keys: tuple[str, ...]) -> int:
    """The line of a mapping key path in a YAML file (1 when it cannot be found)."""
    try:
        node: yaml.Node | None = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return 1
    line = 1
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return line
        match = next(((k, v) for k, v in node.value if k.value == key), None)
        if match is None:
            return line
        line, node = match[0].start_mark.line + 1, match[1]
    return line


def _environment_hint(lines: list[str]) -> list[str]:
    """What to do about a missing environment variable at a reload: an `export` in a shell never reaches the daemon."""
    if not any(NOT_SET in line for line in lines):
        return []
    return [
        "a running daemon reads only the environment it was started with: set the variable where its service "
        "takes its environment (systemd: the EnvironmentFile) and restart it, or write the value in the file"
    ]


def one_line(error: str) -> str:
    """An error without YAML's quoted source lines: /health is public, and a new token may sit on that line."""
    kept = [part.strip() for part in error.splitlines() if not part.startswith(("    ", '  in "'))]
    return " ".join(part for part in kept if part)


def _connection_failures(old: Runtime, new: Runtime) -> list[str]:
    """Brokers the edit added or changed that cannot connect; an unchanged broker that was down is no reason."""
    failures = []
    path = new.loaded.path or Path("<config>")
    for name, slot in new.brokers.items():
        unchanged = old.loaded.config.brokers.get(name) == new.loaded.config.brokers[name]
        if not slot.healthy and not unchanged:
            failures.append(f"{path}:{line_of(path, ('brokers', name))}: brokers.{name}: cannot connect: {slot.error}")
    return failures


async def _orphan_warnings(store: Store, old: Config, new: Config) -> list[str]:
    """A warning per broker removed, or whose plugin or options changed, while orders placed through it are not final.

    Such an edit may point the name at another account (Alpaca's `paper: true` -> `false`, other keys): the
    order jobs follow and cancel orders by broker name, so from now on they ask the new account, which does
    not know the old one's orders; those keep working there, `cancel_after` included, until someone cancels
    them. Following them at the old account would need the old connection kept: not done yet.
    """
    changed = [name for name, cfg in new.brokers.items() if name in old.brokers and old.brokers[name] != cfg]
    # A removed broker's orders are orphaned for certain: the order jobs find no broker by that name at all.
    removed = [name for name in old.brokers if name not in new.brokers]
    names = [*changed, *removed]
    counts = await store.read(journal.unfinished_orders_by_broker, store.conn, names) if names else {}
    return [f"broker {name} removed while {count} order(s) placed through it are not final: they keep working at "
            f"its venue, where the bridge no longer follows or cancels them (cancel_after included); check and "
            f"cancel them there" if name in removed else
            f"broker {name} changed (plugin or options) while {count} order(s) placed through it are not final: "
            f"if it now opens another account, those orders keep working at the old one, where the bridge no "
            f"longer follows or cancels them (cancel_after included); check and cancel them there"
            for name, count in sorted(counts.items())]  # fmt: skip


def _restart_only(old: LoadedConfig, new: LoadedConfig) -> list[str]:
    """Changes a running daemon cannot apply: the journal file and its durability."""
    path = new.path or Path("<config>")
    if old.database_path() != new.database_path():
        return [f"{path}:{line_of(path, ('database',))}: database: the journal file cannot change while running; "
                "restart the daemon to switch journals"]  # fmt: skip
    if old.config.durability != new.config.durability:
        return [f"{path}:{line_of(path, ('durability',))}: durability: takes effect at the next start; restart the "
                "daemon to change it"]  # fmt: skip
    return []


# Settings read once at start: the listeners, the intake process, the journal's size cap.
_AT_RESTART = ("server.host", "server.port", "server.admin_port", "server.intake_process", "server.limit_concurrency",
               "database_max_mb")  # fmt: skip


def _setting(config: Config, dotted: str) -> Any:
    value: Any = config
    for name in dotted.split("."):
        value = getattr(value, name)
    return value


def _at_restart(old: Config, new: Config) -> list[str]:
    """A warning per changed setting a running daemon does not apply (names only: /health is public).

    The rest of the edit applies; these keep their old values (the daemon keeps listening where it started, the
    admin API, /metrics and the dashboard stay where they are) until the daemon restarts.
    """
    return [f"{name} changed: it takes effect when the daemon restarts"
            for name in _AT_RESTART if _setting(old, name) != _setting(new, name)]  # fmt: skip


def _waiting_for_change(runtime: Runtime) -> list[str]:
    """Brokers that failed for a reason the reconnect job does not try again (a plugin that failed to import).

    A reload of the same file builds them anew: a plugin file fixed since is imported again (the registry
    imports an edited file anew), as docs/writing-a-broker-plugin.md promises, where the file's hash alone
    said "unchanged" and left the broker failing until the config itself was edited or the daemon restarted.
    """
    return [name for name, slot in runtime.brokers.items() if not slot.healthy and not slot.retry]


class Reloader:
    """Serialises reloads and remembers the outcome of the last one."""

    def __init__(self, store: Store, current: Callable[[], Runtime], swap: Callable[[Runtime], None],
                 clock: Callable[[], datetime]) -> None:  # fmt: skip
        self.store = store
        self.current = current
        self.swap = swap
        self.clock = clock
        self.status = ReloadStatus(ok=True, at=clock(), trigger="start")
        self._lock = asyncio.Lock()
        self._read: str | None = None  # what the attempt under way read (the lock makes it this attempt's)

    async def reload(self, trigger: str) -> ReloadStatus:
        """Apply the config file as it is now; one reload at a time, a burst of triggers queues up."""
        async with self._lock:
            self._read = None
            try:
                status = await self._reload(trigger)
            except Exception as exc:  # a bug here must not take the daemon down: keep serving the old config
                log.exception("reload (%s) failed unexpectedly; still serving the previous config", trigger)
                # The type only: an exception's text may quote the new file, whose secrets redaction does not know.
                status = self._failed(trigger, [f"internal error: {type(exc).__name__} (details in the log)"])
            self.status = replace(status, read=self._read)
            return self.status

    async def _reload(self, trigger: str) -> ReloadStatus:
        old = self.current()
        if old.loaded.path is None:
            return self._failed(trigger, ["<demo>:1: (top): the built-in demo config has no file to reload"])
        try:
            loaded = await asyncio.to_thread(load_config, old.loaded.path)
        except ConfigError as exc:
            self._read = exc.sha256
            return self._failed(trigger, [*exc.lines, *_environment_hint(exc.lines)])
        self._read = loaded.sha256
        # Before anything can log them: an adapter's client logs its requests, key included, inside `connect`
        # (httpx and urllib3 do at INFO), and a reload refused after connecting has logged them just the same.
        redact_more(loaded.secrets())
        unchanged = loaded.sha256 == old.loaded.sha256
        broken = _waiting_for_change(old) if unchanged else []
        if unchanged and not broken:
            # Unchanged: nothing to do; after a failed edit was undone, the running config is the file again.
            if self.status.ok:
                return self._unchanged(trigger, old.loaded)
            log.info("config file restored (%s): serving it again", trigger)  # the log's last word was the failure
            return ReloadStatus(True, self.clock(), None, trigger, "file restored")
        restart = _restart_only(old.loaded, loaded)
        if restart:
            return self._failed(trigger, restart)
        new = await build_runtime(loaded, self.store, previous=old)
        kept = {id(slot) for slot in old.brokers.values()}
        failures = _connection_failures(old, new)
        if failures:
            await close_slots(s for s in new.brokers.values() if id(s) not in kept)
            return self._failed(trigger, failures, loaded.secrets())
        self.swap(new)
        try:  # the swap is done: a failure to count must not report the reload as failed
            warnings = await _orphan_warnings(self.store, old.loaded.config, loaded.config)
        except Exception:
            log.exception("cannot count the orders of changed brokers after the reload (%s)", trigger)
            warnings = []
        changes = describe_changes(old.loaded.config, loaded.config)
        if broken:  # the same file, built again for the brokers only a reload tries again
            outcomes = [f"{name} {'connected' if new.brokers[name].healthy else 'still failing'}" for name in broken]
            changes = f"no change in the file; brokers tried again: {', '.join(outcomes)}"
        log.info("config reloaded (%s): %s", trigger, changes)
        warnings = [*_at_restart(old.loaded.config, loaded.config), *warnings]
        for warning in warnings:
            log.warning("config reloaded (%s), but %s", trigger, warning)
        return ReloadStatus(True, self.clock(), None, trigger, changes, tuple(warnings))

    def _unchanged(self, trigger: str, running: LoadedConfig) -> ReloadStatus:
        """A reload of the file as it runs: nothing changes, but the operator may have changed what it reads.

        With the file as it was, what someone asking for a reload changed is likely the environment (a leaked
        token rotated in systemd's EnvironmentFile, where the recommended settings keep it): the daemon still
        holds the values it started with, so the old token keeps trading. Saying only "reloaded" let them
        believe otherwise.
        """
        if not running.variables:
            return self.status
        names = ", ".join(running.variables)
        warning = (f"the file is unchanged, and the environment variables it reads ({names}) keep the values the "
                   "daemon started with: a new value in its environment (systemd: the EnvironmentFile) applies "
                   "only when the daemon restarts; restart it to rotate a token kept there")  # fmt: skip
        log.warning("config reload (%s): %s", trigger, warning)
        return ReloadStatus(True, self.clock(), None, trigger, "no change in the file", (warning,))

    def _failed(self, trigger: str, lines: list[str], more_secrets: list[str] | None = None) -> ReloadStatus:
        secrets = [*self.current().loaded.secrets(), *(more_secrets or [])]
        error = redact("; ".join(one_line(line) for line in lines), secrets)
        log.error("config reload (%s) failed; still serving the previous config: %s", trigger, error)
        return ReloadStatus(False, self.clock(), error, trigger)


def _digest(path: Path) -> str | None:
    """The SHA-256 of the file's bytes, None while it does not exist (mid-rename, deleted), else why it is unreadable.

    An unreadable file (a root-owned copy an editor left, a directory) is a change like a deletion: the reload
    reports why it cannot read it in /health, once, instead of the watcher logging a traceback every second.
    """
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


async def _settled(path: Path, current: str | None) -> str | None:
    """The file's digest once two looks a debounce apart agree and it is not empty (or the settle time is up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WATCH_SETTLE_SECONDS
    while True:
        await asyncio.sleep(WATCH_DEBOUNCE_SECONDS)
        again = await asyncio.to_thread(_digest, path)
        if (again == current and again != _EMPTY) or loop.time() >= deadline:
            return again
        current = again


async def watch_config(path: Path, on_change: Callable[[], Awaitable[str | None]], stop: asyncio.Event,
                       loaded_sha256: str | None = None) -> None:  # fmt: skip
    """Call `on_change` whenever the content of `path` changes, including an editor's write-then-rename.

    `loaded_sha256` is the hash of the config the daemon runs: an edit made between loading it and the
    first poll is picked up too. `on_change` returns the hash of the file as it read it (None: unknown): a save
    repeated while it read (truncated, then written again as it was) leaves the file as the watcher saw it
    settle, while the reload parsed its first lines alone, a smaller config that may well be valid. Compared
    with what was parsed, the file differs, and the next poll reloads it.
    """
    seen = loaded_sha256 if loaded_sha256 is not None else await asyncio.to_thread(_digest, path)
    while not stop.is_set():
        pause = WATCH_POLL_SECONDS
        try:
            current = await asyncio.to_thread(_digest, path)  # a thread: the file may be on a slow mount
            if current != seen:
                seen = await _settled(path, current)
                parsed = await on_change()
                seen = parsed if parsed is not None else seen
        except Exception:
            log.exception("watching %s failed; retrying in %gs", path, WATCH_RETRY_SECONDS)
            pause = WATCH_RETRY_SECONDS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
