"""Fixed costs of `ontrack score` (issue 17, item 5): a stored validation is reused only
while data and rules are unchanged; scoring never imports training, MLflow or matplotlib
when the registry is local, and reads the champion without MLflow (same model, same
tags, still verified); the reported rate is end to end; support text vectorized."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ontrack.config import Config, config_from_dict
from ontrack.errors import OnTrackError
from ontrack.pipeline import run_stages
from ontrack.scoring.champion import (
    ASK_MLFLOW,
    local_store,
    read_champion,
    registered_name,
)
from ontrack.scoring.followup import active_on, current_support
from ontrack.validation.reuse import RECORD, directory_digest
from tests.shared_outputs import clone_output

ROOT = Path(__file__).resolve().parents[1]


def _validate(data: Path, out: Path, config: Config | None = None) -> list[str]:
    said: list[str] = []
    run_stages(["validate"], data, out, config or Config(), progress=said.append)
    return said


def _stamps(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_unchanged_validation_is_reused_and_nothing_is_rewritten(tiny_district: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _validate(tiny_district, out)
    assert not any("reused" in line for line in first)
    before = _stamps(out / "validated") | _stamps(out / "validation")
    again = _validate(tiny_district, out)
    assert any(line.startswith("validation reused: data and rules unchanged since ") for line in again), again
    assert _stamps(out / "validated") | _stamps(out / "validation") == before


def test_one_changed_byte_or_changed_rules_or_a_touched_output_validates_again(tiny_district: Path,
                                                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    _validate(tiny_district, out)
    marks = tiny_district / "course_marks.csv"
    marks.write_bytes(marks.read_bytes().replace(b"B+", b"B-"))
    assert not any("reused" in line for line in _validate(tiny_district, out))
    assert any("reused" in line for line in _validate(tiny_district, out))
    stricter = config_from_dict({"rules": {"mark_scale": {"numeric_cutoffs": {"A": 91.0, "B": 80.0, "C": 70.0, "D": 60.0}}}})
    assert not any("reused" in line for line in _validate(tiny_district, out, stricter))
    assert any("reused" in line for line in _validate(tiny_district, out, stricter))
    (out / "validated" / "students.parquet").unlink()  # an output gone: never trusted
    assert not any("reused" in line for line in _validate(tiny_district, out, stricter))
    assert (out / "validated" / "students.parquet").is_file()


def test_a_killed_validation_is_not_reused(tiny_district: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _validate(tiny_district, out)
    (out / "validation" / RECORD).unlink()  # what a validation killed half way leaves
    assert not any("reused" in line for line in _validate(tiny_district, out))


def test_the_digest_sees_names_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.csv").write_bytes(b"12")
    first = directory_digest(tmp_path / "a")
    (tmp_path / "a" / "x.csv").rename(tmp_path / "a" / "y.csv")
    assert directory_digest(tmp_path / "a") != first
    (tmp_path / "a" / "y.csv").write_bytes(b"13")
    assert directory_digest(tmp_path / "a") not in (first,)


def test_the_champion_read_without_mlflow_is_the_one_mlflow_gives(trained_grade8: dict) -> None:
    from ontrack.modeling import tracking

    out, config = trained_grade8["out"], trained_grade8["config"]
    assert registered_name(config, "grade8") == tracking.registered_name(config, "grade8")
    assert local_store(config, out) == tracking.default_store(out)
    fast, fast_tags = read_champion(config, out, "ontrack-grade8")
    slow, slow_tags = tracking.load_registered(tracking.connect(config, out, create=False), "ontrack-grade8")
    assert fast_tags == slow_tags
    X = pd.read_parquet(out / "features" / "grade8" / "matrix.parquet")[slow.feature_names].iloc[:300]
    assert np.array_equal(fast.predict_risk(X), slow.predict_risk(X))
    assert read_champion(config, out, "ontrack-nothing") == (None, None)
    remote = config.model_copy(update={"tracking": config.tracking.model_copy(update={"uri": "http://x:5000"})})
    assert read_champion(remote, out, "ontrack-grade8") == ASK_MLFLOW


def test_a_changed_bundle_is_refused_on_the_fast_path_too(trained_grade8: dict, tmp_path: Path) -> None:
    out = clone_output(trained_grade8["out"], tmp_path / "out")
    config = trained_grade8["config"]
    _model, tags = read_champion(config, out, "ontrack-grade8")
    contract = next((out / "mlflow" / "artifacts").rglob("bundle/model.json"))
    contract.write_text(contract.read_text(encoding="utf-8").replace('"', "'", 1), encoding="utf-8")
    with pytest.raises(OnTrackError, match="refusing to load it"):
        read_champion(config, out, "ontrack-grade8")
    assert tags["manifest_sha256"]


PROBE = """
import json, sys
from ontrack.cli import main
code = main(sys.argv[1:])
heavy = ["mlflow", "sqlalchemy", "matplotlib", "ontrack.modeling.train", "ontrack.modeling.estimator",
         "ontrack.modeling.calibration", "sklearn", "scipy", "lightgbm", "shap", "prefect"]
