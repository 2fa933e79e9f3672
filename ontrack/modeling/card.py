"""The model card and the datasheet of the training data, in Markdown.

Both are built from aggregates only (the evaluation and the datasheet dictionaries):
no student row, no student ID, no group smaller than the minimum size.
"""

from __future__ import annotations

import math
import re

from ontrack.modeling.baselines import who
from ontrack.modeling.gate import CHECK_TITLES, verdict_line

# What a model helps with, by the label it predicts (its population comes first).
PURPOSE = {
    "off_track_9": "who may need support to be on track at the end of 9th grade",
    "not_graduated_4yr": "who may need support to graduate",
}
LABEL_WORDS = {
    "off_track_9": "not on track at the end of 9th grade (Chicago Freshman On-Track: "
    "fewer than 5 full-year credits or more than one semester F in a core subject)",
    "not_graduated_4yr": "not graduating within 4 school years of starting 9th grade "
    "(transfers out are excluded)",
}


def _num(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _with_interval(metrics: dict, key: str) -> str:
    low, high = (metrics.get("intervals") or {}).get(key, [None, None])
    text = _num(metrics.get(key))
    if low is not None and high is not None and text != "-":
        text += f" ({_num(low)}-{_num(high)})"
    return text


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell (a ``|`` would split the cell)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _check_name(check: dict) -> str:
    if check.get("name") == "subgroup_fnr":
        return f"miss rate of {check.get('group_type')} = {check.get('group')}"
    return CHECK_TITLES.get(check.get("name", ""), str(check.get("name")))


def gate_section(evaluation: dict) -> list[str]:
    """The gate first: the verdict, every check, the groups too few to judge, and what
    the verdict means for the rosters. Older evaluations (no ``gate``) say so."""
    lines = ["## The gate: may this version rank rosters?", ""]
    gate = evaluation.get("gate")
    if not isinstance(gate, dict):
        return lines + [
            "Gate not evaluated (trained before the gate existed). This version has not "
            "been checked against the district's rule as CONTRACT §3 requires; retrain it "
            "before it ranks a roster.",
            "",
        ]
    lines += [f"**{verdict_line(gate)}**", "", "| check | model | rule | needs | result |",
              "|---|---|---|---|---|"]
    for check in gate.get("checks", []):
        needs = f"{check.get('comparison', '')} ({_num(check.get('threshold'))})"
        if check.get("rule") is None:
            needs = str(check.get("comparison", ""))
        lines.append(
            f"| {_cell(_check_name(check))} | {_num(check.get('model'))} | {_num(check.get('rule'))} "
            f"| {_cell(needs)} | {'passed' if check.get('passed') else '**failed**'} |"
        )
    few = gate.get("too_few_to_judge") or []
    least = (gate.get("settings") or {}).get("min_positives")
    if few:
        bar = f"fewer than {least} " if least else "too few "
        names = ", ".join(f"{g.get('group_type')} = {g.get('group')}" for g in few)
        lines += ["", f"Too few to judge ({bar}students in the group ended up off track; "
                  f"neither passing nor failing): {names}."]
    lines.append("")
    if gate.get("passed"):
        lines.append(
            "What it means: this version may rank rosters once it is promoted to champion. "
            "It found at least as many of the students who ended up off track as the rule "
            "did, at the rule's own flag rate, on cohorts it never saw."
        )
    else:
        lines.append(
            "What it means: this version may not rank rosters. Rosters are ranked by the "
            "rule until a version passes (a passing champion already in use keeps "
            "ranking). Only `promote --force --why` can override this, and every roster "
            "it then ranks says so at the top."
        )
    return lines + [""]


def _sentence(reason: object) -> str:
    """A recorded reason inside a sentence: no trailing full stop of its own."""
    text = str(reason or "no deployment-style split exists for these data").strip()
    return text.rstrip(".")


def _years(values: object) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, list | tuple) else str(values)


