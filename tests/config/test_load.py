"""Config loading: every error reads `file:line: dotted.path: message`; `bridge check` and `bridge init`."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config.load import load_config, parse_config
from bridge.config.schema import subscription_key
from bridge.errors import ConfigError

TOKEN = "tok-0123456789abcdef"
ADMIN = "adm-0123456789abcdef"
ENV = {"X_TOKEN": TOKEN}

# Line numbers matter below: they are counted by hand from this text.
GOOD = f"""\
server:
  host: 127.0.0.1
  port: 8787
  admin_token: {ADMIN}
database: bridge.db
brokers:
  paper:
    plugin: paper
    options: {{cash: 100000}}
strategies:
  x:
    token: ${{X_TOKEN}}
    subscriptions:
      - broker: paper
        sides: both
        allow_swap: true
        allow_add: false
        use_signal_quantity: true
        sizing: {{type: fixed_quantity, value: 1}}
        order_type: market
"""


def edit(old: str, new: str, text: str = GOOD) -> str:
    """`text` with exactly one occurrence of `old` replaced."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def errors(text: str, environ: dict[str, str] | None = None) -> list[str]:
    """The error lines parse_config reports for `text`, which must be invalid."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", ENV if environ is None else environ)
    assert str(caught.value) == "\n".join(caught.value.lines)
    return caught.value.lines


# ---------------------------------------------------------------------------------------------
# A valid config.


def test_a_valid_config_parses_with_its_values_and_defaults() -> None:
    config = parse_config(GOOD, "c.yaml", ENV)
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8787
    assert config.server.admin_token == ADMIN
    assert config.database == "bridge.db"
    assert config.max_signal_age == 60.0
    assert config.brokers["paper"].plugin == "paper"
    assert config.brokers["paper"].options == {"cash": 100000}
    strategy = config.strategies["x"]
    assert strategy.token == TOKEN
    [subscription] = strategy.subscriptions
    assert subscription.broker == "paper"
    assert (subscription.sides, subscription.allow_swap, subscription.allow_add) == ("both", True, False)
    assert subscription.use_signal_quantity is True
    assert (subscription.sizing.type, subscription.sizing.value) == ("fixed_quantity", Decimal(1))
    assert subscription.order_type == "market"


def test_the_minimal_config_gets_the_design_defaults() -> None:
    text = f"brokers:\n  p:\n    plugin: paper\nstrategies:\n  s:\n    token: {TOKEN}\n"
    text += "    subscriptions:\n      - broker: p\n"
    config = parse_config(text, "c.yaml", {})
    assert (config.server.host, config.server.port, config.server.admin_token) == ("127.0.0.1", 8787, None)
    sub = config.strategies["s"].subscriptions[0]
    assert (sub.sides, sub.allow_swap, sub.allow_add, sub.use_signal_quantity) == ("both", True, False, True)
    assert (sub.sizing.value, sub.order_type) == (Decimal(1), "market")


def test_load_config_reads_the_file_and_resolves_paths_against_it(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "bridge.yaml"
    path.parent.mkdir()
    path.write_text(GOOD, encoding="utf-8")
    loaded = load_config(path, ENV)
    assert loaded.path == path.resolve()
    assert loaded.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()
    assert loaded.database_path() == path.resolve().parent / "bridge.db"
    assert set(loaded.secrets()) == {TOKEN, ADMIN}
    assert loaded.config.strategies["x"].token == TOKEN


def test_an_absolute_database_path_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(edit("database: bridge.db", f"database: {tmp_path / 'data' / 'j.db'}"))
    assert load_config(path, ENV).database_path() == tmp_path / "data" / "j.db"


@pytest.mark.parametrize(
    ("database", "environ"), [("''", ENV), ("${DB_FILE:-}", ENV), ('"  "', ENV), ("${DB_FILE}", {**ENV, "DB_FILE": ""})]
)
def test_a_database_that_names_no_file_is_refused_at_its_line(database: str, environ: dict[str, str]) -> None:
    """It passed `bridge check`, and the daemon then stopped with sqlite's traceback: unable to open database file."""
    [line] = errors(edit("database: bridge.db", f"database: {database}"), environ)
    assert line.startswith("c.yaml:5: database: names no file; write the journal's file name, e.g. bridge.db")


