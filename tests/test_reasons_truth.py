"""Every line a roster gives for a student is true (issue #15, item 7).

A seeded generator makes 20,000 students per model, with values across each feature's
valid range (healthy extremes, both signs, values that round to the healthy extreme,
missing) and random contributions, and checks every reason and context line against
the student's own value, independently of how ``explain`` filters.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from ontrack.config import Config
from ontrack.dataset.featureset import FeatureSet, FeatureSpec, load_feature_set
from ontrack.scoring.reasons import (
    LONG_COLUMNS,
    NEVER_REASONS,
    domain,
    explain,
    singular,
    top_reasons,
)

N_STUDENTS = 20_000
FEATURES = load_feature_set()
DOWN = re.compile(r"\b(?:fell|falling|dropped|behind|lower|down)\b", re.IGNORECASE)
UP = re.compile(r"\b(?:rose|rising|ahead|higher|up)\b", re.IGNORECASE)
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def contract_of(features: FeatureSet) -> dict:
    """The reason keys of a model contract, as training writes them."""
    return {
        "features": features.names,
        "groups": {f.name: f.group for f in features},
        "malleable": {f.name: f.malleable for f in features},
        "reasons": {f.name: f.reason for f in features},
        "risk_when": {f.name: f.risk_when for f in features},
        "healthy": {f.name: f.healthy for f in features},
    }


def draw(spec: FeatureSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    """Values of one feature: missing, range ends, the healthy bound and values that
    round to it, integers and uniform values; both signs where the range allows."""
    low, high = spec.valid_range or (-6.0, 12.0)
    healthy = spec.healthy if spec.healthy is not None else 0.0
    special = np.array([low, high, healthy, 0.0])
    nudge = rng.choice([1e-4, 4e-3, 6e-3, 0.04, 0.06, 0.4, 0.6], n) * rng.choice([-1, 1], n)
    options = np.stack([
        np.full(n, np.nan),
        rng.choice(special, n),
        np.clip(healthy + nudge, low, high),
        rng.uniform(low, high, n),
        rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1, n).astype(float),
        rng.uniform(low, high, n),
    ])
    return options[rng.integers(0, len(options), n), np.arange(n)]


def students(features: FeatureSet, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f.name: draw(f, rng, N_STUDENTS) for f in features})
    phi = rng.normal(0.0, 0.5, (N_STUDENTS, len(features)))
    phi[rng.random(phi.shape) < 0.3] = 0.0
    contributions = pd.DataFrame(phi, columns=features.names).assign(base_value=-1.0)
    must = rng.random(N_STUDENTS) < 0.3
    return X, contributions, must


def rendered(spec: FeatureSpec, value: float) -> str:
    return singular(spec.reason.format(value=value, size=abs(value)))


def truth(spec: FeatureSpec, values: np.ndarray, contributions: np.ndarray) -> np.ndarray:
    """Where a line about a value could be true: written from the declarations, not
    from explain's code."""
    if spec.risk_when is None or spec.program_flag or spec.name in NEVER_REASONS:
        return np.zeros(len(values), dtype=bool)
    ok = np.isfinite(values) & (contributions > 0)
    if spec.healthy is None:
        return ok
    h = spec.healthy
    ok &= values > h if spec.risk_when == "high" else values < h
    if re.search(r"\{(value|size)", spec.reason):  # not "Suspended this year"
        near = np.flatnonzero(ok & (np.abs(values - h) <= 1.0))  # 99.7% prints 100%
        ok[near] = [rendered(spec, v) != rendered(spec, h) for v in values[near]]
    return ok


@pytest.fixture(scope="module", params=[("grade8", 8), ("grade9", 9)], ids=["grade8", "grade9"])
def explained(request: pytest.FixtureRequest) -> dict:
    model, grade = request.param
    features = FEATURES.for_grades([grade])
    contract = contract_of(features)
    X, contributions, must = students(features, seed=grade)
    rules = pd.Series([Config().rules] * N_STUDENTS)
    wide, long = explain(contributions, X, contract, rules, Config().models[model].baseline, 3, must)
    specs = {f.name: f for f in features}
    values, phi = X[features.names].to_numpy(), contributions[features.names].to_numpy()
    true = np.stack([truth(f, values[:, j], phi[:, j]) for j, f in enumerate(features)], 1)
    return {"model": model, "specs": specs, "contract": contract, "X": X, "values": values,
            "phi": phi, "true": true, "must": must, "wide": wide, "long": long}


