"""Config values out of range are refused with a clear error, not accepted silently
(issue 20, item 9): thresholds outside their scale, risk bands out of order, duplicate or
empty tier names, negative capacities, checkpoints and cutoffs out of order, and a
registry prefix MLflow would reject only after a whole training run."""

from __future__ import annotations

import pytest

from ontrack.config import config_from_dict
from ontrack.errors import ConfigError

CUTOFF = {"intervention_type": "tutoring", "as_of": "01-31", "treated": "below"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"rules": {"readiness": {"gpa_min": -1}}}, "rules.readiness.gpa_min: gpa_min must be a GPA between 0 and 5. Got -1.0 instead."),
        ({"rules": {"readiness": {"gpa_min": 99}}}, "gpa_min must be a GPA between 0 and 5. Got 99.0 instead."),
        ({"rules": {"readiness": {"gpa_min": 4.5}}}, "readiness.gpa_min must be at most 4, the highest grade point of the mark scale. Got 4.5 instead."),
        ({"districts": {"D2": {"readiness": {"gpa_min": 7}}}}, "districts.D2.readiness.gpa_min: gpa_min must be a GPA"),
        ({"rules": {"readiness": {"attendance_min": 1.5}}}, "rules.readiness.attendance_min"),
        ({"rules": {"readiness": {"max_suspensions": -1}}}, "rules.readiness.max_suspensions"),
        ({"rules": {"on_track": {"max_core_semester_fs": -2}}}, "rules.on_track.max_core_semester_fs"),
        ({"rules": {"mark_scale": {"numeric_cutoffs": {"A": 70, "B": 80}}}}, "numeric_cutoffs must decrease from the best letter to the worst. Got A=70, B=80 instead."),
        ({"rules": {"mark_scale": {"numeric_cutoffs": {"A": 190}}}}, "numeric_cutoffs must be between 0 and 100. Got A=190.0 instead."),
        ({"rules": {"checkpoints": ["01-31", "10-31"]}}, "checkpoints must be in school-year order from 07-01. Got ['01-31', '10-31'] instead."),
        ({"rules": {"checkpoints": ["10-31", "10-31"]}}, "checkpoints must not repeat. Got ['10-31', '10-31'] instead."),
        ({"rules": {"school_year_start": "08-15", "checkpoints": ["08-10", "10-31"]}}, "checkpoints must be in school-year order from 08-15"),
        ({"scoring": {"risk_bands": [0.2, 0.5]}}, "scoring.risk_bands: risk_bands must be decreasing (the first tier's lowest risk above the second's). Got [0.2, 0.5] instead."),
        ({"scoring": {"risk_bands": [0.3, 0.3]}}, "risk_bands must be decreasing"),
        ({"scoring": {"risk_bands": [1.5, 0.2]}}, "risk_bands must each be between 0 and 1. Got [1.5, 0.2] instead."),
        ({"scoring": {"risk_bands": [0.5, 0.0]}}, "risk_bands must each be between 0 and 1"),
        ({"scoring": {"tier_names": ["a", "a", "b"]}}, "scoring.tier_names: tier_names must be distinct. Got ['a', 'a', 'b'] instead."),
        ({"scoring": {"tier_names": ["a", "A ", "b"]}}, "tier_names must be distinct"),
        ({"scoring": {"tier_names": ["a", "", "b"]}}, "tier_names must all be non-empty. Got ['a', '', 'b'] instead."),
        ({"scoring": {"tier_names": ["a", "  ", "b"]}}, "tier_names must all be non-empty"),
        ({"scoring": {"capacity_per_school": [-1, 30]}}, "scoring.capacity_per_school: capacity_per_school must be 0 or more. Got [-1, 30] instead."),
        ({"modeling": {"top_shares": [0.1, 1.5]}}, "modeling.top_shares: top_shares must each be between 0 and 1. Got [0.1, 1.5] instead."),
        ({"tracking": {"registered_model_prefix": "district/x"}}, "tracking.registered_model_prefix: registered_model_prefix must be 1-100 letters"),
        ({"tracking": {"registered_model_prefix": "a:b"}}, "Got 'a:b' instead."),
        ({"tracking": {"registered_model_prefix": ""}}, "Got '' instead."),
        ({"tracking": {"registered_model_prefix": "x@champion"}}, "Got 'x@champion' instead."),
        ({"impact": {"cutoffs": [{**CUTOFF, "variable": "readiness.gpa", "threshold": 9}]}}, "threshold of readiness.gpa must be a GPA between 0 and 5. Got 9.0 instead."),
        ({"impact": {"cutoffs": [{**CUTOFF, "variable": "readiness.attendance", "threshold": 92}]}}, "threshold of readiness.attendance must be a rate between 0 and 1. Got 92.0 instead."),
        ({"impact": {"cutoffs": [{**CUTOFF, "variable": "risk:grade8", "threshold": -0.1}]}}, "must be a risk between 0 and 1"),
        ({"impact": {"cutoffs": [{**CUTOFF, "variable": "on_track.credits", "threshold": -1}]}}, "must be a count of 0 or more"),
    ],
)
def test_a_value_out_of_range_is_refused(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(raw)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"rules": {"readiness": {"gpa_min": 0}, "checkpoints": ["06-30"]}},
        {"rules": {"readiness": {"gpa_min": 4.0}}},
        {"rules": {"school_year_start": "08-15", "checkpoints": ["08-20", "01-31", "08-10"]}},
        {"scoring": {"risk_bands": [0.9, 0.01], "capacity_per_school": [0, 0], "tier_names": ["x", "y", "z"]}},
        {"tracking": {"registered_model_prefix": "district_7.v2-a"}},
        {"impact": {"cutoffs": [{**CUTOFF, "variable": "readiness.gpa", "threshold": 2.0}]}},
    ],
)
def test_values_in_range_are_accepted(raw: dict) -> None:
    config_from_dict(raw)
