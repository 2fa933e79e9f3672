"""Who is scored when: the students of a model's grade at each checkpoint.

A model's population (CONTRACT §3) is the students enrolled in its declared grade
(``Config.models[name].grade``) at each checkpoint of each school year: by default
Oct 31, Jan 31 and Jun 30, per district (``DistrictRules.checkpoints``), unless the
model declares its own (``ModelSpec.checkpoints``: then those, in every district).

"Enrolled in grade G at date D" uses only what was known at D:

- the student's *latest* enrollment spell of D's school year entered on or before D
  (ties on the entry date: a spell still open at D first, then the smaller school_id)
  is in grade G, at a school of the district whose checkpoint D is; and
- that spell is open at D: no exit date, or an exit on or after D (an exit after D is
  not known at D), or an end-of-year exit (``completed``, ``graduated``), so a June 30
  checkpoint still holds the students who finished the year on June 10. A spell that
  ended before D for any other reason (transfer, dropout, other, or no reason) means
  the student had left by D.

Checkpoints later than the data's end date are dropped (their records are not all in
yet), unless as-of dates are given explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import duckdb
import pandas as pd

from ontrack.dataset.asof import data_end_date
from ontrack.config import Config
from ontrack.indicators import checkpoint_dates, school_year_of

END_OF_YEAR_EXITS: tuple[str, ...] = ("completed", "graduated")
COHORT_INDEX: tuple[str, str] = ("student_id", "as_of_date")
COHORT_COLUMNS: tuple[str, ...] = (
    "school_id",
    "school_year",
    "grade_level",
    "district_id",
)


def with_model_checkpoints(config: Config, model: str | None) -> Config:
    """``config`` with ``model``'s own checkpoints (if it declares any) in place of every
    district's, so that whatever reads the calendar sees the model's as-of dates.

    >>> from ontrack.config import config_from_dict
    >>> spec = {"grade": 8, "labels": ["off_track_9"], "baseline": "readiness",
    ...         "checkpoints": ["01-31"]}
    >>> with_model_checkpoints(config_from_dict({"models": {"jan": spec}}), "jan").rules.checkpoints
    ('01-31',)
    """
    own = config.model_spec(model).checkpoints if model is not None else None
    if own is None:
        return config
    districts = {
        name: rules.model_copy(update={"checkpoints": own})
        for name, rules in config.districts.items()
    }
    rules = config.rules.model_copy(update={"checkpoints": own})
    return config.model_copy(update={"rules": rules, "districts": districts})


def cohort_checkpoints(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    school_years: Iterable[int] | None = None,
    as_of_dates: Iterable[date] | None = None,
    data_end: date | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """(district_id, school_year, as_of_date) rows: each district's checkpoints.

    With ``as_of_dates``, those dates in every district (placed in the school year that
    holds them). Otherwise the configured checkpoints (``model``'s own when it declares
    them) of every school year with enrollments, up to ``data_end`` (default: the latest
    date in the data).
    """
    config = with_model_checkpoints(config, model)
    districts = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT district_id FROM main.schools "
            "WHERE district_id IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    rows: list[tuple[str, int, date]] = []
    if as_of_dates is not None:
        for district in districts:
            rules = config.rules_for(district)
            for day in sorted(set(as_of_dates)):
                rows.append((district, school_year_of(rules, day), day))
    else:
        years = sorted(
            {
                int(r[0])
                for r in con.execute(
                    "SELECT DISTINCT school_year FROM main.enrollments"
                ).fetchall()
            }
        )
        if school_years is not None:
            years = [y for y in years if y in set(school_years)]
        end = data_end if data_end is not None else data_end_date(con)
        for district in districts:
            rules = config.rules_for(district)
            for year in years:
                rows += [
                    (district, year, d)
                    for d in checkpoint_dates(rules, year)
                    if end is None or d <= end
                ]
    frame = pd.DataFrame(rows, columns=["district_id", "school_year", "as_of_date"])
    return frame.astype({"district_id": "str", "school_year": "int64"})


def build_cohort(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    model: str,
    school_years: Iterable[int] | None = None,
    as_of_dates: Iterable[date] | None = None,
    data_end: date | None = None,
) -> pd.DataFrame:
    """The model's population at each checkpoint, keyed (student_id, as_of_date).

    Parameters
    ----------
    con : connection with the validated tables as views (``open_validated``).
    config : district rules (checkpoints and school-year calendar per district).
    model : a model declared in ``config.models`` (its grade is the population).
    school_years : keep only these school years (default: every year with enrollments).
    as_of_dates : score at these dates instead of the configured checkpoints (the
        model's own, else the district's).
    data_end : drop checkpoints after this date (default: the latest date in the data).

    Returns
    -------
    DataFrame indexed (student_id, as_of_date) with school_id, school_year, grade_level
    and district_id: the spell the student was in at the as-of date. Sorted by index.
    """
    grade = config.model_spec(model).grade
    points = cohort_checkpoints(
        con,
        config,
        school_years=school_years,
        as_of_dates=as_of_dates,
        data_end=data_end,
        model=model,
    )
    points["as_of_date"] = pd.to_datetime(points["as_of_date"])
    con.register("__ontrack_checkpoints", points)
    try:
        frame = con.execute(_population_sql(grade)).df()
    finally:
        con.unregister("__ontrack_checkpoints")
    return tidy_cohort(frame)


def _population_sql(grade: int) -> str:
    """The query of ``build_cohort``: each student's latest spell at each checkpoint of
    ``__ontrack_checkpoints`` (the rules of the module docstring), kept when it is in
    ``grade`` and still open."""
    exits = ", ".join(f"'{reason}'" for reason in END_OF_YEAR_EXITS)
    return f"""
    WITH cp AS (
        SELECT district_id, CAST(school_year AS INTEGER) AS school_year,
               CAST(as_of_date AS DATE) AS as_of_date
        FROM __ontrack_checkpoints
    ), latest AS (
        SELECT e.student_id, cp.as_of_date, e.school_id, e.school_year,
               e.grade_level, s.district_id, e.exit_date, e.exit_reason
        FROM main.enrollments e
        JOIN main.schools s ON s.school_id = e.school_id
        JOIN cp ON cp.district_id = s.district_id
         AND cp.school_year = e.school_year AND e.entry_date <= cp.as_of_date
        QUALIFY row_number() OVER (
            PARTITION BY e.student_id, cp.as_of_date
            ORDER BY e.entry_date DESC,
                     COALESCE(e.exit_date < cp.as_of_date, FALSE),
                     e.school_id
        ) = 1
    )
    SELECT student_id, as_of_date, school_id, school_year, grade_level,
           district_id
    FROM latest
    WHERE grade_level = {grade}
      AND (exit_date IS NULL OR exit_date >= as_of_date
           OR exit_reason IN ({exits}))
    ORDER BY student_id, as_of_date
    """


def tidy_cohort(frame: pd.DataFrame) -> pd.DataFrame:
    """Index and dtypes of a cohort frame (used by build_cohort and tests)."""
    frame = frame.astype(
        {
            "student_id": "str",
            "school_id": "str",
            "district_id": "str",
            "school_year": "int64",
            "grade_level": "int64",
        }
    )
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).astype("datetime64[ns]")
    frame = frame.set_index(list(COHORT_INDEX)).sort_index()
    return frame[list(COHORT_COLUMNS)]
