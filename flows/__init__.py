"""Prefect flows: thin tasks over the ``ontrack`` core. The only place that imports Prefect."""

import os

# Telemetry off by default for every caller, not only the command line (ontrack.cli sets
# the same): a Python user who imports the flows directly starts Prefect's ephemeral
# server too, and its analytics would otherwise report usage. Set before Prefect is
# imported, whose settings read the environment; a value the user set is kept.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
