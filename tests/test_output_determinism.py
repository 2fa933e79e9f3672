"""Two runs on the same data write the same bytes, whatever the thread count (issue 15.8).

DuckDB adds doubles up in parallel, in an order that changes between runs; a value on a
rounding boundary then prints one way or the other. Indicators and features are built
once on one DuckDB thread and once on four (more threads than this machine's cores, so
the scheduling differs), and every file is compared: CSVs byte by byte, Parquet frames
exactly and in row order. The rounding itself is pinned below: half away from zero.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from indicators_district import District
from ontrack.commands.features import write_features
from ontrack.config import config_from_dict, load_config
from ontrack.indicators.exact import round_ratio_array, rounded_ratio
from ontrack.indicators.run import run_indicators
from ontrack.pipeline_settings import EngineConfig
from ontrack.synth import generate_district

# Written again by every run: the moment it ran and the folder it wrote to.
RUN_FIELDS = {"created_at", "out_dir", "folder"}


# Each model at one checkpoint a year: a feature part's cost is mostly per as-of date,
# so twice the students (more rows summed in parallel) at a third of the dates take half the time.
ONE_CHECKPOINT = {"models": {model: {"checkpoints": ["01-31"]} for model in ("grade8", "grade9")}}


def _run(data: Path, out: Path, threads: int) -> Path:
    config = config_from_dict(ONE_CHECKPOINT).model_copy(update={"engine": EngineConfig(threads=threads)})
    run_indicators(data, out, config)
    for model in ("grade8", "grade9"):
        write_features(out, config, model=model)
    return out


def _without_run_fields(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k not in RUN_FIELDS}


def test_outputs_are_identical_on_one_thread_and_on_four(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_district(data, n_students=600, n_years=3, seed=4)
    one = _run(data, tmp_path / "one", threads=1)
    four = _run(data, tmp_path / "four", threads=4)

    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(four) for p in four.rglob("*") if p.is_file())
    checked = {".csv": 0, ".parquet": 0}
    for rel in files:
        a, b = one / rel, four / rel
        if rel.parts[0] == "validated":
            # The later stages' input: the same rows, in the order the threads wrote
            # them (docs/indicators.md, "Reproducible outputs").
            x, y = pd.read_parquet(a), pd.read_parquet(b)
            key = list(x.columns)
            pd.testing.assert_frame_equal(
                x.sort_values(key).reset_index(drop=True),
                y.sort_values(key).reset_index(drop=True),
                check_exact=True,
            )
        elif rel.suffix == ".parquet":
            pd.testing.assert_frame_equal(
                pd.read_parquet(a), pd.read_parquet(b), check_exact=True
            )
            checked[".parquet"] += 1
        elif rel.suffix == ".json":
            assert _without_run_fields(a) == _without_run_fields(b), rel
        else:
            assert a.read_bytes() == b.read_bytes(), f"{rel} differs between runs"
            checked[".csv"] += rel.suffix == ".csv"
    # students, rates, suppression, lowest_group, quarantine and both dictionaries;
    # both matrices, cohorts and label files
    assert checked[".csv"] >= 8 and checked[".parquet"] >= 6, checked
    gpa = pd.read_csv(one / "indicators" / "students.csv", usecols=["gpa"])["gpa"]
    assert gpa.notna().sum() > 100, gpa.notna().sum()  # the GPA column was really exercised (273 rows)


@pytest.mark.parametrize(
    ("num", "den", "decimals", "expected"),
    [
        (1675, 1000, 2, 1.68),  # half away from zero, not half to even ...
        (1665, 1000, 2, 1.67),  # ... which would give 1.66 here
        (-1675, 1000, 2, -1.68),
        (1675, -1000, 2, -1.68),
        (5, 32, 4, 0.1563),  # 0.15625
        (58, 320, 4, 0.1813),  # 0.18125: not a double, rounded as the decimal it is
        (2, 3, 6, 0.666667),
        (0, 7, 4, 0.0),
    ],
)
def test_ratios_round_half_away_from_zero(
    num: int, den: int, decimals: int, expected: float
) -> None:
    sql = rounded_ratio(str(num), str(den), decimals)
    assert duckdb.sql(f"SELECT {sql}").fetchall()[0][0] == expected
    if den > 0:
        pandas = round_ratio_array(pd.Series([num]), pd.Series([den]), decimals)
        assert pandas.iloc[0] == expected


def test_a_zero_denominator_gives_no_ratio() -> None:
    assert duckdb.sql(f"SELECT {rounded_ratio('3', '0', 2)}").fetchall()[0][0] is None


def _gpa_rows(tmp_path: Path, order_seed: int) -> pd.DataFrame:
    """Readiness rows of two students, their marks written in a shuffled order."""
    d = District()
    d.school("M1")
    # C+, C, C- and D-: (2.3 + 2.0 + 1.7 + 0.7) / 4 = 1.675 exactly
    d.student("s1675")
    for course, subject, mark in [
        ("ELA", "ela", "C+"), ("MATH", "math", "C"), ("SCI", "science", "C-"),
        ("ART", "other", "D-"),
    ]:
        d.mark("s1675", course, subject, mark)
    # (2.0 x 5.000005 + 3.0 x 4.999995) / 10 = 2.4999995: 2.5 at 6 decimals, so ready
    d.student("s25")
    d.mark("s25", "ELA", "ela", "C", credits_attempted="5.000005")
    d.mark("s25", "MATH", "math", "B", credits_attempted="4.999995")
    random.Random(order_seed).shuffle(d.rows["course_marks"])
    out = tmp_path / f"out{order_seed}"
    run_indicators(d.write(tmp_path / f"data{order_seed}"), out, load_config())
    text = pd.read_csv(out / "indicators" / "students.csv", dtype=str)
    return text[text["indicator"] == "hs_readiness_8"].set_index("student_id")


def test_a_gpa_on_a_rounding_boundary_prints_the_same_every_time(tmp_path: Path) -> None:
    for seed in range(3):
        rows = _gpa_rows(tmp_path, seed)
        assert rows.loc["s1675", "gpa"] == "1.675"
        assert rows.loc["s25", "gpa"] == "2.5"
        assert rows.loc["s25", "gpa_ok"] == "true"
