"""The models section: each trained model against the rule, in plain words.

Reads ``OUT/models/<model>/evaluation.json`` defensively (any key may be missing) and
copies ``model_card.md`` into the report as an HTML page with its plots inline, so the
link works offline. Every part is rendered by an autoescaping template
(``reports/templates/model_*.html.j2``).
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path

from markupsafe import Markup
from ontrack.reports.district import model_charts, model_status
from ontrack.reports.district.html import DASH, pct
from ontrack.reports.district.model_status import cell, heads
from ontrack.reports.district.words import group_name, group_type_name
from ontrack.reports.templating import render

from ontrack.config import ModelSpec, default_models
from ontrack.modeling.baselines import baseline, who
from ontrack.modeling.safe_markdown import markdown_html

OUTCOMES = {
    "off_track_9": "ended 9th grade off track",
    "on_track_9": "ended 9th grade off track",
    "graduation": "did not graduate within four years",
    "not_graduated_4yr": "did not graduate within four years",
}


def _num(value: object) -> float | None:
    return (
        float(value)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else None
    )


def _interval(evaluation: dict, key: str) -> str:
    bounds = (evaluation.get("intervals") or {}).get(key)
    if (
        isinstance(bounds, list | tuple)
        and len(bounds) == 2
        and all(_num(b) is not None for b in bounds)
    ):
        return f" (likely between {pct(bounds[0], 0)} and {pct(bounds[1], 0)})"
    return ""


def population(name: str, specs: dict[str, ModelSpec]) -> str:
    """Who a declared model scores, in words ("8th graders"); "students" if undeclared."""
    return who(specs[name].grade) if name in specs else "students"


def _rule_words(name: str, specs: dict[str, ModelSpec]) -> str:
    """The rule a declared model is held to, in words ("the CORE readiness rule")."""
    return baseline(specs[name].baseline).rule_words if name in specs else "the rule"


def summary_lines(name: str, ev: dict, specs: dict[str, ModelSpec] | None = None) -> list[str]:
    """Plain sentences about one model's test results (``specs``: the config's model
    declarations, default grade8 and grade9)."""
    specs = default_models() if specs is None else specs
    rule = (ev.get("baselines") or {}).get("rule") or {}
    outcome = OUTCOMES.get(
        str(ev.get("label", "")), "had the outcome the model predicts"
    )
    sentences = (
        _tested_on(name, ev, specs, outcome),
        _found(name, ev, rule, specs, outcome),
        _right(ev, rule, outcome),
        _ranks(ev, rule, outcome),
        _honest(ev),
    )
    return [line for line in sentences if line is not None]


def _tested_on(
    name: str, ev: dict, specs: dict[str, ModelSpec], outcome: str
) -> str | None:
    """Who the model was tested on, and how many of them had the outcome."""
    cohorts = ev.get("test_cohorts") or []
    n, base = _num(ev.get("n")), _num(ev.get("base_rate"))
    if n is None:
        return None
    years = ", ".join(str(c) for c in cohorts) or "the newest labelled cohort"
    extra = f"; {pct(base, 0)} of the checkpoints {outcome}" if base is not None else ""
    students = _num(ev.get("n_students"))  # n counts student-checkpoints, not students
    size = (
        f"{int(students):,} {population(name, specs)} ({int(n):,} student-checkpoints)"
        if students is not None
        else f"{int(n):,} student-checkpoints of {population(name, specs)}"
    )
    return (
        f"Tested on {size} of {years}, a "
        f"cohort the model never saw while it was built{extra}."
    )


def _found(
    name: str, ev: dict, rule: dict, specs: dict[str, ModelSpec], outcome: str
) -> str | None:
    """Recall at the rule's flag rate, beside the rule's."""
    flag_rate = _num(ev.get("rule_flag_rate"))
    recall = _num(ev.get("recall_at_rule_rate"))
    rule_recall = _num(rule.get("recall_at_rule_rate"))
    if flag_rate is None or recall is None:
        return None
    versus = (
        f", against {pct(rule_recall, 0)} for the rule"
        if rule_recall is not None
        else ""
    )
    return (
        f"Asked to point to as many students as {_rule_words(name, specs)} does "
        f"({pct(flag_rate, 0)} of them), the model found {pct(recall, 0)}"
        f"{_interval(ev, 'recall_at_rule_rate')} of the students who {outcome}"
        f"{versus}."
    )


def _right(ev: dict, rule: dict, outcome: str) -> str | None:
    """Precision at the rule's flag rate, beside the rule's."""
    precision = _num(ev.get("precision_at_rule_rate"))
    rule_precision = _num(rule.get("precision_at_rule_rate"))
    if precision is None:
        return None
    versus = f" (rule: {pct(rule_precision, 0)})" if rule_precision is not None else ""
    return (
        f"Of the students it pointed to, {pct(precision, 0)} did in fact "
        f"{outcome.replace('ended', 'end').replace('did not', 'not')}{versus}."
    )


def _ranks(ev: dict, rule: dict, outcome: str) -> str | None:
    """ROC AUC in words, beside the rule's."""
    auc, rule_auc = _num(ev.get("roc_auc")), _num(rule.get("roc_auc"))
    if auc is None:
        return None
    versus = f" (rule: {pct(rule_auc, 0)})" if rule_auc is not None else ""
    return (
        f"Given one student who {outcome} and one who did not, the model gives the "
        f"first a higher chance {pct(auc, 0)} of the time"
        f"{_interval(ev, 'roc_auc')}{versus}."
    )


