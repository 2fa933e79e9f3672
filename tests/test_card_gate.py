"""The model card and the district report lead with the gate verdict, and the report
says who ranks the rosters exactly as the rosters' summary does (issue 15)."""

from __future__ import annotations

import base64
import copy
import json
import re
from html import unescape
from pathlib import Path

import pytest
from ontrack.reports.district.models import models_section

from ontrack.errors import OnTrackError
from ontrack.modeling.card import model_card_markdown

SETTINGS = {"max_ece": 0.05, "min_positives": 30, "fnr_slack": 0.05, "recall_margin": 0.0,
            "auc_margin": 0.0}  # fmt: skip


def _check(name: str, model: float, rule: float | None, threshold: float, how: str,
           passed: bool, **group: str) -> dict:  # fmt: skip
    return {"name": name, "model": model, "rule": rule, "threshold": threshold,
            "comparison": how, "passed": passed, **group}  # fmt: skip


def _gate(passed: bool) -> dict:
    recall = 0.802 if passed else 0.761
    return {
        "passed": passed,
        "checks": [
            _check("recall_at_rule_rate", recall, 0.776, 0.776, ">= rule + 0", passed),
            _check("roc_auc", 0.84, 0.71, 0.71, ">= rule + 0", True),
            _check("ece", 0.018, None, 0.05, "<= 0.05", True),
            _check("subgroup_fnr", 0.21, 0.25, 0.30, "<= rule + 0.05", True,
                   group_type="race_ethnicity", group="hispanic"),  # fmt: skip
        ],
        "too_few_to_judge": [{"group_type": "foster_youth", "group": "yes"}],
        "settings": SETTINGS,
        "lists": 6,
    }


def _cohort(n: int, auc: float, rule_auc: float, recall: float, rule_recall: float) -> dict:
    return {
        "n": n,
        "rule_flag_rate": 0.4,
        "model": {"roc_auc": auc, "recall_at_rule_rate": recall,
                  "intervals": {"roc_auc": [auc - 0.02, auc + 0.02]}},  # fmt: skip
        "rule": {"roc_auc": rule_auc, "recall_at_rule_rate": rule_recall},
        "logistic": {"roc_auc": 0.8},
    }


METRICS = {"roc_auc": 0.84, "recall_at_rule_rate": 0.802, "precision_at_rule_rate": 0.6,
           "ece": 0.018, "brier": 0.14, "pr_auc": 0.7}  # fmt: skip
EVALUATION = {
    "model": "grade8",
    "registered_model": "ontrack-grade8",
    "model_version": "4",
    "label": "off_track_9",
    "rule": "CORE readiness rule",
    "created_at": "2026-12-01T10:00:00",
    "config_hash": "cafe",
    "feature_hash": "beef",
    "features": ["attendance_rate", "gpa_so_far"],
    "ontrack_version": "0.9",
    "data_end": "2026-06-30",
    "split": {
        "kind": "deployment",
        "reason": None,
        "description": "rolling origin over 2 test cohorts",
        "folds": [
            {"train_years": [2020, 2021], "calibrate_years": [2022], "test_years": [2023],
             "calibration": "platt"},  # fmt: skip
            {"train_years": [2020, 2021, 2022], "calibrate_years": [2023],
             "test_years": [2024], "calibration": "platt"},  # fmt: skip
        ],
    },
    "test_cohorts": [2023, 2024],
    "test_as_of_dates": ["2023-10-31", "2024-01-31"],
    "calibration": {"method": "platt"},
    "n": 1900,
    "n_students": 950,
    "base_rate": 0.3,
    "rule_flag_rate": 0.4,
    **METRICS,
    "baselines": {"rule": {"roc_auc": 0.71, "recall_at_rule_rate": 0.776},
                  "logistic": {"roc_auc": 0.8}},  # fmt: skip
    "by_cohort": {"2023": _cohort(900, 0.831, 0.702, 0.791, 0.77),
                  "2024": _cohort(1000, 0.846, 0.719, 0.811, 0.781)},  # fmt: skip
    "by_checkpoint": {"10-31": {"n": 950, "model": METRICS, "rule": {"roc_auc": 0.7,
                      "recall_at_rule_rate": 0.77}}},  # fmt: skip
    "fairness": {"verdict": "1 of 2 audited groups are within bounds.",
                 "bounds": {"ratio_min": 0.8, "ratio_max": 1.25, "max_ece": 0.05},
                 "min_group_size": 20},  # fmt: skip
    "subgroups": [
        {"group_type": "foster_youth", "group": "no", "n_students": 937, "too_small": False,
         "fpr_ratio": 1.0, "fnr_ratio": 1.0, "ece": 0.02, "verdict": "within bounds"},
        {"group_type": "foster_youth", "group": "yes", "too_small": True,
         "verdict": "too small to audit (fewer than 20 students)"},
        {"group_type": "gender", "group": "f", "n_students": 471, "too_small": False,
         "fpr_ratio": 1.1, "fnr_ratio": 0.9, "ece": 0.02, "verdict": "within bounds"},
        {"group_type": "gender", "group": "m", "n_students": 479, "too_small": False,
         "fpr_ratio": 1.0, "fnr_ratio": 1.0, "ece": 0.02, "verdict": "within bounds"},
    ],  # fmt: skip
    "gate": _gate(True),
}


