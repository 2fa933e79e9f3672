"""``ontrack report``: the district report renders, withholds small groups exactly as
rates.csv does, links every school page, and references nothing outside its folder."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from ontrack.reports.district import parse_pair, render_report
from ontrack.reports.district.words import school_page

from ontrack.commands import report as report_command
from ontrack.config import load_config
from ontrack.errors import OnTrackError
from ontrack.synth import generate_district

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
        ],  # fmt: skip
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


def _args(data: Path, out: Path, **changes) -> argparse.Namespace:
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


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A synthetic district, a trained-model evaluation and one roster, reported."""
    root = tmp_path_factory.mktemp("report")
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
    assert report_command.run(_args(root / "data", out)) == 0
    return out


def _pages(out: Path) -> dict[str, str]:
    return {
        p.name: p.read_text(encoding="utf-8") for p in (out / "report").glob("*.html")
    }


def _rates(out: Path) -> pd.DataFrame:
    return pd.read_csv(
        out / "indicators" / "rates.csv",
        dtype={"school_id": str, "district_id": str, "group": str},
    )


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


class _Links(HTMLParser):
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


def _cells(html: str) -> list[dict]:
    parser = _Cells()
    parser.feed(html)
    return parser.found


def test_every_school_has_a_page_linked_from_the_index(built):
    pages = _pages(built)
    schools = _rates(built).query("level == 'school'")["school_id"].unique()
    assert len(schools) >= 3
    for school_id in schools:
        name = school_page(school_id)
        assert name in pages, name
        assert f'href="{name}"' in pages["index.html"]
        assert "District report" in pages[name]


def test_every_shown_rate_is_a_published_cell_and_withheld_cells_show_no_number(built):
    rates = _rates(built)
    rates["unit"] = ("district:" + rates["district_id"]).where(
        rates["level"] == "district", "school:" + rates["school_id"].fillna("")
    )
    lookup = {
        f"{r.school_year}|{r.indicator}|{r.unit}|{r.grade_level}|{r.group_type}|{r.group}": r
        for r in rates.itertuples(index=False)
    }
    shown = withheld = counts = 0
    for name, html in _pages(built).items():
        for item in _cells(html):
            if "data-count" in item:
                value = int(item["data-count"])
                assert value == 0 or value >= MIN, (name, item)
                counts += 1
                continue
            row = lookup[item["data-cell"]]
            text = item["text"].strip()
            if row.suppressed:
                assert item.get("data-suppressed") == "1", (name, item)
                assert not re.search(r"\d", text), (name, item)
                withheld += 1
            else:
                assert row.n >= MIN
                assert text.startswith(f"{row.rate * 100:.1f}%"), (name, item, row.rate)
                shown += 1
    assert shown > 50 and withheld > 20 and counts > 5


def test_no_percentage_in_a_table_without_its_source_cell(built):
    """Outside the models section, every % in a table cell is a rates.csv cell or a
    share derived from published counts."""
    for name, html in _pages(built).items():
        html = re.sub(r'<section id="models">.*?</section>', "", html, flags=re.DOTALL)
        html = re.sub(r"<svg.*?</svg>", "", html, flags=re.DOTALL)
        for td in re.findall(r"<td([^>]*)>([^<]*%)</td>", html):
            assert "data-cell" in td[0] or "derived" in td[0], (name, td)


def test_criteria_counts_match_students_csv_and_small_counts_are_withheld(built):
    students = pd.read_csv(
        built / "indicators" / "students.csv",
        dtype={"school_id": str},
        low_memory=False,
    )
    latest = int(students["school_year"].max())
    ready = students[
        (students["indicator"] == "hs_readiness_8")
        & (students["school_year"] == latest)
    ]
    failing = int((ready["attendance_ok"].astype(str).str.lower() == "false").sum())
    html = _pages(built)["index.html"]
    row = re.search(
        r"attendance of 96% or higher</th>(.*?)</tr>", html, flags=re.DOTALL
    ).group(1)
    first = _cells(f"<table><tr>{row}</tr></table>")[0]
    assert failing >= MIN and int(first["data-count"]) == failing


