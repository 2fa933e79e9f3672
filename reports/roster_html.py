"""The roster as one self-contained HTML page, for people: inline style and script only.

The page's Content-Security-Policy forbids loading anything; its table sorts by any
column (numbers as numbers, blanks last) and filters by a search box. Student data
reaches the page only through :func:`html.escape`. Values are read through
:mod:`reports.roster_values`, as in the CSV and XLSX files (:mod:`reports.rosters`).
"""

from __future__ import annotations

from html import escape

import pandas as pd

from ontrack.reports.roster_values import (
    NO_STUDENTS,
    NOTHING_NEW,
    RosterMeta,
    column_kind,
    is_number,
    missing,
    plain_text,
    shown_text,
)

# Column headers people read; any other column gets _label(name).
LABELS = {
    "student_id": "Student ID", "school_id": "School ID", "school_name": "School",
    "grade_level": "Grade", "staff_id": "Staff ID", "staff_name": "Counselor",
    "model": "Model", "risk": "Risk", "risk_tier": "Support tier", "rank": "Rank",
    "change": "Change", "rule_status": "Rule", "reason_1": "Reason 1",
    "reason_2": "Reason 2", "reason_3": "Reason 3", "alerts": "Alerts",
    "model_version": "Model version", "as_of_date": "As of", "expires": "Expires",
    "config_hash": "Config hash",
}

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
        order += [t for t in dict.fromkeys(map(plain_text, frame["risk_tier"].tolist()))
                  if t and t not in order]
    last = len(order) - 1
    return {t: ("t0" if i == 0 else "tlast" if i == last else "tmid", i)
            for i, t in enumerate(order)}


def _td(name: str, kind: str, value: object, tiers: dict[str, tuple[str, int]]) -> str:
    shown = escape(shown_text(kind, value))
    if kind in ("risk", "rate", "float", "int"):
        raw = "" if missing(value) or not is_number(value) else repr(float(value))
        return f'<td class="num" data-sort="{raw}">{shown}</td>'
    if name == "risk_tier" and plain_text(value) in tiers:
        css, order = tiers[plain_text(value)]
        return f'<td data-sort="{order}"><span class="tier {css}">{shown}</span></td>'
    if name == "change" and plain_text(value) == "new to the list":
        return f'<td class="chg-new">{shown}</td>'
    if name == "rule_status":
        return f"<td>{shown.replace('_', ' ')}</td>"
    return f'<td class="long">{shown}</td>' if len(shown) > 40 else f"<td>{shown}</td>"


def render_html(frame: pd.DataFrame, meta: RosterMeta, *,
                kinds: dict[str, str] | None = None) -> str:
    """The roster as one self-contained HTML page (inline style and script only)."""
    names = [str(c) for c in frame.columns]
    kinds = kinds or {n: column_kind(n, frame[c])
                      for n, c in zip(names, frame.columns, strict=True)}
    tiers = _tier_classes(meta, frame)
    e = escape
    facts = (f"Model {e(meta.model)} version {e(meta.model_version)} · as of "
             f"{e(meta.as_of_date)} · valid until {e(meta.expires)} (next checkpoint) · "
             f"config {e(meta.config_hash)} · {len(frame)} students")
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width,initial-scale=1">',
             f"<title>{e(meta.title)}</title><style>{STYLE}</style></head><body>",
             f"<header><h1>{e(meta.title)}</h1><p class=\"facts\">{facts}</p>"
             + "".join(f'<p class="facts">{e(rule)}</p>' for rule in meta.rules)
             + "</header>"]
    if meta.banner:
        parts.append(f'<div class="banner" role="alert">{e(meta.banner)}</div>')
    first_row = {}
    for i, sid in enumerate(frame["student_id"].tolist()):
        first_row.setdefault(plain_text(sid), i)
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
