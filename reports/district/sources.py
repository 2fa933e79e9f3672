"""Counts the report adds to the published rates: criteria and roster tiers, model
evaluations and school names. Every count is suppressed below the minimum group size
before it leaves this module."""

from __future__ import annotations

import csv
import json
from collections import Counter, OrderedDict
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pandas as pd

from ontrack.paths import file_stem, sha256_of
from ontrack.resources import spilling_under
from ontrack.config import Config, default_models
from ontrack.errors import OnTrackError
from ontrack.reports.district.data import (
    CRITERIA,
    N_TREND_YEARS,
    ReportData,
    check_min_size,
    index_cells,
    index_grades,
    index_groups,
    read_rates,
)


def read_schools(out_dir: Path, rates: pd.DataFrame) -> pd.DataFrame:
    """School id, name, district and level; names from OUT/validated when present."""
    ids = rates.loc[
        rates["level"] == "school", ["school_id", "district_id"]
    ].drop_duplicates()
    path = out_dir / "validated" / "schools.parquet"
    schools = ids.assign(school_name=ids["school_id"], school_level="")
    if path.exists():
        names = pd.read_parquet(path)
        names["school_id"] = names["school_id"].astype(str)
        keep = [
            c
            for c in ("school_id", "school_name", "school_level")
            if c in names.columns
        ]
        schools = ids.merge(
            names[keep].drop_duplicates("school_id"), on="school_id", how="left"
        )
        schools["school_name"] = (
            schools["school_name"].fillna(schools["school_id"]).astype(str)
        )
        if "school_level" not in schools.columns:
            schools["school_level"] = ""
        schools["school_level"] = schools["school_level"].fillna("").astype(str)
    return schools.sort_values(["school_name", "school_id"]).reset_index(drop=True)


CRITERIA_COLUMNS: tuple[str, ...] = (
    "unit",
    "school_year",
    "indicator",
    "criterion",
    "n_students",
    "not_met",
    "only",
    "missing",
)


# Counts kept per process by students.csv's content (and years, minimum size): the
# suite and a refresh render the same file, or copies of it, again and again. Only for
# files small enough that hashing them is cheap next to reading them with DuckDB.
_KEPT: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
_KEEP_UP_TO = 64 * 2**20  # bytes of students.csv
_KEEP = 4  # files


def criteria_counts(path: Path, years: tuple[int, ...], min_size: int,
                    config: Config) -> pd.DataFrame:
    """Per unit, year and indicator: students not meeting each criterion, suppressed.

    Columns: unit, school_year, indicator, criterion, n_students, not_met, only, missing.
    ``not_met`` counts students whose flag is false, ``only`` those for whom it is the
    one criterion not met, ``missing`` those without the data for it. A count between
    1 and ``min_size - 1`` is withheld (None); every count of a unit with fewer than
    ``min_size`` students is withheld.
    """
    if not path.exists() or path.stat().st_size > _KEEP_UP_TO:
        return _criteria_counts(path, years, min_size, config)
    key = (sha256_of(path), tuple(years), min_size)
    if key not in _KEPT:
        _KEPT[key] = _criteria_counts(path, years, min_size, config)
        while len(_KEPT) > _KEEP:
            _KEPT.popitem(last=False)
    _KEPT.move_to_end(key)
    return _KEPT[key].copy()


def _criteria_counts(path: Path, years: tuple[int, ...], min_size: int,
                     config: Config) -> pd.DataFrame:
    """:func:`criteria_counts`, counted from the file."""
    columns = list(CRITERIA_COLUMNS)
    if not path.exists():
        return pd.DataFrame(columns=columns)
    con = spilling_under(Path(path).parent.parent, config)  # OUT/indicators/students.csv
    try:
        _load_students(con, path, years)
        frames = []
        for indicator, crit in CRITERIA.items():
            wide = con.execute(_criteria_query(indicator, crit)).df()
            frames += _criterion_frames(wide, indicator, crit)
    except duckdb.Error as err:
        raise OnTrackError(
            f"{path} must be the students.csv that `ontrack indicators` writes. "
            f"Got a file DuckDB could not read as such instead ({type(err).__name__})."
        ) from None
    finally:
        con.close()
    if not frames:
        return pd.DataFrame(columns=columns)
    return _suppress_criteria(pd.concat(frames, ignore_index=True), min_size)[columns]