def split_section(evaluation: dict) -> list[str]:
    """How the test cohorts were chosen: the split's kind, its folds, and for a
    retrospective split why and what it is worth."""
    split = evaluation.get("split") or {}
    kind = split.get("kind")
    lines = ["## How it was tested", ""]
    if kind == "retrospective":
        lines += [
            f"- Split: **retrospective**, because {_sentence(split.get('reason'))}.",
            "- This is weaker evidence than a deployment-style split: the model learned "
            "from outcomes that were not yet known when its test cohort would have been "
            "scored, so in real use it may do worse than shown here.",
        ]
    elif kind == "deployment":
        lines.append(
            "- Split: **deployment-style**: every test cohort was scored by a model trained "
            "only on cohorts whose outcomes were known by that cohort's checkpoints, as in real use."
        )
    else:
        lines.append("- Split: kind not recorded (trained before splits recorded their kind).")
    if split.get("description"):
        lines.append(f"- {split['description']}")
    for fold in split.get("folds") or []:
        method = fold.get("calibration")
        method = method.get("method") if isinstance(method, dict) else method
        calibrated = (
            f", calibrated on {_years(fold['calibrate_years'])}" + (f" ({method})" if method else "")
            if fold.get("calibrate_years") else (f"; calibration {method}" if method else "")
        )
        lines.append(
            f"- Tested on {_years(fold.get('test_years'))}: trained on "
            f"{_years(fold.get('train_years'))}{calibrated}."
        )
    return lines + [""]


