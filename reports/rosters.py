"""Roster renderers: one school's (or one counselor's) scored students as CSV, XLSX, HTML.

The scorer hands over a finished, ranked frame, one row per student; this module only
formats it (it never fits, scores or re-ranks) and renders whatever columns it gets, in
order, because the rule's criterion columns differ between models. The CSV is for tools
(exactly the frame's columns, IDs as text), the XLSX for spreadsheets ("roster" and
"about" sheets), the HTML for people: one self-contained page whose Content-Security-
Policy forbids loading anything, with a sortable table. Student data reaches the HTML only
through :func:`html.escape`, the XLSX only as literal strings (never formulas), and the
CSV with spreadsheet-formula prefixes neutralised.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import numpy as np
import xlsxwriter
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

NOT_A_FRAME = "frame must be a pandas DataFrame. Got {kind} instead."
NO_STUDENT_ID = ("frame must have a 'student_id' column. Got columns {columns} instead; "
                 "rename the ID column to 'student_id'.")
DUPLICATE_COLUMNS = "frame columns must be unique. Got {columns} more than once instead."
BAD_STEM = "stem must be a plain file name without a folder. Got {stem!r} instead."
BAD_RISK = ("risk must be a probability between 0 and 1. Got {value!r} for student "
            "{student!r} instead.")
NO_STUDENTS = "No students in this roster."
NOTHING_NEW = "Nothing new since the last run."

LABELS = {
    "student_id": "Student ID", "school_id": "School ID", "school_name": "School",
    "grade_level": "Grade", "staff_id": "Staff ID", "staff_name": "Counselor",
    "model": "Model", "risk": "Risk", "risk_tier": "Support tier", "rank": "Rank",
    "change": "Change", "rule_status": "Rule", "reason_1": "Reason 1",
    "reason_2": "Reason 2", "reason_3": "Reason 3", "alerts": "Alerts",
    "model_version": "Model version", "as_of_date": "As of", "expires": "Expires",
    "config_hash": "Config hash",
}
NUMBER_FORMATS = {"risk": "0.0%", "rate": "0.0%", "float": "0.00", "int": "0"}
MIN_WIDTH, MAX_WIDTH = 8, 60


@dataclass(frozen=True)
class RosterMeta:
    """Facts about the scoring run that every roster file repeats for its reader."""

    title: str
    model: str
    model_version: str
    as_of_date: str
    expires: str
    config_hash: str
    banner: str | None = None
    alerts: list[tuple[str, str]] = field(default_factory=list)
    tier_counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def write_roster(frame: pd.DataFrame, meta: RosterMeta, folder: Path,
                 stem: str) -> dict[str, Path]:
    """Write ``folder/<stem>.csv``, ``.xlsx`` and ``.html`` and return their paths.

    Rows are written in the frame's order (the scorer ranks them). An empty frame still
    gives three files with headers, so a school with no students in the cohort gets a
    roster that says so. Each file is written to a temporary name and then moved into
    place, so a reader never sees half a roster.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(NOT_A_FRAME.format(kind=type(frame).__name__))
    if frame.columns.has_duplicates:
        raise ValueError(DUPLICATE_COLUMNS.format(
            columns=sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})))
    if "student_id" not in frame.columns:
        raise ValueError(NO_STUDENT_ID.format(columns=list(frame.columns)))
    if not stem or stem in {".", ".."} or any(c in stem for c in "/\\\0"):
        raise ValueError(BAD_STEM.format(stem=stem))
    _check_risk(frame)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {str(c): _kind(str(c), frame[c]) for c in frame.columns}
    columns = {str(c): frame[c].tolist() for c in frame.columns}
    paths = {ext: folder / f"{stem}.{ext}" for ext in ("csv", "xlsx", "html")}
    _atomic(paths["csv"], lambda p: _write_csv(frame, kinds, p))
    _atomic(paths["xlsx"], lambda p: _write_xlsx(columns, kinds, meta, p))
    _atomic(paths["html"], lambda p: p.write_text(
        render_html(frame, meta, kinds=kinds), encoding="utf-8", newline="\n"))
    return paths