def _load_students(
    con: duckdb.DuckDBPyConnection, path: Path, years: tuple[int, ...]
) -> None:
    """The criterion flags of ``years``' readiness and on-track rows, as table ``s``."""
    flags = [f for crit in CRITERIA.values() for f in crit]
    types = {f: "BOOLEAN" for f in flags}
    types.update(
        {"school_id": "VARCHAR", "district_id": "VARCHAR", "student_id": "VARCHAR"}
    )
    year_list = ", ".join(str(int(y)) for y in years) or "NULL"
    con.execute(
        "CREATE TEMP TABLE s AS SELECT district_id, school_id, school_year, indicator, "
        f"{', '.join(flags)} FROM read_csv(?, header=true, types={types!r}) "
        f"WHERE indicator IN ('hs_readiness_8', 'on_track_9') "
        f"AND school_year IN ({year_list})",
        [str(path)],
    )


def _criteria_query(indicator: str, crit: tuple[str, ...]) -> str:
    """One row per district and school and year: students, and per criterion flag
    ``<flag>__not_met``, ``<flag>__only`` and ``<flag>__missing``."""
    sums = []
    for flag in crit:
        others = " AND ".join(f"COALESCE({o}, TRUE)" for o in crit if o != flag)
        sums += [
            f"count(*) FILTER (WHERE {flag} = FALSE) AS {flag}__not_met",
            (
                f"count(*) FILTER (WHERE {flag} = FALSE AND {others or 'TRUE'}) "
                f"AS {flag}__only"
            ),
            f"count(*) FILTER (WHERE {flag} IS NULL) AS {flag}__missing",
        ]
    return (
        "SELECT CASE WHEN grouping(school_id) = 1 THEN 'district:' || district_id "
        "ELSE 'school:' || school_id END AS unit, school_year, "
        f"count(*) AS n_students, {', '.join(sums)} FROM s "
        f"WHERE indicator = '{indicator}' "
        "GROUP BY GROUPING SETS ((district_id, school_year), "
        "(district_id, school_id, school_year))"
    )


def _criterion_frames(
    wide: pd.DataFrame, indicator: str, crit: tuple[str, ...]
) -> list[pd.DataFrame]:
    """The query's wide row per unit and year as one long frame per criterion."""
    return [
        pd.DataFrame(
            {
                "unit": wide["unit"],
                "school_year": wide["school_year"].astype(int),
                "indicator": indicator,
                "criterion": flag,
                "n_students": wide["n_students"].astype(int),
                "not_met": wide[f"{flag}__not_met"].astype(int),
                "only": wide[f"{flag}__only"].astype(int),
                "missing": wide[f"{flag}__missing"].astype(int),
            }
        )
        for flag in crit
    ]


