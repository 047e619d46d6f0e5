"""The `bridge` command line (design §3)."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bridge.config.journal_view import JournalView, load_journal_view, load_without_secrets
from bridge.config.load import LoadedConfig, load_config
from bridge.config.secrets import redact
from bridge.errors import ConfigError
from bridge.logs import log_masked
from bridge.store.migrations import JournalUnusable

if TYPE_CHECKING:
    from bridge.brokers.base import Capabilities
    from bridge.config.schema import Config

SQLITE_MAX_INT = 2**63 - 1
# Seconds `bridge send` waits to connect, to write the signal, and for each read of the answer (httpx's timeout
# applies to each step, not to them all): past it, the send says it got no answer.
SEND_TIMEOUT = 10.0


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number of rows, 1 or more (SQLite reads LIMIT -1 as "no limit")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} rows: give 1 or more")
    return min(value, SQLITE_MAX_INT)  # more than SQLite can count is every row, not an OverflowError


def _port(text: str) -> int:
    """An argparse type: a TCP port to listen on (0 would read as "not given", 70000 fails deep in bind())."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"give a TCP port from 1 to 65535, not {text!r}")
    return value


def _since(text: str) -> datetime | None:
    """An argparse type: `--since` as an ISO time or an age, else a usage error that shows both forms."""
    from bridge.listing import parse_since

    try:
        return parse_since(text)
    except (ValueError, OverflowError):  # not ISO; or an age too long to subtract (99999999d)
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO time (2026-01-31 or 2026-01-31T14:00Z) nor an age such as 90m, 2h, 3d"
        ) from None


def _config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    if os.environ.get("BRIDGE_CONFIG"):
        return Path(os.environ["BRIDGE_CONFIG"])
    default = Path("config.yaml")
    return default if default.exists() else None


def _masked(loaded: LoadedConfig) -> LoadedConfig:
    """`loaded`, once whatever this command logs masks its secrets (it may connect brokers, which log)."""
    log_masked(loaded.secrets())
    return loaded


def _load(given: str | None) -> LoadedConfig:
    path = _config_path(given)
    if path is None:
        raise SystemExit("no config: pass --config PATH, set BRIDGE_CONFIG, or run `bridge init` to write config.yaml")
    return _masked(load_config(path))


def _load_or_demo(given: str | None, doing: str = "listing") -> LoadedConfig:
    """The config, or with none the built-in demo's, once the demo has left its journal here."""
    if _config_path(given) is None:
        from bridge.starter import demo_config, new_token

        demo = demo_config(new_token())  # its token is neither shown nor used: these commands never post a webhook
        if demo.database_path().exists():  # else no demo to act on: never create a journal for it
            print(f"no config file found: {doing} the built-in demo's journal ({demo.database_path()})",
                  file=sys.stderr)  # fmt: skip
            return _masked(demo)
    return _load(given)


def _journal_view(given: str | None, doing: str) -> JournalView:
    """What a command that needs only the journal reads of the config (or the demo's): never the variables of the
    rest of it, which the daemon's environment has and the operator's shell seldom does (the kill switch among them).
    """
    path = _config_path(given)
    if path is None:
        return JournalView(_load_or_demo(given, doing))
    view = load_journal_view(path)
    _masked(view.loaded)
    return view


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon in the foreground."""
    from bridge import daemon
    from bridge.starter import demo_config, new_token

    path = _config_path(args.config)
    try:
        if path is None:
            token = new_token()
            print("no config file found: serving the built-in demo (paper broker, strategy `demo`)")
            print("this demo token is shown once; run `bridge init` to write a config.yaml of your own")
            return daemon.run(demo_config(token), args.host, args.port, reveal=token)
        return daemon.run(load_config(path), args.host, args.port)
    except KeyboardInterrupt:  # Ctrl+C: uvicorn has shut down cleanly, then raises the signal again for its caller
        return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a config file."""
    from bridge.brokers.registry import broken_plugins, plugin_dirs
    from bridge.config.capabilities import expiring_legs

    loaded = _masked(load_config(args.config))
    strategies = len(loaded.config.strategies)
    print(f"{args.config}: ok ({strategies} strateg{'y' if strategies == 1 else 'ies'}, "
          f"{len(loaded.config.brokers)} broker(s))")  # fmt: skip
    # A plugin that fails to import is not a config error (the daemon serves the other brokers), but say so.
    dirs = plugin_dirs(loaded.config.plugin_dirs, loaded.base_dir)
    for problem in broken_plugins((b.plugin for b in loaded.config.brokers.values()), dirs):
        print(f"warning: {problem}; that broker will be unavailable", file=sys.stderr)
    for path, message in expiring_legs(loaded.config, _declared_capabilities(loaded.config, dirs)):
        print(f"warning: {'.'.join(map(str, path))}: {message}", file=sys.stderr)
    return 0


