"""A small school roster for the roster-file tests: three ranked students with a null in
each optional column and a script in their data (tests/test_rosters_render.py and
tests/test_rosters_html.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ontrack.reports.rosters import RosterMeta

EVIL = "<script>alert(1)</script>"
BANNER = "The model is not beating the rule on the newest cohort; this list is ranked by the rule"


def roster_frame() -> pd.DataFrame:
    """Three students of one school, ranked, with a null in each optional column."""
    return pd.DataFrame({
        "student_id": ["00017", "00203", "01000"],
        "school_id": ["001", "001", "001"],
        "school_name": ["Lincoln Middle"] * 3,
        "grade_level": [8, 8, 8],
        "staff_id": ["0042", "0042", ""],
        "staff_name": ["Ms. Ávila", "Ms. Ávila", ""],
        "model": ["grade8"] * 3,
        "risk": [0.8123, 0.0041, 0.35],
        "risk_tier": ["intensive support", "on track", "check in"],
        "rank": [1, 3, 2],
        "change": ["new to the list", "no change", "moved up"],
        "rule_status": ["not_met", "met", "unknown"],
        "rule_gpa": [1.75, 3.5, np.nan],
        "rule_gpa_ok": [False, True, np.nan],
        "rule_attendance_rate": [0.881, 0.97, 0.955],
        "rule_attendance_ok": [False, True, False],
        "reason_1": ["Attendance 88% this year (readiness needs 96%)", EVIL, ""],
        "reason_2": ["2 failing marks in math this semester", "", "=HYPERLINK(\"x\")"],
        "reason_3": ["", "", ""],
        "alerts": ["Absences rose in the last 30 days; new failing mark", "", ""],
        "model_version": ["7"] * 3,
        "as_of_date": ["2026-11-15"] * 3,
        "expires": ["2027-01-31"] * 3,
        "config_hash": ["0a1b2c3d"] * 3,
    })


def roster_meta(**changes: object) -> RosterMeta:
    """The roster's run facts (a banner, two alerts, tier counts, a note), with ``changes``."""
    base = {
        "title": "Lincoln Middle — grade 8 support roster", "model": "grade8",
        "model_version": "7", "as_of_date": "2026-11-15", "expires": "2027-01-31",
        "config_hash": "0a1b2c3d", "banner": BANNER,
        "alerts": [("00017", "Absences rose in the last 30 days"), ("00203", EVIL)],
        "tier_counts": {"intensive support": 1, "check in": 1, "on track": 1},
        "notes": ["Risk is a calibrated probability; a flashlight, not a hammer."]}
    base.update(changes)
    return RosterMeta(**base)
