"""The roster as one self-contained HTML page, for people: inline style and script only.

The page's Content-Security-Policy forbids loading anything; its table sorts by any
column (numbers as numbers, blanks last) and filters by a search box (IDs, names,
reasons: any text of the row). "Follow up this week" comes first, then the alerts. The
page is one autoescaping Jinja2 template: student data reaches it only as escaped text.
Values are read through :mod:`reports.roster_values`, as in the CSV and XLSX files
(:mod:`reports.rosters`).
"""

from __future__ import annotations

from jinja2 import Environment

import pandas as pd

from ontrack.paths import file_stem
from ontrack.reports.roster_values import (
    NO_STUDENTS,
    NOTHING_NEW,
    NOTHING_TO_FOLLOW,
    RosterMeta,
    column_kind,
    is_number,
    missing,
    plain_text,
    shown_text,
)

# Column headers people read; any other column gets _label(name).
LABELS = {
    "student_id": "Student ID", "student_name": "Name", "current_support": "Current support",
    "school_id": "School ID", "school_name": "School",
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
table.todo{width:auto;margin:4px 0}table.todo td,table.todo th{border-bottom:1px solid var(--line)}
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


TEMPLATE = """{% macro who(sid, row) %}{% if row is not none %}<a href="#row-{{ row }}">{{ sid }}</a>{% else %}{{ sid }}{% endif %}\
{% endmacro -%}
{% macro cell(c) %}<td{% if c.cls %} class="{{ c.cls }}"{% endif %}{% if c.sort is not none %} \
data-sort="{{ c.sort }}"{% endif %}>{% if c.tier %}<span class="tier {{ c.tier }}">{{ c.text }}</span>\
{% elif c.href %}<a href="{{ c.href }}">{{ c.text }}</a>{% else %}{{ c.text }}{% endif %}</td>{% endmacro -%}
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp|safe }}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{ meta.title }}</title><style>{{ style|safe }}</style></head><body>
<header><h1>{{ meta.title }}</h1><p class="facts">Model {{ meta.model }} version {{ meta.model_version }} \
· as of {{ meta.as_of_date }} · valid until {{ meta.expires }} (next checkpoint) · config {{ meta.config_hash }} \
· {{ n }} students</p>{% for rule in meta.rules %}<p class="facts">{{ rule }}</p>{% endfor %}</header>
{% if meta.banner %}<div class="banner" role="alert">{{ meta.banner }}</div>
{% endif %}<section id="followup"><h2>Follow up this week</h2>
{% if todo %}<table class="todo"><thead><tr><th scope="col">Student</th><th scope="col">Item</th>\
<th scope="col">Since</th><th scope="col">Detail</th></tr></thead><tbody>
{% for t in todo %}<tr><td>{{ who(t.sid, t.row) }}{% if t.name %} {{ t.name }}{% endif %}</td><td>{{ t.item }}</td>\
<td>{{ t.since }}</td><td>{{ t.detail }}</td></tr>
{% endfor %}</tbody></table>{% else %}<p>{{ nothing_to_follow }}</p>{% endif %}</section>
<section id="new"><h2>New since last run</h2>
{% if alerts %}<ul class="alerts">{% for a in alerts %}<li><strong>{{ who(a.sid, a.row) }}</strong> — {{ a.text }}</li>\
{% endfor %}</ul>{% else %}<p>{{ nothing_new }}</p>{% endif %}
</section>
{% if chips %}<section><h2>Support tiers</h2><div class="tiers">{% for c in chips %}\
<span class="tier {{ c.css }}">{{ c.tier }}: {{ c.n }}</span>{% endfor %}</div></section>
{% endif %}<section><h2>Students</h2><div class="controls"><label>Find: \
<input type="search" id="filter" placeholder="ID, name, reason…"></label> <span id="shown" class="facts"></span></div>\
<div class="scroll"><table id="roster"><thead><tr>
{% for h in heads %}<th scope="col" data-col="{{ h.name }}" data-type="{{ h.type }}" title="{{ h.name }}">\
<button type="button">{{ h.label }}</button></th>
{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr id="row-{{ loop.index0 }}">{% for c in row %}{{ cell(c) }}{% endfor %}</tr>
{% endfor %}{% if not rows %}<tr class="none"><td class="empty" colspan="{{ heads|length or 1 }}">{{ no_students }}</td></tr>
{% endif %}</tbody></table></div></section>
{% if meta.notes %}<footer class="small"><h2>About this list</h2>{% for note in meta.notes %}<p>{{ note }}</p>\
{% endfor %}</footer>
{% endif %}<script>{{ script|safe }}</script></body></html>
"""

_PAGE = Environment(autoescape=True, keep_trailing_newline=False).from_string(TEMPLATE)


def _cell(name: str, kind: str, value: object, tiers: dict[str, tuple[str, int]],
          href: str | None = None) -> dict:
    """What one table cell shows: its text, class, sort key, tier chip or link."""
    shown = shown_text(kind, value)
    cell = {"text": shown, "cls": None, "sort": None, "tier": None, "href": None}
    if kind in ("risk", "rate", "float", "int"):
        raw = "" if missing(value) or not is_number(value) else repr(float(value))
        return {**cell, "cls": "num", "sort": raw}
    if name == "risk_tier" and plain_text(value) in tiers:
        css, order = tiers[plain_text(value)]
        return {**cell, "sort": str(order), "tier": css}
    if name == "change" and plain_text(value).startswith("new to the list"):
        return {**cell, "cls": "chg-new"}
    if name == "rule_status":
        return {**cell, "text": shown.replace("_", " ")}
    if name == "student_id" and href:
        return {**cell, "href": href}
    return {**cell, "cls": "long" if len(shown) > 40 else None}


def _profile_links(frame: pd.DataFrame, meta: RosterMeta) -> list[str | None]:
    """Each row's profile page, relative to the roster (None without ``meta.profiles``)."""
    if meta.profiles is None or "school_id" not in frame.columns:
        return [None] * len(frame)
    return [f"{meta.profiles}{file_stem(plain_text(school))}/{file_stem(plain_text(sid))}.html"
            for school, sid in zip(frame["school_id"].tolist(), frame["student_id"].tolist(), strict=True)]


def render_html(frame: pd.DataFrame, meta: RosterMeta, *,
                kinds: dict[str, str] | None = None) -> str:
    """The roster as one self-contained HTML page (inline style and script only)."""
    names = [str(c) for c in frame.columns]
    kinds = kinds or {n: column_kind(n, frame[c])
                      for n, c in zip(names, frame.columns, strict=True)}
    tiers = _tier_classes(meta, frame)
    first_row: dict[str, int] = {}
    for i, sid in enumerate(frame["student_id"].tolist()):
        first_row.setdefault(plain_text(sid), i)
    heads = [{"name": n, "label": LABELS.get(n, _label(n)),
              "type": "num" if kinds[n] in ("risk", "rate", "float", "int") or n == "risk_tier" else "text"}
             for n in names]
    columns = [frame.iloc[:, p].tolist() for p in range(len(names))]
    links = _profile_links(frame, meta)
    rows = [[_cell(n, kinds[n], columns[p][i], tiers, links[i]) for p, n in enumerate(names)]
            for i in range(len(frame))]
    todo = [{"sid": sid, "row": first_row.get(sid), "name": name, "item": item, "since": since,
             "detail": detail} for sid, name, item, since, detail in meta.followup]
    alerts = [{"sid": str(sid), "row": first_row.get(str(sid)), "text": str(text)} for sid, text in meta.alerts]
    chips = [{"tier": str(t), "n": int(n), "css": tiers[t][0]} for t, n in meta.tier_counts.items()]
    return _PAGE.render(
        meta=meta, n=len(frame), csp=CSP, style=STYLE, script=SCRIPT, todo=todo, alerts=alerts,
        chips=chips, heads=heads, rows=rows, nothing_to_follow=NOTHING_TO_FOLLOW,
        nothing_new=NOTHING_NEW, no_students=NO_STUDENTS)


def _label(name: str) -> str:
    """A readable header for a column without a fixed label: "rule_gpa_ok" -> "Rule gpa ok"."""
    return name.replace("_", " ").strip().capitalize() or name