def _declared_capabilities(config: Config, dirs: list[Path]) -> dict[str, Capabilities]:
    """Each broker's declared capabilities, for `bridge check`'s warnings (a plugin that fails to load has none)."""
    from bridge.brokers.base import capabilities_of
    from bridge.brokers.registry import find_plugin

    found: dict[str, Capabilities] = {}
    for name, broker in config.brokers.items():
        with contextlib.suppress(Exception):  # reported above, or by the check itself
            found[name] = capabilities_of(find_plugin(broker.plugin, dirs))
    return found


def cmd_init(args: argparse.Namespace) -> int:
    """Write a starter config with fresh tokens."""
    from bridge.starter import starter_text

    path = Path(args.path)
    if path.exists():
        print(f"{path} already exists; not overwriting it", file=sys.stderr)
        return 1
    try:
        if not path.parent.exists():  # else mkdir on a file says "File exists"; open says "Not a directory"
            path.parent.mkdir(parents=True)
        # Created 0600 and exclusively: it holds tokens, readable by no one else even for a moment, and a file
        # made meanwhile by someone else is never written into.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        print(f"cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(starter_text(str(path)))
            file.flush()
            os.fsync(file.fileno())  # its tokens may be pasted into TradingView at once: on disk before "wrote"
    except OSError as exc:  # a full disk: a partial file would read as a config and stop the next `bridge init`
        path.unlink(missing_ok=True)
        print(f"cannot write {path}: {exc.strerror or exc}; nothing was written", file=sys.stderr)
        return 1
    print(f"wrote {path}; check it with `bridge check --config {path}`, start with `bridge run --config {path}`")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """Post one signal and print the response."""
    import httpx

    payload: dict[str, Any] = {"ticker": args.ticker, "action": args.action}
    for key in ("sentiment", "price", "quantity"):
        if getattr(args, key) is not None:
            payload[key] = getattr(args, key)
    # A transport of our own leaves out the proxies the environment names (HTTPS_PROXY, ALL_PROXY...).
    direct = None if proxy_allowed(args.url) else httpx.HTTPTransport()
    try:
        with httpx.Client(transport=direct, timeout=SEND_TIMEOUT) as client:
            response = client.post(args.url, json=payload)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL (a bad port, a bracket missing) is no HTTPError
        token = args.url.split("?", 1)[0].rstrip("/").rpartition("/")[2]
        said = redact(str(exc) or type(exc).__name__, [token])
        # Only a connection never made is a signal never sent; an answer lost after it (a read timeout, a dropped
        # connection) leaves one that may be journaled and trading, which sent again would be a second order.
        unsent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL)
        if isinstance(exc, unsent):
            print(f"cannot reach {_shown(args.url)}: {said}", file=sys.stderr)
        else:
            print(f"sent to {_shown(args.url)}, but no answer came ({said}): the signal may or may not have been "
                  "accepted; check `bridge signals` before sending it again", file=sys.stderr)  # fmt: skip
        return 1
    print(response.text)
    return 0 if response.is_success else 1


def proxy_allowed(url: str) -> bool:
    """Whether `bridge send` may take a proxy the environment names to `url`: https to a host off loopback only.

    Through a proxy, https is a tunnel the proxy cannot read (it sees the host alone), while plain http hands it
    the whole URL, token included, to read and log. A loopback host is this machine: no proxy can reach it (one
    that answered would answer for the daemon), and a token has no business leaving it.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:  # unreadable: sent nowhere, httpx says why
        return False
    if parts.scheme.lower() != "https" or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a name: not this machine's
        return True
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return not any(a is not None and (a.is_loopback or a.is_unspecified) for a in (address, mapped))


def _shown(url: str) -> str:
    """A webhook URL as it may be printed: without its last path part (the token), credentials or query."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [ in the host: nothing of it can be told apart
        return "the URL given"
    host = parts.netloc.rpartition("@")[2]
    path = parts.path.rstrip("/").rpartition("/")[0]  # a trailing slash must not leave the token last-but-one
    return f"{parts.scheme}://{host}{path}/…" if parts.scheme else f"{host}{path}/…"


