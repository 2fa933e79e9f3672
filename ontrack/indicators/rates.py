"""Rates by district, school, grade and student group, suppressed; lowest-performing group.

Grain of ``rates.csv``: school year x indicator x level (district or school) x grade x
student group. Groups: ``all``; each ``race_ethnicity`` value; each ``gender`` value
(missing values of both as ``not_reported``, so the categories add up to ``all``); and
the program flags ``english_learner``, ``students_with_disabilities``,
``socioeconomically_disadvantaged``, ``foster_youth``, ``homeless`` (published for the
flagged students; a student without a ``student_years`` row is not flagged).

``n`` counts students whose status is known; ``n_unknown`` those whose status is
unknown (excluded from the rate); ``rate = n_met / n``. A student-year is counted at the
school and grade of its last enrollment (see ``checkpoints.create_population``), and a
district's cell is the sum of its schools' cells.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.resources import connect
from ontrack.indicators.exact import round_ratio_array
from ontrack.indicators.rules import INDICATORS, MET_IS_GOOD
from ontrack.indicators.suppression import BLOCK_KEYS, suppress

GROUP_FLAGS: tuple[str, ...] = (
    "english_learner",
    "students_with_disabilities",
    "socioeconomically_disadvantaged",
    "foster_youth",
    "homeless",
)
NOT_REPORTED = "not_reported"
# One published cell: a unit (district or school), grade and student group in a year.
CELL_KEY: tuple[str, ...] = (
    "school_year",
    "indicator",
    "level",
    "district_id",
    "school_id",
    "grade_level",
    "group_type",
    "group",
)
RATE_COLUMNS: tuple[str, ...] = (
    *CELL_KEY,
    "n",
    "n_met",
    "rate",
    "n_unknown",
    "suppressed",
    "suppression",
)
SUPPRESSION_COLUMNS: tuple[str, ...] = (
    *CELL_KEY,
    "suppression",
    "why",
)
_LEVELS = (("district", "district_id"), ("school", "school_id"))


def student_groups_sql() -> str:
    """Group membership of every enrolled student-year, from students and student_years."""
    flags = ", ".join(f"y.{f}" for f in GROUP_FLAGS)
    return (
        "SELECT p.student_id, p.school_year, st.race_ethnicity, st.gender, "
        f"{flags} FROM (SELECT DISTINCT student_id, school_year FROM enrollments) p "
        "LEFT JOIN students st ON st.student_id = p.student_id "
        "LEFT JOIN student_years y ON y.student_id = p.student_id "
        "AND y.school_year = p.school_year"
    )


def student_groups(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Race/ethnicity, gender and program flags per enrolled student-year."""
    return con.execute(student_groups_sql()).df()


def wide_statuses_sql(students: str) -> str:
    """The long student relation turned wide: one row per student-year, one
    ``status_<indicator>`` column per indicator (the shape ``rate_cells_sql`` reads)."""
    statuses = ", ".join(
        f"max(CASE WHEN indicator = '{i}' THEN status END) AS status_{i}" for i in INDICATORS
    )
    return (
        f"SELECT student_id, school_year, any_value(district_id) AS district_id, "
        f"any_value(school_id) AS school_id, any_value(grade_level) AS grade_level, "
        f"{statuses} FROM {students} GROUP BY student_id, school_year"
    )


def _group_join(groups: str | None) -> tuple[str, str, str]:
    """(join clause, alias with race/gender, alias with the program flags) for ``s``.

    With ``groups=None`` the ``students`` and ``student_years`` views are joined to the
    student-years directly: they already are the population, so the distinct
    enrollments that :func:`student_groups_sql` starts from are not needed.
    """
    if groups is not None:
        on = "ON g.student_id = s.student_id AND g.school_year = s.school_year"
        return f"LEFT JOIN {groups} g {on}", "g", "g"
    join = (
        "LEFT JOIN students st ON st.student_id = s.student_id "
        "LEFT JOIN student_years y "
        "ON y.student_id = s.student_id AND y.school_year = s.school_year"
    )
    return join, "st", "y"


