"""SQL for the checks declared in ``ontrack.tables``: parse, type and explain each value.

Every check returns a DuckDB expression that is NULL when the value is fine, or a reason
``kind[column]: detail`` when it is not. ``kind`` is one of the error kinds counted in
``OUT/validation/report.json``; the detail repeats the offending value so the quarantine
file explains itself. Nothing here touches the data; it only builds SQL text.
"""

from __future__ import annotations

from collections.abc import Callable

from ontrack.config import Config, MarkScale, parse_month_day
from ontrack.tables import EARLIEST_DATE, LATEST_DATE, Column

TRUE_WORDS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_WORDS = ("false", "f", "no", "n", "0", "0.0")


def ident(name: str) -> str:
    """Quote a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """Quote a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def typed(name: str) -> str:
    """Name of the typed twin of raw text column ``name``."""
    return ident(f"__{name}")


def parse_expr(col: Column) -> str:
    """Expression turning the raw text column into its contract type (NULL if bad)."""
    raw = ident(col.name)
    if col.type in ("id", "text"):
        return raw
    if col.type == "enum":
        return f"replace(replace(lower({raw}), ' ', '_'), '-', '_')"
    if col.type == "float":
        return f"CASE WHEN isfinite(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE) END"
    if col.type == "int":
        num = f"TRY_CAST({raw} AS DOUBLE)"
        return f"CASE WHEN {num} = round({num}) THEN TRY_CAST({num} AS INTEGER) END"
    if col.type == "date":
        return (
            f"COALESCE(TRY_CAST({raw} AS DATE), "
            f"CAST(TRY_CAST({raw} AS TIMESTAMP) AS DATE))"
        )
    if col.type == "bool":
        low = f"lower({raw})"
        trues = ", ".join(literal(w) for w in TRUE_WORDS)
        falses = ", ".join(literal(w) for w in FALSE_WORDS)
        return f"CASE WHEN {low} IN ({trues}) THEN TRUE WHEN {low} IN ({falses}) THEN FALSE END"
    raise ValueError(f"unknown column type {col.type!r}")


_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "date": "a valid YYYY-MM-DD date",
    "bool": "true/false (or yes/no, 1/0)",
}


def column_reasons(col: Column, prefix: str = "p.") -> list[str]:
    """Reasons a single value can be rejected: missing, wrong type, not allowed, range."""
    raw, val = prefix + ident(col.name), prefix + typed(col.name)
    reasons = []
    if col.required:
        reasons.append(
            f"CASE WHEN {raw} IS NULL THEN 'missing_value[{col.name}]: empty' END"
        )
    if col.type in _TYPE_WORDS:
        reasons.append(
            f"CASE WHEN {raw} IS NOT NULL AND {val} IS NULL THEN "
            f"'wrong_type[{col.name}]: ''' || {raw} || ''' is not {_TYPE_WORDS[col.type]}' END"
        )
    if col.allowed:
        allowed = ", ".join(literal(a) for a in col.allowed)
        shown = "/".join(col.allowed)
        reasons.append(
            f"CASE WHEN {val} IS NOT NULL AND {val} NOT IN ({allowed}) THEN "
            f"'unknown_value[{col.name}]: ''' || {raw} || ''' is not one of {shown}' END"
        )
    low, high = col.min, col.max
    if col.type == "date":
        low_sql, high_sql = f"DATE {literal(EARLIEST_DATE)}", f"DATE {literal(LATEST_DATE)}"
        reasons.append(
            f"CASE WHEN {val} < {low_sql} OR {val} > {high_sql} THEN "
            f"'out_of_range[{col.name}]: ' || {raw} || ' is not between "
            f"{EARLIEST_DATE} and {LATEST_DATE}' END"
        )
    elif low is not None or high is not None:
        conds = []
        if low is not None:
            conds.append(f"{val} < {low}")
        if high is not None:
            conds.append(f"{val} > {high}")
        span = f"{_num(low) if low is not None else ''}…{_num(high) if high is not None else ''}"
        reasons.append(
            f"CASE WHEN {' OR '.join(conds)} THEN "
            f"'out_of_range[{col.name}]: ' || {raw} || ' is outside {span}' END"
        )
    return reasons


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --- calendars ---------------------------------------------------------------------


def year_start_sql(year: str, month: str, day: str) -> str:
    """First day of school year ``year`` given the district's start month/day."""
    return f"make_date({year} - CASE WHEN {month} = 1 AND {day} = 1 THEN 0 ELSE 1 END, {month}, {day})"


def year_end_sql(year: str, month: str, day: str) -> str:
    """Last day of school year ``year``."""
    nxt = f"make_date({year} + CASE WHEN {month} = 1 AND {day} = 1 THEN 1 ELSE 0 END, {month}, {day})"
    return f"CAST({nxt} - INTERVAL 1 DAY AS DATE)"