def test_every_line_is_true(explained: dict) -> None:
    long, specs = explained["long"], explained["specs"]
    assert list(long.columns) == list(LONG_COLUMNS)
    assert len(long) > N_STUDENTS // 2, "the generator should give most students a line"
    column = {name: j for j, name in enumerate(specs)}
    rows, cols = long["row"].to_numpy(), long["feature"].map(column).to_numpy()
    np.testing.assert_array_equal(long["value"], explained["values"][rows, cols])
    np.testing.assert_array_equal(long["contribution"], explained["phi"][rows, cols])
    non_positive = int((long["contribution"] <= 0).sum())
    malleable = long["feature"].map({n: f.malleable for n, f in specs.items()})
    not_malleable = int(((long["kind"] == "reason") & ~malleable).sum())
    protected = sum(specs[f].program_flag or f in NEVER_REASONS for f in long["feature"])
    untrue = int((~explained["true"][rows, cols]).sum())  # healthy side, or reads healthy
    wrong_direction = 0
    for line in long.itertuples(index=False):
        down, up = DOWN.search(line.text), UP.search(line.text)
        if down or up:  # a direction word: the value's sign says the same, and not 0
            shown = float(NUMBER.search(line.text).group())
            wrong_direction += bool(down) and not line.value < 0
            wrong_direction += bool(up) and not line.value > 0
            wrong_direction += shown == 0
        own = rendered(specs[line.feature], line.value)  # the student's own value
        if line.kind == "context":
            lower = own[0] if own[1].isupper() else own[0].lower()
            assert line.text == f"Context: {lower}{own[1:]}"
        else:
            assert line.text == own or line.text.startswith(own + " (")
    assert (wrong_direction, non_positive, not_malleable, untrue, protected) == (0, 0, 0, 0, 0)
    assert (long["kind"] == "reason").any() and (long["kind"] == "context").any()
    assert long["text"].str.contains(DOWN).any()  # the check did run


def test_fewer_lines_only_when_fewer_true_reasons_exist(explained: dict) -> None:
    """A row gets one reason per domain that has a true malleable candidate (up to 3),
    and a must-explain row without one gets a context line whenever one can be true."""
    specs, contract, long = explained["specs"], explained["contract"], explained["long"]
    true, must = explained["true"], explained["must"]
    malleable = np.array([f.malleable for f in specs.values()])
    domains = [domain(name, contract) for name in specs]
    member = np.array([[d == label for d in domains] for label in sorted(set(domains))])
    true_domains = (((true & malleable).astype(int) @ member.T.astype(int)) > 0).sum(axis=1)
    reasons = long[long["kind"] == "reason"]
    contexts = long[long["kind"] == "context"]
    counts = reasons.groupby("row").size().reindex(range(len(true)), fill_value=0)
    np.testing.assert_array_equal(counts.to_numpy(), np.minimum(3, true_domains))
    wants_context = must & (true_domains == 0) & true.any(axis=1)
    np.testing.assert_array_equal(np.sort(contexts["row"]), np.flatnonzero(wants_context))
    assert contexts["rank"].eq(1).all()
    per_domain = reasons.assign(d=[domain(f, contract) for f in reasons["feature"]])
    assert not per_domain.duplicated(["row", "d"]).any()
    assert (reasons.groupby("row")["rank"].max() == reasons.groupby("row").size()).all()
    assert (true_domains < 3).any() and (counts > 0).any()  # fewer than three happens


def test_wide_frame_is_the_long_frame(explained: dict) -> None:
    wide, long = explained["wide"], explained["long"]
    assert list(wide.columns) == ["reason_1", "reason_2", "reason_3"]
    expected = np.full(wide.shape, "", dtype=object)
    expected[long["row"], long["rank"] - 1] = long["text"]
    assert wide.to_numpy().tolist() == expected.tolist()


def test_protected_and_program_flags_never_shown_even_if_a_contract_says_so() -> None:
    features = FEATURES.for_grades([8])
    contract = contract_of(features)
    flags = [f.name for f in features if f.program_flag]
    assert flags
    for name in flags:  # a tampered contract: the flags as malleable risks
        contract["malleable"][name], contract["risk_when"][name] = True, "high"
    X, contributions, must = students(features, seed=1)
    X, contributions, must = X.iloc[:2000], contributions.iloc[:2000], must[:2000]
    rules = pd.Series([Config().rules] * len(X))
    _, long = explain(contributions, X, contract, rules, "readiness", 3, must)
    assert not set(long["feature"]) & set(flags)


def test_marks_that_rose_are_not_a_reason_and_marks_that_fell_say_so() -> None:
    contract = contract_of(FEATURES.for_grades([9]))
    X = pd.DataFrame({"marks_trend": [0.2, -0.4, -0.03], "credits_vs_expected_ytd": [0.1, -0.5, 0.0],
                      "attendance_rate_ytd": [1.0, 0.997, 0.88]})
    phi = pd.DataFrame(0.3, index=X.index, columns=X.columns)
    rules = pd.Series([Config().rules] * 3)
    wide, long = explain(phi, X, contract, rules, "on_track", 3)
    assert wide.iloc[0].tolist() == ["", "", ""]
    # one coursework slot: the first of the tied marks and credits; 99.7% is not shown
    assert wide.iloc[1].tolist() == [
        "Marks fell 0.4 grade points since the previous report card", "", ""]
    assert wide.iloc[2].tolist() == ["Attended 88% of school days this year", "", ""]
    # 99.7% prints as 100%: at the healthy extreme, not a reason
    assert "100%" not in " ".join(long["text"])


