"""The lint and type gates run with the suite, so a red gate fails CI like a failing test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def test_ruff_check_is_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "bridge", "plugins", "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "bridge", "plugins", "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in text.split("```bash\n")[1:3]]
    assert blocks[0] == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/bridge run"
    assert blocks[1] == "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    assert blocks[1] in (ROOT / ".ci" / "run").read_text()


def test_every_setting_of_the_example_config_is_documented_and_valid() -> None:
    from bridge.config.load import load_config
    from bridge.config.schema import ServerConfig, Subscription

    loaded = load_config(ROOT / "config.example.yaml", environ={})
    assert loaded.config.strategies
    text = (ROOT / "config.example.yaml").read_text()
    for name in [*ServerConfig.model_fields, *Subscription.model_fields, "max_signal_age", "database"]:
        assert f"{name}:" in text, f"config.example.yaml does not document {name}"