def _honest(ev: dict) -> str | None:
    """Calibration error in percentage points (and the calibration method)."""
    ece = _num(ev.get("ece"))
    if ece is None:
        return None
    method = (ev.get("calibration") or {}).get("method")
    how = f" after {method} calibration" if method else ""
    return (
        f"Its chances are honest{how}: on average a predicted chance is "
        f"{ece * 100:.1f} percentage points away from what happened."
    )


def calibration_figure(name: str, ev: dict, min_size: int = 20) -> str:
    """The reliability table as a chart and a table; '' when absent.

    A bin with fewer than ``min_size`` students is neither plotted nor shown: its
    observed rate would tell the outcome of a few identifiable students."""
    bins = [
        b
        for b in ev.get("reliability") or []
        if isinstance(b, dict)
        and _num(b.get("mean_predicted")) is not None
        and _num(b.get("observed_rate")) is not None
    ]
    shown = [b for b in bins if (_num(b.get("n")) or 0) >= min_size]
    if not shown:
        return ""
    svg = model_charts.calibration_chart(
        f"{name}: predicted chance against what happened",
        [float(b["mean_predicted"]) for b in shown], [float(b["observed_rate"]) for b in shown],
        [int(_num(b.get("n")) or 0) for b in shown],
    )
    rows = []
    for b in bins:
        n = int(_num(b.get("n")) or 0)
        span = cell(f"{pct(_num(b.get('bin_low')), 0)} to {pct(_num(b.get('bin_high')), 0)}")
        if b.get("n") is None:  # a count withheld so that a smaller range's cannot be worked out
            rows.append([span, cell(f"{DASH}†", "sup"), cell(pct(_num(b.get("mean_predicted"))), "num"),
                         cell(pct(_num(b.get("observed_rate"))), "num")])
            continue
        if n < min_size:
            rows.append([span, cell(f"fewer than {min_size}", "sup"), cell(f"{DASH}*", "sup"), cell(f"{DASH}*", "sup")])
            continue
        rows.append([span, cell(f"{n:,}", "num", count=n), cell(pct(_num(b.get("mean_predicted"))), "num"),
                     cell(pct(_num(b.get("observed_rate"))), "num")])
    return render(
        "model_figure.html.j2", svg=Markup(svg), rows=rows,
        heads=heads(["predicted chance", "students", "average predicted", "observed"], [False, True, True, True]),
        caption="Calibration: dots near the dashed diagonal mean that a predicted 30% came true "
        f"for about 30% of students. Ranges with fewer than {min_size} students are left out.",
    )


