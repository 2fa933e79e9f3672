"""The rules in words come from the district's config, never from typed-in numbers.

A config with unusual thresholds (GPA 2.7, attendance 93%, two core Fs allowed, six
full-year courses, chronic absence at 85%) must show its own numbers in every piece that
states a rule: the reasons' bars, the rule-ranked rosters' texts, the district report's
criterion tables and definitions; and the default numbers (2.5, 96%) nowhere. A second
district with the default rules keeps its own bars in the same report.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ontrack.reports.district import about_section
from ontrack.reports.district.data import ReportData
from ontrack.reports.district.overview import criteria_section

from ontrack.config import Config, DistrictRules, config_from_dict
from ontrack.indicators.definitions import (
    CRITERIA,
    FLAGS,
    NAMES,
    criterion_bar,
    criterion_words,
    rule_summary,
)
from ontrack.scoring.reasons import top_reasons
from ontrack.scoring.rule_ranking import rule_reasons

REPORTS = Path(__file__).resolve().parents[1] / "reports"
UNUSUAL = {
    "readiness": {"gpa_min": 2.7, "attendance_min": 0.93},
    "on_track": {"full_year_courses_required": 6, "max_core_semester_fs": 2},
    "chronic_absence_max_rate": 0.85,
}
DEFAULT_NUMBERS = ("2.5", "96%")


@pytest.fixture(scope="module")
def config() -> Config:
    """District U asks the unusual bars; district D keeps the defaults."""
    return config_from_dict({"districts": {"U": UNUSUAL, "D": {}}})


def _no_defaults(text: str) -> None:
    for number in DEFAULT_NUMBERS:
        assert not re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", text), (number, text)


def test_every_rule_sentence_states_the_districts_numbers(config: Config) -> None:
    rules = config.rules_for("U")
    text = " ".join(rule_summary(rules, i) for i in NAMES)
    for number in ("2.7", "93%", "at most 2 semester Fs", "6 full-year courses", "85%"):
        assert number in text
    _no_defaults(text)
    assert "90%" not in text and "(CORE)" not in text  # not CORE's rule any more
    words = [criterion_words(rules, c) for c in FLAGS]
    bars = [criterion_bar(rules, c) for c in FLAGS]
    assert words[:2] == ["GPA of 2.7 or higher", "attendance of 93% or higher"]
    assert bars[:2] == ["readiness needs 2.7", "readiness needs 93%"]
    assert bars[4:] == ["on-track needs 6 by the end of 9th grade", "on-track allows at most 2"]
    _no_defaults(" ".join(words + bars))


def test_default_rules_read_as_before() -> None:
    """The default config's words are exactly those the report and rosters showed."""
    rules = DistrictRules()
    assert [criterion_words(rules, c) for c in CRITERIA["hs_readiness_8"]] == [
        "GPA of 2.5 or higher", "attendance of 96% or higher",
        "no D or F in ELA or math", "no suspension"]
    assert [criterion_words(rules, c) for c in CRITERIA["on_track_9"]] == [
        "enough credits (5 full-year courses)", "at most one semester F in a core subject"]
    ca = config_from_dict({"rules": {"credit_unit": 10}}).rules
    assert criterion_words(ca, "credits") == "enough credits (5 full-year courses, 50 credits)"
    with pytest.raises(ValueError, match="criterion must be one of"):
        criterion_words(rules, "shoe_size")


def test_reasons_and_rule_rosters_show_the_districts_bars(config: Config) -> None:
    contract = {
        "features": ["attendance_rate_ytd", "gpa_ytd"],
        "groups": {"attendance_rate_ytd": "attendance", "gpa_ytd": "coursework"},
        "malleable": {"attendance_rate_ytd": True, "gpa_ytd": True},
        "reasons": {"attendance_rate_ytd": "Attended {value:.0%} of school days this year",
                    "gpa_ytd": "GPA so far this year is {value:.2f}"},
    }
    X = pd.DataFrame({"attendance_rate_ytd": [0.88, 0.88], "gpa_ytd": [1.9, 1.9]})
    phi = pd.DataFrame({"attendance_rate_ytd": [0.9, 0.9], "gpa_ytd": [0.3, 0.3]})
    rules = pd.Series([config.rules_for("U"), config.rules_for("D")])
    wide = top_reasons(phi, X, contract, rules, "readiness")
    assert wide.iloc[0].tolist()[:2] == [
        "Attended 88% of school days this year (readiness needs 93%)",
        "GPA so far this year is 1.90 (readiness needs 2.7)"]
    _no_defaults(" ".join(wide.iloc[0]))
    assert "readiness needs 96%" in wide.iloc[1, 0]  # district D keeps its own bar

    matrix = pd.DataFrame({"on_track_fs_ok_ytd": [0.0], "core_semester_fs_ytd": [3.0],
                           "credits_vs_expected_ytd": [np.nan]})
    ranked = rule_reasons("on_track", matrix, pd.Series([config.rules_for("U")]))
    assert ranked.iloc[0, 0] == "3 semester Fs in core subjects (on-track allows at most 2)"
    matrix8 = pd.DataFrame({"readiness_gpa_ok_ytd": [0.0], "gpa_ytd": [2.6],
                            "readiness_attendance_ok_ytd": [0.0],
                            "attendance_rate_ytd": [0.9]})
    texts = " ".join(rule_reasons("readiness", matrix8, pd.Series([config.rules_for("U")])).iloc[0])
    assert "(readiness needs 2.7)" in texts and "(readiness needs 93%)" in texts
    _no_defaults(texts)


