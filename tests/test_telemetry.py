"""Telemetry off by default (brief: "Telemetry off") for a Python caller who imports the
flows without the command line (the CLI sets it in ontrack.cli; MLflow's is set by
ontrack.modeling.tracking.connect, checked by the tracking tests)."""

from __future__ import annotations

import importlib
import os

import pytest


def test_importing_the_flows_turns_prefect_analytics_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import ontrack.flows
    from prefect.settings import Settings

    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    assert Settings().server.analytics_enabled  # Prefect's own default: on
    importlib.reload(ontrack.flows)  # what importing the flows does first
    assert os.environ["DO_NOT_TRACK"] == "1"
    assert not Settings().server.analytics_enabled  # as Prefect (and its server) reads it
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")  # a user's own choice stays
    importlib.reload(ontrack.flows)
    assert Settings().server.analytics_enabled
