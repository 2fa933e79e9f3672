"""The roster as one self-contained HTML page, for people, on the shared page shell.

Built for a counselor's first 30 seconds at 1400 px: per student the name, ID (linking
to the profile), grade, tier, the rule (status and the criteria not met), the top
reason, current support and the change since the last run; everything else (other
reasons, the rule's values, alerts, counselor, rank) opens inline under "more". Above
the table: the as-of date, who ranked the list (model and version, or the rule and
why), how the tiers are cut, and how many students fail the rule while sitting in the
lowest tier (marked "rule not met" in their tier cell, never hidden). "Follow up this
week" comes first and folds after its first items. A file with several models (a 6-12
school) has one section per model, each with its own header line.

Rows are shown in the frame's order (:mod:`reports.publish` orders them by tier, then
risk or the rule's rank). The page is ``templates/roster.html.j2`` rendered through
:mod:`reports.templating`: student data reaches it only as escaped text. Values are
read through :mod:`reports.roster_values`, as in the CSV and XLSX files.
"""

from __future__ import annotations

import pandas as pd
from ontrack.reports.roster_values import (
    NO_STUDENTS,
    NOTHING_NEW,
    NOTHING_TO_FOLLOW,
    RULE_NOT_MET,
    RosterMeta,
    column_kind,
    is_number,
    label,
    missing,
    plain_text,
    shown_text,
    unmet,
)
from ontrack.reports.templating import render

from ontrack.paths import file_stem

# The first screen, in this order (a column the frame lacks is left out).
VISIBLE = ("student_name", "student_id", "grade_level", "risk_tier", "risk", "rule_status",
           "reason_1", "current_support", "change")
# The same for every row of a model: said once in the model's header, not per row.
HEADER_ONLY = ("model", "model_version", "as_of_date", "expires", "config_hash", "ranked_by")
NUMERIC = ("risk", "rate", "float", "int")
# Follow-up items shown before the rest fold away.
FOLLOWUP_SHOWN = 8
STATUS = {"not_met": ("not met", "not-met"), "met": ("met", "met"), "unknown": ("unknown", "unknown")}


def tier_order(meta: RosterMeta, frame: pd.DataFrame) -> list[str]:
    """The tiers, most support first: those of ``meta.tier_counts``, then any other in
    order of appearance."""
    order = list(meta.tier_counts)
    if "risk_tier" in frame.columns:
        order += [t for t in dict.fromkeys(map(plain_text, frame["risk_tier"].tolist())) if t and t not in order]
    return order


def _chip(order: list[str], tier: str) -> str:
    """The colour class of a tier chip: first, last or a middle tier."""
    if tier not in order:
        return ""
    i = order.index(tier)
    return "t0" if i == 0 else "tlast" if i == len(order) - 1 else "tmid"


def _flagged_low(row: dict, order: list[str]) -> bool:
    """Whether the student fails the rule yet sits in the lowest tier."""
    return (bool(order) and plain_text(row.get("rule_status")) == "not_met"
            and plain_text(row.get("risk_tier")) == order[-1])


def _cell(name: str, kind: str, row: dict, order: list[str], href: str | None) -> dict:
    """What one first-screen cell shows: text, class, sort key, chip, mark, link, note."""
    value = row.get(name)
    cell = {"name": name, "text": shown_text(kind, value), "cls": None, "sort": None,
            "chip": None, "mark": None, "href": None, "note": None, "status": None}
    if kind in NUMERIC:
        return {**cell, "cls": "num", "sort": repr(float(value)) if is_number(value) and not missing(value) else ""}
    if name == "risk_tier":
        tier = plain_text(value)
        mark = RULE_NOT_MET if _flagged_low(row, order) else None
        return {**cell, "sort": str(order.index(tier)) if tier in order else "", "chip": _chip(order, tier) or None,
                "mark": mark, "cls": "nowrap"}
    if name == "rule_status":
        words, css = STATUS.get(plain_text(value), (plain_text(value).replace("_", " "), None))
        failed, unknown = unmet(row)
        note = ", ".join(failed) + ("; " if failed and unknown else "") + (
            f"unknown: {', '.join(unknown)}" if unknown else "")
        return {**cell, "text": words, "status": css, "note": note or None, "cls": "rule"}
    if name == "change" and cell["text"].startswith("new to the list"):
        return {**cell, "cls": "chg-new"}
    if name == "student_id":
        return {**cell, "href": href, "cls": "nowrap" if href else None}
    return {**cell, "cls": {"student_name": "name", "reason_1": "reason"}.get(name)}


