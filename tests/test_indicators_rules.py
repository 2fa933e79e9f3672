"""Every criterion's edge, pinned on a small hand-built district (school year 2023-24).

One district holds one student per case, so it is validated once; each test reads the
row of its student. Student ids say what they test.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from indicators_district import District
from ontrack.config import config_from_dict
from ontrack.indicators import student_indicators
from ontrack.validation.store import open_validated
from ontrack.validation import validate_directory


def ready_student(d: District, sid: str, **kw) -> None:
    """Grade 8, meets every readiness criterion unless a test changes one."""
    d.student(sid, **kw)
    d.days(sid, kw.get("school", "M1"), "P" * 25)
    d.core_pass(sid, school=kw.get("school", "M1"))


def build_edge_district() -> District:
    d = District()
    for school in ("M1", "M2", "H1"):
        d.school(school)
    d.school("H2", district_id="D2")  # California-style credits (10 per full-year course)
    d.school("M3", district_id="D2")

    # GPA: exactly 2.5 from marks (B and C) is ready; 2.49 official is not.
    d.student("gpa_250")
    d.days("gpa_250", "M1", "P" * 25)
    d.core_pass("gpa_250", ela="B", math="C")
    ready_student(d, "gpa_249_official", gpa=2.49)
    ready_student(d, "gpa_official_wins", gpa=3.1)
    d.mark("gpa_official_wins", "ART", "other", "F")  # marks alone would give 2.0
    # Attendance: exactly 96% is ready; 92% is not.
    d.student("att_96")
    d.days("att_96", "M1", "P" * 23 + "T" + "U")  # tardy counts as present
    d.core_pass("att_96")
    d.student("att_92")
    d.days("att_92", "M1", "P" * 23 + "E" + "S")  # suspended counts as absent
    d.core_pass("att_92")
    # Chronic absence: exactly 90% is chronic; 95% is not.
    d.student("chronic_90", grade=7)
    d.days("chronic_90", "M1", "P" * 9 + "U")
    d.student("chronic_95", grade=7)
    d.days("chronic_95", "M1", "P" * 19 + "E")
    # D in ELA fails readiness; D in science does not.
    ready_student(d, "d_in_ela")
    d.mark("d_in_ela", "ELA", "ela", "D", term="S2")
    d.student("d_in_science")
    d.days("d_in_science", "M1", "P" * 25)
    d.core_pass("d_in_science", ela="A", math="A")
    d.mark("d_in_science", "SCI", "science", "D-")
    # In-school suspension fails readiness; a referral does not.
    ready_student(d, "iss")
    d.incident("iss", "in_school_suspension")
    ready_student(d, "referral")
    d.incident("referral", "referral")
    # Two schools in one year: counted at the last one, days pooled, transfer day once.
    d.rows["students"].append({"student_id": "mover", "gender": "M", "race_ethnicity": "white"})
    d.enroll("mover", "M1", 8, entry="2023-08-21", exit="2023-09-08")
    d.enroll("mover", "M2", 8, entry="2023-09-08")
    d.days("mover", "M1", "PPPPU")  # Sep 4-8; absent at M1 on the transfer day
    d.days("mover", "M2", "P" * 21, start=date(2023, 9, 8))  # present at M2 that day
    d.core_pass("mover", school="M2")
    # A missing final: math has only quarter (progress) marks.
    d.student("no_math_final")
    d.days("no_math_final", "M1", "P" * 25)
    d.mark("no_math_final", "ELA", "ela", "A")
    d.mark("no_math_final", "MATH", "math", "A", term="Q1", final=False)
    d.mark("no_math_final", "MATH", "math", "A", term="Q2", final=False)
    # P/NP and W: NP in math is a failing mark; P/NP/W carry no grade points.
    d.student("pass_no_pass")
    d.days("pass_no_pass", "M1", "P" * 25)
    d.mark("pass_no_pass", "ELA", "ela", "P")
    d.mark("pass_no_pass", "MATH", "math", "NP")
    d.mark("pass_no_pass", "SCI", "science", "A")
    d.student("withdrawn")
    d.days("withdrawn", "M1", "P" * 25)
    d.mark("withdrawn", "ELA", "ela", "W")
    d.mark("withdrawn", "MATH", "math", "B")
    # Numeric marks use the cut-offs: 79.9 is a C, 60 a D.
    d.student("numeric")
    d.days("numeric", "M1", "P" * 25)
    d.mark("numeric", "ELA", "ela", "79.9")
    d.mark("numeric", "MATH", "math", "60")
    # No attendance at all: unknown, never met; a failing criterion still wins.
    d.student("no_attendance")
    d.core_pass("no_attendance")
    d.student("no_attendance_d")
    d.core_pass("no_attendance_d", ela="F")
    # Attendance summaries: 7.2 of 180 days absent is 96%; daily wins at the same school.
    d.student("summary_only")
    d.core_pass("summary_only")
    d.summary("summary_only", "M1", 180, 7.2)
    d.student("daily_and_summary")
    d.core_pass("daily_and_summary")
    d.days("daily_and_summary", "M1", "P" * 25)
    d.summary("daily_and_summary", "M1", 180, 50)
    d.student("summary_periods")
    d.core_pass("summary_periods")
    d.summary("summary_periods", "M1", 80, 0, period_end="2024-01-31")
    d.summary("summary_periods", "M1", 95, 14, period_end="2024-06-07")

    # 9th grade on track, credit unit 1: ten semester courses of 0.5 credits.
    def freshman(sid, school="H1", credit=0.5, fails=(), **kw):
        d.student(sid, grade=9, school=school)
        d.days(sid, school, "P" * 10)
        subjects = ["ela", "math", "science", "social_science", "other"]
        for i in range(10):
            term = "S1" if i < 5 else "S2"
            subject = subjects[i % 5]
            mark = "F" if (subject, term) in fails else "B"
            d.mark(sid, f"C{i}", subject, mark, term=term, school=school,
                   credits_earned=0 if mark == "F" else credit)
    freshman("ot_one_f", fails={("math", "S1")})
    d.mark("ot_one_f", "C99", "other", "A", term="Y", school="H1", credits_earned=1.0)
    freshman("ot_short")  # 5.0 credits exactly: on track
    freshman("ot_short_f", fails={("other", "S2")})  # 4.5 credits
    freshman("ot_year_f")
    d.mark("ot_year_f", "ALG", "math", "F", term="Y", school="H1", credits_earned=0)
    freshman("ot_quarter_f", fails={("ela", "S1")})
    d.mark("ot_quarter_f", "C9", "math", "F", term="Q1", final=False, school="H1")
    d.mark("ot_quarter_f", "C98", "other", "A", term="Y", school="H1", credits_earned=1.0)
    d.student("ot_attempted", grade=9, school="H1")
    for i in range(10):
        d.mark("ot_attempted", f"C{i}", "ela" if i else "other", "C" if i else "F",
               term="S1" if i < 5 else "S2",
               school="H1", credits_attempted=0.5)
    d.student("ot_no_credit_info", grade=9, school="H1")
    d.mark("ot_no_credit_info", "C1", "ela", "B", term="S1", school="H1")
    # District D2: 10 credits per full-year course, so 50 are needed.
    freshman("ca_met", school="H2", credit=5)
    freshman("ca_short", school="H2", credit=5, fails={("other", "S1")})
    # The same numeric mark is a C in D1 and a D on D2's stricter cut-offs.
    for sid, school in (("numeric_72_d1", "M1"), ("numeric_72_d2", "M3")):
        d.student(sid, school=school)
        d.days(sid, school, "P" * 25)
        d.mark(sid, "ELA", "ela", "72", school=school)
        d.mark(sid, "MATH", "math", "A", school=school)
    # D2 asks a GPA of 3.0 for readiness.
    ready_student(d, "d2_gpa_b", school="M3")
    d.mark("d2_gpa_b", "ART", "other", "C", school="M3")
    # A discipline row exists, so no-incident students have 0 suspensions (known).
    return d


CONFIG = config_from_dict(
    {
        "districts": {
            "D2": {
                "credit_unit": 10,
                "readiness": {"gpa_min": 3.0},
                "mark_scale": {"numeric_cutoffs": {"A": 93, "B": 85, "C": 75, "D": 70}},
            }
        }
    }
)


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("edge")
    data = build_edge_district().write(root / "data")
    report = validate_directory(data, root / "out", CONFIG)
    bad = {t: r.rows_quarantined for t, r in report.tables.items() if r.rows_quarantined}
    assert not bad, f"fixture rows quarantined: {bad}"
    return root / "out"


@pytest.fixture(scope="module")
def rows(validated) -> pd.DataFrame:
    con = open_validated(validated, CONFIG)
    return student_indicators(con, CONFIG).set_index(["student_id", "indicator"])


def row(rows: pd.DataFrame, sid: str, indicator: str = "hs_readiness_8") -> pd.Series:
    return rows.loc[(sid, indicator)]


def test_gpa_exactly_2_5_is_ready(rows):
    r = row(rows, "gpa_250")
    assert r.gpa == 2.5 and r.gpa_source == "marks" and r.gpa_ok
    assert r.status == "met"


def test_official_gpa_below_2_5_fails_and_beats_marks(rows):
    r = row(rows, "gpa_249_official")
    assert (r.gpa, r.gpa_source, r.gpa_ok, r.status) == (2.49, "official", False, "not_met")
    r = row(rows, "gpa_official_wins")
    assert (r.gpa, r.gpa_source, r.status) == (3.1, "official", "met")


def test_attendance_exactly_96_percent_is_ready_tardy_counts_present(rows):
    r = row(rows, "att_96")
    assert r.attendance_rate == 0.96 and r.days_enrolled == 25 and r.days_absent == 1
    assert r.attendance_ok and r.status == "met"


def test_attendance_below_96_fails_and_suspended_days_are_absent(rows):
    r = row(rows, "att_92")
    assert r.days_absent == 2 and r.attendance_rate == 0.92
    assert not r.attendance_ok and r.status == "not_met"


def test_chronic_absence_at_exactly_90_percent(rows):
    assert row(rows, "chronic_90", "chronic_absence").status == "met"
    assert row(rows, "chronic_95", "chronic_absence").status == "not_met"
    assert ("chronic_90", "hs_readiness_8") not in rows.index  # grade 7


def test_d_in_ela_fails_but_d_in_science_does_not(rows):
    r = row(rows, "d_in_ela")
    assert r.df_ela_math == 1 and not r.df_ok and r.status == "not_met"
    r = row(rows, "d_in_science")
    assert r.df_ela_math == 0 and r.df_ok and r.status == "met"


def test_in_school_suspension_fails_but_referral_does_not(rows):
    r = row(rows, "iss")
    assert r.suspensions == 1 and not r.suspension_ok and r.status == "not_met"
    assert row(rows, "iss", "suspension").status == "met"
    r = row(rows, "referral")
    assert r.suspensions == 0 and r.suspension_ok and r.status == "met"
    assert row(rows, "referral", "suspension").status == "not_met"


def test_student_in_two_schools_counts_at_the_last_with_pooled_days(rows):
    r = row(rows, "mover")
    assert r.school_id == "M2" and r.n_schools == 2
    # 4 days at M1 + 21 at M2, the shared transfer day once and attended.
    assert r.days_enrolled == 25 and r.days_absent == 0 and r.status == "met"


def test_missing_final_mark_leaves_d_f_unknown(rows):
    r = row(rows, "no_math_final")
    assert r.gpa == 4.0  # quarter marks are progress marks: ELA only
    assert pd.isna(r.df_ok) and r.status == "unknown" and r.unknown_criteria == "df_ela_math"


def test_no_pass_counts_as_failing_and_p_w_carry_no_points(rows):
    r = row(rows, "pass_no_pass")
    assert r.gpa == 4.0 and r.df_ela_math == 1 and r.status == "not_met"
    r = row(rows, "withdrawn")
    assert r.gpa == 3.0 and pd.isna(r.df_ok) and r.status == "unknown"


def test_numeric_marks_use_the_cutoffs(rows):
    r = row(rows, "numeric")
    assert r.gpa == 1.5 and r.df_ela_math == 1 and r.status == "not_met"


def test_numeric_cutoffs_are_per_district(rows):
    d1, d2 = row(rows, "numeric_72_d1"), row(rows, "numeric_72_d2")
    assert (d1.gpa, d1.df_ela_math, d1.status) == (3.0, 0, "met")
    assert (d2.gpa, d2.df_ela_math, d2.status) == (2.5, 1, "not_met")


def test_missing_attendance_is_unknown_unless_another_criterion_fails(rows):
    r = row(rows, "no_attendance")
    assert pd.isna(r.attendance_rate) and r.status == "unknown"
    assert r.unknown_criteria == "attendance"
    assert row(rows, "no_attendance", "chronic_absence").status == "unknown"
    assert row(rows, "no_attendance_d").status == "not_met"


def test_attendance_summary_and_daily_wins(rows):
    r = row(rows, "summary_only")
    assert r.attendance_rate == pytest.approx(0.96) and r.attendance_source == "summary"
    assert r.attendance_ok
    r = row(rows, "daily_and_summary")
    assert r.attendance_rate == 1.0 and r.attendance_source == "daily"
    r = row(rows, "summary_periods")  # each row is its own period: they add up
    assert (r.days_enrolled, r.days_absent) == (175, 14)


@pytest.mark.parametrize(
    ("sid", "credits", "fs", "status"),
    [
        ("ot_one_f", 5.5, 1, "met"),
        ("ot_short", 5.0, 0, "met"),
        ("ot_short_f", 4.5, 0, "not_met"),
        ("ot_year_f", 5.0, 2, "not_met"),  # a Y final F counts as two semester Fs
        ("ot_quarter_f", 5.5, 1, "met"),  # the quarter F is a progress mark
        ("ot_attempted", 4.5, 0, "not_met"),  # credits_attempted of passing marks
        ("ca_met", 50.0, 0, "met"),  # credit unit 10
        ("ca_short", 45.0, 0, "not_met"),
    ],
)
def test_on_track_credits_and_semester_fs(rows, sid, credits, fs, status):
    r = row(rows, sid, "on_track_9")
    assert (r.credits_earned, r.core_semester_fs, r.status) == (credits, fs, status)


def test_on_track_unknown_without_credit_information(rows):
    r = row(rows, "ot_no_credit_info", "on_track_9")
    assert pd.isna(r.credits_ok) and r.fs_ok and r.status == "unknown"


def test_district_override_applies_by_school_district(rows):
    r = row(rows, "d2_gpa_b")  # B, B, C = 2.67: ready at 2.5, not at D2's 3.0
    assert r.district_id == "D2" and r.gpa == pytest.approx(2.666667) and r.status == "not_met"


def test_every_row_has_a_valid_status_and_contract_columns(rows):
    frame = rows.reset_index()
    assert set(frame["status"]) <= {"met", "not_met", "unknown"}
    for col in ("student_id", "school_id", "school_year", "grade_level", "indicator", "status"):
        assert col in frame
    assert frame["as_of_date"].isna().all()


def test_without_a_discipline_table_suspensions_are_unknown(tmp_path):
    d = District()
    d.school("M1")
    ready_student(d, "no_discipline_table")
    validate_directory(d.write(tmp_path / "data"), tmp_path / "out", CONFIG)
    rows = student_indicators(open_validated(tmp_path / "out", CONFIG), CONFIG)
    rows = rows.set_index("indicator")
    assert rows.loc["suspension", "status"] == "unknown"
    readiness = rows.loc["hs_readiness_8"]
    assert readiness.status == "unknown" and readiness.unknown_criteria == "suspensions"


def test_rule_tables_kept_on_a_connection_follow_the_rules_and_schools(validated):
    """A connection keeps the rule tables between calls; a call with other rules, with
    schools moved to another district, or after the tables were dropped computes what
    a fresh connection computes."""
    strict = config_from_dict({"rules": {"readiness": {"gpa_min": 3.5}}})
    con = open_validated(validated, CONFIG)
    first = student_indicators(con, CONFIG)
    with_strict = student_indicators(con, strict)
    pd.testing.assert_frame_equal(with_strict, student_indicators(open_validated(validated, strict), strict))
    assert not with_strict.equals(first)
    pd.testing.assert_frame_equal(student_indicators(con, CONFIG), first)
    con.execute("DROP TABLE _ind_school_rules")
    pd.testing.assert_frame_equal(student_indicators(con, CONFIG), first)

    path = str(validated / "validated" / "schools.parquet").replace("'", "''")
    move = ("CREATE OR REPLACE VIEW schools AS SELECT * REPLACE (CASE WHEN school_id = 'M1' "
            f"THEN 'D2' ELSE district_id END AS district_id) FROM read_parquet('{path}')")
    con.execute(move)
    moved = student_indicators(con, CONFIG)
    other = open_validated(validated, CONFIG)
    other.execute(move)
    pd.testing.assert_frame_equal(moved, student_indicators(other, CONFIG))
    assert not moved.equals(first)


def test_asking_for_some_indicators_returns_their_rows_only(validated, rows):
    con = open_validated(validated, CONFIG)
    try:
        some = student_indicators(con, CONFIG, indicators=("on_track_9", "suspension"))
        with pytest.raises(ValueError, match=r"indicators must be among .*Got \['on_track'\] instead"):
            student_indicators(con, CONFIG, indicators=("on_track_9", "on_track"))
    finally:
        con.close()
    assert set(some["indicator"]) == {"on_track_9", "suspension"}
    whole = rows.reset_index()
    whole = whole[whole["indicator"].isin(["on_track_9", "suspension"])][list(some.columns)]
    # a column with no value in these rows comes back from DuckDB as objects: values compared
    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index(drop=True).astype(object)
        return frame.where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(some), plain(whole))