def _evaluation(**changes) -> dict:
    ev = copy.deepcopy(EVALUATION)
    ev.update(changes)
    return ev


def _sections(card: str) -> list[str]:
    return re.findall(r"^## (.+)$", card, flags=re.MULTILINE)


def test_the_card_leads_with_a_passing_gate_and_its_every_check() -> None:
    card = model_card_markdown(_evaluation(), {})
    assert _sections(card)[0].startswith("The gate")
    gate = card.split("## ")[1]
    assert "GATE PASSED" in gate and "This version may rank rosters" not in gate.split("\n")[0]
    assert "may rank rosters once it is promoted" in gate
    for words in ("recall at the rule's flag rate", "ROC AUC", "calibration error (ECE)",
                  "miss rate of race_ethnicity = hispanic"):  # fmt: skip
        assert re.search(rf"^\| {re.escape(words)} \|.*\| passed \|$", gate, flags=re.MULTILINE)
    assert "| 0.802 | 0.776 | >= rule + 0 (0.776) | passed |" in gate
    assert "Too few to judge" in gate and "foster_youth = yes" in gate
    assert "failed" not in gate


def test_a_failing_gate_names_the_failed_check_and_says_the_rule_ranks() -> None:
    card = model_card_markdown(_evaluation(gate=_gate(False)), {})
    gate = card.split("## ")[1]
    assert "GATE FAILED" in gate and "recall at the rule's flag rate: model 0.761, rule 0.776" in gate
    assert "| recall at the rule's flag rate | 0.761 | 0.776 | >= rule + 0 (0.776) | **failed** |" in gate
    assert "| ROC AUC | 0.840 | 0.710 | >= rule + 0 (0.710) | passed |" in gate
    assert "Rosters are ranked by the rule until a version passes" in gate
    assert "may rank rosters once" not in gate


def test_the_split_and_each_test_cohort_come_right_after_the_gate() -> None:
    card = model_card_markdown(_evaluation(), {})
    assert _sections(card)[:3] == ["The gate: may this version rank rosters?",
                                   "How it was tested", "By test cohort (rolling origin)"]  # fmt: skip
    assert "**deployment-style**" in card and "weaker evidence" not in card
    assert "Tested on 2024: trained on 2020, 2021, 2022, calibrated on 2023 (platt)." in card
    assert "| 2023 | 900 | 0.400 | 0.831 (0.811-0.851) | 0.702 | 0.791 | 0.770 |" in card
    assert "| 2024 | 1,000 |" in card


def test_a_retrospective_split_says_why_and_that_it_is_weaker_evidence() -> None:
    split = {"kind": "retrospective", "reason": "graduation labels of only two cohorts",
             "folds": [{"train_years": [2019], "calibrate_years": [2019],
                        "test_years": [2020], "calibration": "platt"}],
             "description": "train 2019, test 2020"}  # fmt: skip
    card = model_card_markdown(_evaluation(split=split), {})
    tested = card.split("## How it was tested")[1].split("## ")[0]
    assert "**retrospective**, because graduation labels of only two cohorts" in tested
    assert "weaker evidence than a deployment-style split" in tested