@pytest.mark.parametrize("database", ["data", "data/", "."])
def test_a_database_that_is_a_folder_is_refused_by_check_and_run_alike(tmp_path: Path, database: str) -> None:
    (tmp_path / "data").mkdir()
    path = write(tmp_path, edit("database: bridge.db", f"database: {database}", GOOD_LITERAL))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.lines == [
        f"{path}:5: database: {tmp_path / database} is a folder; write the journal's file name in it, "
        f"e.g. {Path(database) / 'bridge.db'}"
    ]
    assert main(["check", "--config", str(path)]) == 1


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("http://127.0.0.1", "write the address alone, e.g. 127.0.0.1 or localhost: no http:// and no path"),
        ("127.0.0.1:8080", "write the address alone, e.g. 127.0.0.1, and the port in server.port"),
        ("localhost:8080", "write the address alone, e.g. 127.0.0.1, and the port in server.port"),
        ("'[::1]'", "write an IPv6 address without the brackets, e.g. ::1"),
        ("''", "names no address; write one, e.g. 127.0.0.1"),
    ],
)
def test_a_host_that_is_not_an_address_is_refused_by_check_not_only_by_run(host: str, message: str) -> None:
    """It passed `bridge check`; the daemon then stopped asking whether another program used the port."""
    assert errors(edit("host: 127.0.0.1", f"host: {host}")) == [f"c.yaml:2: server.host: {message}"]


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1", "::", "localhost", "bridge.internal"])  # noqa: S104 - a setting, not a bind
def test_an_address_or_host_name_is_a_host(host: str) -> None:
    assert parse_config(edit("host: 127.0.0.1", f"host: '{host}'"), "c.yaml", ENV).server.host == host


# ---------------------------------------------------------------------------------------------
# Environment variables.


def test_a_missing_environment_variable_names_the_variable_and_its_line() -> None:
    lines = errors(GOOD, {})
    assert lines[0] == (
        "c.yaml:12: strategies.x.token: environment variable X_TOKEN is not set; export it or write ${X_TOKEN:-default}"
    )


def test_an_empty_environment_variable_is_named_in_the_error_it_causes() -> None:
    """An EnvironmentFile line `X_TOKEN=` sets the variable to nothing: say so, not only that the token is short."""
    assert errors(GOOD, {"X_TOKEN": ""}) == [
        "c.yaml:12: strategies.x.token: String should have at least 16 characters (environment variable X_TOKEN is "
        "set but empty; give it a value)"
    ]


def test_a_missing_variable_in_a_deeper_setting_is_located_too() -> None:
    lines = errors(edit("value: 1}", "value: '${NOPE}'}"))
    assert lines[0].startswith("c.yaml:19: strategies.x.subscriptions.0.sizing.value: environment variable NOPE ")


BAD_REFERENCE = (
    "is not read from the environment as written: write ${NAME} or ${NAME:-default} (NAME: letters, digits and _)"
)


@pytest.mark.parametrize(
    "reference",
    ["$X_TOKEN", "${X_TOKEN:default-0123456789}", "${X_TOKEN-default-0123456789}", "${x-token}", "${X_TOKEN",
     "tok-${X TOKEN}-0123456789", "${}abcdefghijklmnop"],
    ids=["shell-style", "colon-default", "dash-default", "dash-in-name", "unclosed", "space-in-name", "no-name"],
)  # fmt: skip
def test_a_reference_the_reader_does_not_take_is_refused_not_used_as_the_value(reference: str) -> None:
    """`$X_TOKEN`, `${X_TOKEN:default}` ... were the token, letter for letter: a URL anyone reading the file knows."""
    assert errors(edit("${X_TOKEN}", reference)) == [f"c.yaml:12: strategies.x.token: {BAD_REFERENCE}"]


def test_a_variable_from_a_file_with_windows_line_ends_is_refused_naming_it_not_its_value() -> None:
    """`KEY=value\\r\\n` in an env file gives `value\\r` (docker's --env-file and a shell's `. file` keep it): a
    broker key so read was refused by the venue at every connect, with nothing saying why."""
    text = edit("options: {cash: 100000}", "options: {cash: '${CASH}'}")
    assert errors(text, {**ENV, "CASH": "5000\r"}) == [
        "c.yaml:9: brokers.paper.options.cash: environment variable CASH holds a carriage return (its file was "
        "saved with Windows line ends); save that file with Unix line ends (dos2unix FILE)"
    ]


@pytest.mark.parametrize("token", ["tok$0123456789abcdef$x", "$ecret0123456789abcdef"])
def test_a_dollar_inside_a_value_is_kept(token: str) -> None:
    assert parse_config(edit("${X_TOKEN}", token), "c.yaml", {}).strategies["x"].token == token


