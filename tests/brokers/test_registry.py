"""Plugin discovery: built-ins, entry points, plugin directories, module:Class, and how failures are named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bridge.brokers.base import BrokerContext, Capabilities, NoOptions, capabilities_of
from bridge.brokers.discovery import discover, render
from bridge.brokers.paper import PaperBroker
from bridge.brokers.registry import (
    PROJECT_PLUGINS,
    BrokerStartError,
    PluginImportError,
    PluginNotFound,
    find_plugin,
    locate,
    open_broker,
    plugin_dirs,
)

ROOT = Path(__file__).resolve().parents[2]

# A complete adapter in a few lines: what a plugin file must provide.
MINIMAL = """
from typing import Any, ClassVar
from pydantic import BaseModel, ConfigDict
from bridge.brokers.base import Capabilities, NoOptions

__version__ = "{version}"

class {cls}:
    capabilities: ClassVar[Capabilities] = Capabilities(order_types=frozenset({{"market"}}))
    options_model: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: Any, context: Any) -> None:
        self.context = context

    async def connect(self) -> None:
        {connect}

    async def close(self) -> None: ...
    async def fetch_account(self) -> Any: ...
    async def fetch_positions(self) -> Any: return []
    async def fetch_open_orders(self, symbol: Any = None) -> Any: return []
    async def fetch_order(self, client_order_id: Any) -> Any: ...
    async def create_order(self, request: Any) -> Any: ...
    async def cancel_order(self, client_order_id: Any) -> Any: ...
"""


def write_plugin(directory: Path, name: str, cls: str = "MyBroker", version: str = "1.2.3",
                 connect: str = "pass", extra: str = "") -> Path:  # fmt: skip
    """Write plugins/<name>.py holding one adapter class."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(MINIMAL.format(cls=cls, version=version, connect=connect) + textwrap.dedent(extra))
    return path


def test_the_built_in_paper_broker_is_found_by_name() -> None:
    assert find_plugin("paper") is PaperBroker
    assert locate("paper").endswith("bridge/brokers/paper.py")


def test_a_plugin_file_is_found_by_its_stem_and_its_one_broker_class(tmp_path: Path) -> None:
    write_plugin(tmp_path, "mine")
    factory = find_plugin("mine", [tmp_path])
    assert factory.__name__ == "MyBroker"
    assert factory.capabilities.order_types == frozenset({"market"})


def test_the_broker_constant_picks_the_class_when_a_module_has_several(tmp_path: Path) -> None:
    two = "\nclass Other(MyBroker):\n    pass\n"
    write_plugin(tmp_path, "ambiguous", extra=two)
    with pytest.raises(
        PluginImportError, match=r"set BROKER = YourClass .*found 2 broker-like classes: MyBroker, Other"
    ):
        find_plugin("ambiguous", [tmp_path])
    write_plugin(tmp_path, "chosen", extra=two + "BROKER = Other\n")
    assert find_plugin("chosen", [tmp_path]).__name__ == "Other"


def test_an_earlier_directory_wins(tmp_path: Path) -> None:
    write_plugin(tmp_path / "first", "same", cls="First")
    write_plugin(tmp_path / "second", "same", cls="Second")
    assert find_plugin("same", [tmp_path / "first", tmp_path / "second"]).__name__ == "First"


def test_a_plugin_that_raises_at_import_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "boom", extra="raise RuntimeError('no network at import, please')\n")
    line = path.read_text().splitlines().index("raise RuntimeError('no network at import, please')") + 1
    with pytest.raises(PluginImportError) as raised:
        find_plugin("boom", [tmp_path])
    assert str(raised.value) == (
        f"broker plugin 'boom' ({path}:{line}) failed to import: RuntimeError('no network at import, please')"
    )


def test_a_misspelt_name_at_import_is_named_with_its_line(tmp_path: Path) -> None:
    """A new user's first mistake: the message alone ("name 'Decmal' is not defined") does not say where."""
    path = write_plugin(tmp_path, "typo", extra="STEP = 1\nLOT = Decmal('0.01')\n")
    with pytest.raises(PluginImportError) as raised:
        find_plugin("typo", [tmp_path])
    line = path.read_text().splitlines().index("LOT = Decmal('0.01')") + 1
    assert f"({path}:{line}) failed to import: NameError" in str(raised.value), str(raised.value)