def _report_data(config: Config, min_size: int = 10) -> ReportData:
    """A report's published inputs for two districts, one school each (no rates)."""
    rows = []
    for unit in ("district:U", "school:u1", "district:D", "school:d1"):
        for indicator, criteria in CRITERIA.items():
            for k, criterion in enumerate(criteria):
                rows.append((unit, 2026, indicator, FLAGS[criterion], 40, 20 - k, 12, 0))
    counts = pd.DataFrame(rows, columns=["unit", "school_year", "indicator", "criterion",
                                         "n_students", "not_met", "only", "missing"])
    schools = pd.DataFrame({"school_id": ["u1", "d1"], "district_id": ["U", "D"],
                            "school_name": ["U one", "D one"], "school_level": ["", ""]})
    return ReportData(
        out_dir=Path("."), min_size=min_size, rates=pd.DataFrame(), years=(2026,),
        schools=schools, criteria=counts, rosters=None, models={}, checks={},
        config_hash="abc", as_of=None, districts=("D", "U"),
        rules={d: config.rules_for(d) for d in ("D", "U")},
    )


def test_report_text_uses_each_districts_own_rules(config: Config) -> None:
    data = _report_data(config)
    for unit in ("district:U", "school:u1"):
        html = criteria_section(data, unit)
        for words in ("GPA of 2.7 or higher", "attendance of 93% or higher",
                      "enough credits (6 full-year courses)",
                      "at most 2 semester Fs in a core subject"):
            assert f">{words}</" in html, (unit, words)
        _no_defaults(html)
    for unit in ("district:D", "school:d1"):
        html = criteria_section(data, unit)
        assert ">GPA of 2.5 or higher</" in html and "2.7" not in html
    about = about_section(data)
    # The districts' rules differ: each one's own bars, named by district.
    assert "<li>District U: in grade 8, GPA of 2.7 or higher" in about
    assert "<li>District D: in grade 8, GPA of 2.5 or higher" in about
    assert "attendance of 85% or lower" in about and "attendance of 90% or lower" in about

    only_u = _report_data(config)
    only_u.districts, only_u.rules = ("U",), {"U": config.rules_for("U")}
    about = about_section(only_u)
    assert "GPA of 2.7 or higher" in about and "District U" not in about
    _no_defaults(about)


def test_a_unit_without_rules_is_an_error(config: Config) -> None:
    data = _report_data(config)
    data.rules = {"D": config.rules_for("D")}
    with pytest.raises(Exception, match="must be given the rules of district 'U'"):
        criteria_section(data, "school:u1")


# The rule thresholds that must never be typed into reports/ (they come from the config).
_THRESHOLD_TEXT = re.compile(r"(?<![\d.])(2\.5|0\.96|96 ?%|90 ?%|0\.9|5 full-year)(?![\d])")
_THRESHOLD_NUMBERS = {2.5, 0.96, 0.9}


def _threshold_literals(path: Path) -> list[str]:
    """Rule thresholds in a module's code: in any string, or as a number compared with."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [f"{path.name}:{node.lineno}: {m.group(0)!r}"
                      for m in _THRESHOLD_TEXT.finditer(node.value)]
        if isinstance(node, ast.Compare):
            found += [f"{path.name}:{node.lineno}: {c.value!r} compared"
                      for c in (node.left, *node.comparators)
                      if isinstance(c, ast.Constant) and c.value in _THRESHOLD_NUMBERS
                      and not isinstance(c.value, bool)]
    return found


def test_no_rule_threshold_is_typed_in_reports() -> None:
    files = sorted(REPORTS.rglob("*.py"))
    assert len(files) > 5
    found = [hit for path in files for hit in _threshold_literals(path)]
    assert found == []


def test_the_threshold_check_finds_a_typed_threshold(tmp_path: Path) -> None:
    """The check above would catch the words the report used to hard-code."""
    bad = tmp_path / "bad.py"
    bad.write_text('A = ("gpa_ok", "GPA of 2.5 or higher")\nB = rate >= 0.96\n'
                   'C = "attendance of 96% or higher"\nD = right(0.96)\nE = "2.55"\n')
    assert len(_threshold_literals(bad)) == 3


def test_a_roster_states_its_districts_rule_under_the_title(config: Config) -> None:
    from ontrack.reports.roster_html import render_html
    from ontrack.reports.roster_values import RosterMeta

    rule = rule_summary(config.rules_for("U"), "hs_readiness_8")
    meta = RosterMeta(title="School u1", model="grade8", model_version="1",
                      as_of_date="2026-01-31", expires="2026-06-30", config_hash="abc",
                      rules=(rule,))
    frame = pd.DataFrame({"student_id": ["s1"], "risk_tier": ["Watch"]})
    html = render_html(frame, meta)
    header = html[html.index("<header>"):html.index("</header>")]
    assert "GPA of 2.7 or higher, attendance of 93% or higher" in header
    _no_defaults(header)
    assert "<p class=\"facts\">Ready" not in render_html(frame, RosterMeta(
        title="t", model="grade8", model_version="1", as_of_date="", expires="",
        config_hash=""))