@pytest.mark.parametrize(
    ("reference", "environ", "expected"),
    [
        ("${ADM}", {"ADM": "from-env-0123456789"}, "from-env-0123456789"),
        ("${ADM:-default-0123456789}", {}, "default-0123456789"),
        ("${ADM:-default-0123456789}", {"ADM": "set-0123456789abcd"}, "set-0123456789abcd"),
        ("${ADM:-default-0123456789}", {"ADM": ""}, "default-0123456789"),  # empty counts as unset
        ("adm-${A}-${B}", {"A": "0123456", "B": "789abcdef"}, "adm-0123456-789abcdef"),
        ("${ADM:-}", {}, None),  # an empty admin token means: no admin API
    ],
)
def test_interpolation(reference: str, environ: dict[str, str], expected: str | None) -> None:
    text = edit(f"admin_token: {ADMIN}", f'admin_token: "{reference}"')
    assert parse_config(text, "c.yaml", {**ENV, **environ}).server.admin_token == expected


def test_interpolated_numbers_are_validated_as_numbers() -> None:
    text = edit("port: 8787", "port: ${PORT:-9000}")
    assert parse_config(text, "c.yaml", ENV).server.port == 9000
    assert errors(text, {**ENV, "PORT": "http"}) == ["c.yaml:3: server.port: Input should be a valid integer, "
                                                     "unable to parse string as an integer"]  # fmt: skip


def test_load_config_uses_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    monkeypatch.setenv("X_TOKEN", "from-process-env-123")
    assert load_config(path).config.strategies["x"].token == "from-process-env-123"
    monkeypatch.delenv("X_TOKEN")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.lines[0].startswith(f"{path}:12: strategies.x.token: environment variable X_TOKEN is not set")


# ---------------------------------------------------------------------------------------------
# One bad setting -> one located line.