def test_credits_behind_pace_states_the_rule() -> None:
    contract = contract_of(FEATURES.for_grades([9]))
    X = pd.DataFrame({"credits_vs_expected_ytd": [-0.5, 0.5]})
    phi = pd.DataFrame({"credits_vs_expected_ytd": [0.4, 0.4]})
    wide = top_reasons(phi, X, contract, pd.Series([Config().rules] * 2), "on_track")
    assert wide["reason_1"].tolist() == [
        "0.5 full-year credits behind the on-track pace (on-track needs 5 by the end of "
        "9th grade)",
        "",
    ]


def test_history_alone_gives_a_context_line_to_a_student_who_must_get_one() -> None:
    contract = contract_of(FEATURES.for_grades([9]))
    X = pd.DataFrame({"failed_core_courses_prior_year": [2.0, 2.0, 0.0],
                      "attendance_rate_prior_year": [0.84, 0.84, 1.0],
                      "ela_level_prior_year": [4.0, 4.0, 4.0]})
    phi = pd.DataFrame({"failed_core_courses_prior_year": [0.3, 0.3, 0.9],
                        "attendance_rate_prior_year": [0.5, 0.5, 0.9],
                        "ela_level_prior_year": [0.9, 0.9, 0.9]})
    rules = pd.Series([Config().rules] * 3)
    wide, long = explain(phi, X, contract, rules, "on_track", 3, np.array([True, False, True]))
    assert wide["reason_1"].tolist() == ["Context: attended 84% of school days last year", "", ""]
    assert long[["row", "rank", "feature", "kind"]].values.tolist() == [
        [0, 1, "attendance_rate_prior_year", "context"]]


def test_an_old_contract_still_scores_without_signed_texts() -> None:
    """A contract trained before directions were declared: no risk_when/healthy keys."""
    contract = {
        "features": ["marks_trend", "gpa_ytd", "ela_level_prior_year"],
        "groups": {"marks_trend": "coursework", "gpa_ytd": "coursework",
                   "ela_level_prior_year": "assessment"},
        "malleable": {"marks_trend": True, "gpa_ytd": True, "ela_level_prior_year": False},
        "reasons": {"marks_trend": "Marks dropped {value:+.1f} grade points",
                    "gpa_ytd": "GPA so far this year is {value:.2f}",
                    "ela_level_prior_year": "Last year's ELA level was {value:.0f} of 4"},
    }
    X = pd.DataFrame({"marks_trend": [0.2], "gpa_ytd": [1.9], "ela_level_prior_year": [1.0]})
    phi = pd.DataFrame({"marks_trend": [0.9], "gpa_ytd": [0.3], "ela_level_prior_year": [0.5]})
    wide, long = explain(phi, X, contract, pd.Series([Config().rules]), "readiness", 3, np.array([True]))
    assert wide.iloc[0].tolist() == ["GPA so far this year is 1.90 (readiness needs 2.5)", "", ""]
    assert long["kind"].tolist() == ["reason"]


@pytest.mark.parametrize("must", [np.array([True]), np.array([1, 0]), np.array([[True, False]])])
def test_must_explain_is_checked(must) -> None:
    contract = contract_of(FEATURES.for_grades([9]))
    X = pd.DataFrame({"gpa_ytd": [1.0, 2.0]})
    with pytest.raises(ValueError, match="must_explain must be a boolean array"):
        explain(X * 0 + 0.1, X, contract, pd.Series([Config().rules] * 2), "on_track", 3,
                np.asarray(must))


def test_every_shown_feature_declares_a_consistent_direction() -> None:
    for spec in FEATURES:
        if spec.roster_role == "never":
            continue
        assert re.search(r"\{(value|size)", spec.reason) or spec.healthy is not None, spec.name
        if spec.healthy is not None and spec.valid_range is not None:
            low, high = spec.valid_range
            assert low <= spec.healthy <= high, spec.name
        if "prior_year" in spec.name or spec.group == "history":
            assert not spec.malleable, spec.name


def test_a_malleable_feature_declares_its_direction() -> None:
    """A malleable feature without ``risk_when`` is never shown: declare it, or list it
    here with the reason it has no direction."""
    no_direction = {"credits_earned_ytd": "its level depends on the time of year; "
                    "credits_vs_expected_ytd says it against the pace"}
    for spec in FEATURES:
        if spec.malleable and not spec.program_flag and spec.name not in no_direction:
            assert spec.risk_when in ("low", "high"), spec.name
