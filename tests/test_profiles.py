"""Student profile pages (issue 16 item 5): one per rostered student, only that student's
data, the rule's criteria from the indicators' own as-of computation, missing tables
shown as "no records", hostile text escaped, file names from ``file_stem``.

The shared trained output is copied and scored once (model-ranked, so pages carry the
SHAP waterfall); the other cases render from copies of its validated tables.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from ontrack.reports.profiles import NO_RECORDS, write_profiles
from ontrack.reports.publish import score_and_publish

from ontrack.indicators import student_indicators
from ontrack.paths import file_stem
from ontrack.scoring.profile_data import gather_records
from ontrack.validation.store import open_validated
from tests.shared_outputs import clone_output

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_LAST = '=HYPERLINK("http://evil.example","x")'
HOSTILE_COURSE = "<img src=x onerror=alert(2)>"
HOSTILE_ID = "../<b>id</b>"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, trained_grade8: dict) -> dict:
    out = clone_output(trained_grade8["out"], tmp_path_factory.mktemp("profiles") / "out")
    config = trained_grade8["config"]
    result = score_and_publish(out, config, model="grade8")
    return {"out": out, "config": config, "result": result}


def _pages(out: Path) -> set[str]:
    return {str(p.relative_to(out / "profiles")) for p in (out / "profiles").rglob("*.html")}


def test_every_rostered_student_gets_exactly_one_page(scored: dict) -> None:
    roster = scored["result"].roster
    expected = {f"{file_stem(s)}/{file_stem(i)}.html" for s, i in zip(roster["school_id"], roster["student_id"], strict=True)}
    assert len(expected) == len(roster) > 20
    assert _pages(scored["out"]) == expected


def test_a_page_holds_no_other_students_id(scored: dict) -> None:
    out = scored["out"]
    everyone = set(pd.read_parquet(out / "validated" / "students.parquet")["student_id"].astype(str))
    roster = scored["result"].roster
    for school, student in zip(roster["school_id"], roster["student_id"], strict=True):
        text = (out / "profiles" / file_stem(school) / f"{file_stem(student)}.html").read_text("utf-8")
        found = set(re.findall(r"\d{8}", text)) & everyone
        assert found == {student}, (student, found - {student})


def test_model_ranked_pages_draw_the_waterfall_from_the_runs_contributions(scored: dict) -> None:
    result = scored["result"]
    assert result.contributions is not None and result.base_value is not None
    row = result.roster.iloc[0]
    text = (scored["out"] / "profiles" / file_stem(row["school_id"]) / f"{file_stem(row['student_id'])}.html").read_text("utf-8")
    output = result.base_value + result.contributions.loc[result.roster.index[0]].sum()
    assert f"E[f(X)] = {result.base_value:.2f}" in text
    assert f"f(x) = {output:.2f}" in text
    assert "log-odds, before calibration" in text
    waterfall = text[text.index('id="waterfall-chart"'):]
    assert waterfall.count("<polygon") == 10  # 9 features and "N other features", as shap draws
    assert "Content-Security-Policy\" content=\"default-src 'none';" in text  # the shared shell's policy
    assert "<script" not in text


def test_criteria_at_each_checkpoint_equal_the_indicators_on_the_whole_district(scored: dict) -> None:
    out, config = scored["out"], scored["config"]
    students = scored["result"].roster["student_id"].astype(str).tolist()
    day = date.fromisoformat(scored["result"].run["as_of"])
    records = gather_records(out, config, students, through=day)
    con = open_validated(out, config)
    try:
        whole = student_indicators(con, config, as_of=day)
    finally:
        con.close()
    whole = whole[whole["student_id"].isin(students) & (whole["school_year"] == whole["school_year"].max())]
    mine = pd.DataFrame([r for s in students for r in records.of("criteria", s) if r["as_of_date"] == pd.Timestamp(day)])
    keys = ["student_id", "indicator"]
    columns = ["status", "gpa", "attendance_rate", "df_ela_math", "suspensions", "gpa_ok", "attendance_ok"]
    left = whole.set_index(keys)[columns].sort_index()
    right = mine.set_index(keys)[columns].sort_index()
    assert len(left) > 50 and left.index.equals(right.index)
    for column in columns:
        assert left[column].astype(object).where(left[column].notna(), None).tolist() == \
            right[column].astype(object).where(right[column].notna(), None).tolist(), column


def _copy_validated(source: Path, target: Path, drop: tuple[str, ...] = ()) -> Path:
    shutil.copytree(source / "validated", target / "validated")
    for name in drop:
        (target / "validated" / f"{name}.parquet").unlink(missing_ok=True)
    return target


def test_a_student_with_missing_tables_still_gets_a_page(scored: dict, tmp_path: Path) -> None:
    out = _copy_validated(scored["out"], tmp_path / "out",
                          drop=("course_marks", "assessments", "discipline", "attendance", "interventions"))
    roster = scored["result"].roster.head(2)
    run = dict(scored["result"].run)
    result = write_profiles(out, scored["config"], roster, run)
    assert result.pages == 2
    text = (out / "profiles" / file_stem(roster["school_id"].iloc[0]) /
            f"{file_stem(roster['student_id'].iloc[0])}.html").read_text("utf-8")
    for section in ("marks", "tests", "discipline", "interventions"):
        body = text[text.index(f'<section id="{section}">'):]
        body = body[:body.index("</section>")]
        assert NO_RECORDS in body, section
    # Without marks the D/F criterion of readiness is unknown, so readiness is never met.
    criteria = text[text.index('<section id="criteria">'):text.index('<section id="attendance">')]
    assert '<span class="unknown">unknown</span>' in criteria
    assert 'Ready for high school: <span class="met">' not in criteria


def _hostile_copy(source: Path, target: Path, student: str) -> Path:
    """The validated tables with one student renamed to HOSTILE_ID, a hostile name,
    a hostile course name and a hostile intervention type."""
    shutil.copytree(source / "validated", target / "validated")
    for path in (target / "validated").glob("*.parquet"):
        frame = pd.read_parquet(path)
        if "student_id" not in frame.columns:
            continue
        mine = frame["student_id"].astype(str) == student
        frame.loc[mine, "student_id"] = HOSTILE_ID
        if path.stem == "students":
            frame.loc[mine, "first_name"] = HOSTILE_NAME
            frame.loc[mine, "last_name"] = HOSTILE_LAST
        if path.stem == "course_marks":
            frame.loc[mine, "course_name"] = HOSTILE_COURSE
        if path.stem == "interventions":
            extra = frame.head(1).copy()
            extra["student_id"], extra["intervention_type"] = HOSTILE_ID, "<b>tutoring</b>"
            frame = pd.concat([frame, extra], ignore_index=True)
        frame.to_parquet(path)
    return target


def test_hostile_names_ids_and_courses_are_escaped(scored: dict, tmp_path: Path) -> None:
    roster = scored["result"].roster.head(1).copy()
    student = str(roster["student_id"].iloc[0])
    out = _hostile_copy(scored["out"], tmp_path / "out", student)
    roster["student_id"] = HOSTILE_ID
    write_profiles(out, scored["config"], roster, dict(scored["result"].run))
    (page,) = (out / "profiles").rglob("*.html")
    assert page.relative_to(out / "profiles") == Path(file_stem(roster["school_id"].iloc[0])) / f"{file_stem(HOSTILE_ID)}.html"
    text = page.read_text("utf-8")
    for raw in (HOSTILE_NAME, HOSTILE_COURSE, HOSTILE_ID, "<b>tutoring</b>", HOSTILE_LAST):
        assert raw not in text, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "&lt;b&gt;tutoring&lt;/b&gt;" in text
    assert "<script" not in text and "onerror=" not in text.replace("onerror=alert(2)&gt;", "")


def test_pages_of_students_who_left_the_roster_are_removed(scored: dict, tmp_path: Path) -> None:
    out = _copy_validated(scored["out"], tmp_path / "out")
    school = scored["result"].roster["school_id"].iloc[0]
    roster = scored["result"].roster[scored["result"].roster["school_id"] == school].head(3)
    run = dict(scored["result"].run)
    write_profiles(out, scored["config"], roster, run)
    assert len(_pages(out)) == 3
    write_profiles(out, scored["config"], roster.head(2), run)
    assert _pages(out) == {f"{file_stem(school)}/{file_stem(s)}.html" for s in roster["student_id"].head(2)}
    other = dict(run, model="grade9")  # another model's pages in the same school stay
    write_profiles(out, scored["config"], roster.tail(1), other)
    write_profiles(out, scored["config"], roster.head(1), run)
    assert len(_pages(out)) == 2
    listed = json.loads((out / "profiles" / file_stem(school) / "_pages_grade8.json").read_text("utf-8"))
    assert listed == [f"{file_stem(roster['student_id'].iloc[0])}.html"]


def _count_indicator_runs(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The as-of dates of every indicator computation the profiles make from now on (one pass over the checkpoints: all its dates at once)."""
    from ontrack.scoring import indicator_points, profile_data

    calls: list[date] = []
    single, one_pass = indicator_points.student_indicators, indicator_points.indicators_as_of

    def counted(con: object, config: object, **kwargs: object) -> object:
        calls.append(kwargs["as_of"])
        return single(con, config, **kwargs)

    def counted_pass(con: object, config: object, rows, **kwargs: object) -> object:
        calls.extend(sorted({day.date() for day in rows["as_of_date"]}))
        return one_pass(con, config, rows, **kwargs)

    for module in (profile_data, indicator_points):
        monkeypatch.setattr(module, "student_indicators", counted)
    monkeypatch.setattr(indicator_points, "indicators_as_of", counted_pass)
    return calls