def rate_cells_sql(wide: str, groups: str | None = None) -> str:
    """SQL for every (indicator, level, unit, grade, group) count cell.

    ``wide`` has one row per student-year with a ``status_<indicator>`` column per
    indicator (NULL where the indicator does not apply); ``groups`` is the output of
    :func:`student_groups_sql`, or None to read group membership from the ``students``
    and ``student_years`` views (the same cells, with one join less). Counting all
    indicators in one pass over student-years
    is 2-3 times cheaper than counting the long table. The ``no`` side of each flag is
    computed too (``publish = FALSE``): it is never written, but suppression must know
    it to protect the cells it completes.
    """

    join, person, year = _group_join(groups)

    def category(col: str) -> str:
        text = f"NULLIF(trim(CAST({person}.{col} AS VARCHAR)), '')"
        return f"COALESCE({text}, '{NOT_REPORTED}')"

    flag_cols = ", ".join(f"COALESCE({year}.{f}, FALSE) AS {f}" for f in GROUP_FLAGS)
    members = _group_members()
    counts, sums, per_indicator = _indicator_counts()
    statuses = ", ".join(f"s.status_{name}" for name in INDICATORS)
    cell = "school_year, district_id, grade_level, m.t, m.g, m.p"
    return f"""
        WITH joined AS (
            SELECT s.district_id, s.school_id, s.grade_level, s.school_year, {statuses},
                   {category('race_ethnicity')} AS race_ethnicity,
                   {category('gender')} AS gender, {flag_cols}
            FROM {wide} s {join}
        ),
        fine AS (
            SELECT district_id, school_id, grade_level, school_year, {', '.join(counts)},
                   unnest([{', '.join(members)}]) AS m
            FROM joined
            GROUP BY district_id, school_id, grade_level, school_year,
                     race_ethnicity, gender, {', '.join(GROUP_FLAGS)}
        ),
        cells AS (
            SELECT school_year,
                   CASE WHEN grouping(school_id) = 1 THEN 'district' ELSE 'school' END
                       AS level,
                   district_id, school_id,
                   CASE WHEN grouping(school_id) = 1 THEN 'district:' || district_id
                        ELSE 'school:' || school_id END AS unit,
                   grade_level, m.t AS group_type, m.g AS "group", m.p AS publish,
                   {', '.join(sums)}
            FROM fine
            GROUP BY GROUPING SETS (({cell}), ({cell}, school_id))
        )
        SELECT school_year, x.indicator, level, district_id, school_id, unit,
               grade_level, group_type, "group", publish,
               x.n AS n, x.n_met AS n_met, x.n_unknown AS n_unknown
        FROM (SELECT *, unnest([{', '.join(per_indicator)}]) AS x FROM cells)
        WHERE x.n + x.n_unknown > 0
    """


def _group_members() -> list[str]:
    """The groups a student counts in, as DuckDB structs (type, group, published):
    everyone, their race/ethnicity and gender, and both sides of each program flag."""
    members = ["{'t': 'all', 'g': 'all', 'p': TRUE}"]
    members += [f"{{'t': '{c}', 'g': {c}, 'p': TRUE}}" for c in ("race_ethnicity", "gender")]
    members += [
        f"{{'t': '{f}', 'g': CASE WHEN {f} THEN 'yes' ELSE 'no' END, 'p': {f}}}"
        for f in GROUP_FLAGS
    ]
    return members


def _indicator_counts() -> tuple[list[str], list[str], list[str]]:
    """Per indicator: its three counts (known, met, unknown) over student-years, their
    sums over finer cells, and the struct that turns the wide cell back into rows."""
    counts, sums, per_indicator = [], [], []
    for i, name in enumerate(INDICATORS):
        status = f"status_{name}"
        counts += [
            f"count(*) FILTER (WHERE {status} IN ('met', 'not_met')) AS n{i}",
            f"count(*) FILTER (WHERE {status} = 'met') AS met{i}",
            f"count(*) FILTER (WHERE {status} = 'unknown') AS unk{i}",
        ]
        sums += [f"sum(n{i}) AS n{i}", f"sum(met{i}) AS met{i}", f"sum(unk{i}) AS unk{i}"]
        per_indicator.append(
            f"{{'indicator': '{name}', 'n': n{i}, 'n_met': met{i}, 'n_unknown': unk{i}}}"
        )
    return counts, sums, per_indicator


