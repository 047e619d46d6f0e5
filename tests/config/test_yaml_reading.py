"""YAML the safe loader reads is read the same way (nulls, merge keys, tags), or refused with a located line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config.load import parse_config
from bridge.errors import ConfigError

TOKEN = "tok-0123456789abcdef"
# Line numbers matter below: subscriptions start on line 8.
BASE = f"""\
brokers:
  paper:
    plugin: paper
strategies:
  s1:
    token: {TOKEN}
    subscriptions:
"""
ONE = BASE + "      - broker: paper\n"
UNKNOWN_TAG = "a YAML tag this config does not use; remove it (quote the value if it starts with `!`)"


def errors(text: str) -> list[str]:
    """The error lines of a config that must be refused."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", {})
    return caught.value.lines


# --- `key:` with nothing after it is YAML's null ------------------------------------------------------------


@pytest.mark.parametrize("extra", ["server:\n  admin_port:\n", "database_max_mb:\n"], ids=["admin_port", "top"])
def test_an_empty_value_is_null(extra: str) -> None:
    """The reader re-serialised the empty scalar and PyYAML could not re-read it: a traceback, not an error."""
    config = parse_config(ONE + extra, "c.yaml", {})
    assert config.server.admin_port is None and config.database_max_mb is None


def test_a_section_with_every_setting_commented_out_is_the_empty_section() -> None:
    text = "server:\n  # port: 8000\n" + ONE + "        sizing:\n        #  value: 5\n"
    config = parse_config(text, "c.yaml", {})
    assert config.server.port == 8787
    assert config.strategies["s1"].subscriptions[0].sizing.value == 1


def test_an_empty_number_is_still_refused_not_read_as_its_default() -> None:
    assert errors("server:\n  port:\n" + ONE) == ["c.yaml:2: server.port: Input should be a valid integer"]


