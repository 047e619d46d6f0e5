"""`bridge halt` / `resume` / `cancel`: through the running daemon's admin API, else straight into the journal."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import httpx

from bridge.config.load import LoadedConfig
from bridge.halt import write_state
from bridge.store import upkeep
from bridge.store.daemonlock import JournalInUse, serving, sole_daemon
from bridge.store.db import connect, require_servable
from bridge.store.migrations import KILL_SWITCH_SCHEMA, MIGRATIONS, JournalUnusable, migrate, require_current

WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - compared against, never bound
# Seconds halt, resume and cancel wait to connect to the daemon, to write, and for each read of its answer (httpx's
# timeout applies to each step, not to them all): past it, the command says the daemon did not confirm.
ASK_TIMEOUT = 10.0


def admin_url(loaded: LoadedConfig, path: str) -> str:
    """Where the daemon of this config serves the admin API."""
    server = loaded.config.server
    if server.admin_port is not None:
        return f"http://127.0.0.1:{server.admin_port}{path}"
    host = "127.0.0.1" if server.host in WILDCARDS else server.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{server.port}{path}"


def _ask(url: str, token: str, body: dict[str, str] | None = None) -> httpx.Response:
    """POST to the daemon's admin API, straight to it.

    Never through a proxy the environment names (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, set in many shells for
    pip and curl): it would be handed the admin token, and, unable to reach this host's loopback, would answer
    for the daemon.
    """
    return httpx.post(
        url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=ASK_TIMEOUT, trust_env=False
    )


class NotWritten(Exception):
    """The journal did not take a change (locked past the wait, the disk full, not writable): nothing changed."""


def _write(loaded: LoadedConfig, halted: bool, reason: str | None) -> str:
    """Write the flag into the journal; what the operator must know besides: that the journal is new, or ""."""
    # Created (and migrated) when missing, so that a halt holds from the first start; never another file.
    path = loaded.database_path()
    require_servable(path, f"check `database` in {loaded.path or 'the config'}")
    new = not path.exists()
    verb = "halted" if halted else "resumed"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(path)
        try:
            _require_flag(conn, path, verb)
            write_state(conn, halted, reason, "cli")
        finally:
            conn.close()
    except sqlite3.Error as exc:  # the operator must know the kill switch did not move, and why
        raise NotWritten(f"cannot write into the journal {path}: {exc}: trading is NOT {verb}; fix that and "
                         "run the command again") from None  # fmt: skip
    if not new:
        return ""
    # No daemon has used this file: one running now has its journal elsewhere (`database` mistyped, or reading a
    # variable with a default that the daemon's environment sets and this shell does not), and reads no flag here.
    return (f"\nno journal was at {path}, so it is new: a daemon running now uses another journal and is NOT "
            f"{'halted' if halted else 'resumed'} by this; check `database` in {loaded.path or 'the config'} (and "
            "any variable it reads) against the daemon's")  # fmt: skip


def _require_flag(conn: sqlite3.Connection, path: Path, verb: str) -> None:
    """Refuse a journal whose flag this version cannot write as its daemon reads it; migrate only a new one.

    The daemon writing the journal may be of another version: migrating it under that daemon would change
    the schema it runs on. The flag's row has meant the same from KILL_SWITCH_SCHEMA on, so it is written alone.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version == 0:  # no daemon has made a journal of this file yet (it was created just now, or is empty)
        migrate(conn)
    elif version > len(MIGRATIONS):
        raise NotWritten(f"{path}: the journal is at schema version {version}, written by a newer version of the "
                         f"bridge (this one knows versions up to {len(MIGRATIONS)}): trading is NOT {verb}; use "
                         "the `bridge` of that version, or its daemon's admin API")  # fmt: skip
    elif version < KILL_SWITCH_SCHEMA:
        raise NotWritten(f"{path}: the journal is at schema version {version}, from a version of the bridge before "
                         f"the kill switch, whose daemon reads no flag: trading is NOT {verb}; stop that daemon, or "
                         "start the daemon of this version once (it migrates the journal)")  # fmt: skip


def _unasked(loaded: LoadedConfig, unasked: str | None) -> str | None:
    """Why the daemon is not asked (the journal is written instead), or None when it is."""
    if unasked is not None:
        return unasked
    return "no server.admin_token" if loaded.config.server.admin_token is None else None


def switch(loaded: LoadedConfig, halted: bool, reason: str | None, unasked: str | None = None) -> tuple[int, str]:
    """Halt or resume; returns (exit code, what happened). `unasked`: why the daemon cannot be asked from here."""
    try:
        return _switch(loaded, halted, reason, _unasked(loaded, unasked))
    except NotWritten as exc:
        return 1, str(exc)