BAD: list[tuple[str, str, str]] = [
    # (id, text, the exact first error line)
    (
        "misspelt allow_add",
        edit("allow_add: false", "allow_ad: true"),
        "c.yaml:17: strategies.x.subscriptions.0.allow_ad: unknown key 'allow_ad'; did you mean 'allow_add'?",
    ),
    (
        "misspelt sides",
        edit("sides: both", "side: both"),
        "c.yaml:15: strategies.x.subscriptions.0.side: unknown key 'side'; did you mean 'sides'?",
    ),
    (
        "misspelt server",
        edit("server:", "sever:"),
        "c.yaml:1: sever: unknown key 'sever'; did you mean 'server'?",
    ),
    (
        "misspelt plugin",
        edit("plugin: paper", "plugn: paper"),
        "c.yaml:8: brokers.paper.plugn: unknown key 'plugn'; did you mean 'plugin'?",
    ),
    (
        "misspelt sizing value",
        edit("value: 1}", "valu: 1}"),
        "c.yaml:19: strategies.x.subscriptions.0.sizing.valu: unknown key 'valu'; did you mean 'value'?",
    ),
    (
        "unrelated unknown key lists the known keys",
        edit("  port: 8787\n", "  port: 8787\n  zzz: 1\n"),
        "c.yaml:4: server.zzz: unknown key 'zzz'; known keys: admin_port, admin_token, allowed_hosts, "
        "auth_failure_limit, auth_lockout, forwarded_header, host, intake_process, limit_concurrency, "
        "max_body_bytes, port, public_url, trusted_proxies, unauthenticated_journal_per_minute",
    ),
    (
        "sides: sideways",
        edit("sides: both", "sides: sideways"),
        "c.yaml:15: strategies.x.subscriptions.0.sides: Input should be 'both', 'long' or 'short'",
    ),
    (
        "order_type: iceberg",
        edit("order_type: market", "order_type: iceberg"),
        "c.yaml:20: strategies.x.subscriptions.0.order_type: Input should be 'market', 'limit', 'stop', "
        "'stop_limit' or 'trailing_stop'",
    ),
    (
        "allow_swap: maybe",
        edit("allow_swap: true", "allow_swap: maybe"),
        "c.yaml:16: strategies.x.subscriptions.0.allow_swap: Input should be a valid boolean, "
        "unable to interpret input",
    ),
    (
        "sizing value 0",
        edit("value: 1}", "value: 0}"),
        "c.yaml:19: strategies.x.subscriptions.0.sizing.value: Input should be greater than 0",
    ),
    (
        "port 0",
        edit("port: 8787", "port: 0"),
        "c.yaml:3: server.port: Input should be greater than or equal to 1",
    ),
    (
        "token of 15 characters",
        edit("token: ${X_TOKEN}", "token: 0123456789abcde"),
        "c.yaml:12: strategies.x.token: String should have at least 16 characters",
    ),
    (
        "short admin token",
        edit(f"admin_token: {ADMIN}", "admin_token: hunter2"),
        "c.yaml:4: server.admin_token: admin_token must be at least 16 characters",
    ),
    (
        "subscription with an unknown broker",
        edit("- broker: paper", "- broker: papr"),
        "c.yaml:14: strategies.x.subscriptions.0.broker: unknown broker 'papr'; defined brokers: paper",
    ),
    (
        "unknown plugin",
        edit("plugin: paper", "plugin: nope"),
        "c.yaml:8: brokers.paper.plugin: unknown broker plugin 'nope'; see `bridge plugins`, "
        "add nope.py to a plugin directory, or write module:Class",
    ),
    (
        "bad plugin options",
        edit("{cash: 100000}", "{cash: -5}"),
        "c.yaml:9: brokers.paper.options.cash: Input should be greater than or equal to 0",
    ),
    (
        "unknown plugin option",
        edit("{cash: 100000}", "{cash: 1, csh: 2}"),
        "c.yaml:9: brokers.paper.options.csh: unknown key 'csh'; did you mean 'cash'?",
    ),
    (
        "no subscriptions",
        edit("    subscriptions:\n", "    subscriptions: []\n").split("      - broker")[0],
        "c.yaml:13: strategies.x.subscriptions: List should have at least 1 item after validation, not 0",
    ),
    (
        "no brokers section",
        GOOD.split("brokers:\n")[0] + "strategies:" + GOOD.split("strategies:")[1],
        "c.yaml:1: brokers: required setting is missing",
    ),
    (
        "strategy name that cannot be in a URL",
        edit("  x:\n", "  'my strategy':\n"),
        "c.yaml:11: strategies.my strategy: strategy name 'my strategy' may only use letters, digits, '-', '_' and '.'",
    ),
    (
        "strategy name of dots, which a client drops from the URL",
        edit("  x:\n", "  '..':\n"),
        "c.yaml:11: strategies...: strategy name '..' is only dots, which an HTTP client reads as a step up the URL "
        "(/webhook/../token is /token); use letters or digits too",
    ),
    (
        "duplicate key",
        edit("  port: 8787\n", "  port: 8787\n  port: 8788\n"),
        "c.yaml:4: server.port: duplicate key",
    ),
    (
        "admin port that is the public port (the public listener would serve /api)",
        edit("  port: 8787\n", "  port: 8787\n  admin_port: 8787\n"),
        "c.yaml:4: server.admin_port: admin_port 8787 is also server.port: give the admin API a port of its own "
        "(any other free port), or remove admin_port",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD], ids=[n for n, _, _ in BAD])
def test_a_bad_setting_is_reported_with_file_line_and_dotted_path(text: str, expected: str) -> None:
    assert expected in errors(text)


def test_two_unnamed_subscriptions_on_one_broker_are_fine_but_two_equal_names_are_not() -> None:
    two = GOOD + "      - broker: paper\n"  # line 21; keyed paper (as before the second came) and paper-2
    strategy = parse_config(two, "c.yaml", ENV).strategies["x"]
    assert [subscription_key(strategy, i) for i in range(2)] == ["paper", "paper-2"]
    same = GOOD + "        name: main\n" + "      - broker: paper\n" + "        name: main\n"  # lines 21-23
    assert errors(same) == [
        "c.yaml:23: strategies.x.subscriptions.1.name: subscription name 'main' is used twice; give each a unique name"
    ]


def test_an_importable_module_without_the_class_is_reported() -> None:
    lines = errors(edit("plugin: paper", "plugin: 'bridge.brokers.paper:NoSuchBroker'"))
    assert lines == ["c.yaml:8: brokers.paper.plugin: broker plugin 'bridge.brokers.paper:NoSuchBroker': "
                     "bridge.brokers.paper has no attribute 'NoSuchBroker'"]  # fmt: skip


def test_a_module_that_does_not_exist_is_reported() -> None:
    [line] = errors(edit("plugin: paper", "plugin: 'no_such_module_xyz:Broker'"))
    assert line.startswith("c.yaml:8: brokers.paper.plugin: broker plugin 'no_such_module_xyz:Broker' failed to import")


