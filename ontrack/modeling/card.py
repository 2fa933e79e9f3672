"""The model card and the datasheet of the training data, in Markdown.

Both are built from aggregates only (the evaluation and the datasheet dictionaries):
no student row, no student ID, no group smaller than the minimum size.
"""

from __future__ import annotations

import math

PURPOSE = {
    "grade8": "find 8th graders who may need support to be on track at the end of 9th grade",
    "grade9": "find 9th graders who may need support to be on track and to graduate",
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
    model, split = evaluation["model"], evaluation["split"]
    rule = evaluation["baselines"]["rule"]
    gain = (evaluation.get("roc_auc") or math.nan) - (rule.get("roc_auc") or math.nan)
    lines = [
        f"# Model card: {evaluation.get('registered_model', model)}"
        + (f" version {evaluation['model_version']}" if evaluation.get("model_version") else ""),
        "",
        "## Intended use: a flashlight, not a hammer",
        "",
        f"This model helps counselors and success teams {PURPOSE[model]}, early enough to "
        "act. Its risk is a prompt to look closer and offer support, always read beside the "
        "transparent rule and the student's own record. It must never be used to label, "
        "track, place, discipline or exclude a student, nor to judge a teacher or school.",
        "",
        "## Population and label",
        "",
        f"- Population: {model[-1]}th graders enrolled at each checkpoint "
        f"({', '.join(sorted({d[5:] for d in evaluation['test_as_of_dates']}))}).",
        f"- Label (1 = needs support): {LABEL_WORDS.get(evaluation['label'], evaluation['label'])}.",
        f"- Rule baseline: {evaluation['rule']}.",
        f"- Trained on cohorts {split['train_years']}, calibrated on {split['calibrate_years']} "
        f"({evaluation['calibration']['method']} calibration), tested on {split['test_years']}; "
        f"training labels all known by {split['labels_close']}, before the first test date.",
        f"- Data end {evaluation['data_end']}; config {evaluation['config_hash']}; features "
        f"{len(evaluation['features'])} (hash {evaluation['feature_hash']}); ontrack "
        f"{evaluation['ontrack_version']}.",
    ]
    if split.get("note"):
        lines.append(f"- Note on the split: {split['note']}.")
    lines += [
        "",
        "## Performance on the newest labelled cohort (out of time)",
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
    lines += ["", "## Fairness audit", "", evaluation["fairness"]["verdict"], ""]
    bounds = evaluation["fairness"]["bounds"]
    lines += [
        f"Bounds: false-positive and false-negative rate ratios against the largest group "
        f"of each kind within {bounds['ratio_min']}-{bounds['ratio_max']}; calibration error "
        f"at most {bounds['max_ece']}. Groups under {evaluation['fairness']['min_group_size']} "
        "students are too small to audit and their sizes are withheld.",
        "",
        "| group | students | FPR ratio | FNR ratio | ECE | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in evaluation["subgroups"]:
        name = f"{row['group_type']}: {row['group']}"
        if row.get("too_small"):
            lines.append(f"| {name} | <{evaluation['fairness']['min_group_size']} | - | - | - | {row['verdict']} |")
            continue
        lines.append(
            f"| {name} | {row['n_students']:,} | {_num(row.get('fpr_ratio'), 2)} | "
            f"{_num(row.get('fnr_ratio'), 2)} | {_num(row.get('ece'))} | {row['verdict']} |"
        )
    lines += [
        "",
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
    ]
    return "\n".join(lines) + "\n"


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