def _check_risk(frame: pd.DataFrame) -> None:
    if "risk" not in frame.columns or frame.empty:
        return
    risk = pd.to_numeric(frame["risk"], errors="coerce")
    bad = risk.notna() & ~risk.between(0, 1) | risk.isna() & frame["risk"].notna()
    if bad.any():
        at = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(BAD_RISK.format(value=frame["risk"].tolist()[at],
                                         student=_text(frame["student_id"].tolist()[at])))


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# --- values ------------------------------------------------------------------------

def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_))


def _kind(name: str, series: pd.Series) -> str:
    """How a column is shown: id, risk, rate, float, int, bool or text."""
    if name == "student_id" or name.endswith("_id"):
        return "id"
    present = [v for v in series.tolist() if not _missing(v)]
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return "bool"
    if present and all(_is_number(v) for v in present):
        if name == "risk":
            return "risk"
        if name.endswith("_rate") and all(0 <= v <= 1 for v in present):
            return "rate"
        floats = any(isinstance(v, float | np.floating) for v in present)
        return "float" if floats else "int"
    return "risk" if name == "risk" else "text"


def _text(value: object) -> str:
    """A value as plain text; an ID that arrived as 123.0 becomes "123"."""
    if _missing(value):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return str(value)


def _shown(kind: str, value: object) -> str:
    """A value as a person should read it (HTML cells, XLSX column widths)."""
    if _missing(value):
        return ""
    if kind == "risk" and _is_number(value):
        v = float(value)
        if 0 < v < 0.005:
            return "<1%"
        if 0.995 <= v < 1:
            return ">99%"
        return f"{v:.0%}"
    if kind == "rate":
        return f"{float(value):.1%}"
    if kind == "float":
        return f"{float(value):.2f}"
    if kind == "bool":
        return "yes" if value else "no"
    return _text(value)


# --- CSV ---------------------------------------------------------------------------

def _defuse(text: str) -> str:
    """Stop a spreadsheet from running a cell such as ``=HYPERLINK(...)`` as a formula."""
    first, second = text[:1], text[1:2]
    if first in ("=", "@", "\t", "\r") or (first in ("+", "-") and second
                                            and not second.isdigit()):
        return "'" + text
    return text


def _write_csv(frame: pd.DataFrame, kinds: dict[str, str], path: Path) -> None:
    out = pd.DataFrame(index=range(len(frame)))
    for position, name in enumerate(kinds):
        values = frame.iloc[:, position]
        if kinds[name] in ("id", "text"):
            out[name] = [_defuse(_text(v)) for v in values.tolist()]
        elif kinds[name] == "risk":
            out[name] = pd.to_numeric(values, errors="coerce").round(3).to_numpy()
        else:
            out[name] = values.to_numpy()
    out.to_csv(path, index=False, encoding="utf-8", na_rep="", lineterminator="\n")


# --- XLSX --------------------------------------------------------------------------

def _xlsx_value(kind: str, value: object) -> object:
    if _missing(value):
        return None
    if kind in ("risk", "rate", "float") and _is_number(value):
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return _clean(value)


def _clean(value: object) -> str:
    """Text without the control characters that XLSX cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", _text(value))


def _widths(columns: dict[str, list], kinds: dict[str, str]) -> list[int]:
    """Column widths in characters: the longest header or value, within bounds."""
    widths = []
    for name, values in columns.items():
        longest = max([len(name) + 1] + [len(_shown(kinds[name], v)) for v in values])
        widths.append(max(MIN_WIDTH, min(MAX_WIDTH, longest + 2)))  # +1: filter arrow
    return widths


def _write_xlsx(columns: dict[str, list], kinds: dict[str, str], meta: RosterMeta,
                path: Path) -> None:
    """The roster sheet and the about sheet, streamed by xlsxwriter (rows are written as
    they come; text is always written as text, never as a formula or a link)."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_urls": False, "strings_to_numbers": False})
    sheet = book.add_worksheet("roster")
    names = list(columns)
    n_rows = len(next(iter(columns.values()), []))
    header = book.add_format({"bold": True, "bg_color": "#E8EEF4"})
    formats = {kind: book.add_format({"num_format": fmt}) for kind, fmt in NUMBER_FORMATS.items()}
    for position, width in enumerate(_widths(columns, kinds)):
        sheet.set_column(position, position, width)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, n_rows, max(len(names) - 1, 0))
    for position, name in enumerate(names):
        sheet.write_string(0, position, _clean(name), header)
    writers = [_cell_writer(sheet, kinds[name], formats) for name in names]
    values = [columns[name] for name in names]
    for i in range(n_rows):
        for position, write in enumerate(writers):
            write(i + 1, position, values[position][i])
    if not n_rows:
        sheet.write_string(1, 0, NO_STUDENTS)
    _write_about(book, meta, n_rows)
    book.close()


