"""``ontrack report``'s models section: the evaluation in plain words, the gate before
who ranks the rosters, the champion's check, the fairness audit's groups named for what
they are, and the model card rendered as untrusted text."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ontrack.reports.district import render_report

from tests.report_district import (
    CONFIG,
    EVALUATION,
    models_section,
    read_pages,
    reported_district,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shared reported district (read only)."""
    yield from reported_district(tmp_path_factory)


def test_calibration_bins_of_few_students_are_left_out(built):
    html = read_pages(built)["index.html"]
    models = models_section(html)
    assert "fewer than 20</td>" in models and "88.0%" not in models


def test_models_section_in_plain_words_with_the_model_card(built):
    html = read_pages(built)["index.html"]
    models = models_section(html)
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
    card = read_pages(built)["model_card_grade8.html"]
    assert (
        "<table>" in card and "&lt;b&gt;so far" in card
    )  # the card's HTML is not trusted


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
            ],
        },
    }
    (tmp_path / "models" / "grade8" / "check_champion.json").write_text(
        json.dumps(check)
    )
    html = render_report(tmp_path, CONFIG).read_text(encoding="utf-8")
    models = models_section(html)
    assert "The champion (version 2), checked again" in models and "2026" in models
    assert "found 50%" in models and "Gate: passed." in models  # version 3's own
    assert "The champion, version 2, on the newest labelled cohort, may not rank" in models
    assert "ROC AUC: model 0.810, rule 0.900" in models
    assert "has not scored rosters yet" in models  # no summary in this folder


def test_an_unpromoted_model_is_called_a_challenger(built):
    html = read_pages(built)["index.html"]
    assert "challenger" in html and "has not been promoted" in html


def test_each_side_of_a_flag_is_named_for_what_it_is(built):
    from ontrack.reports.district.words import group_name

    assert group_name("english_learner", "yes") == "English learners"
    assert group_name("english_learner", "no") == "Not English learners"
    assert group_name("students_with_disabilities", "no") == "Students without disabilities"
    assert group_name("foster_youth", "not_recorded") == "Foster youth: not recorded"
    models = models_section(read_pages(built)["index.html"])
    row = re.search(r"<tr><td>English learners</td><td>Not English learners</td>.*?</tr>",
                    models).group(0)
    # The audit's own fields fill the row: students, missed, flagged though on track.
    assert ">318<" in row and ">38%<" in row and ">6%<" in row
    # The test size counts students; the student-checkpoints are said beside.
    assert "Tested on 406 " in models and "(812 student-checkpoints)" in models


def test_a_changed_card_or_plot_gives_a_new_card_page(tmp_path):
    """Card pages are kept per process by their Markdown, plots and title: an edit to
    any of them shows, as it would in a new process."""
    from ontrack.reports.district.models import card_page

    card = tmp_path / "model_card.md"
    card.write_text("# Card\n\nFirst words.\n", encoding="utf-8")
    first = card_page(card, "grade8")
    assert "First words." in first and card_page(card, "grade8") == first
    card.write_text("# Card\n\nOther words.\n", encoding="utf-8")
    assert "Other words." in card_page(card, "grade8")
    assert "<title>" in card_page(card, "grade9 &") and "grade9 &amp;" in card_page(card, "grade9 &")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "roc.png").write_bytes(b"\x89PNG one")
    card.write_text("![roc](plots/roc.png)\n", encoding="utf-8")
    one = card_page(card, "grade8")
    (tmp_path / "plots" / "roc.png").write_bytes(b"\x89PNG two")
    two = card_page(card, "grade8")
    assert one != two and "data:image/png;base64," in two