def test_an_evaluation_from_before_the_gate_says_so_and_still_renders() -> None:
    old = _evaluation(split={"train_years": [2020, 2021], "calibrate_years": [2022],
                             "test_years": [2023], "labels_close": "2022-06-30",
                             "description": "old", "note": None})  # fmt: skip
    for key in ("gate", "by_cohort"):
        del old[key]
    card = model_card_markdown(old, {})
    gate = card.split("## ")[1]
    assert "gate not evaluated (trained before the gate existed)" in gate.lower()
    assert "GATE PASSED" not in card and "GATE FAILED" not in card
    assert "Split: kind not recorded" in card
    assert "Trained on cohorts [2020, 2021], calibrated on [2022] (platt calibration)" in card
    assert "## Fairness audit" in card and "## Limitations" in card


def test_the_fairness_table_gives_no_withheld_size_away_by_subtraction() -> None:
    card = model_card_markdown(_evaluation(), {})
    fairness = card.split("## Fairness audit")[1]
    assert "| foster_youth: yes | fewer than 20 |" in fairness
    # 950 students in all minus 937 would give the withheld group's size away
    assert "937" not in card and "| foster_youth: no | 20 or more |" in fairness
    assert "| gender: f | 471 |" in fairness  # nothing withheld in that kind of group


# --- the district report -----------------------------------------------------------------


def _report(tmp_path: Path, ev: dict, summary: dict | None) -> str:
    out = tmp_path / "out"
    (out / "rosters").mkdir(parents=True)
    if summary is not None:
        (out / "rosters" / "summary_grade8.json").write_text(json.dumps(summary))
    report = tmp_path / "report"
    report.mkdir()
    return models_section({"grade8": ev}, out, report, {}, 20)


def _summary(**changes) -> dict:
    base = {"model": "grade8", "model_version": "4", "as_of_date": "2026-10-31",
            "ranked_by": "model", "ranked_by_reason": None, "forced_note": None}  # fmt: skip
    return {**base, **changes}


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_a_failed_gate_and_a_rule_ranked_summary_say_the_rule_ranks_and_why(tmp_path) -> None:
    reason = "the champion, version 4, failed its gate: recall at the rule's flag rate"
    html = _report(tmp_path, _evaluation(gate=_gate(False)), _summary(ranked_by="rule", ranked_by_reason=reason))
    text = _text(html)
    head = text.split("8th graders: ontrack-grade8, version 4")[1]
    assert head.lstrip().startswith("Gate: failed.")
    assert "recall at the rule's flag rate: model 0.761, rule 0.776 (needs >= rule + 0)" in head
    assert "Rosters of 2026-10-31 are ranked by the rule, not by the model." in head
    assert f"Why: {reason}." in head
    assert head.index("Gate: failed.") < head.index("ranked by the rule") < head.index("challenger")
    assert "2023" in text and "84.6%" in text  # the per-cohort table


@pytest.mark.parametrize("gate_passed", [True, False])
def test_the_report_never_says_the_model_ranks_when_the_rosters_say_the_rule(tmp_path, gate_passed) -> None:
    drift = "the scores drifted from training (PSI 0.31)"
    html = _report(tmp_path, _evaluation(gate=_gate(gate_passed)), _summary(ranked_by="rule", ranked_by_reason=drift))
    text = _text(html).lower()
    assert "ranked by the rule" in text and "psi 0.31" in text
    for claim in ("the model ranks", "ranked by this model", "ranked by the model", "rule stays"):
        assert claim not in text


def test_a_forced_version_ranks_and_the_report_says_so_with_the_note(tmp_path) -> None:
    note = "Model version 4 ranks this list although it failed its gate; promoted <b>by</b> ana"
    html = _report(tmp_path, _evaluation(gate=_gate(False)), _summary(forced_note=note))
    assert "Rosters of 2026-10-31 are ranked by this model, version 4." in _text(html)
    assert "promoted &lt;b&gt;by&lt;/b&gt; ana" in html and "<b>by</b>" not in html
    assert "ranked by the rule" not in html


def test_without_a_summary_the_report_says_the_model_has_not_scored(tmp_path) -> None:
    html = _report(tmp_path, _evaluation(), None)
    assert "has not scored rosters yet" in html
    assert "ranked by this model" not in html and "ranked by the rule" not in html
    assert "Gate: passed." in html


def test_an_evaluation_without_a_gate_and_an_old_summary(tmp_path) -> None:
    old = _evaluation()
    for key in ("gate", "by_cohort", "split"):
        del old[key]
    summary = {"model_version": "4", "ranked_by_rule": True, "drift_message": "scores drifted"}
    text = _text(_report(tmp_path, old, summary))
    assert "Gate: not evaluated (Version 4 was trained before the gate existed" in text
    assert "ranked by the rule, not by the model. " in text and "Why: scores drifted." in text