INVALID = "c.yaml:{}: (top): invalid YAML: {}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # the flow sequence never closes: where it opens, not the end of the file
            "server:\n  host: [1, 2\n",
            INVALID.format(2, "while parsing a flow sequence: expected ',' or ']', but got '<stream end>'"),
        ),
        (
            "server:\n  host: 1\n port: 2\n",
            INVALID.format(3, "while parsing a block mapping: expected <block end>, but found '<block mapping start>'"),
        ),
        (
            "server:\n\thost: 1\n",
            INVALID.format(2, r"while scanning for the next token: found character '\t' that cannot start any token"),
        ),
        ("a: b: c\n", INVALID.format(1, "mapping values are not allowed here")),
        (
            "a: &x 1\nb: &x 2\n",
            INVALID.format(2, "found duplicate anchor; first occurrence at line 1, second occurrence"),
        ),
        ("a: 1\nb: x\x00y\n", INVALID.format(2, "a control character YAML does not accept; remove it")),
    ],
)
def test_invalid_yaml_gives_one_line_where_the_mistake_is(text: str, expected: str) -> None:
    assert errors(text) == [expected]


SECRET = "Zq8vLr2mXw4tNp6sKd9fH3"


@pytest.mark.parametrize(
    ("token_line", "expected"),
    [
        (f'    token: "{SECRET}\n', "while scanning a quoted scalar: found unexpected end of stream"),
        (f"    token: *{SECRET}\n", "found undefined alias"),
        (f"    token: !x!{SECRET}\n", "while parsing a node: found undefined tag handle"),
    ],
    ids=["unclosed-quote", "alias", "tag-handle"],
)
def test_a_yaml_error_is_one_located_line_that_quotes_neither_source_nor_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], token_line: str, expected: str
) -> None:
    """`bridge run` under systemd writes this to the journal; PyYAML's excerpt (and alias names) held the token."""
    path = write(tmp_path, edit("    token: ${X_TOKEN}\n", token_line))
    assert main(["run", "--config", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}:12: (top): invalid YAML: {expected}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "c.yaml:1: (top): the file is empty; run `bridge init` for a starter config"),
        ("# only a comment\n", "c.yaml:1: (top): the file is empty; run `bridge init` for a starter config"),
        ("- a\n- b\n", "c.yaml:1: (top): the file must be a mapping of settings"),
        ("just text\n", "c.yaml:1: (top): the file must be a mapping of settings"),
    ],
)
def test_a_file_without_settings_is_explained(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_several_errors_are_all_reported_in_one_go() -> None:
    text = edit("allow_add: false", "allow_ad: true")
    text = edit("sides: both", "sides: sideways", text)
    text = edit("port: 8787", "port: 70000", text)
    text = edit(f"admin_token: {ADMIN}", "admin_token: ${NOPE}", text)
    lines = errors(text)
    for expected in (
        "c.yaml:3: server.port: Input should be less than or equal to 65535",
        "c.yaml:4: server.admin_token: environment variable NOPE is not set; export it or write ${NOPE:-default}",
        "c.yaml:15: strategies.x.subscriptions.0.sides: Input should be 'both', 'long' or 'short'",
        "c.yaml:17: strategies.x.subscriptions.0.allow_ad: unknown key 'allow_ad'; did you mean 'allow_add'?",
    ):
        assert expected in lines


def test_several_cross_reference_errors_are_all_reported() -> None:
    text = edit("plugin: paper", "plugin: nope")
    text = edit("- broker: paper", "- broker: papr", text)
    text += "  y:\n    token: 0123456789abcdef\n    subscriptions:\n      - broker: ghost\n"
    assert errors(text) == [
        "c.yaml:14: strategies.x.subscriptions.0.broker: unknown broker 'papr'; defined brokers: paper",
        "c.yaml:24: strategies.y.subscriptions.0.broker: unknown broker 'ghost'; defined brokers: paper",
        "c.yaml:8: brokers.paper.plugin: unknown broker plugin 'nope'; see `bridge plugins`, "
        "add nope.py to a plugin directory, or write module:Class",
    ]


def test_load_config_reports_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)
    assert caught.value.lines == [f"{path}:1: (top): cannot read the config file: No such file or directory"]