def test_no_external_resource_is_referenced(built):
    pattern = re.compile(
        r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//|@import|url\(\s*[\"']?\s*(?:https?:)?//"
        r"|<link\b|<script[^>]+src=|<iframe|<object|<embed",
        re.IGNORECASE,
    )
    for name, html in _pages(built).items():
        assert not pattern.search(html), (name, pattern.search(html).group(0))
        if not name.startswith("model_card"):  # a card's text may mention a site
            assert "http://" not in html and "https://" not in html, name
    assert not list((built / "report").glob("*.js")) and not list(
        (built / "report").glob("*.css")
    )


def test_every_chart_is_inline_svg_with_a_table_beside_it(built):
    for name, html in _pages(built).items():
        figures = re.findall(
            r'<figure class="chart[^"]*".*?</figure>', html, flags=re.DOTALL
        )
        if name.startswith("school_") or name == "index.html":
            assert figures, name
        for fig in figures:
            assert "<svg" in fig and "<path" in fig and "<table" in fig, name
        ids = re.findall(r'\bid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), f"duplicate ids in {name}"


def test_calibration_bins_of_few_students_are_left_out(built):
    html = _pages(built)["index.html"]
    models = re.search(
        r'<section id="models">.*?</section>', html, flags=re.DOTALL
    ).group(0)
    assert "fewer than 20</td>" in models and "88.0%" not in models


def test_models_section_in_plain_words_with_the_model_card(built):
    html = _pages(built)["index.html"]
    models = re.search(
        r'<section id="models">.*?</section>', html, flags=re.DOTALL
    ).group(0)
    assert "ontrack-grade8, version 3" in models and "2026-11-30" in models
    assert "found 74%" in models and "61% for the rule" in models
    assert (
        "Within bounds for every group" in models
        and "too few students to judge" in models
    )
    assert 'href="model_card_grade8.html"' in models
    # the gate first, then who ranks, as the rosters' summary says (not the metrics)
    after = models.split("ontrack-grade8, version 3</h3>")[1]
    assert after.startswith("<p><strong>Gate: passed.</strong>")
    assert after.index("Gate: passed.") < after.index(
        "Rosters of 2026-10-31 are ranked by the rule, not by the model."
    ) < after.index("the champion, version 2, failed its gate")
    assert "ranked by this model" not in models
    card = _pages(built)["model_card_grade8.html"]
    assert (
        "<table>" in card and "&lt;b&gt;so far" in card
    )  # the card's HTML is not trusted


def test_roster_counts_by_tier_withhold_small_tiers(built):
    html = _pages(built)[school_page("0503")]
    rosters = re.search(
        r'<details class="section" id="rosters">.*?</details>', html, flags=re.DOTALL
    ).group(0)
    # 5 is too small; 25 goes with it, or 25 + 5 = total - 30 would give it away
    assert 'data-count="30"' in rosters
    assert 'data-count="25"' not in rosters and ">5<" not in rosters
    other = next(
        p
        for n, p in _pages(built).items()
        if n.startswith("school_") and n != school_page("0503")
    )
    assert "No roster for this school" in other


def test_without_models_or_rosters_the_report_says_so(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    index = render_report(tmp_path, CONFIG)
    html = index.read_text(encoding="utf-8")
    assert "models are not trained yet" in html
    page = next((tmp_path / "report").glob("school_*.html")).read_text(encoding="utf-8")
    assert "No rosters yet" in page


def test_pages_are_the_same_with_two_processes(built, tmp_path):
    """The fixture's report was rendered in one process (a district of few schools): the
    same outputs (school names, models and rosters too) rendered by two give the same pages."""
    for folder in ("validated", "indicators", "models", "rosters"):
        shutil.copytree(built / folder, tmp_path / folder)
    render_report(tmp_path, CONFIG, pair=parse_pair("hs_readiness_8,chronic_absence"), workers=2)
    serial = _pages(built)
    assert len(serial) > 1 and _pages(tmp_path) == serial


def test_bad_input_is_a_clear_error(built, tmp_path):
    with pytest.raises(
        OnTrackError, match="--scatter must be two indicators of one grade"
    ):
        parse_pair("hs_readiness_8,on_track_9")
    with pytest.raises(OnTrackError, match=r"rates.csv must exist"):
        render_report(tmp_path, CONFIG)
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    strict = CONFIG.model_copy(
        update={"reporting": CONFIG.reporting.model_copy(update={"min_group_size": 40})}
    )
    with pytest.raises(OnTrackError, match="must have at least 40 students"):
        render_report(tmp_path, strict)
    with pytest.raises(OnTrackError, match="DATA must be a directory"):
        report_command.run(_args(tmp_path / "nowhere", tmp_path / "fresh"))


def test_reuse_indicators_renders_without_recomputing(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    stamp = (tmp_path / "indicators" / "rates.csv").stat().st_mtime_ns
    assert (
        report_command.run(
            _args(
                tmp_path / "nowhere",
                tmp_path,
                reuse_indicators=True,
                scatter="suspension,hs_readiness_8",
            )
        )
        == 0
    )
    assert (tmp_path / "indicators" / "rates.csv").stat().st_mtime_ns == stamp
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    first = re.search(r'<select id="scatter-pick"><option value="([^"]+)"', html).group(
        1
    )
    assert first == "hs_readiness_8-suspension-8"  # the requested pair first, not the default


def test_the_command_parses_its_options():
    parser = argparse.ArgumentParser(prog="ontrack")
    report_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "report",
            "DATA",
            "--out",
            "OUT",
            "--reuse-indicators",
            "--scatter",
            "on_track_9,suspension",
        ]
    )
    assert args.func is report_command.run and args.reuse_indicators
    assert parse_pair(args.scatter).grade == 9
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["report", "DATA"])
    assert exc.value.code == 2


