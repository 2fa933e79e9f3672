"""The feature registry, the builder's checks, the point-in-time schema, the dictionary."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ontrack.features import FEATURES
from ontrack.dataset.asof import point_in_time
from ontrack.dataset.cohorts import build_cohort
from ontrack.config import load_config
from ontrack.errors import ConfigError, SchemaError
from ontrack.dataset.featurize import (
    FeatureSet,
    build_feature_matrix,
    dictionary_markdown,
    feature,
    feature_dictionary,
    load_feature_set,
    source,
    write_dictionary,
)
from ontrack.validation.store import open_validated
from ontrack.validation import validate_directory

CONFIG = load_config()


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    from conftest import write_district

    root = tmp_path_factory.mktemp("registry")
    validate_directory(write_district(root / "data"), root / "out", CONFIG)
    connection = open_validated(root / "out", CONFIG)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def cohort(con) -> pd.DataFrame:
    return build_cohort(con, CONFIG, model="grade8", as_of_dates=[date(2023, 9, 30)])


@feature(group="attendance", source="attendance", reason="{value:.0f} days", malleable=True,
         when_no_records=0.0)
def days_recorded() -> str:
    """Attendance days recorded so far this year."""
    return "count(*) FILTER (WHERE year_offset = 0)"


@source(tables=("attendance",))
def present_days() -> str:
    """Days marked present."""
    return "SELECT * FROM attendance WHERE status = 'present'"


@feature(group="attendance", source="present_days", reason="", malleable=True)
def days_present() -> str:
    """Days present so far."""
    return "count(*)"


def test_decorator_records_name_group_and_docstring() -> None:
    assert days_recorded.name == "days_recorded"
    assert days_recorded.description == "Attendance days recorded so far this year."
    assert days_recorded.group == "attendance" and days_recorded.when_no_records == 0.0


def test_every_shipped_feature_is_documented_and_grouped() -> None:
    assert len(FEATURES) >= 40
    for spec in FEATURES:
        assert spec.description and spec.reason and spec.group
    assert not {"gender", "race_ethnicity"} & set(FEATURES.names)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: feature(group="mood", source="attendance", reason="", malleable=True),
         "feature group must be one of attendance, .*Got 'mood' instead"),
        (lambda: feature(group="behavior", source="x", reason="", malleable=True)(lambda: "1"),
         "must have a docstring"),
        (lambda: FeatureSet((days_recorded, days_recorded)), "names must be unique"),
        (lambda: FeatureSet((days_present,)), "source must be a point-in-time view"),
        (lambda: load_feature_set("no_such_module:FEATURES"), "must be an importable"),
        (lambda: FEATURES.select(names=["nope"]), "Got unknown nope instead"),
    ],
)
def test_bad_declarations_fail_clearly(build, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_sources_and_no_record_fill(con, cohort) -> None:
    features = FeatureSet((days_recorded, days_present), {"present_days": present_days})
    matrix = build_feature_matrix(con, cohort, features, CONFIG)
    # 00017 has 1 day present, 1 absent by 2023-09-30; 00018 is tardy on the 5th.
    assert matrix.loc[("00017", pd.Timestamp("2023-09-30")), "days_recorded"] == 2
    assert matrix.loc[("00017", pd.Timestamp("2023-09-30")), "days_present"] == 1
    assert matrix.loc[("00018", pd.Timestamp("2023-09-30")), "days_recorded"] == 1
    assert pd.isna(matrix.loc[("00018", pd.Timestamp("2023-09-30")), "days_present"])
    assert list(matrix.index) == list(cohort.index)


def test_bad_sql_names_the_feature(con, cohort) -> None:
    @feature(group="attendance", source="attendance", reason="", malleable=True)
    def broken() -> str:
        """Refers to a column that does not exist."""
        return "sum(no_such_column)"

    with pytest.raises(ConfigError, match="feature 'broken' .* must be valid SQL"):
        build_feature_matrix(con, cohort, FeatureSet((days_recorded, broken)), CONFIG)


def test_a_broken_source_no_feature_reads_is_still_an_error(con, cohort) -> None:
    # Features run in one statement, where DuckDB would skip a source nothing reads.
    @source(tables=("attendance",))
    def unread() -> str:
        """Reads a table that does not exist."""
        return "SELECT * FROM no_such_table"

    features = FeatureSet((days_recorded,), {"unread": unread})
    with pytest.raises(ConfigError, match="source 'unread' must be valid SQL"):
        build_feature_matrix(con, cohort, features, CONFIG)


def test_values_outside_the_declared_range_are_an_error(con, cohort) -> None:
    @feature(group="attendance", source="attendance", reason="", malleable=True,
             valid_range=(0.0, 1.0))
    def too_big() -> str:
        """Always 2."""
        return "2"

    with pytest.raises(SchemaError, match=r"feature 'too_big' must be within \[0.0, 1.0\]"):
        build_feature_matrix(con, cohort, FeatureSet((too_big,)), CONFIG)


def test_cohort_must_be_keyed_by_student_and_date(con, cohort) -> None:
    with pytest.raises(SchemaError, match="cohort index must be"):
        build_feature_matrix(con, cohort.reset_index(), FeatureSet((days_recorded,)), CONFIG)


def test_point_in_time_schema_hides_the_future_and_protected_columns(con, cohort) -> None:
    with point_in_time(con, cohort, CONFIG):
        students = con.execute("SELECT * FROM students LIMIT 0").df().columns
        assert list(students) == ["student_id", "birth_date"]
        latest = con.execute("SELECT max(date) FROM attendance").fetchall()[0][0]
        assert latest <= date(2023, 9, 30)
        spells = con.execute(
            "SELECT exit_date FROM enrollments WHERE student_id = '00018'"
        ).fetchall()
        assert spells == [(None,)]  # the 2024-01-12 exit is not known yet
        with pytest.raises(Exception, match="outcomes"):
            con.execute("SELECT * FROM outcomes").fetchall()
    # The connection is left as it was.
    assert con.execute("SELECT count(*) FROM attendance").fetchall()[0][0] == 4


def test_dictionary_csv_and_markdown(con, cohort, tmp_path: Path) -> None:
    features = FeatureSet((days_recorded, days_present), {"present_days": present_days})
    matrix = build_feature_matrix(con, cohort, features, CONFIG)
    dictionary = feature_dictionary(features, matrix)
    assert list(dictionary["missing_rate"]) == [0.0, 0.5]
    assert list(dictionary["no_records"]) == ["0", "missing"]
    write_dictionary(dictionary, tmp_path)
    assert pd.read_csv(tmp_path / "dictionary.csv")["name"].tolist() == ["days_recorded", "days_present"]
    text = (tmp_path / "dictionary.md").read_text()
    assert "| `days_present` | attendance | Days present so far. | missing | all | 50.0% |" in text


def test_docs_hold_the_current_dictionary() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "features.md").read_text()
    table = dictionary_markdown(feature_dictionary(FEATURES), title=None)
    assert table in text, "regenerate the feature dictionary in docs/features.md"