# lightgbm, the package, imports scikit-learn and SciPy: the champion is scored through LightGBM's
# C library instead (ontrack.modeling.native_booster)
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_score_imports_no_training_no_mlflow_no_matplotlib_no_sklearn(trained_grade8: dict, tmp_path: Path) -> None:
    out = clone_output(trained_grade8["out"], tmp_path / "out")
    env = {k: v for k, v in os.environ.items() if k not in ("ONTRACK_HOME", "MLFLOW_TRACKING_URI")}
    args = ["score", str(trained_grade8["data"]), "--model", "grade8", "--out", str(out),
            "--config", str(trained_grade8["config_file"]), "--quiet"]
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "loaded": []}
    summary = json.loads((out / "rosters" / "summary_grade8.json").read_text(encoding="utf-8"))
    end = summary["end_to_end"]
    assert end["measured_from"] == "process start"
    assert end["seconds"] > sum(summary["timings_s"].values())
    # Rounded to 0.1 student/s: on a loaded machine the small test cohort runs at a few per second.
    assert end["students_per_second"] == pytest.approx(summary["students"] / end["seconds"], rel=0.01, abs=0.05)
    assert "students_per_second" not in summary  # the core-only rate is labelled as such
    assert summary["scoring_core_students_per_second"] > end["students_per_second"]


def _support_one_by_one(interventions: pd.DataFrame, ids: list[str], days: list[str]) -> list[str]:
    """The definition, a row at a time."""
    out = []
    for sid, day in zip(ids, days, strict=True):
        rows = interventions[interventions["student_id"] == sid]
        if not day or rows.empty:
            out.append("")
            continue
        live = active_on(rows, day).sort_values(["start_date", "intervention_type"], ascending=[False, True])
        out.append("; ".join(f"{t} since {d.date().isoformat()}"
                             for t, d in zip(live["intervention_type"], live["start_date"], strict=True)))
    return out


def test_current_support_equals_its_definition_row_by_row() -> None:
    rng = np.random.default_rng(3)
    n = 300
    starts = pd.Timestamp("2025-08-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    ends = starts + pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    interventions = pd.DataFrame({
        "student_id": [f"s{i}" for i in rng.integers(0, 60, n)],
        "intervention_type": rng.choice(["tutoring", "mentoring", "check & connect"], n),
        "start_date": starts, "end_date": ends.where(rng.random(n) > 0.3, pd.NaT)})
    ids = [f"s{i}" for i in rng.integers(0, 80, 200)]
    days = [rng.choice(["2026-01-31", "2025-11-15", ""]) for _ in ids]
    got = current_support(interventions, pd.Series(ids, index=range(10, 210)), pd.Series(days, index=range(10, 210)))
    assert list(got.index) == list(range(10, 210))
    assert got.tolist() == _support_one_by_one(interventions, ids, days)
    assert any(got), "the sample must hold active supports"


def test_forked_workers_write_the_same_profiles_and_rosters(trained_grade8: dict, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import ontrack.reports.profile_parts as profile_parts
    import ontrack.reports.publish as publish
    import ontrack.reports.workers as workers

    from ontrack.scoring.run import score_model

    out = clone_output(trained_grade8["out"], tmp_path / "out")
    config = trained_grade8["config"]
    result = score_model(out, config, model="grade8")
    assert result.roster["school_id"].nunique() >= 2  # two halves of schools: the forked path runs
    run = {**result.run, "ranked_by_reason": result.summary.get("ranked_by_reason")}
    written = {}
    for mode, threshold in (("serial", 10**9), ("forked", 1)):
        monkeypatch.setattr(profile_parts, "PROFILES_POOL_FROM", threshold)
        monkeypatch.setattr(workers, "POOL_FROM", threshold)
        profile_parts.write_all_profiles(out, config, result)
        publish.publish_rosters(result.roster, run, tmp_path / mode, out, config, followup_dir=tmp_path / f"f-{mode}")
        pages = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "profiles").rglob("*.html")}
        files = {p.relative_to(tmp_path / mode).as_posix(): p.read_bytes()
                 for p in (tmp_path / mode).rglob("*") if p.suffix in (".csv", ".html")}
        written[mode] = (pages, files)
        for page in (out / "profiles").rglob("*.html"):
            page.unlink()
    assert len(written["serial"][0]) == len(result.roster) and len(written["serial"][1]) > 4
    assert written["forked"] == written["serial"]