def _more(row: dict, names: list[str], kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(label, text) of every other non-empty value of a row, for its "more" cell."""
    return [(label(n), shown_text(kinds[n], row.get(n))) for n in names
            if n not in VISIBLE and n not in HEADER_ONLY and shown_text(kinds[n], row.get(n))]


def _profile_link(row: dict, meta: RosterMeta) -> str | None:
    """The row's profile page, relative to the roster (None without ``meta.profiles``)."""
    if meta.profiles is None or missing(row.get("school_id")):
        return None
    return f"{meta.profiles}{file_stem(plain_text(row['school_id']))}/{file_stem(plain_text(row['student_id']))}.html"


def _sections(frame: pd.DataFrame, meta: RosterMeta, kinds: dict[str, str], order: list[str]) -> list[dict]:
    """One section per model, in the frame's order, each with its header and rows."""
    names = [str(c) for c in frame.columns]
    shown = [n for n in VISIBLE if n in names]
    if "school_name" in names and frame["school_name"].nunique() > 1:
        shown.insert(shown.index("grade_level") if "grade_level" in shown else 2, "school_name")
    heads = [{"name": n, "label": label(n),
              "type": "num" if kinds[n] in NUMERIC or n == "risk_tier" else "text"} for n in shown]
    models = frame["model"].map(plain_text) if "model" in frame.columns else pd.Series("", index=frame.index)
    headers = {h.model: h for h in meta.models}
    records = frame.to_dict("records")
    sections = []
    for model in dict.fromkeys(models.tolist()) or [""]:
        rows = []
        for i, row in enumerate(records):
            if models.iloc[i] != model:
                continue
            cells = [_cell(n, kinds[n], row, order, _profile_link(row, meta)) for n in shown]
            rows.append({"index": i, "cells": cells, "more": _more(row, names, kinds)})
        table = "roster" if not sections else f"roster-{len(sections) + 1}"
        sections.append({"model": model, "header": headers.get(model), "rows": rows, "table": table,
                         "heads": heads, "low": sum(c["mark"] is not None for r in rows for c in r["cells"])})
    return sections


def render_html(frame: pd.DataFrame, meta: RosterMeta, *, kinds: dict[str, str] | None = None) -> str:
    """The roster as one self-contained HTML page (inline style and script only)."""
    names = [str(c) for c in frame.columns]
    kinds = kinds or {n: column_kind(n, frame[c]) for n, c in zip(names, frame.columns, strict=True)}
    order = tier_order(meta, frame)
    first_row: dict[str, int] = {}
    for i, sid in enumerate(frame["student_id"].tolist()):
        first_row.setdefault(plain_text(sid), i)
    todo = [{"sid": sid, "row": first_row.get(sid), "name": name, "item": item, "since": since,
             "detail": detail} for sid, name, item, since, detail in meta.followup]
    alerts = [{"sid": str(sid), "row": first_row.get(str(sid)), "text": str(text)} for sid, text in meta.alerts]
    chips = [{"tier": str(t), "n": int(n), "css": _chip(order, t)} for t, n in meta.tier_counts.items()]
    sections = _sections(frame, meta, kinds, order)
    return render(
        "roster.html.j2", meta=meta, n=len(frame), todo=todo[:FOLLOWUP_SHOWN], todo_more=todo[FOLLOWUP_SHOWN:],
        alerts=alerts, chips=chips, sections=sections, low=sum(s["low"] for s in sections),
        lowest=order[-1] if order else "", rule_not_met=RULE_NOT_MET,
        tables=" ".join(s["table"] for s in sections), nothing_to_follow=NOTHING_TO_FOLLOW,
        nothing_new=NOTHING_NEW, no_students=NO_STUDENTS)


def render_index(entries: list[dict], banners: list[str] | None = None) -> str:
    """``OUT/rosters/index.html``: every roster (``entries``: title, href, kind,
    students, tiers {name: n}, followup, models), schools first, then counselors, under
    the ``banners`` the rosters carry (ranked by the rule because ..., a forced model)."""
    tiers = list(dict.fromkeys(t for e in entries for t in e["tiers"]))
    ordered = sorted(entries, key=lambda e: (e["kind"] != "school", e["title"].casefold(), e["href"]))
    return render("roster_index.html.j2", entries=ordered, tiers=tiers, banners=banners or [],
                  schools=sum(e["kind"] == "school" for e in entries),
                  students=sum(e["students"] for e in entries if e["kind"] == "school"))