def _suppress_criteria(counts: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """Withhold (None) counts of 1 to ``min_size - 1``, and all of a small unit's."""
    small_unit = counts["n_students"] < min_size
    for col in ("not_met", "only", "missing"):
        value = counts[col].astype("Int64")
        withheld = small_unit | ((value > 0) & (value < min_size))
        counts[col] = value.mask(withheld)
    counts["n_students"] = counts["n_students"].astype("Int64").mask(small_unit)
    return counts


def suppress_tiers(counts: list[int], min_size: int) -> list[int | None]:
    """One model's tier counts with 1 .. min_size-1 withheld (None), complementary too.

    A roster's tiers add up to its students, and that total is close to counts that are
    published elsewhere (a grade's enrolment), so a model's tiers never show exactly one
    withheld count: the smallest other non-zero count goes with it.
    """
    withheld = [0 < n < min_size for n in counts]
    if sum(withheld) == 1:
        others = [(n, k) for k, n in enumerate(counts) if n > 0 and not withheld[k]]
        if others:
            withheld[min(others)[1]] = True
    return [None if w else n for n, w in zip(counts, withheld, strict=True)]


def _tier_rows(path: Path) -> tuple[dict[tuple[str, str], int], str | None]:
    """Students per (model, tier) in one roster CSV, and its latest as-of date."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if "risk_tier" not in header:
                raise OnTrackError(
                    f"{path} must have a risk_tier column. Got columns "
                    f"{', '.join(header[:8]) or 'none'} instead."
                )
            tier = header.index("risk_tier")
            model = header.index("model") if "model" in header else None
            when = header.index("as_of_date") if "as_of_date" in header else None
            counts: Counter = Counter()
            dates = set()
            for row in reader:
                if len(row) != len(header):
                    raise csv.Error(f"a row with {len(row)} fields, not {len(header)}")
                counts[("" if model is None else row[model], row[tier])] += 1
                if when is not None and row[when]:
                    dates.add(row[when])
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise OnTrackError(
            f"{path} must be a roster CSV. Got a file that cannot be read as one "
            f"instead ({err})."
        ) from None
    return dict(counts), (max(dates) if dates else None)


def roster_counts(
    out_dir: Path, school_ids: list[str], min_size: int, tiers: tuple[str, ...] = ()
) -> dict[str, pd.DataFrame] | None:
    """Students per model and tier on each school's current roster, suppressed.

    None when ``OUT/rosters`` does not exist (scoring has not run). Per school: a frame
    with model, risk_tier, n (None when 0 < n < min_size), as_of_date; the configured
    ``tiers`` come first, in order, with 0 for a tier nobody is in.
    """
    folder = out_dir / "rosters"
    if not folder.is_dir():
        return None
    result: dict[str, pd.DataFrame] = {}
    for school_id in school_ids:
        path = folder / f"{file_stem(school_id)}.csv"  # the name scoring gave it, never a raw ID
        if not path.exists():
            continue
        found, as_of = _tier_rows(path)
        rows = []
        for model in sorted({m for m, _ in found}):
            names = [
                *tiers,
                *sorted(t for m, t in found if m == model and t not in tiers),
            ]
            shown = suppress_tiers([found.get((model, t), 0) for t in names], min_size)
            rows += [(model, t, n, as_of) for t, n in zip(names, shown, strict=True)]
        frame = pd.DataFrame(rows, columns=["model", "risk_tier", "n", "as_of_date"])
        frame["n"] = frame["n"].astype("Int64")
        result[school_id] = frame
    return result


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise OnTrackError(
            f"{path} must be a JSON evaluation. Got unreadable content instead ({err})."
        ) from None
    if not isinstance(value, dict):
        raise OnTrackError(
            f"{path} must hold a JSON object. Got {type(value).__name__} instead."
        )
    return value


def read_models(
    out_dir: Path, file_name: str = "evaluation.json", names: Iterable[str] | None = None
) -> dict[str, dict]:
    """``OUT/models/<model>/<file_name>`` of each declared model (``names``, default the
    default models) that has one.

    ``evaluation.json`` is written by training; ``check_champion.json`` by
    ``ontrack evaluate`` (the champion on the newest labelled cohort).
    """
    models: dict[str, dict] = {}
    for name in default_models() if names is None else names:
        path = out_dir / "models" / name / file_name
        if path.exists():
            models[name] = _read_json(path)
    return models


def load_report_data(
    out_dir: Path, config: Config, tiers: tuple[str, ...] = ()
) -> ReportData:
    """Read every published input of the report under ``out_dir``.

    ``config`` gives the minimum group size and each district's rules (the bars the
    report's words state); ``tiers`` are the roster tier names in order (most support
    first)."""
    min_size = config.reporting.min_group_size
    path = out_dir / "indicators" / "rates.csv"
    rates = read_rates(path)
    if rates.empty:
        raise OnTrackError(
            f"{path} must have at least one rate row. Got an empty file instead."
        )
    check_min_size(rates, min_size, path)
    years = tuple(sorted(int(y) for y in rates["school_year"].unique()))[
        -N_TREND_YEARS:
    ]
    rates = rates[rates["school_year"].isin(years)].reset_index(drop=True)
    schools = read_schools(out_dir, rates)
    as_of = None
    if "as_of_date" in rates.columns and rates["as_of_date"].notna().any():
        as_of = str(rates["as_of_date"].dropna().iloc[0])
    config_hash = (
        str(rates["config_hash"].iloc[0]) if "config_hash" in rates.columns else ""
    )
    districts = tuple(
        sorted(rates.loc[rates["level"] == "district", "district_id"].unique())
    )
    return ReportData(
        out_dir=out_dir,
        min_size=min_size,
        rates=rates,
        years=years,
        schools=schools,
        criteria=criteria_counts(
            out_dir / "indicators" / "students.csv", years, min_size, config
        ),
        rosters=roster_counts(out_dir, schools["school_id"].tolist(), min_size, tiers),
        models=read_models(out_dir, names=config.models),
        checks=read_models(out_dir, "check_champion.json", config.models),
        config_hash=config_hash,
        as_of=as_of,
        cells=index_cells(rates),
        groups=index_groups(rates),
        grades=index_grades(rates, years[-1]),
        districts=districts,
        rules={d: config.rules_for(d) for d in sorted({*districts, *schools["district_id"]})},
        specs=dict(config.models),
    )