def test_criteria_warmed_before_the_writers_fork_are_not_computed_again(
        scored: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``warm_criteria`` (run by publish before it forks the two page writers) computes
    every checkpoint the pages show, so gathering the pages' records computes none."""
    from ontrack.scoring import profile_data

    out = _copy_validated(scored["out"], tmp_path / "out")
    config, roster = scored["config"], scored["result"].roster
    ids = roster["student_id"].astype(str).tolist()
    calls = _count_indicator_runs(monkeypatch)
    from ontrack.reports.profiles import profiles_through

    through = profiles_through(out, config, scored["result"].run)
    profile_data.warm_criteria(out, config, ids, through=through)
    assert calls, "warm_criteria must compute the checkpoints' indicators"
    warmed = len(calls)
    records = gather_records(out, config, ids, through=through)
    assert len(calls) == warmed and any(records.rows["criteria"].values())


def test_profile_halves_split_the_students_evenly() -> None:
    """The two forked page writers get whole schools and about half the students each."""
    from ontrack.reports.profile_parts import _halves

    roster = pd.DataFrame({"school_id": ["big"] * 50 + ["a"] * 20 + ["b"] * 20 + ["c"] * 10 + ["d"] * 5})
    halves = _halves(roster)
    assert set().union(*halves) == {"big", "a", "b", "c", "d"} and not halves[0] & halves[1]
    sizes = sorted(int(roster["school_id"].isin(h).sum()) for h in halves)
    assert sizes == [50, 55]


def test_pages_written_again_from_the_same_records_are_left_as_they_are(scored: dict, tmp_path: Path) -> None:
    """A page (or manifest) whose bytes would not change is not rewritten; one whose
    records changed is replaced, and a new page is created."""
    out = clone_output(scored["out"], tmp_path / "out")
    result, config = scored["result"], scored["config"]
    roster = result.roster.head(6)

    def again(**run: str) -> None:
        write_profiles(out, config, roster, {**result.run, **run}, contributions=result.contributions.loc[roster.index],
                       base_value=result.base_value)

    again()
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "profiles").rglob("*") if p.is_file()}
    again()
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stamps} == stamps
    again(version="99")  # every page of a model-ranked student now says version 99
    page = next(p for p in stamps if p.suffix == ".html" and p.stem == file_stem(str(roster["student_id"].iloc[0])))
    assert page.stat().st_ino != stamps[page][0] and "version 99" in page.read_text("utf-8")
    page.unlink()
    again(version="99")
    assert page.is_file() and "version 99" in page.read_text("utf-8")
