"""The fairness audit on every training run: metrics by student group, with a verdict.

In the shape of fairlearn's MetricFrame: one row per (group type, group) with its size,
metrics and intervals. Each group is compared with the *largest group of its kind*
(e.g. every race/ethnicity against the most numerous one): the ratios of false-positive
and false-negative rates at the operating point (the top share of the cohort equal to
the rule's flag rate, the same students a team would see), and calibration within the
group (ECE). Groups with fewer students than ``reporting.min_group_size`` are listed as
"too small" (their size withheld as in every aggregate), never silently dropped.

A verdict is written per group against ``modeling.fairness`` (default ratios within
0.8-1.25 and ECE <= 0.03). When a breach is inside the bootstrap interval (the bound is
within the 95% interval) the verdict says the difference may be noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ontrack.config import FairnessBounds
from ontrack.modeling.metrics import bootstrap_intervals, expected_calibration_error, flag_top

FAIRNESS_METRICS: tuple[str, ...] = ("fpr", "fnr", "ece", "base_rate", "flag_rate")


def _group_rates(y: np.ndarray, flagged: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    negatives, positives = (y == 0), (y == 1)
    return {
        "fpr": float(flagged[negatives].mean()) if negatives.any() else np.nan,
        "fnr": float((~flagged[positives]).mean()) if positives.any() else np.nan,
        "ece": expected_calibration_error(y, risk) if len(y) else np.nan,
        "base_rate": float(y.mean()) if len(y) else np.nan,
        "flag_rate": float(flagged.mean()) if len(y) else np.nan,
    }


def _label(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return "not recorded" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def fairness_audit(
    y: np.ndarray,
    risk: np.ndarray,
    students: np.ndarray,
    attributes: pd.DataFrame,
    *,
    flag_rate: float,
    bounds: FairnessBounds,
    min_group_size: int,
    n_samples: int,
    seed: int,
) -> list[dict]:
    """One JSON-ready row per (group type, group): size, metrics, ratios, verdict."""
    y = np.asarray(y, dtype="float64")
    risk = np.asarray(risk, dtype="float64")
    students = np.asarray(students)
    flagged = flag_top(risk, flag_rate)
    rows: list[dict] = []
    for group_type in attributes.columns:
        values = attributes[group_type].map(_label).to_numpy()
        sizes = pd.Series(students).groupby(values).nunique()
        reference = sizes.idxmax()
        ref_rows = values == reference
        ref = _group_rates(y[ref_rows], flagged[ref_rows], risk[ref_rows])
        for group in sorted(sizes.index):
            inside = values == group
            n_students = int(sizes[group])
            row: dict = {"group_type": group_type, "group": group, "reference_group": reference}
            if n_students < min_group_size:  # its size is withheld too
                verdict = f"too small to audit (fewer than {min_group_size} students)"
                rows.append({**row, "too_small": True, "verdict": verdict})
                continue
            row["n_students"] = n_students
            row["n"] = int(inside.sum())
            row["too_small"] = False
            gy, gflag, grisk = y[inside], flagged[inside], risk[inside]
            row.update(_group_rates(gy, gflag, grisk))
            row["fpr_ratio"] = _ratio(row["fpr"], ref["fpr"])
            row["fnr_ratio"] = _ratio(row["fnr"], ref["fnr"])
            positions = np.flatnonzero(inside)

            def on(sample: np.ndarray, positions: np.ndarray = positions) -> dict[str, float]:
                rows_ = positions[sample]
                rates = _group_rates(y[rows_], flagged[rows_], risk[rows_])
                rates["fpr_ratio"] = _ratio(rates["fpr"], ref["fpr"])
                rates["fnr_ratio"] = _ratio(rates["fnr"], ref["fnr"])
                return rates

            row["intervals"] = bootstrap_intervals(
                on, students[inside], n_samples=n_samples, seed=seed
            )
            row["verdict"] = _verdict(row, bounds, group == reference)
            rows.append(row)
    return rows


def _ratio(value: float, reference: float) -> float:
    if not np.isfinite(value) or not np.isfinite(reference) or reference == 0:
        return np.nan
    return float(value / reference)


def _verdict(row: dict, bounds: FairnessBounds, is_reference: bool) -> str:
    """Plain-language verdict: within bounds, or which bound is broken and by how much."""
    problems, noisy = [], []
    checks = [] if is_reference else [("fpr_ratio", "false-positive rate ratio"), ("fnr_ratio", "false-negative rate ratio")]
    for key, words in checks:
        value = row.get(key)
        if value is None or not np.isfinite(value):
            continue
        if not bounds.ratio_min <= value <= bounds.ratio_max:
            problems.append(f"{words} {value:.2f} outside {bounds.ratio_min}-{bounds.ratio_max}")
            low, high = row["intervals"].get(key, [np.nan, np.nan])
            noisy.append(np.isfinite(low) and low <= bounds.ratio_max and high >= bounds.ratio_min)
    ece = row.get("ece")
    if ece is not None and np.isfinite(ece) and ece > bounds.max_ece:
        problems.append(f"calibration error {ece:.3f} above {bounds.max_ece}")
        low = row["intervals"].get("ece", [np.nan, np.nan])[0]
        noisy.append(np.isfinite(low) and low <= bounds.max_ece)
    if not problems:
        return "within bounds" + (" (reference group)" if is_reference else "")
    tail = " (within sampling uncertainty: may be noise)" if all(noisy) else ""
    return "outside bounds: " + "; ".join(problems) + tail


def fairness_summary(rows: list[dict]) -> str:
    """One sentence for the model card and the report."""
    judged = [r for r in rows if not r.get("too_small")]
    outside = [r for r in judged if r["verdict"].startswith("outside")]
    small = [r for r in rows if r.get("too_small")]
    if not judged:
        return "No group was large enough to audit."
    text = f"{len(judged) - len(outside)} of {len(judged)} audited groups are within bounds"
    if outside:
        names = ", ".join(f"{r['group_type']}={r['group']}" for r in outside)
        text += f"; outside: {names}"
    if small:
        text += f"; {len(small)} groups too small to audit"
    return text + "."