def school_year_of_sql(dt: str, month: str, day: str) -> str:
    """School year (calendar year it ends) that a date falls in."""
    return (
        f"year({dt}) + CASE WHEN {month} = 1 AND {day} = 1 THEN 0 "
        f"WHEN month({dt}) > {month} OR (month({dt}) = {month} AND day({dt}) >= {day}) "
        f"THEN 1 ELSE 0 END"
    )


def calendar_rows(config: Config, district_ids: list[str]) -> list[tuple[str, int, int]]:
    """(district_id, start month, start day) for every district in the data."""
    rows = []
    for district in district_ids:
        month, day = parse_month_day(config.rules_for(district).school_year_start)
        rows.append((district, month, day))
    return rows


def default_calendar(config: Config) -> tuple[int, int]:
    """Start month and day of the default rules, for tables without a school."""
    return parse_month_day(config.rules.school_year_start)


# --- mark scales -------------------------------------------------------------------


def mark_map_rows(config: Config, district_ids: list[str]) -> list[tuple[str, str, str, float | None]]:
    """(district_id, MARK, base letter, points) for every non-numeric mark."""
    rows: list[tuple[str, str, str, float | None]] = []
    for district in [*district_ids, "__default__"]:
        rules = config.rules if district == "__default__" else config.rules_for(district)
        scale = rules.mark_scale
        for mark, points in scale.letter_points.items():
            rows.append((district, mark.upper(), _base_letter(mark), points))
        for mark in (*scale.pass_marks, *scale.no_pass_marks, *scale.non_grade_marks):
            rows.append((district, mark.upper(), mark.upper(), None))
    return rows


def _base_letter(mark: str) -> str:
    mark = mark.upper()
    return mark[:-1] if len(mark) > 1 and mark[-1] in "+-" else mark


def _by_district_scale(district: str, config: Config, district_ids: list[str],
                       cuts: Callable[[MarkScale], str]) -> str:
    """``cuts(scale)`` for the default mark scale, with a branch per district whose own
    scale differs (no CASE at all when every district uses the default)."""
    branches = [
        f"WHEN {district} = {literal(d)} THEN {cuts(config.rules_for(d).mark_scale)}"
        for d in district_ids
        if config.rules_for(d).mark_scale != config.rules.mark_scale
    ]
    default = cuts(config.rules.mark_scale)
    if not branches:
        return default
    return f"CASE {' '.join(branches)} ELSE {default} END"


def numeric_letter_sql(score: str, district: str, config: Config, district_ids: list[str]) -> str:
    """Letter for a 0-100 mark by each district's cut-offs."""

    def cuts(scale: MarkScale) -> str:
        ordered = sorted(scale.numeric_cutoffs.items(), key=lambda kv: -kv[1])
        whens = " ".join(f"WHEN {score} >= {cut} THEN {literal(letter)}" for letter, cut in ordered)
        return f"CASE {whens} ELSE 'F' END"

    return _by_district_scale(district, config, district_ids, cuts)


def numeric_points_sql(score: str, district: str, config: Config, district_ids: list[str]) -> str:
    """Grade points of a 0-100 mark: the points of the letter :func:`numeric_letter_sql`
    gives it, written into the SQL as constants (the scale is known before the data, so
    no second lookup of the mark scale per row)."""

    def points(scale: MarkScale, letter: str) -> str:
        # What the letter's first row of ``mark_map_rows`` holds (marks in upper case).
        found = [p for m, p in scale.letter_points.items() if m.upper() == letter]
        found += [None for m in (*scale.pass_marks, *scale.no_pass_marks,
                                 *scale.non_grade_marks) if m.upper() == letter]
        value = found[0] if found else None
        return "CAST(NULL AS DOUBLE)" if value is None else f"CAST({float(value)!r} AS DOUBLE)"

    def cuts(scale: MarkScale) -> str:
        ordered = sorted(scale.numeric_cutoffs.items(), key=lambda kv: -kv[1])
        whens = " ".join(f"WHEN {score} >= {cut} THEN {points(scale, letter)}"
                         for letter, cut in ordered)
        return f"CASE {whens} ELSE {points(scale, 'F')} END"

    return _by_district_scale(district, config, district_ids, cuts)


# A SQL regex literal: text a spreadsheet would run as a formula starts with one of these.
FORMULA_START = r"'^[=+\-@\t\r]'"


def defused_sql(text: str) -> str:
    """SQL for the text ``text`` with a ``'`` put before a leading ``=``, ``+``, ``-``,
    ``@``, tab or carriage return, so that a spreadsheet opening the CSV shows the cell
    as text instead of running it as a formula (IDs and group names come from the
    district's files: ``=HYPERLINK(...)`` and ``-1+1`` stay inert)."""
    return (f"CASE WHEN regexp_matches({text}, {FORMULA_START}) THEN '''' || {text} "
            f"ELSE {text} END")