def _cell_writer(sheet, kind: str, formats: dict):  # noqa: ANN001, ANN202 - xlsxwriter objects
    """A function writing one value of a column of this kind."""
    number_format = formats.get(kind)

    def write(row: int, col: int, value: object) -> None:
        value = _xlsx_value(kind, value)
        if value is None:
            return
        if isinstance(value, bool):
            sheet.write_boolean(row, col, value)
        elif isinstance(value, (int, float)):
            sheet.write_number(row, col, value, number_format)
        else:
            sheet.write_string(row, col, value)

    return write


def _write_about(book, meta: RosterMeta, n_rows: int) -> None:  # noqa: ANN001 - xlsxwriter
    sheet = book.add_worksheet("about")
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 90)
    styles = {
        "key": book.add_format({"bold": True, "valign": "top"}),
        "heading": book.add_format({"bold": True, "font_size": 12, "valign": "top"}),
        "value": book.add_format({"text_wrap": True, "valign": "top"}),
        "warn_key": book.add_format({"bold": True, "valign": "top", "bg_color": "#FFF1C9"}),
        "warn_value": book.add_format({"text_wrap": True, "valign": "top", "bg_color": "#FFF1C9"}),
    }
    row = [0]

    def put(key: str, value: object = "", *, heading: bool = False, warn: bool = False) -> None:
        left = styles["warn_key" if warn else "heading" if heading else "key"]
        right = styles["warn_value" if warn else "value"]
        sheet.write_string(row[0], 0, _clean(key), left)
        if isinstance(value, int) and not isinstance(value, bool):
            sheet.write_number(row[0], 1, value, right)
        else:
            sheet.write_string(row[0], 1, _clean(value), right)
        row[0] += 1

    put(meta.title, heading=True)
    if meta.banner:
        put("Warning", meta.banner, warn=True)
    for key, value in (("Model", meta.model), ("Model version", meta.model_version),
                       ("As of", meta.as_of_date), ("Valid until", meta.expires),
                       ("Config hash", meta.config_hash), ("Students", n_rows)):
        put(key, value)
    put("")
    put("Support tiers", heading=True)
    for tier, count in meta.tier_counts.items():
        put(tier, int(count))
    put("")
    put("New since last run", heading=True)
    for student_id, alert in meta.alerts:
        put(student_id, alert)
    if not meta.alerts:
        put("", NOTHING_NEW)
    if meta.notes:
        put("")
        put("Notes", heading=True)
        for note in meta.notes:
            put("", note)


# --- HTML --------------------------------------------------------------------------

