"""Telemetry off by default (brief: "Telemetry off") for a Python caller who imports the
flows without the command line (the CLI sets it in ontrack.cli; MLflow's is set by
ontrack.modeling.tracking.connect, checked by the tracking tests)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import json, os
import ontrack.flows.pipeline  # the flows, as a Python user imports them
from prefect.settings import get_current_settings
print(json.dumps({"prefect": get_current_settings().server.analytics_enabled,
                  "dnt": os.environ.get("DO_NOT_TRACK")}))
"""


def test_a_python_caller_of_the_flows_gets_prefect_analytics_off(tmp_path) -> None:
    import json

    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"prefect": False, "dnt": "1"}
