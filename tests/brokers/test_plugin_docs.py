"""The plugin documentation cannot drift: README's `bridge plugins` output and the tutorial are checked."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bridge.brokers.base import Broker, Capabilities
from bridge.brokers.registry import PROJECT_PLUGINS
from bridge.testing import BrokerContract
from tests.brokers.test_registry import ROOT, run_cli

TUTORIAL = ROOT / "docs" / "writing-a-broker-plugin.md"


def shipped_plugins() -> list[Path]:
    """The adapters in the project's plugins/ directory."""
    return [p for p in sorted(PROJECT_PLUGINS.glob("*.py")) if not p.stem.startswith("_")]


def test_the_readme_shows_the_real_bridge_plugins_output() -> None:
    section = (ROOT / "README.md").read_text().split("## Broker plugins", 1)[1].split("\n## ", 1)[0]
    done = run_cli("plugins", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    real = done.stdout.splitlines()
    shown = section.split("$ bridge plugins\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(shown) == len(real), "the README's `bridge plugins` output lists other plugins than the real one"
    for shown_line, real_line in zip(shown, real, strict=True):
        # Only the installed ccxt's version may differ (and with it the column widths).
        assert _words(shown_line) == _words(real_line)
    for path in shipped_plugins():
        assert f"plugins/{path.name}" in section, f"README's Broker plugins section does not show {path.name}"


def _words(line: str) -> list[str]:
    return re.sub(r"\(ccxt [^)]*\)", "(ccxt)", line).split()


def test_every_shipped_plugin_is_listed_without_error(tmp_path: Path) -> None:
    done = run_cli("plugins", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for path in shipped_plugins():
        if path.stem == "ccxt_exchange" and importlib.util.find_spec("ccxt") is None:
            continue  # an optional extra
        assert f'"name": "{path.stem}"' in done.stdout
    assert '"error": "' not in done.stdout


def test_the_tutorial_documents_every_capability_method_and_check() -> None:
    text = TUTORIAL.read_text()
    for field in dataclasses.fields(Capabilities):
        assert f"`{field.name}`" in text, f"docs do not explain the capability {field.name}"
    for name, _ in inspect.getmembers(Broker, inspect.isfunction):
        if not name.startswith("_"):
            assert f"`{name}(" in text, f"docs do not describe the method {name}"
    for name in dir(BrokerContract):
        if name.startswith("test_"):
            assert f"`{name}`" in text, f"docs do not list the contract check {name}"


def test_every_shipped_adapter_says_which_api_and_documents_it_follows() -> None:
    for path in shipped_plugins():
        docstring = path.read_text().split('"""')[1]
        assert "Follows" in docstring or path.stem == "template_broker", path.name


def test_the_tutorials_contract_kit_example_runs_against_a_copied_template(tmp_path: Path) -> None:
    example = re.search(r"```python\n# tests/test_mybroker.py\n(.*?)```", TUTORIAL.read_text(), re.DOTALL)
    assert example is not None, "the tutorial's kit example is missing"
    (tmp_path / "plugins").mkdir()
    shutil.copy(PROJECT_PLUGINS / "template_broker.py", tmp_path / "plugins" / "mybroker.py")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mybroker.py").write_text(example.group(1))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_mybroker.py"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert re.search(r"\b11 passed, 5 skipped\b", done.stdout), done.stdout[-500:]
