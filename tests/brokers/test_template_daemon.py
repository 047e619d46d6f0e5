"""A user's copy of the template, in their own plugin directory, trading through a real daemon."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.brokers.test_registry import ROOT, run_cli
from tests.conftest import ADMIN, TOKEN, Daemon, free_port


def test_a_copied_template_receives_the_order_of_a_signal_sent_over_http(tmp_path: Path) -> None:
    plugins = tmp_path / "my-plugins"
    plugins.mkdir()
    shutil.copy(ROOT / "plugins" / "template_broker.py", plugins / "mybroker.py")
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, admin_token: {ADMIN}}}\n"
        "plugin_dirs: [my-plugins]\n"
        "brokers:\n  mine:\n    plugin: mybroker\n    options: {cash: 5000}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: mine\n"
    )
    checked = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(config)], capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    daemon = Daemon(config=config, port=port).start()
    try:
        response = daemon.post({"ticker": "SQ", "action": "buy", "price": 50, "quantity": 3})
        assert response.status_code == 200, response.text
        final = daemon.wait_final(response.json()["id"])
        assert final["state"] == "executed", final["decision"]
        (order,) = [o for o in daemon.api("orders") if o["signal_id"] == final["id"]]
        assert (order["broker"], order["side"], order["quantity"], order["status"]) == ("mine", "buy", 3, "filled")
        assert order["avg_fill_price"] == 50
        assert order["broker_order_id"] == "mem-1"  # the template's book numbered it
        # /api/positions asks the broker itself: the order is in the template's in-memory book.
        assert daemon.api("positions") == [{"broker": "mine", "symbol": "SQ", "quantity": 3, "avg_price": None}]
        # `bridge positions` connects to each broker itself: the template's book there is a new, empty one, as the
        # tutorial's last step says (it sends the reader to the daemon's own positions instead).
        listed = run_cli("positions", "--config", str(config), "--json", cwd=tmp_path)
        assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
        step = (ROOT / "docs" / "writing-a-broker-plugin.md").read_text().split("## 5.", 1)[1].split("\n## ", 1)[0]
        assert "/api/positions" in step and "`bridge positions` shows `mine SQ" not in step

        too_big = daemon.post({"ticker": "AMD", "action": "buy", "price": 100, "quantity": 60})
        refused = daemon.wait_final(too_big.json()["id"])
        assert refused["state"] == "failed" and "insufficient cash" in refused["decision"]
    finally:
        daemon.stop()