def test_bridge_check_of_a_config_with_empty_plugin_options_answers_ok(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(ONE.replace("    plugin: paper\n", "    plugin: paper\n    options:\n    #  cash: 5000\n"))
    assert main(["check", "--config", str(path)]) == 0


# --- merge keys ---------------------------------------------------------------------------------------------


def test_a_merge_key_merges_and_the_settings_written_beside_it_win() -> None:
    text = BASE + (
        "      - &long {broker: paper, name: first, sides: long, allow_add: true}\n"
        "      - <<: *long\n"
        "        name: second\n"
        "        sides: short\n"
    )
    first, second = parse_config(text, "c.yaml", {}).strategies["s1"].subscriptions
    assert (first.name, first.sides, first.allow_add) == ("first", "long", True)
    assert (second.broker, second.name, second.sides, second.allow_add) == ("paper", "second", "short", True)


def test_in_a_list_of_merged_mappings_the_first_wins_as_in_yaml() -> None:
    text = BASE + (
        "      - &a {broker: paper, name: a, sides: long}\n"
        "      - &b {broker: paper, name: b, sides: short, allow_add: true}\n"
        "      - <<: [*a, *b]\n"
        "        name: c\n"
    )
    merged = parse_config(text, "c.yaml", {}).strategies["s1"].subscriptions[2]
    assert (merged.sides, merged.allow_add) == ("long", True)


def test_a_bad_merged_setting_is_reported_at_the_line_it_is_written_on() -> None:
    text = BASE + "      - &d {broker: paper, name: one, sides: sideways}\n      - <<: *d\n        name: two\n"
    assert errors(text) == [
        "c.yaml:8: strategies.s1.subscriptions.0.sides: Input should be 'both', 'long' or 'short'",
        "c.yaml:8: strategies.s1.subscriptions.1.sides: Input should be 'both', 'long' or 'short'",
    ]


# --- YAML the reader cannot turn into settings --------------------------------------------------------------

UNREADABLE = [
    ("unknown tag", ONE + "database: !env BRIDGE_DB\n", f"c.yaml:9: database: {UNKNOWN_TAG}"),
    (
        "tag on a mapping",
        BASE + "      - !sub {broker: paper}\n",
        f"c.yaml:8: strategies.s1.subscriptions.0: {UNKNOWN_TAG}",
    ),
    (
        "a tag that does not fit",
        ONE + "        quantity_multiplier: !!int lots\n",
        "c.yaml:9: strategies.s1.subscriptions.0.quantity_multiplier: the value does not fit its YAML tag "
        "(`!!int`, `!!bool`, ...); fix the value or remove the tag",
    ),
    (
        "a key that is a list",
        ONE + "  ? [a, b]\n  : 1\n",
        "c.yaml:9: strategies: a key must be a name, not a list or mapping",
    ),
    (
        "merging a scalar",
        ONE + "        <<: 5\n",
        "c.yaml:9: strategies.s1.subscriptions.0: `<<` merges a mapping (`<<: *name`) or a list of them; write the "
        "settings out",
    ),
    (
        "an alias to a mapping inside itself",
        BASE + "      - &x {broker: paper, risk: *x}\n",
        "c.yaml:8: strategies.s1.subscriptions.0.risk: an alias to the mapping or list it is in; write the "
        "settings out",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in UNREADABLE], ids=[n for n, _, _ in UNREADABLE])
def test_yaml_the_reader_cannot_convert_is_a_located_error_not_a_traceback(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_a_token_written_as_a_tag_is_refused_without_quoting_it() -> None:
    """`token: !tok-...` is a tag to YAML: PyYAML's constructor error quoted it, whole."""
    [line] = errors(ONE.replace(f"token: {TOKEN}", f"token: !{TOKEN}"))
    assert line == f"c.yaml:6: strategies.s1.token: {UNKNOWN_TAG}"


@pytest.mark.parametrize("command", ["check", "run"])
def test_bridge_check_and_run_refuse_it_with_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(ONE + "database: !env BRIDGE_DB\n")
    assert main([command, "--config", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}:9: database: {UNKNOWN_TAG}\n"


# --- YAML 1.1 reads some unquoted words and digits as booleans or numbers -------------------------------------


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("tickers: [AMD, NO]", 'c.yaml:9: strategies.s1.subscriptions.0.tickers.1: YAML reads the unquoted NO as '
         'the boolean false; write it in quotes: "NO"'),
        ("tickers: [0700]", 'c.yaml:9: strategies.s1.subscriptions.0.tickers.0: YAML reads the unquoted 0700 as '
         'the number 448; write it in quotes: "0700"'),
        ("ticker_map: {TENCENT: 0700}", 'c.yaml:9: strategies.s1.subscriptions.0.ticker_map.TENCENT: YAML reads the '
         'unquoted 0700 as the number 448; write it in quotes: "0700"'),
        ("risk: {allowed_symbols: [ON]}", 'c.yaml:9: strategies.s1.subscriptions.0.risk.allowed_symbols.0: YAML '
         'reads the unquoted ON as the boolean true; write it in quotes: "ON"'),
    ],
    ids=["boolean", "octal", "map-value", "allowed-symbols"],
)  # fmt: skip
def test_a_ticker_yaml_reads_as_a_boolean_or_number_says_to_quote_it(setting: str, expected: str) -> None:
    assert errors(ONE + f"        {setting}\n") == [expected]


def test_a_name_yaml_reads_as_a_boolean_is_shown_as_written_and_says_to_quote_it() -> None:
    text = ONE.replace("  paper:\n", "  no:\n").replace("broker: paper", "broker: no")
    assert errors(text) == [
        'c.yaml:2: brokers.no: YAML reads the unquoted key no as the boolean false; write it in quotes: "no"',
        'c.yaml:8: strategies.s1.subscriptions.0.broker: YAML reads the unquoted no as the boolean false; write it '
        'in quotes: "no"',
    ]  # fmt: skip


def test_an_empty_name_says_it_has_no_value() -> None:
    assert errors(ONE.replace("    plugin: paper", "    plugin:")) == [
        "c.yaml:3: brokers.paper.plugin: has no value (YAML reads an empty value as null); write one"
    ]


def test_a_secret_yaml_reads_as_a_number_is_not_quoted_in_the_error() -> None:
    digits = "1234567890123456789"
    lines = errors(ONE.replace(TOKEN, digits))
    assert lines == ["c.yaml:6: strategies.s1.token: YAML reads this unquoted value as a number; write it in quotes"]


@pytest.mark.parametrize("setting", ["max_orders_per_minute: on", "max_order_quantity: yes"])
def test_a_yaml_boolean_where_a_number_goes_is_refused_not_read_as_1(setting: str) -> None:
    """`on` read as true, and true as the number 1: one order a minute, or orders of one unit, without a word."""
    key = setting.split(":")[0]
    assert errors(ONE + f"        risk:\n          {setting}\n") == [
        f"c.yaml:10: strategies.s1.subscriptions.0.risk.{key}: YAML reads the unquoted {setting.split()[1]} as the "
        "boolean true, not a number; write a number"
    ]


@pytest.mark.parametrize(
    ("setting", "line", "expected"),
    [
        ("        cancel_after: 1:30\n", 9, "strategies.s1.subscriptions.0.cancel_after: YAML reads the unquoted 1:30 "
         "as the base-60 number 90, not 1:30; write the number you mean in plain digits"),
        ("        sizing: {value: 010}\n", 9, "strategies.s1.subscriptions.0.sizing.value: YAML reads the unquoted 010 "
         "as the octal number 8, not 10; write the number you mean without the leading zero"),
        ("        risk:\n          max_position: 1:00\n", 10, "strategies.s1.subscriptions.0.risk.max_position: YAML "
         "reads the unquoted 1:00 as the base-60 number 60, not 1:00; write the number you mean in plain digits"),
    ],
    ids=["sexagesimal-seconds", "octal-size", "sexagesimal-limit"],
)  # fmt: skip
def test_a_number_yaml_reads_in_base_60_or_8_is_refused_not_read_as_another_number(
    setting: str, line: int, expected: str
) -> None:
    """`cancel_after: 1:30` (an hour and a half?) was 90 seconds, `value: 010` eight units, without a word."""
    assert errors(ONE + setting) == [f"c.yaml:{line}: {expected}"]


def test_a_port_written_with_a_leading_zero_is_refused_not_read_as_octal() -> None:
    assert errors("server:\n  port: 0700\n" + ONE) == [
        "c.yaml:2: server.port: YAML reads the unquoted 0700 as the octal number 448, not 700; write the number you "
        "mean without the leading zero"
    ]


def test_plain_and_underscored_numbers_are_read_as_written() -> None:
    config = parse_config(ONE + "        sizing: {value: 1_000}\n        cancel_after: 0.5\n", "c.yaml", {})
    sub = config.strategies["s1"].subscriptions[0]
    assert sub.sizing.value == 1000 and sub.cancel_after == 0.5


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("        tickers: []\n", "c.yaml:9: strategies.s1.subscriptions.0.tickers: an empty tickers list trades "
         "nothing, not even exits of open positions; remove the key to trade every ticker, or set enabled: false"),
        ("        risk: {allowed_symbols: []}\n", "c.yaml:9: strategies.s1.subscriptions.0.risk.allowed_symbols: an "
         "empty allowed_symbols refuses every order, exits of open positions included; remove the key to allow any"),
        ("risk:\n  allowed_symbols: []\n", "c.yaml:10: risk.allowed_symbols: an empty allowed_symbols refuses every "
         "order, exits of open positions included; remove the key to allow any"),
    ],
    ids=["tickers", "allowed-symbols", "global-allowed-symbols"],
)  # fmt: skip
def test_an_empty_list_of_tickers_or_symbols_is_refused_not_read_as_trade_nothing(setting: str, expected: str) -> None:
    """Written as "no restriction", `[]` let no signal through: a position could no longer be closed by an alert."""
    assert errors(ONE + setting) == [expected]