def test_load_config_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.replace("bridge.db", "bridg\xe9.db").encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)
    assert caught.value.lines == [
        f"{path}:5: (top): the file is not UTF-8 text (this line holds a byte that is not); save it as UTF-8"
    ]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_load_config_says_a_file_saved_as_utf16_is_to_be_saved_as_utf8(tmp_path: Path, encoding: str) -> None:
    """Windows editors offer "Unicode" (UTF-16): its every other byte is 0, and line 1 held no clue why."""
    path = tmp_path / "utf16.yaml"
    path.write_bytes(("\ufeff" if encoding.endswith("be") else "").encode(encoding) + GOOD.encode(encoding))
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)
    assert caught.value.lines == [f"{path}:1: (top): the file is not UTF-8 text but UTF-16; save it as UTF-8"]


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(edit("sides: both", "sides: sideways"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)
    assert caught.value.lines == [
        f"{path}:15: strategies.x.subscriptions.0.sides: Input should be 'both', 'long' or 'short'"
    ]


# ---------------------------------------------------------------------------------------------
# `bridge check`


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_LITERAL = edit("${X_TOKEN}", TOKEN)


def test_check_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD_LITERAL)
    assert main(["check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: ok (1 strategy, 1 broker(s))\n"
    assert err == ""


def test_check_interpolates_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.delenv("X_TOKEN", raising=False)
    assert main(["check", "--config", str(path)]) == 1
    assert f"{path}:12: strategies.x.token: environment variable X_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("X_TOKEN", TOKEN)
    assert main(["check", "--config", str(path)]) == 0


CHECK_BAD: list[tuple[str, str, list[str]]] = [
    (
        "typo",
        edit("allow_add: false", "allow_ad: true", GOOD_LITERAL),
        ["{path}:17: strategies.x.subscriptions.0.allow_ad: unknown key 'allow_ad'; did you mean 'allow_add'?"],
    ),
    (
        "bad enum",
        edit("sides: both", "sides: sideways", GOOD_LITERAL),
        ["{path}:15: strategies.x.subscriptions.0.sides: Input should be 'both', 'long' or 'short'"],
    ),
    (
        "short token",
        edit(TOKEN, "short", GOOD_LITERAL),
        ["{path}:12: strategies.x.token: String should have at least 16 characters"],
    ),
    (
        "unknown broker",
        edit("- broker: paper", "- broker: ib", GOOD_LITERAL),
        ["{path}:14: strategies.x.subscriptions.0.broker: unknown broker 'ib'; defined brokers: paper"],
    ),
    (
        "unknown plugin",
        edit("plugin: paper", "plugin: nope", GOOD_LITERAL),
        [
            "{path}:8: brokers.paper.plugin: unknown broker plugin 'nope'; see `bridge plugins`, "
            "add nope.py to a plugin directory, or write module:Class"
        ],
    ),
    (
        "two errors",
        edit("port: 8787", "port: 0", edit("sides: both", "sides: sideways", GOOD_LITERAL)),
        [
            "{path}:3: server.port: Input should be greater than or equal to 1",
            "{path}:15: strategies.x.subscriptions.0.sides: Input should be 'both', 'long' or 'short'",
        ],
    ),
    ("empty", "", ["{path}:1: (top): the file is empty; run `bridge init` for a starter config"]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CHECK_BAD], ids=[n for n, _, _ in CHECK_BAD])
def test_check_rejects_a_bad_file_with_located_lines_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: list[str]
) -> None:
    path = write(tmp_path, text)
    assert main(["check", "--config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [line.format(path=path) for line in expected]


def test_check_on_a_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere.yaml"
    assert main(["check", "--config", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}:1: (top): cannot read the config file: No such file or directory\n"


def test_check_requires_the_config_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check"])
    assert caught.value.code == 2
    assert "--config" in capsys.readouterr().err


def _run_bridge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "X_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


def test_python_dash_m_bridge_check_in_a_real_process(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD_LITERAL, "good.yaml")
    bad = write(tmp_path, edit("allow_add: false", "allow_ad: true", GOOD_LITERAL), "bad.yaml")
    ok = _run_bridge("check", "--config", str(good), cwd=tmp_path)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert "ok" in ok.stdout
    failed = _run_bridge("check", "--config", str(bad), cwd=tmp_path)
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.splitlines() == [
        f"{bad}:17: strategies.x.subscriptions.0.allow_ad: unknown key 'allow_ad'; did you mean 'allow_add'?"
    ]


def test_run_refuses_a_port_option_that_is_the_admin_port(tmp_path: Path) -> None:
    config = write(tmp_path, edit("  port: 8787\n", "  port: 8787\n  admin_port: 8799\n", GOOD_LITERAL))
    refused = _run_bridge("run", "--config", str(config), "--port", "8799", cwd=tmp_path)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "--port 8799 is server.admin_port" in refused.stderr


# ---------------------------------------------------------------------------------------------
# `bridge init`


def test_init_writes_a_config_that_check_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.yaml"
    assert main(["init", str(path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert path.stat().st_mode & 0o777 == 0o600  # it holds tokens
    assert main(["check", "--config", str(path)]) == 0
    loaded = load_config(path, {})
    strategy_token = loaded.config.strategies["demo"].token
    admin_token = loaded.config.server.admin_token
    assert admin_token is not None
    assert strategy_token != admin_token
    assert len(strategy_token) >= 16 and len(admin_token) >= 16
    assert loaded.config.server.host == "127.0.0.1"
    assert loaded.config.brokers["paper"].plugin == "paper"


def test_each_init_generates_fresh_tokens(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert main(["init", str(first)]) == 0
    assert main(["init", str(second)]) == 0
    a, b = load_config(first, {}).config, load_config(second, {}).config
    tokens = {a.strategies["demo"].token, a.server.admin_token, b.strategies["demo"].token, b.server.admin_token}
    assert len(tokens) == 4


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "# mine, hand-written\n", "config.yaml")
    assert main(["init", str(path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert path.read_text() == "# mine, hand-written\n"


def test_init_without_a_path_writes_config_yaml_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "config.yaml").exists()
    assert main(["check", "--config", "config.yaml"]) == 0
    assert main(["init"]) == 1


def _small_files() -> None:
    """In the child: files stop growing at 200 bytes, as on a full disk (EFBIG, not the signal that would kill it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))


def test_init_that_cannot_write_the_whole_file_leaves_none_and_says_so(tmp_path: Path) -> None:
    # A full disk cut the starter file short: a traceback, and a partial config.yaml that every later
    # `bridge init` refused to replace ("already exists").
    path = tmp_path / "config.yaml"
    done = subprocess.run([sys.executable, "-m", "bridge", "init", str(path)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, preexec_fn=_small_files,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})  # fmt: skip
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr and f"cannot write {path}" in done.stderr, done.stderr
    assert not path.exists(), "a partial config was left behind"


def test_broker_and_option_errors_are_reported_beside_other_setting_errors() -> None:
    # `bridge check` promises every error in one go: a broken setting elsewhere must not hide the brokers' own.
    text = edit("options: {cash: 100000}", "options: {cash: -5, csh: 1}")
    text = edit("- broker: paper", "- broker: papr", text)
    text = edit("sides: both", "sides: sideways", text)
    lines = errors(text)
    assert "c.yaml:15: strategies.x.subscriptions.0.sides: Input should be 'both', 'long' or 'short'" in lines
    assert "c.yaml:14: strategies.x.subscriptions.0.broker: unknown broker 'papr'; defined brokers: paper" in lines
    assert any(line.startswith("c.yaml:9: brokers.paper.options.cash: ") for line in lines), lines
    assert any(line.startswith("c.yaml:9: brokers.paper.options.csh: unknown key") for line in lines), lines
    assert len(lines) == 4, lines


@pytest.mark.parametrize(
    ("database", "contents", "said"),
    [
        ("journal.db", b"notes, not a journal\n" * 10, "is not a bridge journal"),
        ("journal.db", None, "holds another program's tables"),
        ("not-a-folder/journal.db", b"", "cannot create the journal"),
    ],
)
def test_run_on_a_database_it_cannot_use_says_which_file_and_what_to_do_in_one_line(
    tmp_path: Path, database: str, contents: bytes | None, said: str
) -> None:
    # A new user's `database:` pointing at the wrong file, or under a file: one line naming the file, not a traceback.
    path = tmp_path / database
    if database.startswith("not-a-folder/"):
        (tmp_path / "not-a-folder").write_bytes(contents or b"")
    elif contents is None:
        with sqlite3.connect(path) as other:
            other.execute("CREATE TABLE notes (body TEXT)")
    else:
        path.write_bytes(contents)
    before = None if database.startswith("not-a-folder/") else path.read_bytes()
    config = write(tmp_path, edit("database: bridge.db", f"database: {database}", GOOD_LITERAL))
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    refused = _run_bridge("run", "--config", str(config), "--port", str(port), cwd=tmp_path)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert str(path) in lines[0] and said in lines[0] and f"check `database` in {config}" in lines[0]
    if before is not None:
        assert path.read_bytes() == before, "the file is left as it was"


def test_init_makes_the_folders_of_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "etc" / "trade-bridge" / "config.yaml"
    assert main(["init", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    assert main(["check", "--config", str(path)]) == 0


def test_init_where_no_file_can_be_written_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("a file, not a folder\n")
    failed = _run_bridge("init", str(tmp_path / "notes" / "config.yaml"), cwd=tmp_path)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines() == [
        f"cannot write {tmp_path / 'notes' / 'config.yaml'}: Not a directory"
    ], failed.stderr


@pytest.mark.parametrize("port", ["70000", "-5", "0", "http"])
def test_run_refuses_a_port_option_that_is_no_port_with_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    # 0 was taken as "not given" and the config's port served instead; 70000 and -5 ended in a traceback.
    config = write(tmp_path, GOOD_LITERAL)
    with pytest.raises(SystemExit) as exited:
        main(["run", "--config", str(config), "--port", port])
    assert exited.value.code == 2
    assert "--port: give a TCP port from 1 to 65535" in capsys.readouterr().err


def test_no_brokers_at_all_is_one_error_not_one_per_subscription() -> None:
    text = edit("brokers:\n  paper:\n    plugin: paper\n    options: {cash: 100000}\n", "brokers: {}\n")
    assert errors(text) == ["c.yaml:6: brokers: Dictionary should have at least 1 item after validation, not 0"]


def test_a_bad_strategy_name_is_reported_at_its_own_line_among_many() -> None:
    more = [f"  s{i}:\n    token: tok-{i}-0123456789abcdef\n    subscriptions: [{{broker: paper}}]\n" for i in range(5)]
    bad = "  'bad name':\n    token: tok-bad-0123456789abcdef\n    subscriptions: [{broker: paper}]\n"
    assert errors(GOOD + "".join(more) + bad) == [
        "c.yaml:36: strategies.bad name: strategy name 'bad name' may only use letters, digits, '-', '_' and '.'"
    ]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("pa$${ss-0123456789abcd", "pa${ss-0123456789abcd"),  # a password holding `${`
        ("$${X_TOKEN}-0123456789", "${X_TOKEN}-0123456789"),  # escaped, a reference is text
        ("$${X_TOKEN}${X_TOKEN}", "${X_TOKEN}" + TOKEN),  # next to a reference that is read
        ("${ADM:-a$${b}-0123456789abcd", "a${b-0123456789abcd"),  # inside a default, up to its first }
    ],
)
def test_a_doubled_dollar_writes_a_literal_dollar_brace(written: str, expected: str) -> None:
    """`$${` is `${` as text, the docker-compose way: a password holding `${` could not be written at all."""
    text = edit(f"admin_token: {ADMIN}", f'admin_token: "{written}"')
    assert parse_config(text, "c.yaml", ENV).server.admin_token == expected


def test_an_escaped_reference_is_not_read_so_an_unset_variable_is_no_error() -> None:
    text = edit(f"admin_token: {ADMIN}", 'admin_token: "$${NOT_SET_ANYWHERE}-0123456789"')
    assert parse_config(text, "c.yaml", ENV).server.admin_token == "${NOT_SET_ANYWHERE}-0123456789"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("bridge.example.com", "e.g. https://bridge.example.com"),
        ("ftp://bridge.example.com", "e.g. https://bridge.example.com"),
        ("https://bridge.example.com/?x=1", "the address alone"),
        ("https://user:pw@bridge.example.com", "the address alone"),
    ],
)
def test_a_public_url_that_no_webhook_url_can_start_with_is_refused_at_its_line(value: str, said: str) -> None:
    [line] = errors(edit("  port: 8787\n", f"  port: 8787\n  public_url: {value}\n"))
    assert line.startswith("c.yaml:4: server.public_url: ") and said in line, line


def test_a_public_url_is_kept_without_its_trailing_slash_and_with_its_path() -> None:
    config = parse_config(edit("  port: 8787\n", "  port: 8787\n  public_url: https://x.example.com/bridge/\n"),
                          "c.yaml", ENV)  # fmt: skip
    assert config.server.public_url == "https://x.example.com/bridge"
    assert parse_config(GOOD, "c.yaml", ENV).server.public_url is None
