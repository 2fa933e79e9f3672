"""HTML building blocks: the page shell (inline style and script), tables, rate cells.

Every rate shown in the report goes through :func:`rate_td`, which writes the cell's
key (``data-cell``) so that a test can map each number back to its row of rates.csv;
a withheld cell shows a dash and never a number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

import pandas as pd

from ontrack.reports.district.data import Cell

STYLE = """
:root{--ink:#1d1d1f;--muted:#5f6368;--line:#d9dde3;--school:#0b5cad;--bg:#fafbfc}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:#fff;margin:0;line-height:1.45}
header.top{background:#123a5e;color:#fff;padding:14px 24px}
header.top a{color:#fff}
header.top p{margin:4px 0 0;color:#dfe8f1;font-size:.9rem}
nav.sections{display:flex;flex-wrap:wrap;gap:14px;padding:8px 24px;background:#eef2f6;font-size:.9rem}
main{max-width:1180px;margin:0 auto;padding:8px 24px 48px}
h1{font-size:1.5rem;margin:0}
h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{font-size:1.05rem;margin-top:1.6rem}
.note{color:var(--muted);font-size:.88rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--bg)}
.card .big{font-size:1.6rem;font-weight:600}
.card .what{font-size:.9rem}
table{border-collapse:collapse;margin:8px 0 4px;font-size:.88rem}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.sup{color:var(--muted);text-align:right}
.gap{color:var(--muted);font-size:.8rem;margin-left:4px}
table.sortable th button{all:unset;cursor:pointer;font-weight:600}
#schools-table th[scope=row]{white-space:nowrap}
table.sortable th button::after{content:" \\2195";color:#999}
table.sortable th[aria-sort=ascending] button::after{content:" \\2191";color:var(--ink)}
table.sortable th[aria-sort=descending] button::after{content:" \\2193";color:var(--ink)}
figure{margin:12px 0 18px}
.scroll{overflow-x:auto;max-width:100%}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:8px 24px}
figure svg{max-width:100%;height:auto}
figcaption{font-size:.9rem;color:var(--muted)}
details{margin:4px 0 10px}
summary{cursor:pointer;color:var(--school)}
.bar{display:inline-block;height:.7em;background:var(--school);vertical-align:middle}
.filters{display:flex;flex-wrap:wrap;gap:14px;align-items:end;margin:8px 0}
.filters label{font-size:.88rem}
.bright{font-weight:600}
.tag{display:inline-block;border-radius:10px;padding:0 7px;background:#fdf0d2;font-size:.8rem}
@media print{nav.sections,.filters{display:none}details{display:block}}
"""

SCRIPT = """
(function(){
function val(td){var s=td.getAttribute('data-sort');if(s===null){s=td.textContent.trim();}
 var n=parseFloat(s);return (s!==''&&!isNaN(n)&&/^-?[0-9.]+(e-?[0-9]+)?$/.test(s))?n:s.toLowerCase();}
function sortBy(table,col,th){
 var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending';
 table.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
 th.setAttribute('aria-sort',dir);
 var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=val(a.cells[col]),y=val(b.cells[col]);
  var xe=(x===''||x==='\\u2014'),ye=(y===''||y==='\\u2014');
  if(xe||ye){return xe===ye?0:(xe?1:-1);}
  var c=(typeof x!==typeof y)?(typeof x==='number'?-1:1):(typeof x==='number'?(x<y?-1:(x>y?1:0)):x.localeCompare(y,undefined,{numeric:true}));
  return dir==='ascending'?c:-c;});
 rows.forEach(function(r){body.appendChild(r);});}
document.querySelectorAll('table.sortable').forEach(function(table){
 table.querySelectorAll('thead th').forEach(function(th,i){
  var b=document.createElement('button');b.type='button';b.textContent=th.textContent;
  th.textContent='';th.appendChild(b);
  b.addEventListener('click',function(){sortBy(table,i,th);});});});
document.querySelectorAll('select[data-filter]').forEach(function(sel){
 sel.addEventListener('change',function(){
  var table=document.getElementById(sel.getAttribute('data-filter'));
  var sels=document.querySelectorAll('select[data-filter="'+table.id+'"]');
  Array.prototype.forEach.call(table.tBodies[0].rows,function(r){var show=true;
   sels.forEach(function(s){if(s.value&&r.getAttribute('data-'+s.name)!==s.value){show=false;}});
   r.hidden=!show;});});});
var pick=document.getElementById('scatter-pick');
if(pick){var show=function(){document.querySelectorAll('.scatter').forEach(function(f){
  f.hidden=(f.getAttribute('data-pair')!==pick.value);});};
 pick.addEventListener('change',show);show();}
})();
"""

DASH = "\u2014"


def esc(value: object) -> str:
    """HTML-escaped text."""
    return escape(str(value), quote=True)


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """A complete, self-contained HTML page: no external script, style, font or image."""
    links = "".join(f'<a href="{esc(href)}">{esc(text)}</a>' for href, text in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f'<header class="top"><h1>{esc(title)}</h1><p>{subtitle}</p></header>'
        f'<nav class="sections" aria-label="sections">{links}</nav>'
        f"<main>{body}</main><script>{SCRIPT}</script></body></html>\n"
    )


def pct(rate: float | None, digits: int = 1) -> str:
    """A rate as a percentage, or a dash."""
    return DASH if rate is None else f"{rate * 100:.{digits}f}%"


def points(diff: float | None) -> str:
    """A difference of two rates in percentage points, signed."""
    return "" if diff is None else f"{diff * 100:+.1f} pts"


def cell_attrs(cell: Cell) -> str:
    """The data attributes that tie a shown rate to its row of rates.csv."""
    withheld = ' data-suppressed="1"' if cell.suppressed or cell.rate is None else ""
    return f' data-cell="{esc(cell.key)}"{withheld}'


def rate_td(cell: Cell | None, extra: str = "") -> str:
    """A table cell for a published rate: the rate, or a dash when withheld or absent."""
    if cell is None:
        return f'<td class="sup" title="no students">{DASH}</td>'
    if cell.suppressed or cell.rate is None:
        return (
            f'<td class="sup" data-cell="{esc(cell.key)}" data-suppressed="1" '
            f'data-sort="" title="withheld: small group">{DASH}*</td>'
        )
    tip = (
        f"{cell.n_met:,} of {cell.n:,} students"
        if cell.n is not None and cell.n_met is not None
        else ""
    )
    return (
        f'<td class="num" data-cell="{esc(cell.key)}" data-sort="{cell.rate:.4f}" '
        f'title="{esc(tip)}">{pct(cell.rate)}{extra}</td>'
    )


def count_td(value: object, min_size: int) -> str:
    """A count cell: the number, or a dash when it was withheld (fewer than min_size)."""
    if (
        value is None
        or value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
    ):
        return f'<td class="sup" data-sort="" title="fewer than {min_size} students">{DASH}*</td>'
    number = int(value)
    return f'<td class="num" data-count="{number}" data-sort="{number}">{number:,}</td>'


def table(
    header: Sequence[str],
    rows: Iterable[str],
    *,
    sortable: bool = False,
    table_id: str | None = None,
    caption: str | None = None,
    numeric: Sequence[bool] | None = None,
) -> str:
    """A table from header labels and pre-rendered ``<tr>`` rows."""
    attrs = ' class="sortable"' if sortable else ""
    attrs += f' id="{esc(table_id)}"' if table_id else ""
    num = ' class="num"'
    heads = "".join(
        f'<th scope="col"{num if numeric and numeric[i] else ""}>{esc(h)}</th>'
        for i, h in enumerate(header)
    )
    cap = f'<caption class="note">{esc(caption)}</caption>' if caption else ""
    return f"<table{attrs}>{cap}<thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def figure(
    svg: str,
    caption: str,
    alternative: str,
    extra_attrs: str = "",
    classes: str = "chart",
) -> str:
    """A chart with its caption and its table alternative (open by default)."""
    return (
        f'<figure class="{classes}"{extra_attrs}>{svg}<figcaption>{esc(caption)}</figcaption>'
        f"<details open><summary>The numbers behind this chart</summary>{alternative}"
        "</details></figure>"
    )


SUPPRESSION_NOTE = (
    "{dash}* means withheld: fewer than {n} students had a known status, or the value was "
    "withheld so that a smaller group could not be worked out by subtraction. Withheld "
    "values are never shown, in tables or charts. {dash} alone means there are no such "
    "students (the grade is not taught there, or the group is empty)."
)
