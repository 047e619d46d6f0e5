"""The config is checked against each broker's declared capabilities when it loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bridge.config.load import load_config
from bridge.errors import ConfigError
from tests.brokers.test_registry import run_cli, write_plugin

# A spot-exchange-like adapter: market and limit only, good-till-canceled, no shorting, nothing else.
NARROW = """
class Narrow(MyBroker):
    capabilities = Capabilities(order_types=frozenset({"market", "limit"}), time_in_force=frozenset({"gtc", "ioc"}),
                                shorting=False)
BROKER = Narrow
"""


def config(tmp_path: Path, subscription: str) -> Path:
    """A config whose one subscription uses the narrow broker from plugins/ beside it."""
    write_plugin(tmp_path / "plugins", "narrow", extra=NARROW)
    path = tmp_path / "config.yaml"
    path.write_text(
        "brokers:\n"
        "  spot:\n"
        "    plugin: narrow\n"
        "strategies:\n"
        "  s:\n"
        "    token: tok-0123456789abcdef\n"
        "    subscriptions:\n"
        "      - broker: spot\n" + textwrap.indent(textwrap.dedent(subscription), " " * 8)
    )
    return path


def errors(tmp_path: Path, subscription: str) -> list[str]:
    """The config errors, without the file name."""
    path = config(tmp_path, subscription)
    try:
        load_config(path, environ={})
    except ConfigError as exc:
        return [line.removeprefix(f"{path}:") for line in exc.lines]
    return []


PREFIX = "strategies.s.subscriptions.0"
LABEL = "broker 'spot' (narrow)"


def test_a_subscription_within_the_capabilities_loads(tmp_path: Path) -> None:
    assert errors(tmp_path, "sides: long\norder_type: limit\ntime_in_force: gtc\n") == []


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            "sides: long\norder_type: stop\ntime_in_force: gtc\n",
            f"10: {PREFIX}.order_type: {LABEL} does not support order_type 'stop'; it supports: limit, market",
        ),
        (
            "sides: long\nexit_order_type: trailing_stop\ntime_in_force: gtc\n",
            f"10: {PREFIX}.exit_order_type: {LABEL} does not support exit_order_type 'trailing_stop'; "
            "it supports: limit, market",
        ),
        (
            "sides: long\ntime_in_force: day\n",
            f"10: {PREFIX}.time_in_force: {LABEL} does not support time_in_force 'day'; set one of: gtc, ioc",
        ),
        (
            "sides: long\norder_type: limit\n",  # the default "day" matters once orders rest
            f"8: {PREFIX}.time_in_force: {LABEL} does not support time_in_force 'day'; set one of: gtc, ioc",
        ),
        ("sides: both\n", f"9: {PREFIX}.sides: {LABEL} cannot sell short; set `sides: long` so sells only close longs"),
        (
            "sides: long\nextended_hours: true\n",
            f"10: {PREFIX}.extended_hours: {LABEL} does not trade extended hours; remove `extended_hours: true`",
        ),
        (
            "sides: long\nfractional: true\n",
            f"10: {PREFIX}.fractional: {LABEL} does not take fractional quantities; remove `fractional: true`",
        ),
        (
            "sides: long\ntake_profit: {percent: 5}\n",
            f"10: {PREFIX}.take_profit: {LABEL} has no bracket orders, so it cannot attach a take-profit leg; "
            "remove `take_profit`",
        ),
    ],
    ids=["order-type", "exit-order-type", "tif", "default-tif-on-limit", "short", "extended", "fractional", "bracket"],
)
def test_a_setting_the_broker_cannot_honour_is_a_located_error(tmp_path: Path, settings: str, expected: str) -> None:
    assert errors(tmp_path, settings) == [expected]


def test_the_default_time_in_force_is_fine_for_market_orders(tmp_path: Path) -> None:
    assert errors(tmp_path, "sides: long\n") == []


def test_a_plugin_that_fails_to_import_is_not_a_config_error(tmp_path: Path) -> None:
    # The daemon must still start and serve the other brokers; /health reports the broken one.
    path = config(tmp_path, "sides: long\n")
    broken = write_plugin(tmp_path / "plugins", "narrow", extra="raise ImportError('missing SDK')\n")
    assert load_config(path, environ={}).config.brokers["spot"].plugin == "narrow"
    checked = run_cli("check", "--config", str(path), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    line = broken.read_text().splitlines().index("raise ImportError('missing SDK')") + 1
    assert checked.stderr == (
        f"warning: broker plugin 'narrow' ({broken}:{line}) failed to import: ImportError('missing SDK'); "
        "that broker will be unavailable\n"
    )


def test_the_paper_broker_accepts_the_example_settings(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    assert load_config(root / "config.example.yaml", environ={}).config.strategies
