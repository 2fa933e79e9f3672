"""The roster's absence alert uses each student's own district calendar.

One data directory may hold districts whose school years start on different days
(CONTRACT: every calendar rule is set per ``district_id``). The "absences rose" alert
compares a student's last 30 school days with their earlier days *this school year*, so
the year's first day must be the student's district's, not the first row's.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from ontrack.config import config_from_dict
from ontrack.scoring.alerts import RECENT_DAYS, absence_rise
from ontrack.scoring.cohort import ScoringCohort
from ontrack.scoring.parts import part_state

AS_OF = date(2025, 1, 31)
# D1 keeps the default calendar (07-01); D2 starts its school year on 08-15.
CONFIG = config_from_dict({"districts": {"D2": {"school_year_start": "08-15"}}})


def _days(student: str) -> pd.DataFrame:
    """Absent every day of July to mid-August, present until the last 30 school days,
    then absent every other day: absences rose only if July is not part of the year."""
    days = pd.bdate_range("2024-07-01", AS_OF)
    recent = days[-RECENT_DAYS:]
    status = ["absent_unexcused" if d < pd.Timestamp("2024-08-15") else "present" for d in days]
    frame = pd.DataFrame({"student_id": student, "date": days.date, "status": status})
    frame.loc[frame["date"].isin(recent[::2].date), "status"] = "absent_unexcused"
    return frame


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    attendance = pd.concat([_days("s1"), _days("s2")], ignore_index=True)
    connection.register("attendance_frame", attendance)
    connection.execute(
        "CREATE TABLE main.attendance AS SELECT student_id, CAST(date AS DATE) AS date, status "
        "FROM attendance_frame"
    )
    connection.unregister("attendance_frame")
    yield connection
    connection.close()


def _current(districts: list[str]) -> ScoringCohort:
    students = [{"D1": "s1", "D2": "s2"}[d] for d in districts]
    index = pd.MultiIndex.from_arrays(
        [students, [pd.Timestamp(AS_OF)] * len(students)], names=["student_id", "as_of_date"]
    )
    cohort = pd.DataFrame(
        {"school_id": "001", "district_id": districts, "school_year": 2025, "grade_level": 8}, index=index
    )
    matrix = pd.DataFrame({"failed_core_courses_ytd": 0.0, "suspensions_ytd": 0.0}, index=index)
    return ScoringCohort(cohort, matrix, AS_OF, date(2025, 6, 30), AS_OF)


@pytest.mark.parametrize("order", [["D1", "D2"], ["D2", "D1"]])
def test_absence_alert_uses_each_students_district_year_start(con, order) -> None:
    # Same attendance for both students: in D1 the absent July days belong to this
    # school year (earlier rate ~0.27, the recent 0.5 is not twice that); in D2 they
    # precede it (earlier rate 0), so the alert is raised for the D2 student only.
    state = part_state(con, _current(order), CONFIG)
    assert not state.loc["s1", "absence_alert"]
    assert state.loc["s2", "absence_alert"]
    assert state["recent_absence_rate"].tolist() == [0.5, 0.5]
    assert state["school_year"].tolist() == [2025, 2025]


def test_absence_rise_takes_one_start_per_student_or_one_for_all(con) -> None:
    students = pd.Series(["s2", "s1", "s2"], index=[10, 11, 12])
    starts = pd.Series([date(2024, 8, 15), date(2024, 7, 1), date(2024, 7, 1)], index=students.index)
    rose = absence_rise(con, students, AS_OF, starts, CONFIG.scoring)
    assert rose.index.tolist() == [10, 11, 12]
    assert rose["absence_alert"].tolist() == [True, False, False]
    single = absence_rise(con, students, AS_OF, date(2024, 8, 15), CONFIG.scoring)
    assert single["absence_alert"].tolist() == [True, True, True]
    with pytest.raises(ValueError, match="one date per student"):
        absence_rise(con, students, AS_OF, starts.iloc[:2], CONFIG.scoring)


def test_each_districts_lists_expire_at_its_own_next_checkpoint() -> None:
    """D2 checks in mid-February, D1 at the end of June: scored on Jan 31, D2's rows and
    school file say they expire on Feb 15, D1's on Jun 30, and the run on the sooner."""
    from ontrack.reports.publish import _meta

    from ontrack.modeling.gate import Ranking
    from ontrack.scoring.cohort import next_checkpoint
    from ontrack.scoring.parts import ModelScores
    from ontrack.scoring.run import _roster_frame

    config = config_from_dict(
        {"districts": {"D2": {"checkpoints": ["11-15", "02-15", "06-30"]}}}
    )
    expires = {d: next_checkpoint(config, d, AS_OF) for d in ("D1", "D2")}
    assert expires == {"D1": date(2025, 6, 30), "D2": date(2025, 2, 15)}
    base = _current(["D1", "D2"])
    current = ScoringCohort(base.cohort, base.matrix.assign(readiness_met_ytd=1.0), AS_OF,
                            min(expires.values()), AS_OF, expires)
    risk = pd.Series([0.2, 0.7], index=current.cohort.index)
    reasons = pd.DataFrame({"reason_1": ["", ""]}, index=current.cohort.index)
    long = pd.DataFrame(columns=["row", "rank", "feature", "value", "contribution", "text", "kind"])
    contributions = pd.DataFrame({"base_value": [-1.0, -1.0]}, index=current.cohort.index)
    scored = ModelScores(risk, reasons, long, contributions)
    rules_of = current.cohort["district_id"].map(config.rules_for)
    roster, _ = _roster_frame(current, scored, Ranking("model", None, None), rules_of, "grade8", "1", config)
    assert roster["expires"].tolist() == ["2025-06-30", "2025-02-15"]
    run = {"model": "grade8", "version": "1", "as_of": AS_OF.isoformat(),
           "expires": current.expires.isoformat()}
    for district, day in (("D1", "2025-06-30"), ("D2", "2025-02-15")):
        rows = roster[roster["district_id"] == district].assign(alerts="")
        assert _meta(rows, "school", [run], config).expires == day


def test_counselor_caseloads_follow_each_students_school_year(tmp_path) -> None:
    """s2's district is still in 2024 on the day s1's is in 2025: each keeps the
    counselor of their own year; s3 (another model's roster) keeps its 2025 counselor;
    an undated caseload row counts for every year."""
    from ontrack.reports.publish import staff_of

    (tmp_path / "validated").mkdir()
    pd.DataFrame(
        {
            "student_id": ["s1", "s1", "s2", "s3", "s3", "s4"],
            "staff_id": ["A", "B", "C", "D", "E", "F"],
            "staff_name": ["", "", "", "", "", ""],
            "school_year": pd.array([2025, 2024, 2024, 2025, 2023, None], dtype="Int64"),
        }
    ).to_parquet(tmp_path / "validated" / "caseloads.parquet")
    roster = pd.DataFrame({"student_id": ["s1", "s2"], "school_year": [2025, 2024]})
    staff = staff_of(tmp_path, roster)
    assert dict(zip(staff["student_id"], staff["staff_id"], strict=True)) == {
        "s1": "A", "s2": "C", "s3": "D", "s4": "F"
    }