def cohort_section(evaluation: dict) -> list[str]:
    """Rolling origin: the model against the rule on each out-of-time test cohort."""
    by_cohort = evaluation.get("by_cohort")
    if not isinstance(by_cohort, dict) or not by_cohort:
        return ["## By test cohort", "", "Only one test cohort was evaluated (trained before "
                "rolling-origin evaluation); see the performance table below.", ""]
    lines = [
        "## By test cohort (rolling origin)",
        "",
        "Each cohort was scored by a model that had not seen it. 95% intervals resample students.",
        "",
        "| test cohort | n | rule flags | model ROC AUC | rule ROC AUC | model recall at rule rate | rule recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for year, at in sorted(by_cohort.items()):
        model, rule = at.get("model") or {}, at.get("rule") or {}
        n = at.get("n")
        lines.append(
            f"| {_cell(year)} | {f'{n:,}' if isinstance(n, int) else _num(n)} | {_num(at.get('rule_flag_rate'))} "
            f"| {_with_interval(model, 'roc_auc')} | {_with_interval(rule, 'roc_auc')} "
            f"| {_with_interval(model, 'recall_at_rule_rate')} | {_with_interval(rule, 'recall_at_rule_rate')} |"
        )
    return lines + [""]


def performance_table(evaluation: dict) -> list[str]:
    """Model vs rule vs logistic on the test cohort, with 95% intervals."""
    keys = [
        ("ROC AUC", "roc_auc"),
        ("PR AUC", "pr_auc"),
        ("precision at the rule's flag rate", "precision_at_rule_rate"),
        ("recall at the rule's flag rate", "recall_at_rule_rate"),
        ("precision, top 10%", "precision_at_top_10"),
        ("recall, top 10%", "recall_at_top_10"),
        ("precision, top 20%", "precision_at_top_20"),
        ("recall, top 20%", "recall_at_top_20"),
        ("Brier score", "brier"),
        ("expected calibration error", "ece"),
    ]
    rule, logistic = evaluation["baselines"]["rule"], evaluation["baselines"]["logistic"]
    lines = ["| metric | model | rule | logistic |", "|---|---|---|---|"]
    for words, key in keys:
        cells = [_with_interval(m, key) for m in (evaluation, rule, logistic)]
        lines.append(f"| {words} | " + " | ".join(cells) + " |")
    return lines


def model_card_markdown(evaluation: dict, datasheet: dict) -> str:
    """The model card: purpose, population, label, cohorts, performance, fairness, limits."""
    model = evaluation["model"]
    lines = [
        f"# Model card: {evaluation.get('registered_model', model)}"
        + (f" version {evaluation['model_version']}" if evaluation.get("model_version") else ""),
        "",
        *gate_section(evaluation),
        *split_section(evaluation),
        *cohort_section(evaluation),
        *use_section(evaluation),
        *performance_section(evaluation),
        *fairness_section(evaluation),
        "",
        *plots_section(evaluation),
        *LIMITATIONS,
    ]
    return "\n".join(lines) + "\n"


def use_section(evaluation: dict) -> list[str]:
    """Intended use, population, label, rule and where the model came from."""
    model, split = evaluation["model"], evaluation["split"]
    grade = evaluation.get("grade") or int("".join(c for c in model if c.isdigit()) or 0)
    population = who(grade) if grade else "students"
    purpose = PURPOSE.get(evaluation["label"], "who may need support")
    lines = [
        "## Intended use: a flashlight, not a hammer",
        "",
        f"This model helps counselors and success teams find {population} {purpose}, early enough to "
        "act. Its risk is a prompt to look closer and offer support, always read beside the "
        "transparent rule and the student's own record. It must never be used to label, "
        "track, place, discipline or exclude a student, nor to judge a teacher or school.",
        "",
        "## Population and label",
        "",
        f"- Population: {population} enrolled at each checkpoint "
        f"({', '.join(sorted({d[5:] for d in evaluation['test_as_of_dates']}))}).",
        f"- Label (1 = needs support): {LABEL_WORDS.get(evaluation['label'], evaluation['label'])}.",
        f"- Rule baseline: {evaluation['rule']}.",
    ]
    if "train_years" in split and not split.get("folds"):  # older files: one split
        method = (evaluation.get("calibration") or {}).get("method")
        closed = (
            f"; training labels all known by {split['labels_close']}, before the first test date"
            if split.get("labels_close") and split.get("kind") != "retrospective" else ""
        )
        lines.append(
            f"- Trained on cohorts {split['train_years']}, calibrated on {split.get('calibrate_years')} "
            + (f"({method} calibration), " if method else "")
            + f"tested on {split.get('test_years')}{closed}."
        )
    lines.append(
        f"- Data end {evaluation['data_end']}; config {evaluation['config_hash']}; features "
        f"{len(evaluation['features'])} (hash {evaluation['feature_hash']}); ontrack "
        f"{evaluation['ontrack_version']}."
    )
    if split.get("note"):
        lines.append(f"- Note on the split: {split['note']}.")
    return lines


def performance_section(evaluation: dict) -> list[str]:
    """Pooled out-of-time performance against the rule, then checkpoint by checkpoint."""
    rule = evaluation["baselines"]["rule"]
    gain = (evaluation.get("roc_auc") or math.nan) - (rule.get("roc_auc") or math.nan)
    split = evaluation["split"]
    tested = _years(evaluation.get("test_cohorts") or split.get("test_years") or [])
    lines = [
        "",
        f"## Performance on the test cohorts, pooled (out of time: {tested})",
        "",
        f"{evaluation['n']:,} student-checkpoints ({evaluation['n_students']:,} students); base "
        f"rate {_num(evaluation['base_rate'])}; the rule flags {_num(evaluation['rule_flag_rate'])} "
        "of them. 95% intervals resample students.",
        "",
        *performance_table(evaluation),
        "",
        f"ROC AUC difference, model minus rule: {_num(gain)}.",
        "",
        "### By checkpoint: how early can we know?",
        "",
        "| checkpoint | n | model ROC AUC | rule ROC AUC | model recall at rule rate | rule recall |",
        "|---|---|---|---|---|---|",
    ]
    for checkpoint, at in evaluation["by_checkpoint"].items():
        lines.append(
            f"| {checkpoint} | {at['n']:,} | {_num(at['model']['roc_auc'])} | "
            f"{_num(at['rule']['roc_auc'])} | {_num(at['model']['recall_at_rule_rate'])} | "
            f"{_num(at['rule']['recall_at_rule_rate'])} |"
        )
    return lines


def fairness_section(evaluation: dict) -> list[str]:
    """The fairness verdict, its bounds and each group's row (small groups withheld)."""
    lines = ["", "## Fairness audit", "", evaluation["fairness"]["verdict"], ""]
    bounds = evaluation["fairness"]["bounds"]
    lines += [
        f"Bounds: false-positive and false-negative rate ratios against the largest group "
        f"of each kind within {bounds['ratio_min']}-{bounds['ratio_max']}; calibration error "
        f"at most {bounds['max_ece']}. Groups under {evaluation['fairness']['min_group_size']} "
        "students are too small to audit and their sizes are withheld; so are the sizes "
        "of the other groups of the same kind, which would give a withheld size away by "
        "subtraction from the total.",
        "",
        "| group | students | FPR ratio | FNR ratio | ECE | verdict |",
        "|---|---|---|---|---|---|",
    ]
    least = evaluation["fairness"]["min_group_size"]
    withheld = {row["group_type"] for row in evaluation["subgroups"] if row.get("too_small")}
    for row in evaluation["subgroups"]:
        name = _cell(f"{row['group_type']}: {row['group']}")
        if row.get("too_small"):
            lines.append(f"| {name} | fewer than {least} | - | - | - | {row['verdict']} |")
            continue
        size = f"{least} or more" if row["group_type"] in withheld else f"{row['n_students']:,}"
        lines.append(
            f"| {name} | {size} | {_num(row.get('fpr_ratio'), 2)} | "
            f"{_num(row.get('fnr_ratio'), 2)} | {_num(row.get('ece'))} | {row['verdict']} |"
        )
    return lines


PLOT_CAPTIONS = {
    "shap_beeswarm.png": "SHAP summary: each dot is one sampled test row; right of zero the "
    "feature raised the risk, colour is the feature's value (grey: missing).",
    "shap_importance.png": "Global importance: the mean size of each feature's SHAP contribution.",
    "reliability.png": "Reliability: predicted risk against what happened, per bin, with "
    "its rows (bins under the minimum group size withheld).",
    "precision_recall_at_k.png": "Precision and recall as more students are flagged, "
    "beside the rule's own point.",
}


def plots_section(evaluation: dict) -> list[str]:
    """The plots of this training run (``evaluation["plots"]``, files in ``plots/``),
    each with what it shows; nothing for runs older than the plots list."""
    names = [n for n in evaluation.get("plots") or [] if re.fullmatch(r"[a-z0-9_]+\.png", str(n))]
    if not names:
        return []
    lines = ["## Plots", ""]
    order = list(PLOT_CAPTIONS)
    for name in sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n)):
        kind = name.removeprefix("reliability_").removesuffix(".png").replace("_", " ")
        caption = PLOT_CAPTIONS.get(name, f"Reliability by {kind}: one panel per group with "
                                    "enough students and enough of them with the outcome.")
        lines += [f"![{caption}](plots/{name})", "", caption, ""]
    return lines