def test_a_retrospective_split_is_named_in_the_report(tmp_path) -> None:
    ev = _evaluation(split={"kind": "retrospective", "reason": "only two cohorts <2>"})
    html = _report(tmp_path, ev, _summary())
    assert "Tested retrospectively</strong>, because only two cohorts &lt;2&gt;" in html
    assert "weaker evidence" in html


def test_an_unreadable_summary_is_a_clear_error(tmp_path) -> None:
    out = tmp_path / "out"
    (out / "rosters").mkdir(parents=True)
    (out / "rosters" / "summary_grade8.json").write_text("{not json")
    with pytest.raises(OnTrackError, match="must be the JSON summary written by ontrack score"):
        models_section({"grade8": _evaluation()}, out, tmp_path, {}, 20)


def test_rosters_of_a_model_without_an_evaluation_are_still_reported(tmp_path) -> None:
    out = tmp_path / "out"
    (out / "rosters").mkdir(parents=True)
    reason = "there is no champion model (none has passed its gate and been promoted)"
    summary = _summary(model="grade9", model_version=None, ranked_by="rule", ranked_by_reason=reason)
    (out / "rosters" / "summary_grade9.json").write_text(json.dumps(summary))
    text = _text(models_section({}, out, tmp_path, {}, 20))
    assert "models are not trained yet" in text
    assert "9th graders: no evaluation found Rosters of 2026-10-31 are ranked by the rule, not by the model." in text
    assert f"Why: {reason}." in text


# --- the model card page: plots inline, nothing live from the data --------------------------


def _card_page(tmp_path: Path, ev: dict, plots: dict[str, bytes]) -> str:
    folder = tmp_path / "out" / "models" / "grade8"
    (folder / "plots").mkdir(parents=True)
    for name, data in plots.items():
        (folder / "plots" / name).write_bytes(data)
    (folder / "model_card.md").write_text(model_card_markdown(ev, {}), encoding="utf-8")
    _report(tmp_path, ev, None)
    return (tmp_path / "report" / "model_card_grade8.html").read_text(encoding="utf-8")


def test_the_card_page_shows_its_plots_inline_as_data_uris(tmp_path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"plot"
    ev = _evaluation(plots=["reliability.png", "reliability_gender.png", "shap_beeswarm.png",
                            "shap_importance.png"])  # fmt: skip
    card = model_card_markdown(ev, {})
    assert "## Plots" in card and "(plots/shap_beeswarm.png)" in card
    assert card.index("plots/shap_beeswarm.png") < card.index("plots/reliability.png")
    page = _card_page(tmp_path, ev, {n: png for n in ev["plots"]})
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == 4
    assert all(s == "data:image/png;base64," + base64.b64encode(png).decode() for s in sources)
    assert "plots/" not in " ".join(sources) and "img-src data:" in page
    assert "Content-Security-Policy" in page and '<a href="index.html#models">' in page


def test_a_plot_the_card_names_but_that_is_missing_is_text_not_a_broken_image(tmp_path) -> None:
    page = _card_page(tmp_path, _evaluation(plots=["shap_beeswarm.png"]), {})
    assert "<img" not in page and "SHAP summary" in page


def test_labels_from_the_data_stay_inert_on_the_card_page(tmp_path) -> None:
    ev = _evaluation()
    ev["subgroups"][2]["group"] = "[x](javascript:alert(1))"
    ev["subgroups"][3]["group"] = "<img src=x onerror=alert(1)> [d](data:text/html,hi) [ok](#top)"
    ev["gate"]["too_few_to_judge"] = [{"group_type": "gender", "group": "[v](VBScript:msgbox(1))"}]
    page = _card_page(tmp_path, ev, {})
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs == ["index.html#models", "#top"]
    assert "javascript:" not in "".join(hrefs) and "<img" not in page and "onerror=alert" not in page.replace(
        "&lt;img src=x onerror=alert(1)&gt;", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_report_gives_no_withheld_group_size_away(tmp_path) -> None:
    text = _text(_report(tmp_path, _evaluation(), None))
    assert "937" not in text and "within bounds 20 or more" in text  # sibling of a withheld group
    assert "471" in text and "479" in text  # nothing withheld among genders