def comparison_figure(name: str, ev: dict) -> str:
    """Model and rule side by side at the rule's flag rate; '' when absent."""
    rule = (ev.get("baselines") or {}).get("rule") or {}
    keys = [
        ("recall_at_rule_rate", "found (recall)"),
        ("precision_at_rule_rate", "right (precision)"),
        ("recall_at_top_10", "found in top 10%"),
        ("recall_at_top_20", "found in top 20%"),
    ]
    keys = [(k, t) for k, t in keys if _num(ev.get(k)) is not None]
    if not keys:
        return ""
    model = [_num(ev.get(k)) for k, _ in keys]
    base = [_num(rule.get(k)) for k, _ in keys]
    svg = model_charts.paired_bars(f"{name}: model and rule", [t for _, t in keys], model, base)
    rows = [[cell(t, tag="th"), cell(pct(m), "num"), cell(pct(b), "num")]
            for (_, t), m, b in zip(keys, model, base, strict=True)]
    return render(
        "model_figure.html.j2", svg=Markup(svg), rows=rows,
        heads=heads(["measure", "model", "rule"], [False, True, True]),
        caption="The model and the rule, each pointing to the same number of students.",
    )


def fairness_block(ev: dict, min_size: int = 20) -> str:
    """The fairness verdict and per-group checks: the audit's own fields (students,
    missed, flagged though on track; an AUC only where recorded per group). A group's
    size is "{min_size} or more" when a group of its kind is withheld, as on the card:
    otherwise the withheld size would follow by subtraction from the total."""
    groups = [g for g in ev.get("subgroups") or [] if isinstance(g, dict)]
    with_auc = any(_num(g.get("roc_auc")) is not None for g in groups)
    withheld = {g.get("group_type") for g in groups if g.get("too_small")}
    rows = []
    for g in groups:
        kind, small = str(g.get("group_type", "")), bool(g.get("too_small"))
        n, fnr, fpr, auc = [None] * 4 if small else [_num(g.get(k)) for k in ("n_students", "fnr", "fpr", "roc_auc")]
        size = "" if n is None else (f"{min_size} or more" if kind in withheld else f"{int(n):,}")
        rows.append([
            cell(group_type_name(kind)), cell(group_name(kind, str(g.get("group", "")))),
            cell("too few students to judge" if small else g.get("verdict", "")),
            *(cell(c, "num") for c in [size, "" if fnr is None else pct(fnr, 0), "" if fpr is None else pct(fpr, 0)]),
            *([cell("" if auc is None else pct(auc, 0), "num")] if with_auc else []),
        ])
    names = ["kind of group", "group", "verdict", "students", "missed (of those who ended off track)",
             "flagged though on track"] + (["ranking accuracy (AUC)"] if with_auc else [])
    return render("model_fairness.html.j2", verdict=(ev.get("fairness") or {}).get("verdict"), rows=rows,
                  heads=heads(names, [False] * 3 + [True] * (len(names) - 3)))


def card_page(source: Path, title: str) -> str:
    """The model card (Markdown) as a self-contained HTML page, its plots (the PNGs in
    ``plots/`` beside the card) inline as data URIs; links limited to safe targets."""
    images = {
        f"plots/{png.name}": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
        for png in sorted((source.parent / "plots").glob("*.png"))
    }
    return _card_html(source.read_text(encoding="utf-8"), tuple(images.items()), title)


@functools.lru_cache(maxsize=8)
def _card_html(text: str, images: tuple[tuple[str, str], ...], title: str) -> str:
    """The card page from its Markdown, plots and title; kept, because a process that
    renders the same district again (the test suite, a refresh) renders the same card."""
    body = markdown_html(text, dict(images))
    return render("model_card.html.j2", title=title, body=Markup(body))


