"""The follow-up list on a hand-built history (one case per item), and end to end: names
and current support on rosters (never in the history, the summary or the terminal), a
follow-up file for every school, a school ID with "/" written under a safe name."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ontrack.cli import main
from ontrack.config import load_config
from ontrack.paths import file_stem
from ontrack.reports.publish import score_and_publish
from ontrack.scoring.followup import current_support, followup_items, read_interventions
from ontrack.scoring.history import HISTORY_COLUMNS, read_history
from ontrack.tables import SCHEMAS
from tests.shared_outputs import TRAIN_CONFIG, clone_output

TIERS = ("intensive support", "check in", "on track")
RUNS = (("2025-10-01", 0), ("2025-11-01", 1), ("2025-12-01", 2))  # as-of, days after T0
T0 = datetime(2025, 12, 2, tzinfo=UTC)


def history_of(students: dict[str, list[tuple[int, float] | None]], *, ranked_by=("model",) * 3,
               alert: dict[str, float] | None = None) -> pd.DataFrame:
    """Three runs of model "m", version "1"; per student (tier level, risk) in each run
    (None: not scored then); ``alert``: the students with the absence alert at the last run."""
    rows = []
    for k, (as_of, days) in enumerate(RUNS):
        for sid, runs in students.items():
            if runs[k] is None:
                continue
            level, risk = runs[k]
            spike = k == 2 and sid in (alert or {})
            rows.append({"student_id": sid, "school_id": "001", "model": "m", "model_version": "1",
                         "as_of_date": as_of, "scored_at": T0 + timedelta(days=days), "ranked_by": ranked_by[k],
                         "risk": risk, "risk_tier": TIERS[level], "tier_level": float(level), "rule_status": "met",
                         "school_year": 2026, "failing_core": 0.0, "suspensions": 0.0, "absence_alert": spike,
                         "recent_absence_rate": (alert or {}).get(sid, 0.02) if spike else 0.02})
    return pd.DataFrame(rows)[list(HISTORY_COLUMNS)]


def support(*rows: tuple[str, str, str, str | None]) -> pd.DataFrame:
    return pd.DataFrame({
        "student_id": [r[0] for r in rows], "intervention_type": [r[1] for r in rows],
        "start_date": pd.to_datetime([r[2] for r in rows]), "end_date": pd.to_datetime([r[3] for r in rows]),
    })


def items(history: pd.DataFrame, interventions: pd.DataFrame | None = None) -> set[tuple[str, str, str, str]]:
    got = followup_items(history, "m", "2025-12-01", "1", interventions, 0.10)
    return set(zip(got["student_id"], got["item"], got["since"], got["detail"], strict=True))


def test_flagged_without_support_since_the_flag() -> None:
    history = history_of({
        "A": [(0, 0.8), (0, 0.8), (0, 0.8)],  # flagged since the first run, no support at all
        "B": [(0, 0.7), (1, 0.4), (0, 0.7)],  # stretch broken: flagged again on 12-01
        "C": [(1, 0.4), (0, 0.7), (0, 0.7)],  # support started after the flag, now ended
        "D": [(1, 0.4), (0, 0.7), (0, 0.7)],  # support active since before the flag
        "E": [(1, 0.4), (0, 0.7), (0, 0.7)],  # support started and ended before the flag
    })
    help_ = support(("B", "tutoring", "2025-10-05", "2025-10-30"), ("C", "tutoring", "2025-11-15", "2025-11-20"),
                    ("D", "mentoring", "2025-09-01", None), ("E", "mentoring", "2025-09-01", "2025-10-15"))
    got = {(s, since, detail) for s, item, since, detail in items(history, help_) if item == "flagged, no support"}
    assert got == {("A", "2025-10-01", "no support recorded since 2025-10-01"),
                   ("B", "2025-12-01", "no support recorded since 2025-12-01"),
                   ("E", "2025-11-01", "no support recorded since 2025-11-01")}
    # Without an interventions table nobody has support recorded.
    assert {s for s, item, *_ in items(history) if item == "flagged, no support"} == set("ABCDE")


def test_newly_flagged_since_the_previous_run() -> None:
    history = history_of({"A": [(0, 0.8)] * 3, "B": [(0, 0.7), (1, 0.45), (0, 0.7)],
                          "N": [None, None, (0, 0.7)], "Q": [(1, 0.4)] * 3})
    got = {(s, since, detail) for s, item, since, detail in items(history) if item == "newly flagged"}
    assert got == {("B", "2025-12-01", "now intensive support; was check in on 2025-11-01"),
                   ("N", "2025-12-01", "now intensive support; not scored on 2025-11-01")}
    first_run_only = history[history["as_of_date"] == "2025-12-01"]
    assert not {i for _, i, *_ in items(first_run_only)} & {"newly flagged", "risk up"}


def test_risk_up_by_the_configured_rise_between_model_ranked_runs() -> None:
    students = {"E": [None, (1, 0.31), (1, 0.45)], "F": [None, (2, 0.20), (2, 0.29)],
                "G": [None, (1, 0.40), (1, 0.50)], "H": [None, (1, 0.50), (2, 0.20)]}
    got = {(s, since, detail) for s, item, since, detail in items(history_of(students)) if item == "risk up"}
    assert got == {("E", "2025-11-01", "risk 0.31 → 0.45"), ("G", "2025-11-01", "risk 0.40 → 0.50")}
    by_rule_before = history_of(students, ranked_by=("model", "rule", "model"))
    assert not {i for _, i, *_ in items(by_rule_before)} & {"risk up"}


def test_absence_spike_is_the_absence_alert() -> None:
    history = history_of({"F": [(2, 0.2)] * 3, "K": [(2, 0.2)] * 3}, alert={"F": 0.35})
    assert items(history) == {("F", "absence spike", "2025-12-01", "absent 35% of the last 30 school days")}


def test_current_support_is_what_is_active_on_the_as_of_date() -> None:
    help_ = support(("A", "tutoring", "2026-01-12", None), ("A", "mentoring", "2025-10-01", "2026-06-30"),
                    ("A", "attendance plan", "2025-09-01", "2025-12-01"), ("B", "tutoring", "2026-03-01", None))
    got = current_support(help_, pd.Series(["A", "B", "C"]), pd.Series(["2026-01-31"] * 3)).tolist()
    assert got == ["tutoring since 2026-01-12; mentoring since 2025-10-01", "", ""]


# --- end to end ------------------------------------------------------------------

SLASHED = "North/7"


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory, trained_grade8: dict) -> dict:
    """The session's trained output with names, a school ID holding "/", scored at the
    latest checkpoint (through the CLI), then 30 days earlier, then at the latest again."""
    root = tmp_path_factory.mktemp("followup")
    out = clone_output(trained_grade8["out"], root / "out")
    validated = out / "validated"
    enrollments = pd.read_parquet(validated / "enrollments.parquet")
    school = str(enrollments.loc[enrollments["grade_level"] == 8, "school_id"].astype(str).mode().iloc[0])
    for path in validated.glob("*.parquet"):
        table = pd.read_parquet(path)
        if "school_id" in table.columns:
            table["school_id"] = table["school_id"].where(table["school_id"].astype(str) != school, SLASHED)
            table.to_parquet(path, index=False)
    students = pd.read_parquet(validated / "students.parquet")
    students["last_name"] = [f"Zqlast{i}" for i in range(len(students))]
    students["first_name"] = [f"Fn{i}" for i in range(len(students))]
    students.loc[0, ["last_name", "first_name"]] = ["=HYPERLINK(1)", "<b>Bo</b>"]
    students.to_parquet(validated / "students.parquet", index=False)
    # Each school's three highest risks get the first tier: a small district has few high risks.
    config_file = root / "config.yaml"
    config_file.write_text(TRAIN_CONFIG + "scoring:\n  tier_mode: capacity\n  capacity_per_school: [3, 5]\n",
                           encoding="utf-8")
    args = ["score", str(trained_grade8["data"]), "--model", "grade8", "--out", str(out), "--reuse-validated",
            "--config", str(config_file)]
    return {"out": out, "config": load_config(config_file), "args": args, "school": school}


def add_support(path: Path, students: list[str]) -> None:
    """Give ``students`` an open-ended mentoring since 2020 in the validated interventions
    (kept as validation wrote them, when the district had any)."""
    columns = [c.name for c in SCHEMAS["interventions"].columns]
    old = pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=columns)
    new = pd.DataFrame({c: [None] * len(students) for c in old.columns})
    new["student_id"], new["intervention_type"] = students, "mentoring"
    new["start_date"] = pd.Timestamp("2020-01-01").date()
    frame = pd.concat([old.astype(object), new], ignore_index=True)
    for column in ("start_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame.to_parquet(path, index=False)


def test_a_week_of_scoring_end_to_end(week: dict, capsys: pytest.CaptureFixture) -> None:
    out, config = week["out"], week["config"]
    assert main(week["args"]) == 0
    terminal = capsys.readouterr()
    latest = read_history(out, "grade8")
    as_of = latest["as_of_date"].iloc[0]
    flagged = latest.loc[latest["tier_level"] == 0, "student_id"].tolist()
    assert len(flagged) >= 2
    add_support(out / "validated" / "interventions.parquet", flagged[:2])
    earlier = date.fromisoformat(as_of) - timedelta(days=30)
    score_and_publish(out, config, model="grade8", as_of=earlier)
    result = score_and_publish(out, config, model="grade8", as_of=date.fromisoformat(as_of))
    history = read_history(out, "grade8")
    assert sorted(set(history["as_of_date"])) == [earlier.isoformat(), as_of]
    assert len(history) == len(result.roster) + (history["as_of_date"] == earlier.isoformat()).sum()
    assert not result.roster["change"].eq("first run").any()  # compared with the run 30 days before

    # Names on rosters only: second column, escaped in HTML, defused in CSV.
    stem = file_stem(SLASHED)
    assert stem != SLASHED and (out / "rosters" / f"{stem}.csv").is_file()
    roster = pd.read_csv(out / "rosters" / f"{stem}.csv", dtype=str, keep_default_na=False)
    assert list(roster.columns[:2]) == ["student_id", "student_name"] and (roster["school_id"] == SLASHED).all()
    assert roster["student_name"].str.match(r"^(Zqlast\d+, Fn\d+|'=HYPERLINK\(1\), <b>Bo</b>)$").all()
    page = (out / "rosters" / f"{stem}.html").read_text(encoding="utf-8")
    assert "Follow up this week" in page and "<b>Bo</b>" not in page
    sid = roster["student_id"].iloc[0]
    assert f'href="../profiles/{stem}/{file_stem(sid)}.html"' in page
    support_of = dict(zip(roster["student_id"], roster["current_support"], strict=True))
    assert all("mentoring since 2020-01-01" in support_of[s] for s in flagged[:2] if s in support_of)
    secrets = ("Zqlast", "Fn1", "HYPERLINK", "<b>Bo")
    stored = history.astype(str).to_csv() + (out / "rosters" / "summary_grade8.json").read_text(encoding="utf-8")
    stored += "".join(p.read_text(encoding="latin-1") for p in (out / "rosters" / "_history").glob("*"))
    for secret in secrets:
        assert secret not in stored and secret not in terminal.out + terminal.err

    # A follow-up file for every school with a roster, and exactly the computed items.
    schools = {p.stem for p in (out / "rosters").glob("*.csv") if p.stem not in ("reasons",)}
    assert {p.stem for p in (out / "followup").glob("*.csv")} == schools
    expected = followup_items(history, "grade8", as_of, result.summary["model_version"] or "",
                              read_interventions(out), config.followup.risk_rise)
    written = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in (out / "followup").glob("*.csv")])
    assert list(written.columns) == ["student_id", "student_name", "item", "since", "detail"]
    assert sorted(zip(written["student_id"], written["item"])) == sorted(zip(expected["student_id"], expected["item"]))
    assert {"flagged, no support", "newly flagged"} & set(written["item"])
    no_support = set(written.loc[written["item"] == "flagged, no support", "student_id"])
    assert not no_support & set(flagged[:2]) and no_support <= set(flagged)
    summary = json.loads((out / "rosters" / "summary_grade8.json").read_text(encoding="utf-8"))
    assert summary["timings_s"]["history_s"] >= 0


def _supported_one_by_one(interventions: pd.DataFrame, since: dict[str, str], as_of: str) -> set[str]:
    """The rule of "flagged, no support", one student at a time: an intervention started
    from the flag date to the as-of date (both included), or one active on the as-of date."""
    day = pd.Timestamp(as_of)
    found = set()
    for sid, flagged in since.items():
        for row in interventions[interventions["student_id"] == sid].itertuples(index=False):
            started = pd.Timestamp(flagged) <= row.start_date <= day
            active = row.start_date <= day and (pd.isna(row.end_date) or row.end_date >= day)
            if started or active:
                found.add(sid)
    return found


def test_supported_students_in_one_merge_are_those_found_one_by_one() -> None:
    """The edges: a start on the flag date or on the as-of date, an end on the as-of date,
    no end, an end before the as-of date, a start after it; students with none."""
    import numpy as np

    from ontrack.scoring.followup import _supported

    rng = np.random.default_rng(7)
    days = pd.date_range("2025-09-01", "2025-12-31", freq="D")
    as_of = "2025-12-01"
    n = 400
    starts = days[rng.integers(0, len(days), n)]
    ends = starts + pd.to_timedelta(rng.integers(0, 60, n), unit="D")
    interventions = pd.DataFrame({
        "student_id": [f"s{i}" for i in rng.integers(0, 150, n)],
        "intervention_type": rng.choice(["tutoring", "mentoring"], n),
        "start_date": starts, "end_date": ends.where(rng.random(n) > 0.3, pd.NaT)})
    flag_days = ["2025-10-01", "2025-11-01", "2025-12-01"]
    since = {f"s{i}": flag_days[i % 3] for i in range(0, 200, 2)}
    expected = _supported_one_by_one(interventions, since, as_of)
    assert _supported(interventions, since, as_of) == expected
    assert 0 < len(expected) < len(since), "the sample must hold students with and without support"
    edges = support(("a", "x", "2025-11-01", None), ("b", "x", "2025-12-01", "2025-12-05"),
                    ("c", "x", "2025-09-01", "2025-12-01"), ("d", "x", "2025-09-01", "2025-11-30"),
                    ("e", "x", "2025-12-02", None), ("f", "x", "2025-10-31", "2025-10-31"))
    flags = {k: "2025-11-01" for k in "abcdefg"}
    assert _supported(edges, flags, as_of) == {"a", "b", "c"} == _supported_one_by_one(edges, flags, as_of)
    assert _supported(None, flags, as_of) == set() == _supported(edges, {}, as_of)
