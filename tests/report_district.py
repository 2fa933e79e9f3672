"""The reported district the ``ontrack report`` tests share, and readers of its pages.

A synthetic district with a trained model's evaluation, its model card and one school's
roster, reported once per test run (``tests/conftest.py::built_once``) for
tests/test_report.py, tests/test_report_models.py and tests/test_report_command.py.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from ontrack.commands import report as report_command
from ontrack.config import load_config
from ontrack.synth import generate_district
from tests.conftest import built_once
from tests.shared_outputs import snapshot

CONFIG = load_config()
MIN = CONFIG.reporting.min_group_size
EVALUATION = {
    "model": "grade8",
    "label": "off_track_9",
    "registered_model": "ontrack-grade8",
    "model_version": "3",
    "mlflow_run_id": "abc123",
    "created_at": "2026-11-30T10:00:00",
    "config_hash": "cafe",
    "test_cohorts": [2025],
    "n": 812,
    "n_students": 406,
    "base_rate": 0.31,
    "roc_auc": 0.81,
    "pr_auc": 0.6,
    "brier": 0.15,
    "ece": 0.021,
    "rule_flag_rate": 0.42,
    "precision_at_rule_rate": 0.55,
    "recall_at_rule_rate": 0.74,
    "recall_at_top_10": 0.3,
    "recall_at_top_20": 0.5,
    "intervals": {"roc_auc": [0.78, 0.84]},
    "calibration": {"method": "isotonic"},
    "reliability": [
        {
            "bin_low": i / 5,
            "bin_high": (i + 1) / 5,
            "n": 100 + i if i < 4 else 3,
            "mean_predicted": i / 5 + 0.1,
            "observed_rate": i / 5 + 0.08,
        }
        for i in range(5)
    ],
    "baselines": {
        "rule": {
            "roc_auc": 0.7,
            "precision_at_rule_rate": 0.45,
            "recall_at_rule_rate": 0.61,
        }
    },
    "subgroups": [
        {
            "group_type": "race_ethnicity",
            "group": "hispanic",
            "n": 400,
            "too_small": False,
            "roc_auc": 0.8,
            "verdict": "within bounds",
        },
        {"group_type": "foster_youth", "group": "yes", "n": 4, "too_small": True},
        {"group_type": "english_learner", "group": "yes", "n": 130, "n_students": 61,
         "too_small": False, "fnr": 0.25, "fpr": 0.125, "verdict": "within bounds"},
        {"group_type": "english_learner", "group": "no", "n": 682, "n_students": 318,
         "too_small": False, "fnr": 0.375, "fpr": 0.0625, "verdict": "within bounds"},
    ],
    "fairness": {"verdict": "Within bounds for every group large enough to judge."},
    "split": {"kind": "deployment", "reason": None},
    "by_cohort": {
        "2025": {
            "n": 812,
            "model": {"roc_auc": 0.81, "recall_at_rule_rate": 0.74},
            "rule": {"roc_auc": 0.7, "recall_at_rule_rate": 0.61},
        }
    },
    "gate": {
        "passed": True,
        "checks": [
            {"name": "recall_at_rule_rate", "model": 0.74, "rule": 0.61,
             "threshold": 0.61, "comparison": ">= rule + 0", "passed": True},
            {"name": "roc_auc", "model": 0.81, "rule": 0.7, "threshold": 0.7,
             "comparison": ">= rule + 0", "passed": True},
        ],
        "too_few_to_judge": [{"group_type": "foster_youth", "group": "yes"}],
    },
}
RANKED_BY_RULE = {
    "model": "grade8",
    "model_version": "2",
    "as_of_date": "2026-10-31",
    "ranked_by": "rule",
    "ranked_by_reason": "the champion, version 2, failed its gate",
    "forced_note": None,
}



def report_args(data: Path, out: Path, **changes: object) -> argparse.Namespace:
    """The parsed arguments of ``ontrack report DATA --out OUT`` with ``changes``."""
    values = {
        "data": data,
        "out": out,
        "reuse_indicators": False,
        "scatter": "hs_readiness_8,chronic_absence",
        "config": None,
        "quiet": True,
    }
    values.update(changes)
    return argparse.Namespace(**values)


def _build(root: Path) -> dict:
    generate_district(root / "data", n_students=1500, n_years=4, seed=0)
    out = root / "out"
    (out / "models" / "grade8").mkdir(parents=True)
    (out / "models" / "grade8" / "evaluation.json").write_text(json.dumps(EVALUATION))
    (out / "models" / "grade8" / "model_card.md").write_text(
        "# Model card\n\n| item | value |\n|---|---|\n| uses | attendance <b>so far</b> |\n"
    )
    (out / "rosters").mkdir()
    tiers = ["high"] * 25 + ["medium"] * 5 + ["low"] * 30
    pd.DataFrame(
        {
            "student_id": [f"{i:05d}" for i in range(60)],
            "model": "grade8",
            "risk_tier": tiers,
        }
    ).to_csv(out / "rosters" / "0503.csv", index=False)
    (out / "rosters" / "summary_grade8.json").write_text(json.dumps(RANKED_BY_RULE))
    assert report_command.run(report_args(root / "data", out)) == 0
    return {"out": out}


def reported_district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """OUT of the shared reported district, for a module fixture to yield from.

    Read only: copy it before changing it (checked when the module is done)."""
    out = built_once(tmp_path_factory, "reported_district", _build)["out"]
    before = snapshot(out)
    yield out
    assert snapshot(out) == before, "a test changed the shared reported district: copy it first"


def read_pages(out: Path) -> dict[str, str]:
    """Every page of ``OUT/report`` by file name."""
    return {
        p.name: p.read_text(encoding="utf-8") for p in (out / "report").glob("*.html")
    }


def read_rates(out: Path) -> pd.DataFrame:
    """``OUT/indicators/rates.csv`` with its IDs as text."""
    return pd.read_csv(
        out / "indicators" / "rates.csv",
        dtype={"school_id": str, "district_id": str, "group": str},
    )


def models_section(html: str) -> str:
    """The models section of the index page."""
    return re.search(r'<section id="models">.*?</section>', html, flags=re.DOTALL).group(0)


class _Cells(HTMLParser):
    """Every element carrying data-cell / data-count, with its text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict] = []
        self._open: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-cell" in attrs or "data-count" in attrs:
            self._open.append({"tag": tag, **attrs, "text": ""})

    def handle_data(self, data):
        for item in self._open:
            item["text"] += data

    def handle_endtag(self, tag):
        if self._open and self._open[-1]["tag"] == tag:
            self.found.append(self._open.pop())


class Links(HTMLParser):
    """Every link target (href, src) and every event-handler attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src", "xlink:href", "action"):
                self.hrefs.append(value or "")
            if key.startswith("on"):
                self.handlers.append(f"{tag} {key}")


def data_cells(html: str) -> list[dict]:
    """Every element of ``html`` carrying data-cell / data-count, with its attributes
    and text."""
    parser = _Cells()
    parser.feed(html)
    return parser.found