def test_aliases_that_expand_without_end_are_refused_not_read_for_minutes() -> None:
    """Six lines of nested aliases read as a million values (seconds; two lines more, hours and all the memory)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 6)]
    assert errors("\n".join(lines) + "\n" + ONE) == [
        "c.yaml:5: a4: aliases (*name) expand the file past 100000 values here; write the settings out"
    ]


def test_aliases_a_config_really_uses_are_read() -> None:
    text = (
        ONE
        + "        sizing: &size {value: 2}\n"
        + "".join(f"      - broker: paper\n        name: n{i}\n        sizing: *size\n" for i in range(50))
    )
    assert all(sub.sizing.value == 2 for sub in parse_config(text, "c.yaml", {}).strategies["s1"].subscriptions)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("stop_loss: {percent: 100}", "stop_loss.percent: a stop loss 100% below a long's entry is at or below zero, "
         "so every long entry would be refused; the percent is of the entry price (2 is 2%), or set sides: short"),
        ("stop_loss: {type: trailing_stop, percent: 150}", "stop_loss.percent: a stop loss 150% below a long's entry "
         "is at or below zero, so every long entry would be refused; the percent is of the entry price (2 is 2%), or "
         "set sides: short"),
        ("take_profit: {percent: 120}", "take_profit.percent: a take profit 120% below a short's entry is at or below "
         "zero, so every short entry would be refused; the percent is of the entry price (2 is 2%), or set sides: "
         "long"),
        ("exit_order_type: trailing_stop\n        trail_percent: 100", "trail_percent: a trailing_stop sell 100% "
         "below the price is at or below zero and never triggers, so every exit of a long would be refused; trail by "
         "less than 100 (2 is 2%), or set sides: short"),
        ("order_type: trailing_stop\n        trail_percent: 200", "trail_percent: a trailing_stop sell 200% below the "
         "price is at or below zero and never triggers, so every short entry would be refused; trail by less than "
         "100 (2 is 2%), or set sides: long"),
    ],
    ids=["stop", "trailing", "take-profit", "trail-exit", "trail-entry"],
)  # fmt: skip
def test_a_bracket_percent_that_puts_a_leg_below_zero_is_refused(setting: str, expected: str) -> None:
    """`percent: 100` passed bridge check, and then every entry on that side was refused at the signal."""
    line = 9 + setting.count("\n")  # the percent is on the setting's last line
    assert errors(ONE + f"        {setting}\n") == [f"c.yaml:{line}: strategies.s1.subscriptions.0.{expected}"]


@pytest.mark.parametrize(
    "setting",
    [
        "sides: short\n        stop_loss: {percent: 150}",
        "sides: long\n        take_profit: {percent: 150}",
        "sides: short\n        exit_order_type: trailing_stop\n        trail_percent: 150",
        "sides: long\n        order_type: trailing_stop\n        trail_percent: 150",
    ],
)
def test_a_bracket_percent_past_100_on_the_side_it_fits_is_fine(setting: str) -> None:
    parse_config(ONE + f"        {setting}\n", "c.yaml", {})


def test_a_trail_by_both_an_amount_and_a_percent_is_refused() -> None:
    """A trailing stop trails by one of them: the paper book took the amount unseen, Alpaca refuses both."""
    setting = "exit_order_type: trailing_stop\n        trail_amount: 2\n        trail_percent: 1"
    assert errors(ONE + f"        {setting}\n") == [
        "c.yaml:11: strategies.s1.subscriptions.0.trail_percent: set one of trail_amount and trail_percent, not "
        "both: a trailing stop trails by a price distance or by a percent of the price"
    ]


SYMBOL_EMPTY = "an empty ticker or symbol; write one, or remove the entry"
SYMBOL_SPACED = "has a space or line break before or after it, which a signal's ticker never has; remove it"


@pytest.mark.parametrize(
    ("setting", "environ", "expected"),
    [
        ("ticker_map: {NQ1!: ''}", {}, f"ticker_map.NQ1!: {SYMBOL_EMPTY}"),
        ("ticker_map: {'NQ1! ': MNQZ2026}", {}, f"ticker_map.NQ1! : {SYMBOL_SPACED}"),
        ("ticker_map: {NQ1!: ' MNQZ2026'}", {}, f"ticker_map.NQ1!: {SYMBOL_SPACED}"),
        ("tickers: [AMD, ' AAPL']", {}, f"tickers.1: {SYMBOL_SPACED}"),
        ("tickers: ['${T}']", {"T": "AAPL\n"}, f"tickers.0: {SYMBOL_SPACED}"),
        ("risk: {allowed_symbols: ['']}", {}, f"risk.allowed_symbols.0: {SYMBOL_EMPTY}"),
    ],
    ids=["map-value-empty", "map-key-spaced", "map-value-spaced", "tickers-spaced", "tickers-env-nl", "allowed-empty"],
)  # fmt: skip
def test_an_empty_or_spaced_ticker_is_refused_not_left_to_never_match(
    setting: str, environ: dict[str, str], expected: str
) -> None:
    """A signal's ticker is read stripped: ` AAPL` never matched (AAPL traded nowhere), `''` sent no symbol at all."""
    with pytest.raises(ConfigError) as caught:
        parse_config(ONE + f"        {setting}\n", "c.yaml", environ)
    assert caught.value.lines == [f"c.yaml:9: strategies.s1.subscriptions.0.{expected}"]