def test_sys_exit_in_a_plugin_does_not_end_the_caller(tmp_path: Path) -> None:
    write_plugin(tmp_path, "quits", extra="import sys\nsys.exit(3)\n")
    with pytest.raises(PluginImportError, match="SystemExit"):
        find_plugin("quits", [tmp_path])


def test_a_class_missing_methods_is_refused_with_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "half.py").write_text(
        "from bridge.brokers.base import Capabilities\n"
        "class Half:\n    capabilities = Capabilities()\n    async def create_order(self, r): ...\n"
    )
    with pytest.raises(PluginImportError) as raised:
        find_plugin("half", [tmp_path])
    message = str(raised.value)
    assert "Half is missing connect, close, fetch_account" in message
    assert "options_model (a pydantic model)" in message


def test_an_edited_plugin_file_is_imported_again(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "evolving", version="1")
    assert sys.modules[find_plugin("evolving", [tmp_path]).__module__].__version__ == "1"
    write_plugin(tmp_path, "evolving", version="22")  # a different size, so a new version even within one mtime tick
    assert sys.modules[find_plugin("evolving", [tmp_path]).__module__].__version__ == "22"
    assert path.exists()


def test_module_colon_class_imports_any_module() -> None:
    assert find_plugin("bridge.brokers.paper:PaperBroker") is PaperBroker
    with pytest.raises(PluginNotFound, match="failed to import: no module named 'no_such_mod'"):
        find_plugin("no_such_mod:Broker")
    with pytest.raises(PluginImportError, match="PaperOptions is missing connect"):
        find_plugin("bridge.brokers.paper:PaperOptions")


def test_an_unknown_name_suggests_the_close_one(tmp_path: Path) -> None:
    write_plugin(tmp_path, "alpha_broker")
    with pytest.raises(PluginNotFound, match=r"unknown broker plugin 'alpha_brokr'; did you mean 'alpha_broker'\?"):
        find_plugin("alpha_brokr", [tmp_path])