def _switch(loaded: LoadedConfig, halted: bool, reason: str | None, unasked: str | None) -> tuple[int, str]:
    verb = "halted" if halted else "resumed"
    token = loaded.config.server.admin_token
    if unasked is not None or token is None:
        new = _write(loaded, halted, reason)
        return 0, (f"trading {verb} in {loaded.database_path()} ({unasked}, so the daemon was not asked): "
                   f"a running daemon applies it before its next order{new}")  # fmt: skip
    url = admin_url(loaded, "/api/halt" if halted else "/api/resume")
    try:
        response = _ask(url, token, {"reason": reason} if reason else {})
    except httpx.ConnectError:
        return _unanswered(loaded, halted, reason, url)
    except httpx.HTTPError as exc:
        if halted:
            return _halted_anyway(loaded, reason, f"{url} did not confirm ({exc})")
        return 1, f"{url} did not confirm ({exc}): the change may or may not have applied; check /health and retry"
    if response.is_success:
        return 0, f"trading {verb} (the daemon at {url} confirmed it)"
    answer = f"the daemon at {url} answered {response.status_code}: {response.text}"
    if halted:
        return _halted_anyway(loaded, reason, answer)
    return 1, answer


def _unanswered(loaded: LoadedConfig, halted: bool, reason: str | None, url: str) -> tuple[int, str]:
    """Nothing answers at the config's port: the flag goes into the journal, unless a resume would start trading.

    A daemon may serve the journal at another port (`bridge run --port`, or server.port edited since it started,
    which a reload keeps): it applies what the journal says before its next order.
    """
    verb, path = "halted" if halted else "resumed", loaded.database_path()
    pid = serving(path)
    if pid is not None and not halted:  # a resume takes the daemon's confirmation
        return 1, (f"no daemon answers at {url}, yet a bridge daemon (pid {pid}) serves the journal {path}: "
                   "trading is NOT resumed; ask that daemon at the port it listens on (`bridge run --port` "
                   "overrides server.port), or stop it first")  # fmt: skip
    try:
        new = _write(loaded, halted, reason)
    except NotWritten as exc:
        raise NotWritten(f"no daemon answers at {url}, and {exc}") from None
    if pid is not None:
        return 0, (f"no daemon answers at {url}, yet a bridge daemon (pid {pid}) serves the journal: trading "
                   f"halted in {path}; that daemon applies it before its next order")  # fmt: skip
    return 0, f"no daemon answers at {url}: trading {verb} in {path}, in force from its next start{new}"


def _halted_anyway(loaded: LoadedConfig, reason: str | None, trouble: str) -> tuple[int, str]:
    """A halt the daemon did not confirm (a wrong admin token, another daemon on that port) goes into the journal.

    The kill switch must not hang on the API: the daemon using this journal reads the flag before each order.
    """
    try:
        new = _write(loaded, True, reason)
    except NotWritten as exc:
        raise NotWritten(f"{trouble}\n{exc}") from None
    return 0, (f"{trouble}\ntrading halted in {loaded.database_path()} instead: the daemon using that journal "
               f"applies it before its next order{new}")  # fmt: skip


def cancel(loaded: LoadedConfig, signal_id: str, unasked: str | None = None) -> tuple[int, str]:
    """Cancel a delayed signal still waiting for its time; returns (exit code, what happened)."""
    token = loaded.config.server.admin_token
    why = _unasked(loaded, unasked)
    if why is not None or token is None:
        return _cancel_in_journal(loaded, signal_id, f"({why}, so the daemon was not asked)")
    url = admin_url(loaded, f"/api/signals/{quote(signal_id, safe='')}/cancel")
    try:
        response = _ask(url, token)
    except httpx.ConnectError:
        return _cancel_in_journal(loaded, signal_id, f"(no daemon answers at {url})")
    except httpx.HTTPError as exc:
        return 1, f"{url} did not confirm ({exc}): the signal may or may not be canceled; check `bridge signals`"
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    if response.is_success:
        return 0, f"signal {signal_id} canceled: it will not execute (the daemon at {url} confirmed it)"
    return 1, message or f"the daemon at {url} answered {response.status_code}: {response.text}"


def _cancel_in_journal(loaded: LoadedConfig, signal_id: str, why: str) -> tuple[int, str]:
    """Cancel in the journal itself, holding it as a daemon would: no daemon may release the signal meanwhile."""
    from bridge.jobs.delayed import CancelRefused, cancel_answer

    path = loaded.database_path()
    if not path.is_file():
        return 1, f"no journal at {path}, so no signal {signal_id}: check `database` in {loaded.path or 'the config'}"
    try:
        with sole_daemon(path):
            conn = connect(path)
            try:
                # Never migrated from here: the daemon of the install that wrote it (an older one, after an
                # upgrade of the CLI alone) would then refuse to start on it as written by a newer version.
                require_current(conn)
                signal, canceled = upkeep.cancel_waiting(conn, signal_id, "canceled by the command line while "
                                                         "it waited for its time")  # fmt: skip
            finally:
                conn.close()
    except JournalInUse:  # a daemon serves it (another port, no token here): it alone may decide what it runs
        return 1, (f"{why}, yet a bridge daemon serves the journal {path}: nothing was canceled; ask that daemon "
                   "(server.admin_token and the port it listens on, as in its config), or stop it first")  # fmt: skip
    except JournalUnusable as exc:
        return 1, f"{why}: {exc}: nothing was canceled"
    except sqlite3.Error as exc:  # locked past the wait, the disk full, not writable: the transaction did not commit
        return 1, f"{why}, and the journal {path} cannot be written: {exc}: nothing was canceled; fix that and retry"
    try:
        cancel_answer(signal_id, signal, canceled)
    except CancelRefused as refused:
        return 1, str(refused)
    return 0, f"signal {signal_id} canceled in {path} {why}: it will not execute"