def cmd_list(args: argparse.Namespace) -> int:
    """Print signals, orders or positions."""
    from bridge.listing import fetch_rows, render_table

    # Positions are the brokers' to tell (their keys are needed); signals and orders are the journal's alone.
    loaded = _load_or_demo(args.config) if args.what == "positions" else _journal_view(args.config, "listing").loaded
    try:
        if getattr(args, "follow", False):
            from bridge.follow import follow

            return follow(loaded, args.what, args.limit, as_json=args.json)
        rows = fetch_rows(loaded, args.what, args.limit, exact=not args.json)
    except sqlite3.Error as exc:  # locked past the wait, unreadable: one line, never a traceback
        print(_journal_trouble(loaded, exc), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(render_table(args.what, rows))
    # A broker that could not say what it holds leaves the list incomplete: exit 1, so that a script checking
    # the status does not read it as every position held.
    unread = [row for row in rows if row.get("error")]
    for row in unread:
        print(f"{row['broker']}: {row['error']}", file=sys.stderr)
    return 1 if unread else 0


def _journal_trouble(loaded: LoadedConfig, exc: sqlite3.Error) -> str:
    """Why the journal could not be read just now, and what to do."""
    return (f"cannot use the journal {loaded.database_path()} right now: {exc}; retry in a moment (the daemon may "
            "be writing it), or check the disk and that this user may read and write it")  # fmt: skip


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-run journaled signals against fresh paper brokers under a config and print what would happen."""
    import asyncio

    from bridge.listing import render_table
    from bridge.replay import replay

    loaded, unset = load_without_secrets(args.config)
    _masked(loaded)
    if unset:  # a strategy's token, a broker's keys: replay posts no webhook and trades on paper
        print(f"not set in this shell, and not used by a replay: {', '.join(unset)}", file=sys.stderr)
    strategies = loaded.config.strategies
    if args.strategy is not None and args.strategy not in strategies:
        # Else a typo replays nothing, and its empty tables read as "nothing would have traded".
        known = ", ".join(sorted(strategies)) or "none"
        print(f"--strategy {args.strategy}: {args.config} has no such strategy; its strategies: {known}",
              file=sys.stderr)  # fmt: skip
        return 1

    def progress(done: int, total: int) -> None:
        if not args.json:
            end = "\n" if done == total else ""
            print(f"\rreplaying signal {done}/{total}", end=end, file=sys.stderr, flush=True)

    result = asyncio.run(replay(loaded, args.since, args.strategy, progress))
    if args.json:
        print(json.dumps(result.as_json(), indent=2, default=str))
        return 0
    print(f"{len(result.signals)} signal(s) replayed on paper under {args.config}\n")
    print(render_table("signals", result.signals[::-1]) + "\n")
    print(render_table("orders", result.orders) + "\n")
    print(render_table("replay_positions", result.positions))
    for line in result.skipped:
        print(f"skipped {line}", file=sys.stderr)
    return 0


def cmd_halt(args: argparse.Namespace) -> int:
    """Halt or resume trading (the kill switch)."""
    from bridge.control import switch

    view = _journal_view(args.config, "halting" if args.halted else "resuming")
    code, message = switch(view.loaded, args.halted, getattr(args, "reason", None), view.unasked)
    print(message, file=sys.stderr if code else sys.stdout)
    return code


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a delayed signal still waiting for its time."""
    from bridge.control import cancel

    view = _journal_view(args.config, "canceling in")
    code, message = cancel(view.loaded, args.signal_id, view.unasked)
    print(message, file=sys.stderr if code else sys.stdout)
    return code


def cmd_plugins(args: argparse.Namespace) -> int:
    """List every broker plugin found, with its source, version and capabilities."""
    from bridge.brokers.discovery import discover, render
    from bridge.brokers.registry import plugin_dirs

    path = _config_path(args.config)
    configured: list[str] = ["plugins"]
    if path is not None:  # only `plugin_dirs` is needed: a config with other errors still lists its plugins
        from bridge.config.load import read_config_text, read_tree

        _, text = read_config_text(path)  # a file it cannot read: one located line, as `bridge check` says it
        # `${VAR}` filled in as the daemon fills it; a variable unset here matters only if `plugin_dirs` reads it.
        data, reader = read_tree(text, str(path), None)  # invalid YAML: where the file is wrong (ConfigError)
        if errors := reader.errors_under(("plugin_dirs",)):
            raise ConfigError(errors)
        dirs = data.get("plugin_dirs")
        configured = [str(d) for d in dirs] if isinstance(dirs, list) else configured
    infos = discover(plugin_dirs(configured, path.resolve().parent if path is not None else Path.cwd()))
    print(json.dumps([i.as_dict() for i in infos], indent=2) if args.json else render(infos))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(prog="bridge", description="Self-hosted TradingView/TrendSpider -> broker bridge.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--config")
    run.add_argument("--host")
    run.add_argument("--port", type=_port)
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="validate a config file")
    check.add_argument("--config", required=True)
    check.set_defaults(func=cmd_check)
    init = sub.add_parser("init", help="write a starter config with fresh tokens")
    init.add_argument("path", nargs="?", default="config.yaml")
    init.set_defaults(func=cmd_init)
    send = sub.add_parser(
        "send",
        help="post one signal to a webhook URL",
        description="Post one signal to a webhook URL. A proxy the environment names (HTTPS_PROXY, ALL_PROXY, "
        "NO_PROXY) is used only for an https URL to a host other than this machine; a plain http URL (the "
        "proxy would read the token in its path) and a loopback address are always sent straight.",
    )
    send.add_argument("url")
    send.add_argument("--ticker", required=True)
    send.add_argument("--action", required=True)
    send.add_argument("--sentiment")
    send.add_argument("--price")
    send.add_argument("--quantity")
    send.set_defaults(func=cmd_send)
    plugins = sub.add_parser("plugins", help="list broker plugins with their source, version and capabilities")
    plugins.add_argument("--config", help="also search this config's plugin_dirs")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)
    halt = sub.add_parser("halt", help="kill switch: send no new orders until `bridge resume` (cancels still run)")
    halt.add_argument("--config")
    halt.add_argument("--reason", help="shown in /health and in the decisions of refused signals")
    halt.set_defaults(func=cmd_halt, halted=True)
    resume = sub.add_parser("resume", help="end a halt: the next signal trades again")
    resume.add_argument("--config")
    resume.set_defaults(func=cmd_halt, halted=False)
    canceler = sub.add_parser("cancel", help="cancel a delayed signal still waiting for its time: it never executes")
    canceler.add_argument("signal_id", help="the signal's id (`bridge signals`)")
    canceler.add_argument("--config")
    canceler.set_defaults(func=cmd_cancel)
    for what in ("signals", "orders", "positions"):
        lister = sub.add_parser(what, help=f"list {what}")
        lister.add_argument("--config")
        lister.add_argument("--json", action="store_true")
        lister.add_argument("--limit", type=_at_least_one, default=50, help="the newest N rows (default 50)")
        lister.set_defaults(func=cmd_list, what=what)
        if what != "positions":  # positions are the brokers' to tell, not rows of the journal
            lister.add_argument("--follow", "-f", action="store_true", help=f"keep printing {what} as they change")
    replayer = sub.add_parser("replay", help="re-run journaled signals on paper under a (changed) config")
    replayer.add_argument("--config", required=True)
    replayer.add_argument(
        "--since", type=_since, help="ISO time (2026-01-31 or 2026-01-31T14:00Z) or an age such as 2h, 3d"
    )
    replayer.add_argument("--strategy", help="only this strategy's signals")
    replayer.add_argument("--json", action="store_true")
    replayer.set_defaults(func=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `bridge` console script."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 1
    except JournalUnusable as exc:  # missing, or at another schema: one line that says what to do
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C while waiting (a daemon or broker that does not answer): no traceback
        changing = args.command in ("send", "halt", "resume", "cancel")  # the request may have arrived meanwhile
        print(f"interrupted: the {args.command} may or may not have taken effect; check `bridge signals` or /health "
              "before running it again" if changing else "interrupted", file=sys.stderr)  # fmt: skip
        return 130  # what a shell reports for a command ended by SIGINT
    except BrokenPipeError:  # `bridge orders | head`: the reader left with what it wanted, nothing went wrong here
        # As Python's documentation does it: what stdout still buffers goes nowhere, or its flush at exit raises again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
