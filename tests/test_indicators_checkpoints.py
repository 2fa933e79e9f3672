"""As-of checkpoints: an indicator as of a date sees only what was known on that date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from indicators_district import YEAR, District
from ontrack.config import config_from_dict, load_config
from ontrack.indicators import checkpoint_dates, school_year_of, student_indicators
from ontrack.validation.store import open_validated
from ontrack.validation import validate_directory

CONFIG = load_config()
CHECKPOINTS = (date(2023, 11, 10), date(2024, 1, 31), date(2024, 4, 1))


def build() -> District:
    d = District()
    d.school("M1")
    d.school("H1")
    # An 8th grader who is ready in January and not by June.
    d.student("eighth", gpa=2.0)  # official GPA, known only at the end of the year
    d.days("eighth", "M1", "P" * 110 + "U" * 20 + "P" * 40)  # absences from Feb 5
    d.mark("eighth", "ELA-A", "ela", "A", term="S1", term_end_date="2024-01-19")
    d.mark("eighth", "MATH-A", "math", "B", term="S1", term_end_date="2024-01-19")
    d.mark("eighth", "ELA-B", "ela", "D", term="S2", term_end_date="2024-06-07")
    d.mark("eighth", "MATH-B", "math", "C", term="S2", term_end_date="2024-06-07")
    d.mark("eighth", "SCI", "science", "B", term="Q1", final=False, term_end_date="2023-11-03")
    d.mark("eighth", "SCI", "science", "F", term="Q2", final=False, term_end_date="2024-01-19")
    d.mark("eighth", "SCI", "science", "C", term="Y", term_end_date="2024-06-07")
    d.incident("eighth", "out_of_school_suspension", day="2024-03-05")
    d.incident("eighth", "referral", day="2023-10-02")
    # A 9th grader whose second-semester credits arrive in June.
    d.student("ninth", grade=9, school="H1")
    d.days("ninth", "H1", "P" * 170)
    for i, subject in enumerate(("ela", "math", "science", "social_science", "other")):
        for term, end in (("S1", "2024-01-19"), ("S2", "2024-06-07")):
            d.mark("ninth", f"C{i}{term}", subject, "B", term=term, school="H1",
                   term_end_date=end, credits_earned=0.5)
    # Attendance reported only as period summaries (one row per period).
    d.student("summarised")
    d.summary("summarised", "M1", 80, 2, period_end="2024-01-19")
    d.summary("summarised", "M1", 90, 18, period_end="2024-06-07")
    # Enrolled only from February.
    d.rows["students"].append({"student_id": "late", "gender": "M", "race_ethnicity": "asian"})
    d.enroll("late", "M1", 8, entry="2024-02-05")
    return d


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    root = tmp_path_factory.mktemp("asof")
    validate_directory(build().write(root / "data"), root / "out", CONFIG)
    return open_validated(root / "out", CONFIG)


def frame(con, as_of=None) -> pd.DataFrame:
    return student_indicators(con, CONFIG, as_of=as_of).set_index(["student_id", "indicator"])


def test_readiness_so_far_in_january_ignores_later_records(con):
    jan = frame(con, date(2024, 1, 31)).loc[("eighth", "hs_readiness_8")]
    assert jan.gpa_source == "marks"  # the official GPA is not known before June
    # S1 finals A and B, plus science's latest progress mark F standing in (weights 0.5,
    # 0.5, 0.25): (2 + 1.5 + 0) / 1.25
    assert jan.gpa == pytest.approx(2.8) and jan.progress_marks_used == 1
    assert jan.days_enrolled == 108 and jan.attendance_rate == 1.0
    assert jan.suspensions == 0 and jan.df_ela_math == 0
    assert jan.status == "met" and jan.as_of_date == pd.Timestamp("2024-01-31")


def test_full_year_uses_finals_official_gpa_and_every_record(con):
    year = frame(con).loc[("eighth", "hs_readiness_8")]
    assert (year.gpa, year.gpa_source, year.progress_marks_used) == (2.0, "official", 0)
    assert year.days_enrolled == 170 and year.days_absent == 20
    assert year.suspensions == 1 and year.df_ela_math == 1 and year.status == "not_met"


def test_progress_mark_so_far_is_the_latest_known(con):
    nov = frame(con, date(2023, 11, 10)).loc[("eighth", "hs_readiness_8")]
    assert nov.gpa == 3.0 and nov.progress_marks_used == 1  # science Q1 B only
    assert pd.isna(nov.df_ok)  # no ELA or math mark yet


def test_credits_count_only_when_known(con):
    jan = frame(con, date(2024, 1, 31)).loc[("ninth", "on_track_9")]
    assert jan.credits_earned == 2.5 and jan.status == "not_met"
    june = frame(con).loc[("ninth", "on_track_9")]
    assert june.credits_earned == 5.0 and june.status == "met"


def test_summary_periods_count_once_ended(con):
    jan = frame(con, date(2024, 1, 31)).loc[("summarised", "chronic_absence")]
    assert (jan.days_enrolled, jan.days_absent) == (80, 2)
    assert frame(con, date(2023, 12, 1)).loc[("summarised", "chronic_absence")].status == "unknown"
    year = frame(con).loc[("summarised", "chronic_absence")]
    assert (year.days_enrolled, year.days_absent, year.status) == (170, 20, "met")


def test_not_yet_enrolled_students_have_no_rows(con):
    assert "late" not in frame(con, date(2024, 1, 31)).index.get_level_values(0)
    assert "late" in frame(con, date(2024, 2, 5)).index.get_level_values(0)


def _truncate(d: District, as_of: date) -> District:
    """The district as its files would have looked on ``as_of``."""
    cut = District()
    end_of_year = date(YEAR, 6, 30)
    for table, rows in d.rows.items():
        for r in rows:
            r = dict(r)
            if table == "attendance" and date.fromisoformat(r["date"]) > as_of:
                continue
            if table == "discipline" and date.fromisoformat(r["incident_date"]) > as_of:
                continue
            if table == "course_marks":
                known = date.fromisoformat(r.get("term_end_date") or end_of_year.isoformat())
                if known > as_of:
                    continue
            if table == "attendance_summary":
                if date.fromisoformat(r["period_end_date"] or end_of_year.isoformat()) > as_of:
                    continue
            if table == "enrollments":
                if date.fromisoformat(r["entry_date"]) > as_of:
                    continue
                if r["exit_date"] and date.fromisoformat(r["exit_date"]) > as_of:
                    r["exit_date"] = ""
            if table == "student_years" and end_of_year > as_of:
                r["gpa"] = ""
            cut.rows[table].append(r)
    return cut


@pytest.mark.parametrize("as_of", CHECKPOINTS)
def test_as_of_equals_computing_on_the_data_known_then(tmp_path: Path, con, as_of):
    """Time travel: as_of on full data == the same as_of on data truncated at that date."""
    data = _truncate(build(), as_of).write(tmp_path / "data")
    validate_directory(data, tmp_path / "out", CONFIG)
    past = student_indicators(open_validated(tmp_path / "out", CONFIG), CONFIG, as_of=as_of)
    now = student_indicators(con, CONFIG, as_of=as_of)
    pd.testing.assert_frame_equal(now, past)


def test_checkpoint_dates_follow_the_district_calendar():
    rules = CONFIG.rules
    assert checkpoint_dates(rules, 2024) == [date(2023, 10, 31), date(2024, 1, 31), date(2024, 6, 30)]
    assert school_year_of(rules, date(2023, 7, 1)) == 2024
    assert school_year_of(rules, date(2024, 6, 30)) == 2024
    august = config_from_dict({"rules": {"school_year_start": "08-15"}}).rules
    assert school_year_of(august, date(2024, 8, 14)) == 2024
    assert checkpoint_dates(august, 2025)[0] == date(2024, 10, 31)


def test_school_years_selects_years(con):
    full = student_indicators(con, CONFIG)
    assert student_indicators(con, CONFIG, school_years=[YEAR]).equals(full)
    assert student_indicators(con, CONFIG, school_years=[YEAR - 1]).empty
