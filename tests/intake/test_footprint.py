"""What the intake process loads: each library it does not need is resident memory counted twice beside the daemon."""

from __future__ import annotations

import json
import subprocess
import sys

# Loaded by the daemon for its own work: migrations (sqlite-utils, which brings its CLI's click, pluggy and
# tabulate) and /metrics (the Prometheus client). The intake process journals, counts and forwards.
NOT_NEEDED = ("sqlite_utils", "prometheus_client")


def test_the_intake_process_loads_neither_migrations_nor_the_prometheus_client() -> None:
    code = (
        "import json, sys; import bridge.intake.__main__, bridge.intake.app; "
        f"print(json.dumps(sorted(m for m in {NOT_NEEDED!r} if m in sys.modules)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert loaded == []