def status_line(ev: dict, check: dict | None) -> str:
    """Which version these numbers are about (champion, challenger), in words.

    Whether it ranks the rosters is not said here: that comes from the rosters' own
    summary (:func:`model_status.ranking_paragraph`)."""
    aliases = [str(a) for a in ev.get("aliases") or []]
    metrics = check or ev
    if check:
        role = f"The champion (version {check.get('model_version', '?')}), checked again"
    elif "champion" in aliases:
        role = "The champion (the version promoted for use)"
    elif ev.get("model_version"):
        role = "This version is a challenger: it has not been promoted. It was tested"
    else:
        role = "The model was tested"
    cohorts = ", ".join(str(c) for c in metrics.get("test_cohorts") or []) or "the newest labelled cohort"
    return f"{role} on cohorts it never saw ({cohorts})."


def gate_html(ev: dict, check: dict | None) -> str:
    """The gate verdict of the trained version, and of the champion's check on a newer
    cohort when ``ontrack evaluate`` recorded one with a gate."""
    version = ev.get("model_version")
    parts = [model_status.gate_verdict_html(ev.get("gate"), f"Version {version}" if version else "This model")]
    if check and isinstance(check.get("gate"), dict):
        champion = f"The champion, version {check.get('model_version', '?')}, on the newest labelled cohort,"
        parts.append(model_status.gate_verdict_html(check["gate"], champion))
    return "".join(parts)


def models_section(
    models: dict[str, dict],
    out_dir: Path,
    report_dir: Path,
    checks: dict[str, dict] | None = None,
    min_size: int = 20,
    specs: dict[str, ModelSpec] | None = None,
) -> str:
    """Section 4 of index.html; writes each model card page into ``report_dir``.

    ``checks`` holds ``check_champion.json`` per model (``ontrack evaluate``): when
    present, its numbers (the champion on the newest labelled cohort) are shown.
    ``specs`` are the config's model declarations (default grade8 and grade9): each
    one with rosters but no evaluation is still named.
    """
    checks = checks or {}
    specs = default_models() if specs is None else specs
    summaries = {name: model_status.read_summary(out_dir, name) for name in specs}
    unevaluated = [
        {"title": population(name, specs).capitalize(),
         "ranking": Markup(model_status.ranking_paragraph(summary, f"the {name} model"))}
        for name, summary in summaries.items()
        if name not in models and summary is not None  # rosters ranked by the rule
    ]
    entries = [
        {**_model_parts(name, ev, checks.get(name), summaries.get(name), min_size, specs),
         "card": _card_link(name, out_dir, report_dir)}
        for name, ev in models.items()
    ]
    return render("model_section.html.j2", trained=bool(models), unevaluated=unevaluated, entries=entries)


def _model_parts(
    name: str,
    ev: dict,
    check: dict | None,
    summary: dict | None,
    min_size: int,
    specs: dict[str, ModelSpec],
) -> dict:
    """One model's subsection as template values: which version, its gate and ranking,
    where it came from, its results in words, figures and fairness (the champion's
    check if any)."""
    metrics = check or ev
    version = metrics.get("model_version") or ev.get("model_version")
    registered = metrics.get("registered_model") or ev.get("registered_model") or name
    parts = [gate_html(ev, check), model_status.ranking_paragraph(summary)]
    figures = [model_status.split_html(ev), model_status.cohort_table(metrics, min_size)]
    return {
        "population": population(name, specs).capitalize(),
        "title": f"{registered}, version {version}" if version else name,
        "lead": [Markup(p) for p in parts],
        "created": str(ev.get("created_at") or "")[:10],
        "run": ev.get("mlflow_run_id", ""), "config_hash": ev.get("config_hash", ""),
        "status": status_line(ev, check),
        "tested": [Markup(p) for p in figures],
        "sentences": summary_lines(name, metrics, specs),
        "figures": [Markup(f) for f in (comparison_figure(name, metrics),
                                        calibration_figure(name, metrics, min_size), fairness_block(metrics, min_size))],
    }


def _card_link(name: str, out_dir: Path, report_dir: Path) -> str | None:
    """Write the model's card as a page of the report; the page's file name (None
    without a card)."""
    card = out_dir / "models" / name / "model_card.md"
    if not card.exists():
        return None
    target = f"model_card_{name}.html"
    (report_dir / target).write_text(card_page(card, f"Model card: {name}"), encoding="utf-8")
    return target
