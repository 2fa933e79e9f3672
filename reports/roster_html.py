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
:mod:`reports.templating`: student data reaches it only as escaped text. The table's
cells are rendered by ``templates/roster_cells.html.j2``, each distinct cell once per
file, and joined into rows (:func:`_rendered`). Values are
read through :mod:`reports.roster_values`, as in the CSV and XLSX files.
"""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup
from ontrack.reports.roster_values import (
    CRITERIA,
    NO_STUDENTS,
    NOTHING_NEW,
    NOTHING_TO_FOLLOW,
    RULE_NOT_MET,
    Columns,
    RosterMeta,
    by_value,
    is_number,
    label,
    missing,
    plain_text,
)
from ontrack.reports.templating import render, template

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


def _flagged_low(status: object, tier: str, order: list[str]) -> bool:
    """Whether the student fails the rule yet sits in the lowest tier."""
    return bool(order) and plain_text(status) == "not_met" and tier == order[-1]


def _cell(name: str, text: str, **fields: object) -> dict:
    """What one first-screen cell shows: text, class, sort key, chip, mark, link, note."""
    return {"name": name, "text": text, "cls": None, "sort": None, "chip": None, "mark": None,
            "href": None, "note": None, "status": None, **fields}


def _column_cells(name: str, columns: Columns, order: list[str], links: list) -> list[dict]:
    """The first-screen cells of one column, one per row; rows that read the same share
    one cell (the template only reads them)."""
    kind, values, shown = columns.kinds[name], columns.values[name], columns.shown(name)
    if kind in NUMERIC:
        sorts = by_value(lambda v: repr(float(v)) if is_number(v) and not missing(v) else "", values)
        return [_cell(name, text, cls="num", sort=sort) for text, sort in zip(shown, sorts, strict=True)]
    if name == "risk_tier":
        status = columns.values.get("rule_status", [None] * columns.rows)
        return _shared([(name, text, _flagged_low(s, plain_text(v), order), plain_text(v))
                        for text, s, v in zip(shown, status, values, strict=True)], _tier_cell, order)
    if name == "rule_status":
        criteria = [(short, columns.values[c]) for c, short in CRITERIA.items() if c in columns.values]
        keys = [(name, plain_text(v), *(_met(flags[i]) for _short, flags in criteria))
                for i, v in enumerate(values)]
        return _shared(keys, _status_cell, [short for short, _flags in criteria])
    if name == "student_id":
        return [_cell(name, text, href=href, cls="nowrap" if href else None)
                for text, href in zip(shown, links, strict=True)]
    if name == "change":
        return _shared([(name, text) for text in shown], _change_cell, None)
    cls = {"student_name": "name", "reason_1": "reason"}.get(name)
    return _shared([(name, text) for text in shown], lambda key, _extra: _cell(*key, cls=cls), None)


def _shared(keys: list[tuple], make, extra) -> list[dict]:
    """``make(key, extra)`` per row, built once per distinct key."""
    made: dict[tuple, dict] = {}
    return [made[key] if key in made else made.setdefault(key, make(key, extra)) for key in keys]


def _tier_cell(key: tuple, order: list[str]) -> dict:
    name, text, flagged, tier = key
    return _cell(name, text, sort=str(order.index(tier)) if tier in order else "",
                 chip=_chip(order, tier) or None, mark=RULE_NOT_MET if flagged else None, cls="nowrap")


def _met(value: object) -> str:
    """A criterion flag: "unknown", "failed" or "met" (see :func:`unmet`)."""
    return "unknown" if missing(value) else "met" if bool(value) else "failed"


def _status_cell(key: tuple, shorts: list[str]) -> dict:
    name, status, *flags = key
    words, css = STATUS.get(status, (status.replace("_", " "), None))
    failed = [short for short, flag in zip(shorts, flags, strict=True) if flag == "failed"]
    unknown = [short for short, flag in zip(shorts, flags, strict=True) if flag == "unknown"]
    note = ", ".join(failed) + ("; " if failed and unknown else "") + (
        f"unknown: {', '.join(unknown)}" if unknown else "")
    return _cell(name, words, status=css, note=note or None, cls="rule")


def _change_cell(key: tuple, _extra: None) -> dict:
    name, text = key
    return _cell(name, text, cls="chg-new" if text.startswith("new to the list") else None)


def _more(columns: Columns) -> list[list[tuple[str, str]]]:
    """Per row, (label, text) of every other non-empty value, for its "more" cell."""
    rest = [(label(n), columns.shown(n)) for n in columns.names if n not in VISIBLE and n not in HEADER_ONLY]
    return [[(title, shown[i]) for title, shown in rest if shown[i]] for i in range(columns.rows)]


def _profile_links(columns: Columns, meta: RosterMeta) -> list:
    """Each row's profile page, relative to the roster (None without ``meta.profiles``)."""
    if meta.profiles is None or "school_id" not in columns.values:
        return [None] * columns.rows
    schools = by_value(lambda v: None if missing(v) else file_stem(plain_text(v)), columns.values["school_id"])
    students = columns.values["student_id"]
    return [None if school is None else f"{meta.profiles}{school}/{file_stem(plain_text(student))}.html"
            for school, student in zip(schools, students, strict=True)]