LIMITATIONS: tuple[str, ...] = (
    "## Limitations",
    "",
    "- Trained on this district's own past cohorts: a change in grading, attendance "
    "coding or course offerings can make it wrong without warning; compare it with "
    "the rule on every new labelled cohort.",
    "- Risks are calibrated on one cohort; small groups may be less well calibrated "
    "than the whole (see the audit).",
    "- Race/ethnicity and gender are never inputs; English-learner, disability and "
    "poverty flags are not inputs unless the district turned them on. Other inputs can "
    "still correlate with them, which is why the audit runs on every training.",
    "- Reasons show what moved a student's risk in the model, not causes.",
    "",
    "See `datasheet.md` for the training data and `evaluation.json` for every number.",
)

def datasheet_markdown(datasheet: dict) -> str:
    """The datasheet of the training data: counts and date ranges per split part."""
    lines = [
        f"# Datasheet: training data of {datasheet['model']} ({datasheet['label']})",
        "",
        f"Aggregates only; data end {datasheet['data_end']}.",
        "",
        "| part | school years | rows | students | as-of dates | base rate |",
        "|---|---|---|---|---|---|",
    ]
    for part, info in datasheet["parts"].items():
        lines.append(
            f"| {part} | {', '.join(map(str, info['school_years']))} | {info['rows']:,} | "
            f"{info['students']:,} | {info['first_as_of']} to {info['last_as_of']} | "
            f"{_num(info['base_rate'])} |"
        )
    lines += ["", "## Label outcomes (all cohort rows)", "", "| outcome | rows |", "|---|---|"]
    small = f"fewer than {datasheet['min_group_size']}"
    lines += [
        f"| {k} | {small if v is None else f'{v:,}'} |"
        for k, v in sorted(datasheet["label_outcomes"].items())
    ]
    lines += ["", "## Missing rate per feature", "", "| feature | missing |", "|---|---|"]
    lines += [f"| `{k}` | {v:.1%} |" for k, v in datasheet["feature_missing_rate"].items()]
    return "\n".join(lines) + "\n"

