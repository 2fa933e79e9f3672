"""Telemetry off by default (brief: "Telemetry off"), for every way in: the command line
and a Python caller who imports the flows or the tracking module directly."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import json, os
import ontrack.flows.pipeline  # the flows, as a Python user imports them
from prefect.settings import get_current_settings
import ontrack.modeling.tracking as tracking
from ontrack.config import load_config
import tempfile, pathlib
tracking.connect(load_config(None), pathlib.Path(tempfile.mkdtemp()))
print(json.dumps({"prefect": get_current_settings().server.analytics_enabled,
                  "mlflow": os.environ.get("MLFLOW_DISABLE_TELEMETRY"),
                  "dnt": os.environ.get("DO_NOT_TRACK")}))
"""


def test_a_python_caller_gets_prefect_and_mlflow_telemetry_off(tmp_path) -> None:
    import json

    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_SERVER_ANALYTICS_ENABLED", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"prefect": False, "mlflow": "true", "dnt": "1"}