STYLE = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d8dee4;--head:#f3f5f7}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:var(--ink);margin:0;padding:16px 24px 40px}
h1{font-size:1.45rem;margin:0 0 4px}h2{font-size:1.1rem;margin:20px 0 6px}
.facts,.small{color:var(--muted);font-size:.85rem}.small p{margin:4px 0}
.banner{border:2px solid #b7791f;background:#fff6dc;border-radius:8px;padding:10px 14px;
margin:14px 0;font-weight:600}
ul.alerts{margin:4px 0;padding-left:20px}
.tiers{display:flex;flex-wrap:wrap;gap:8px;margin:4px 0}
.tier{display:inline-block;border-radius:999px;padding:1px 10px;border:1px solid #ccd3da;
background:#f3f5f7;white-space:nowrap}
.tier.t0{background:#fde8d7;border-color:#e9b48f}.tier.tmid{background:#fdf3cd;border-color:#e3cf7f}
.tier.tlast{background:#e2f2e4;border-color:#9fcea7}
.controls{margin:12px 0 6px}.controls input{font:inherit;padding:4px 8px;min-width:260px}
.scroll{overflow:auto;max-height:78vh;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.86rem}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:var(--head);position:sticky;top:0;white-space:nowrap;z-index:1}
td.long{min-width:16rem}
th button{all:unset;cursor:pointer;font-weight:600}
th button::after{content:" \\2195";color:#8c959f}
th[aria-sort=ascending] button::after{content:" \\2191";color:var(--ink)}
th[aria-sort=descending] button::after{content:" \\2193";color:var(--ink)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}tr:target{outline:2px solid #0969da}
.chg-new{font-weight:600}td.empty{color:var(--muted);font-style:italic}
@media print{body{padding:0;font-size:11px}.controls{display:none}
.scroll{overflow:visible;max-height:none;border:0}thead th{position:static}
th button::after{content:""}thead{display:table-header-group}tr{break-inside:avoid}
.banner{border-width:3px}@page{size:landscape;margin:1cm}}
"""

# Sorting: first click ascending, then toggles. Numbers compare as numbers (from
# data-sort when present), text alphabetically; blanks always go last. Ties keep the
# original (rank) order. "#sort=<column>:<asc|desc>" in the URL opens the page sorted.
SCRIPT = """
(function(){
var table=document.getElementById("roster");if(!table)return;
var body=table.tBodies[0],heads=table.tHead.rows[0].cells;
var rows=[].slice.call(body.rows).filter(function(r){return !r.classList.contains("none");});
rows.forEach(function(r,i){r.setAttribute("data-i",i);});
function key(cell,num){
 var raw=cell.hasAttribute("data-sort")?cell.getAttribute("data-sort"):cell.textContent.trim();
 if(raw==="")return null;if(!num)return raw;var x=parseFloat(raw);return isNaN(x)?null:x;}
function sortBy(col,dir){
 var th=heads[col],num=th.getAttribute("data-type")==="num",sign=dir==="desc"?-1:1;
 var keyed=rows.map(function(r){return [key(r.cells[col],num),+r.getAttribute("data-i"),r];});
 keyed.sort(function(a,b){
  if(a[0]===null||b[0]===null){return a[0]===b[0]?a[1]-b[1]:(a[0]===null?1:-1);}
  var c=num?a[0]-b[0]:a[0].localeCompare(b[0],undefined,{sensitivity:"base"});
  return c===0?a[1]-b[1]:sign*c;});
 keyed.forEach(function(k){body.appendChild(k[2]);});
 for(var j=0;j<heads.length;j++)heads[j].removeAttribute("aria-sort");
 th.setAttribute("aria-sort",dir==="desc"?"descending":"ascending");
 document.documentElement.setAttribute("data-sorted",th.getAttribute("data-col")+":"+dir);}
[].forEach.call(heads,function(th,col){
 var b=th.querySelector("button");if(!b)return;
 b.addEventListener("click",function(){
  var dir=th.getAttribute("aria-sort")==="ascending"?"desc":"asc";sortBy(col,dir);
  try{history.replaceState(null,"","#sort="+encodeURIComponent(th.getAttribute("data-col"))+":"+dir);}catch(e){}});});
var m=/sort=([^:&]+):(asc|desc)/.exec(location.hash);
if(m){var want=decodeURIComponent(m[1]);
 [].forEach.call(heads,function(th,col){if(th.getAttribute("data-col")===want)sortBy(col,m[2]);});}
var box=document.getElementById("filter"),shown=document.getElementById("shown");
if(box)box.addEventListener("input",function(){
 var q=box.value.trim().toLowerCase(),n=0;
 rows.forEach(function(r){var hit=!q||r.textContent.toLowerCase().indexOf(q)>=0;r.hidden=!hit;if(hit)n++;});
 if(shown)shown.textContent=q?n+" of "+rows.length+" shown":"";});
document.documentElement.setAttribute("data-ready","1");
})();
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _tier_classes(meta: RosterMeta, frame: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """Each tier's colour class and sort order: the order of ``meta.tier_counts``
    (most support first), then any other tier in order of appearance."""
    order = list(meta.tier_counts)
    if "risk_tier" in frame.columns:
        order += [t for t in dict.fromkeys(map(_text, frame["risk_tier"].tolist()))
                  if t and t not in order]
    last = len(order) - 1
    return {t: ("t0" if i == 0 else "tlast" if i == last else "tmid", i)
            for i, t in enumerate(order)}


def _td(name: str, kind: str, value: object, tiers: dict[str, tuple[str, int]]) -> str:
    shown = escape(_shown(kind, value))
    if kind in ("risk", "rate", "float", "int"):
        raw = "" if _missing(value) or not _is_number(value) else repr(float(value))
        return f'<td class="num" data-sort="{raw}">{shown}</td>'
    if name == "risk_tier" and _text(value) in tiers:
        css, order = tiers[_text(value)]
        return f'<td data-sort="{order}"><span class="tier {css}">{shown}</span></td>'
    if name == "change" and _text(value) == "new to the list":
        return f'<td class="chg-new">{shown}</td>'
    if name == "rule_status":
        return f"<td>{shown.replace('_', ' ')}</td>"
    return f'<td class="long">{shown}</td>' if len(shown) > 40 else f"<td>{shown}</td>"


def render_html(frame: pd.DataFrame, meta: RosterMeta, *,
                kinds: dict[str, str] | None = None) -> str:
    """The roster as one self-contained HTML page (inline style and script only)."""
    names = [str(c) for c in frame.columns]
    kinds = kinds or {n: _kind(n, frame[c]) for n, c in zip(names, frame.columns, strict=True)}
    tiers = _tier_classes(meta, frame)
    e = escape
    facts = (f"Model {e(meta.model)} version {e(meta.model_version)} · as of "
             f"{e(meta.as_of_date)} · valid until {e(meta.expires)} (next checkpoint) · "
             f"config {e(meta.config_hash)} · {len(frame)} students")
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width,initial-scale=1">',
             f"<title>{e(meta.title)}</title><style>{STYLE}</style></head><body>",
             f"<header><h1>{e(meta.title)}</h1><p class=\"facts\">{facts}</p></header>"]
    if meta.banner:
        parts.append(f'<div class="banner" role="alert">{e(meta.banner)}</div>')
    first_row = {}
    for i, sid in enumerate(frame["student_id"].tolist()):
        first_row.setdefault(_text(sid), i)
    parts.append('<section id="new"><h2>New since last run</h2>')
    if meta.alerts:
        items = []
        for sid, alert in meta.alerts:
            who = e(str(sid))
            if str(sid) in first_row:
                who = f'<a href="#row-{first_row[str(sid)]}">{who}</a>'
            items.append(f"<li><strong>{who}</strong> — {e(str(alert))}</li>")
        parts.append(f'<ul class="alerts">{"".join(items)}</ul>')
    else:
        parts.append(f"<p>{NOTHING_NEW}</p>")
    parts.append("</section>")
    if meta.tier_counts:
        chips = "".join(
            f'<span class="tier {tiers[t][0]}">{e(str(t))}: {int(n)}</span>'
            for t, n in meta.tier_counts.items())
        parts.append(f'<section><h2>Support tiers</h2><div class="tiers">{chips}</div>'
                     "</section>")
    parts.append('<section><h2>Students</h2><div class="controls"><label>Find: '
                 '<input type="search" id="filter" placeholder="ID, name, reason…">'
                 '</label> <span id="shown" class="facts"></span></div>'
                 '<div class="scroll"><table id="roster"><thead><tr>')
    for name in names:
        numeric = kinds[name] in ("risk", "rate", "float", "int") or name == "risk_tier"
        parts.append(f'<th scope="col" data-col="{e(name)}" '
                     f'data-type="{"num" if numeric else "text"}" title="{e(name)}">'
                     f'<button type="button">{e(LABELS.get(name, _label(name)))}'
                     "</button></th>")
    parts.append("</tr></thead><tbody>")
    columns = [frame.iloc[:, p].tolist() for p in range(len(names))]
    for i in range(len(frame)):
        cells = "".join(_td(n, kinds[n], columns[p][i], tiers)
                        for p, n in enumerate(names))
        parts.append(f'<tr id="row-{i}">{cells}</tr>')
    if frame.empty:
        parts.append(f'<tr class="none"><td class="empty" colspan="{max(len(names), 1)}">'
                     f"{NO_STUDENTS}</td></tr>")
    parts.append("</tbody></table></div></section>")
    if meta.notes:
        notes = "".join(f"<p>{e(str(n))}</p>" for n in meta.notes)
        parts.append(f'<footer class="small"><h2>About this list</h2>{notes}</footer>')
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _label(name: str) -> str:
    """A readable header for a column without a fixed label: "rule_gpa_ok" -> "Rule gpa ok"."""
    return name.replace("_", " ").strip().capitalize() or name