def _rendered(cells: list[tuple[dict, ...]], more: list[list[tuple[str, str]]]) -> tuple[list[Markup], list[Markup]]:
    """Each row's first-screen cells and "more" pairs as page markup: every distinct cell
    and pair is rendered (and escaped) once by ``roster_cells.html.j2``, then the rows
    join theirs. The macros' output is cut back into cells at each ``</td>`` (pairs at
    ``</dd>``): escaped data never holds a ``<``, so only the template's own tags match."""
    macros = template("roster_cells.html.j2").module
    distinct_cells = list({id(c): c for row in cells for c in row}.values())
    cell_html = dict(zip(map(id, distinct_cells), _cut(macros.cells(distinct_cells), "</td>"), strict=True))
    distinct_pairs = list(dict.fromkeys(pair for row in more for pair in row))
    pair_html = dict(zip(distinct_pairs, _cut(macros.pairs(distinct_pairs), "</dd>"), strict=True))
    return ([Markup("".join([cell_html[id(c)] for c in row])) for row in cells],
            [Markup("".join([pair_html[p] for p in row])) for row in more])


def _cut(html: Markup, end: str) -> list[str]:
    """Rendered markup cut after each ``end`` tag into its pieces."""
    pieces = str(html).split(end)
    if pieces[-1]:
        raise ValueError(f"rendered cells must end in {end}. Got {pieces[-1][:40]!r} after the last one instead.")
    return [piece + end for piece in pieces[:-1]]


def _sections(frame: pd.DataFrame, meta: RosterMeta, columns: Columns, order: list[str]) -> list[dict]:
    """One section per model, in the frame's order, each with its header and rows."""
    names, kinds = columns.names, columns.kinds
    shown = [n for n in VISIBLE if n in names]
    if "school_name" in names and frame["school_name"].nunique() > 1:
        shown.insert(shown.index("grade_level") if "grade_level" in shown else 2, "school_name")
    heads = [{"name": n, "label": label(n),
              "type": "num" if kinds[n] in NUMERIC or n == "risk_tier" else "text"} for n in shown]
    models = by_value(plain_text, columns.values["model"]) if "model" in names else [""] * columns.rows
    headers = {h.model: h for h in meta.models}
    links = _profile_links(columns, meta)
    cells = list(zip(*(_column_cells(n, columns, order, links) for n in shown), strict=True)) or [()] * columns.rows
    more = _more(columns)
    cells_html, more_html = _rendered(cells, more)
    sections = []
    for model in dict.fromkeys(models) or [""]:
        rows = [{"index": i, "cells": cells[i], "more": more[i], "cells_html": cells_html[i],
                 "more_html": more_html[i]} for i, m in enumerate(models) if m == model]
        table = "roster" if not sections else f"roster-{len(sections) + 1}"
        sections.append({"model": model, "header": headers.get(model), "rows": rows, "table": table,
                         "heads": heads, "low": sum(c["mark"] is not None for r in rows for c in r["cells"])})
    return sections


def render_html(frame: pd.DataFrame, meta: RosterMeta, *, kinds: dict[str, str] | None = None,
                columns: Columns | None = None) -> str:
    """The roster as one self-contained HTML page (inline style and script only);
    ``columns``: the frame already read (:class:`Columns`), as :func:`write_roster` does."""
    columns = columns or Columns(frame, kinds)
    order = tier_order(meta, frame)
    first_row: dict[str, int] = {}
    for i, sid in enumerate(columns.values["student_id"]):
        first_row.setdefault(plain_text(sid), i)
    todo = [{"sid": sid, "row": first_row.get(sid), "name": name, "item": item, "since": since,
             "detail": detail} for sid, name, item, since, detail in meta.followup]
    alerts = [{"sid": str(sid), "row": first_row.get(str(sid)), "text": str(text)} for sid, text in meta.alerts]
    chips = [{"tier": str(t), "n": int(n), "css": _chip(order, t)} for t, n in meta.tier_counts.items()]
    sections = _sections(frame, meta, columns, order)
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