def test_an_installed_entry_point_is_found_with_its_distribution_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real installed distribution as importlib.metadata reads it: a dist-info directory on sys.path.
    write_plugin(tmp_path, "acme_bridge_plugin", cls="AcmeBroker")
    info = tmp_path / "acme_bridge-4.5.6.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-bridge\nVersion: 4.5.6\n")
    (info / "entry_points.txt").write_text("[bridge.brokers]\nacme = acme_bridge_plugin:AcmeBroker\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert find_plugin("acme").__name__ == "AcmeBroker"
    (listed,) = [i for i in discover() if i.name == "acme"]
    assert (listed.source, listed.location, listed.version) == (
        "entry point (acme-bridge)",
        "acme_bridge_plugin:AcmeBroker",
        "1.2.3",
    )


def test_plugin_dirs_are_relative_to_the_config_and_end_with_the_projects_own(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "more").mkdir()
    dirs = plugin_dirs(["plugins", "more", "missing"], tmp_path)
    assert dirs == [tmp_path / "plugins", tmp_path / "more", PROJECT_PLUGINS]
    assert plugin_dirs([str(PROJECT_PLUGINS)], tmp_path) == [PROJECT_PLUGINS]  # listed once


def test_the_ccxt_plugin_without_its_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain `pip install -e .` has no ccxt (nor its aiohttp): `bridge plugins` must name the fix, not a module."""
    for module in ("aiohttp", "ccxt", "ccxt.async_support"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    copy = tmp_path / "ccxt_exchange.py"  # another path: a copy imported earlier in this process is not reused
    copy.write_text((PROJECT_PLUGINS / "ccxt_exchange.py").read_text())
    (info,) = [i for i in discover([tmp_path]) if i.source == "plugin dir"]
    assert "the ccxt_exchange plugin needs ccxt: pip install -e '.[ccxt]'" in (info.error or "")


def test_discover_lists_every_source_with_errors_and_shadowing(tmp_path: Path) -> None:
    write_plugin(tmp_path, "good", version="0.9")
    broken = write_plugin(tmp_path, "broken", extra="import no_such_dependency_xyz\n")
    write_plugin(tmp_path, "paper")  # cannot replace the built-in
    infos = {(i.name, i.source): i for i in discover([tmp_path])}
    assert infos["paper", "built-in"].capabilities == PaperBroker.capabilities
    assert infos["paper", "plugin dir"].shadowed
    assert (infos["good", "plugin dir"].version, infos["good", "plugin dir"].error) == ("0.9", None)
    error = infos["broken", "plugin dir"].error or ""
    line = broken.read_text().splitlines().index("import no_such_dependency_xyz") + 1
    assert error.startswith(f"broker plugin 'broken' ({broken}:{line}) failed to import: ModuleNotFoundError")
    table = render(list(infos.values()))
    assert "  error: broker plugin 'broken'" in table
    assert "good" in table and "market tif day,gtc short no-fractional" in table


async def test_open_broker_names_the_plugin_and_file_when_connect_fails(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "flaky", connect="raise ConnectionError('login refused')")
    with pytest.raises(BrokerStartError) as raised:
        await open_broker("flaky", {}, BrokerContext(name="f"), [tmp_path])
    assert str(raised.value) == f"broker plugin 'flaky' ({path}) failed in connect: ConnectionError: login refused"


async def test_open_broker_gives_up_on_a_connect_that_hangs(tmp_path: Path) -> None:
    write_plugin(tmp_path, "hangs", connect="import asyncio; await asyncio.sleep(60)")
    with pytest.raises(BrokerStartError, match=r"'hangs' .* did not connect within 0.1s"):
        await open_broker("hangs", {}, BrokerContext(name="h"), [tmp_path], connect_timeout=0.1)


async def test_open_broker_reports_bad_options_with_the_plugin_name(tmp_path: Path) -> None:
    write_plugin(tmp_path, "strict")
    with pytest.raises(BrokerStartError, match=r"'strict' .*: invalid options: typo: Extra inputs are not permitted$"):
        await open_broker("strict", {"typo": 1}, BrokerContext(name="s"), [tmp_path])


def test_capabilities_describe_themselves_in_one_line() -> None:
    caps = Capabilities(order_types=frozenset({"limit", "market", "exotic"}), time_in_force=frozenset({"gtc"}),
                        shorting=False, rate_limit_per_minute=200)  # fmt: skip
    assert caps.describe() == (
        "market,limit,exotic tif gtc no-short no-fractional no-brackets no-extended-hours no-dedupes-client-id "
        "no-quotes no-reserves-position 200/min"
    )
    assert caps.as_dict()["order_types"] == ["exotic", "limit", "market"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m bridge ...` as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=60, check=False)  # fmt: skip


def test_bridge_plugins_lists_the_config_plugin_dirs_and_the_projects_adapters(tmp_path: Path) -> None:
    write_plugin(tmp_path / "mine", "personal")
    config = tmp_path / "config.yaml"
    config.write_text("plugin_dirs: [mine]\n")
    done = run_cli("plugins", "--config", str(config), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = {item["name"]: item for item in json.loads(done.stdout)}
    assert listed["personal"]["location"] == str(tmp_path / "mine" / "personal.py")
    assert listed["personal"]["capabilities"]["order_types"] == ["market"]
    for name in ("paper", *(p.stem for p in PROJECT_PLUGINS.glob("*.py") if not p.stem.startswith("_"))):
        assert name in listed, f"{name} is not listed"
        assert listed[name]["error"] is None, listed[name]["error"]


def test_bridge_plugins_with_a_config_yaml_cannot_read_says_where_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('plugin_dirs: [mine]\nstrategies:\n  s1:\n    token: "tok-unclosed\n')
    done = run_cli("plugins", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "tok-unclosed" not in done.stderr
    assert done.stderr.startswith(f"{config}:4: (top): invalid YAML:"), done.stderr


async def test_open_broker_names_the_plugin_when_its_constructor_raises(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "picky", extra="\ndef _init(self, options, context):\n    raise KeyError('x')\n"
                        "MyBroker.__init__ = _init\n")  # fmt: skip
    with pytest.raises(BrokerStartError) as raised:
        await open_broker("picky", {}, BrokerContext(name="p"), [tmp_path])
    assert str(raised.value) == f"broker plugin 'picky' ({path}) failed to start: KeyError: 'x'"


def test_capabilities_refined_from_options_fall_back_to_the_declared_ones_on_a_bug(tmp_path: Path) -> None:
    write_plugin(tmp_path, "refines", extra=(
        "\n@classmethod\ndef _refine(cls, options):\n"
        "    return Capabilities(order_types=frozenset({'limit'})) if options else 1 / 0\n"
        "MyBroker.capabilities_for = _refine\n"
    ))  # fmt: skip
    factory = find_plugin("refines", [tmp_path])
    options = factory.options_model()
    assert capabilities_of(factory, options).order_types == frozenset({"limit"})
    assert capabilities_of(factory).order_types == frozenset({"market"})  # no options: the declared set


def test_a_refine_that_raises_is_not_fatal() -> None:
    class Buggy:
        capabilities = Capabilities(order_types=frozenset({"market"}))

        @classmethod
        def capabilities_for(cls, options: object) -> Capabilities:
            raise RuntimeError("bug")

    assert capabilities_of(Buggy, NoOptions()).order_types == frozenset({"market"})


def test_a_method_written_without_async_is_named_when_the_plugin_loads(tmp_path: Path) -> None:
    """A new user's slip: awaited at every call, a plain `def` failed each signal at a line of the daemon's."""
    extra = "\nclass Sync(MyBroker):\n    def fetch_positions(self): return []\n\nBROKER = Sync\n"
    write_plugin(tmp_path, "sync", extra=extra)
    with pytest.raises(PluginImportError, match=r"Sync is missing async def fetch_positions$"):
        find_plugin("sync", [tmp_path])


def test_a_decorated_async_method_still_loads(tmp_path: Path) -> None:
    extra = (
        "\nimport functools\n\ndef logged(fn):\n    @functools.wraps(fn)\n    def wrapper(*args):\n"
        "        return fn(*args)\n    return wrapper\n\nclass Decorated(MyBroker):\n"
        "    @logged\n    async def fetch_positions(self): return []\n\nBROKER = Decorated\n"
    )
    write_plugin(tmp_path, "decorated", extra=extra)
    assert find_plugin("decorated", [tmp_path]).__name__ == "Decorated"


@pytest.mark.parametrize(("contents", "said"), [(None, "No such file or directory"), (b"\xff\xfe", "not UTF-8 text")])
def test_bridge_plugins_with_a_config_file_it_cannot_read_says_so_in_one_line(
    tmp_path: Path, contents: bytes | None, said: str
) -> None:
    config = tmp_path / "config.yaml"
    if contents is not None:
        config.write_bytes(contents)
    done = run_cli("plugins", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{config}:1: (top): ") and said in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_bridge_plugins_fills_in_variables_in_plugin_dirs_as_the_daemon_does(tmp_path: Path) -> None:
    """`plugin_dirs: [${MY_PLUGINS}]` loads the adapters there in the daemon: the listing must show the same ones,
    even where another setting reads a variable this shell does not set (a broker key in the daemon's env file)."""
    write_plugin(tmp_path / "mine", "personal")
    config = tmp_path / "config.yaml"
    config.write_text('plugin_dirs: ["${MY_PLUGINS}"]\nbrokers:\n  live:\n    plugin: alpaca\n'
                      '    api_key: ${NOT_IN_THIS_SHELL}\n')  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MY_PLUGINS": str(tmp_path / "mine")}
    env.pop("NOT_IN_THIS_SHELL", None)
    done = subprocess.run([sys.executable, "-m", "bridge", "plugins", "--config", str(config), "--json"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = {item["name"]: item for item in json.loads(done.stdout)}
    assert listed["personal"]["location"] == str(tmp_path / "mine" / "personal.py"), listed.keys()


def test_bridge_plugins_names_a_variable_of_plugin_dirs_this_shell_lacks(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('plugin_dirs: ["${MY_PLUGINS_UNSET}"]\n')
    env = {k: v for k, v in os.environ.items() if k != "MY_PLUGINS_UNSET"}
    done = subprocess.run([sys.executable, "-m", "bridge", "plugins", "--config", str(config)], cwd=tmp_path,
                          capture_output=True, text=True, env={**env, "PYTHONPATH": str(ROOT)}, timeout=60,
                          check=False)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{config}:1: plugin_dirs") and "MY_PLUGINS_UNSET" in done.stderr, done.stderr