def test_an_unreadable_roster_is_a_clear_error(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    (tmp_path / "rosters").mkdir()
    pd.DataFrame({"student_id": ["1"], "tier": ["high"]}).to_csv(
        tmp_path / "rosters" / "0503.csv", index=False
    )
    with pytest.raises(OnTrackError, match="must have a risk_tier column"):
        render_report(tmp_path, CONFIG)


def test_the_champion_check_is_shown_when_ontrack_evaluate_wrote_one(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    shutil.copytree(built / "models", tmp_path / "models")
    check = {
        **EVALUATION,
        "model_version": "2",
        "alias": "champion",
        "test_cohorts": [2026],
        "recall_at_rule_rate": 0.5,
        "baselines": {"rule": {"roc_auc": 0.9, "recall_at_rule_rate": 0.6}},
        "gate": {
            "passed": False,
            "checks": [
                {"name": "roc_auc", "model": 0.81, "rule": 0.9, "threshold": 0.9,
                 "comparison": ">= rule + 0", "passed": False},
            ],  # fmt: skip
        },
    }
    (tmp_path / "models" / "grade8" / "check_champion.json").write_text(
        json.dumps(check)
    )
    html = render_report(tmp_path, CONFIG).read_text(encoding="utf-8")
    models = re.search(
        r'<section id="models">.*?</section>', html, flags=re.DOTALL
    ).group(0)
    assert "The champion (version 2), checked again" in models and "2026" in models
    assert "found 50%" in models and "Gate: passed." in models  # version 3's own
    assert "The champion, version 2, on the newest labelled cohort, may not rank" in models
    assert "ROC AUC: model 0.810, rule 0.900" in models
    assert "has not scored rosters yet" in models  # no summary in this folder


def test_an_unpromoted_model_is_called_a_challenger(built):
    html = _pages(built)["index.html"]
    assert "challenger" in html and "has not been promoted" in html


def test_the_cli_exits_1_with_a_message_on_bad_input_and_2_on_usage(
    built, tmp_path, capsys
):
    from ontrack.cli import main

    shutil.copytree(built / "indicators", tmp_path / "indicators")
    code = main(["report", "x", "--out", str(tmp_path), "--reuse-indicators",
                 "--scatter", "gpa,attendance", "--quiet"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "--scatter must be two indicators" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["report", "x"])
    assert exc.value.code == 2
    assert main(["report", "x", "--out", str(tmp_path), "--reuse-indicators"]) == 0
    assert "district report:" in capsys.readouterr().out


def test_a_directory_with_two_districts_gets_an_overview_for_each(built, tmp_path):
    rates = _rates(built)
    other = rates.copy()
    other["district_id"] = "0699999"
    other["school_id"] = ("9" + other["school_id"]).where(other["school_id"].notna())
    (tmp_path / "indicators").mkdir()
    pd.concat([rates, other]).to_csv(tmp_path / "indicators" / "rates.csv", index=False)
    html = render_report(tmp_path, CONFIG).read_text(encoding="utf-8")
    assert "District 0699999" in html and 'id="groups-0699999"' in html
    n_schools = rates.query("level == 'school'")["school_id"].nunique()
    assert len(list((tmp_path / "report").glob("school_*.html"))) == 2 * n_schools
    assert 'name="district"' in html  # the schools table can be filtered by district


def test_each_side_of_a_flag_is_named_for_what_it_is(built):
    from ontrack.reports.district.words import group_name

    assert group_name("english_learner", "yes") == "English learners"
    assert group_name("english_learner", "no") == "Not English learners"
    assert group_name("students_with_disabilities", "no") == "Students without disabilities"
    assert group_name("foster_youth", "not_recorded") == "Foster youth: not recorded"
    models = re.search(r'<section id="models">.*?</section>', _pages(built)["index.html"],
                       flags=re.DOTALL).group(0)
    row = re.search(r"<tr><td>English learners</td><td>Not English learners</td>.*?</tr>",
                    models).group(0)
    # The audit's own fields fill the row: students, missed, flagged though on track.
    assert ">318<" in row and ">38%<" in row and ">6%<" in row
    # The test size counts students; the student-checkpoints are said beside.
    assert "Tested on 406 " in models and "(812 student-checkpoints)" in models


def test_a_cell_withheld_to_protect_another_says_so(built):
    rates = _rates(built)
    shown = set(rates["school_year"].drop_duplicates().nlargest(3))
    why = {
        f"{r.school_year}|{r.indicator}|"
        + (f"district:{r.district_id}" if r.level == "district" else f"school:{r.school_id}")
        + f"|{r.grade_level}|{r.group_type}|{r.group}": r.suppression
        for r in rates[rates["suppressed"] & rates["school_year"].isin(shown)].itertuples()
    }
    assert "complementary" in why.values() and "primary" in why.values()
    seen = set()
    for html in _pages(built).values():
        for cell in _cells(html):
            if cell.get("data-suppressed") != "1" or cell["tag"] != "td":
                continue
            kind = why[cell["data-cell"]]
            seen.add(kind)
            assert cell["data-suppression"] == kind
            if kind == "complementary":
                assert cell["title"] == "withheld to protect a smaller group"
                assert cell["text"] == "\u2014\u2020"
            else:
                assert cell["title"] == "withheld: small group" and cell["text"] == "\u2014*"
    assert seen == {"primary", "complementary"}


def test_the_top_of_the_index_says_why_and_how_many_cells_are_withheld(built):
    rates = _rates(built)
    shown = rates[rates["school_year"].isin(rates["school_year"].drop_duplicates().nlargest(3))]
    html = _pages(built)["index.html"]
    lead = re.search(r'<p class="why-withheld" id="withheld-share">(.*?)</p>', html,
                     flags=re.DOTALL).group(1)
    lead = " ".join(lead.split())
    withheld = shown["suppressed"]
    complementary = int((withheld & (shown["suppression"] == "complementary")).sum())
    assert f"{withheld.mean():.0%} of the {len(shown):,} rate cells" in lead
    assert f"{int(withheld.sum()) - complementary:,} because fewer than {MIN} students" in lead
    assert f"{complementary:,} to protect a smaller group" in lead
    assert html.index('id="withheld-share"') < html.index('id="overview"')


def test_sections_collapse_under_a_contents_bar(built):
    html = _pages(built)["index.html"]
    nav = re.search(r'<nav class="sections" aria-label="contents">(.*?)</nav>', html,
                    flags=re.DOTALL).group(1)
    targets = re.findall(r'<a href="#([^"]+)">', nav)
    assert targets[:3] == ["overview", "groups", "schools"] and "about" in targets
    sections = re.findall(r'<details class="section" id="([^"]+)"( open)?>', html)
    ids = [name for name, _ in sections]
    for target in targets:  # every contents link lands in (or on) a collapsible section
        assert target in ids or f'id="{target}"' in html, target
    assert dict(sections)["overview"] == " open"
    assert all(opened == "" for name, opened in sections if name != "overview")
    assert '<meta http-equiv="Content-Security-Policy"' in html


def test_hostile_school_names_and_group_labels_come_out_escaped(built, tmp_path):
    shutil.copytree(built / "indicators", tmp_path / "indicators")
    rates = _rates(built)
    rates.loc[rates["group"] == "hispanic", "group"] = '<img src=x onerror="alert(1)">'
    rates.to_csv(tmp_path / "indicators" / "rates.csv", index=False)
    ids = sorted(rates["school_id"].dropna().unique())
    hostile = ["<script>alert(1)</script>", "[x](javascript:alert(1))", 'Q "$5" & <b>']
    (tmp_path / "validated").mkdir()
    pd.DataFrame({"school_id": ids, "school_name": [hostile[k % 3] for k in range(len(ids))],
                  "school_level": "middle"}).to_parquet(tmp_path / "validated" / "schools.parquet")
    render_report(tmp_path, CONFIG)
    pages = _pages(tmp_path)
    for name, html in pages.items():
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>" not in html
        links = _Links()
        links.feed(html)
        assert links.handlers == [], name  # no event handler attribute anywhere
        allowed = r"#.*|index\.html|school_[A-Za-z0-9_-]+\.html|model_card_[A-Za-z0-9_-]+\.html"
        assert all(re.fullmatch(allowed, h) for h in links.hrefs), links.hrefs
    index = pages["index.html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "[x](javascript:alert(1))" in index  # shown as text, never a link
    assert "&lt;img src=x onerror=" in index


def test_criteria_words_follow_the_configs_bars_not_numbers_typed_in_the_report():
    import inspect

    from ontrack.reports.district import data as report_data

    from ontrack.config import DistrictRules

    rules = DistrictRules()
    stricter = rules.model_copy(update={"readiness": rules.readiness.model_copy(
        update={"attendance_min": 0.9, "gpa_min": 3.2})})
    flag = report_data.CRITERIA["hs_readiness_8"]
    words = {f: report_data.criterion_label(rules, f) for f in flag}
    changed = {f: report_data.criterion_label(stricter, f) for f in flag}
    assert sum(words[f] != changed[f] for f in flag) == 2
    assert any("90%" in w for w in changed.values()) and any("3.2" in w for w in changed.values())
    code = inspect.getsource(report_data)
    assert not re.search(r"\b0\.9\d*\b|\b2\.5\b|\b96\b", code)  # no bar typed in data.py


def test_roster_counts_read_the_file_scoring_named_never_a_path_from_an_id(tmp_path: Path) -> None:
    from ontrack.paths import file_stem
    from ontrack.reports.district.sources import roster_counts

    out = tmp_path / "out"
    (out / "rosters").mkdir(parents=True)
    rows = "student_id,model,risk_tier,as_of_date\n" + "".join(
        f"{i:05d},grade8,check in,2025-01-31\n" for i in range(25))
    (out / "rosters" / f"{file_stem('North/7')}.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "secret.csv").write_text(rows, encoding="utf-8")  # outside OUT/rosters
    found = roster_counts(out, ["North/7", "../../secret"], 20, ("check in",))
    assert list(found) == ["North/7"]
    assert found["North/7"].set_index("risk_tier").loc["check in", "n"] == 25


def test_a_failed_run_leaves_the_previous_report_whole(built, tmp_path, monkeypatch):
    import ontrack.reports.district as district

    out = tmp_path / "out"
    shutil.copytree(built, out)
    before = {p.name: p.read_bytes() for p in (out / "report").glob("*.html")}

    def broken(task):
        if task[0] == "school":
            raise RuntimeError("killed halfway")
        return original(task)

    original = district._write_page
    monkeypatch.setattr(district, "_write_page", broken)
    with pytest.raises(RuntimeError, match="killed halfway"):
        district.render_report(out, load_config(), workers=1)
    assert {p.name: p.read_bytes() for p in (out / "report").glob("*.html")} == before
    assert not [p.name for p in out.iterdir() if p.name.startswith(".report")]