def finish_rates(cells: pd.DataFrame, config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Suppress the cells, compute rates, and keep the publishable rows."""
    for col in ("n", "n_met", "n_unknown", "school_year", "grade_level"):
        cells[col] = pd.to_numeric(cells[col]).astype("int64")
    cells["publish"] = cells["publish"].astype(bool)
    # DuckDB returns groups in no fixed order; suppression breaks ties by position, so
    # sort first: the same data must always withhold the same cells.
    cells = cells.sort_values([*CELL_KEY, "unit"], na_position="first", kind="mergesort").reset_index(drop=True)
    min_size = config.reporting.min_group_size
    marked = suppress(cells, min_size)
    order = ["school_year", "indicator", "district_id", "level", "school_id",
             "grade_level", "group_type", "group"]
    rates = marked[marked["publish"]].sort_values(order, na_position="first")
    log = rates[rates["suppressed"]].copy()
    log["why"] = np.where(
        log["suppression"] == "primary",
        f"fewer than {min_size} students with a known status",
        "withheld so that " + log["protects"] + " cannot be recovered by subtraction",
    )
    log = log[[*SUPPRESSION_COLUMNS]].reset_index(drop=True)
    rates = rates.assign(rate=np.nan)[list(RATE_COLUMNS)].copy()
    withheld = rates["suppressed"].to_numpy()
    known = rates["n"] > 0
    # n_met / n rounded half away from zero in integers: exact, the same every run
    rate = round_ratio_array(rates["n_met"].fillna(0), rates["n"].where(known, 1), 4)
    rates["rate"] = rate.where(known).mask(withheld)
    for col in ("n", "n_met", "n_unknown"):
        rates[col] = rates[col].astype("Int64").mask(withheld)
    return rates.reset_index(drop=True), log


def indicator_rates(
    students: pd.DataFrame, student_groups: pd.DataFrame, config: Config
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Suppressed rates from a student indicator frame; returns (rates, suppression log).

    ``students`` is the output of :func:`student_indicators` (or any frame with its key
    columns and ``status``); ``student_groups`` the output of :func:`student_groups`.
    Withheld rows keep their keys and ``suppressed=True`` but no n, n_met, n_unknown or
    rate.
    """
    con = connect(config)  # the configured memory limit; spills under the system's temp folder
    try:
        con.register("students_in", students)
        con.register("groups_in", student_groups)
        wide = f"({wide_statuses_sql('students_in')})"
        cells = con.execute(rate_cells_sql(wide, "groups_in")).df()
    finally:
        con.close()
    return finish_rates(cells, config)


def lowest_groups(rates: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The lowest-performing racial/ethnic group per district/school, grade and indicator.

    CORE's practice: among race/ethnicity groups that clear the minimum size (and are
    not withheld), the one with the worst outcome: the lowest rate where ``met`` is good
    (readiness, on-track), the highest where ``met`` flags a problem (chronic absence,
    suspension). ``not_reported`` is not a group. Reported only when at least two groups
    qualify; ties are all listed. ``gap`` is the group's rate minus the all-students
    rate (NaN if that is withheld).
    """
    keys = ["school_year", "indicator", "level", "district_id", "school_id", "grade_level"]
    eligible = rates[
        (rates["group_type"] == "race_ethnicity")
        & (rates["group"] != NOT_REPORTED)
        & ~rates["suppressed"]
        & (rates["n"] >= config.reporting.min_group_size)
        & rates["rate"].notna()
    ].copy()
    columns = [*keys, "group", "n", "rate", "all_rate", "gap", "n_groups_compared"]
    if eligible.empty:
        return pd.DataFrame(columns=columns)
    eligible["worst"] = np.where(
        eligible["indicator"].map(MET_IS_GOOD).fillna(True).astype(bool),
        eligible["rate"],
        -eligible["rate"],
    )
    grouped = eligible.groupby(keys, dropna=False)
    eligible["n_groups_compared"] = grouped["group"].transform("size")
    eligible = eligible[eligible["n_groups_compared"] >= 2]
    worst = eligible.groupby(keys, dropna=False)["worst"].transform("min")
    eligible = eligible[eligible["worst"] == worst]
    overall = rates[(rates["group_type"] == "all") & ~rates["suppressed"]][[*keys, "rate"]]
    merged = eligible.merge(
        overall.rename(columns={"rate": "all_rate"}), on=keys, how="left"
    )
    # both rates hold 4 decimals: subtract them as integers of ten-thousandths
    gap = (merged["rate"] * 10_000).round() - (merged["all_rate"] * 10_000).round()
    merged["gap"] = gap / 10_000
    return merged[columns].reset_index(drop=True)


__all__ = [
    "BLOCK_KEYS",
    "GROUP_FLAGS",
    "indicator_rates",
    "lowest_groups",
    "student_groups",
]
