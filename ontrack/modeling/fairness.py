"""The fairness audit on every training run: metrics by student group, with a verdict.

In the shape of fairlearn's MetricFrame: one row per (group type, group) with its size,
metrics and intervals. Each group is compared with the *largest group of its kind*
(e.g. every race/ethnicity against the most numerous one): the ratios of false-positive
and false-negative rates at the operating point (the top share of the cohort equal to
the rule's flag rate, the same students a team would see), and calibration within the
group (ECE). Groups with fewer students than ``reporting.min_group_size`` are listed as
"too small" (their sizes withheld, None, as in every aggregate), never silently dropped.

A verdict is written per group against ``modeling.fairness`` (default ratios within
0.8-1.25 and ECE <= 0.03). When a breach is inside the bootstrap interval (the bound is
within the 95% interval) the verdict says the difference may be noise. A miss rate from a
handful of students with the outcome says nothing (two students give an FNR "interval" of
[1, 1]): a group, or its reference group, with fewer than ``min_positives`` students with
the outcome is "too few to judge" on its error rates, and its FNR is withheld.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ontrack.config import FairnessBounds
from ontrack.modeling.metrics import bootstrap_intervals, expected_calibration_error, flag_top

FAIRNESS_METRICS: tuple[str, ...] = ("fpr", "fnr", "ece", "base_rate", "flag_rate")


DEFAULT_MIN_POSITIVES = 30  # the lead's config ``gate.min_positives`` default


def _group_rates(y: np.ndarray, flagged: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    negatives, positives = (y == 0), (y == 1)
    return {
        "fpr": float(flagged[negatives].mean()) if negatives.any() else np.nan,
        "fnr": float((1.0 - flagged[positives]).mean()) if positives.any() else np.nan,
        "ece": expected_calibration_error(y, risk) if len(y) else np.nan,
        "base_rate": float(y.mean()) if len(y) else np.nan,
        "flag_rate": float(flagged.mean()) if len(y) else np.nan,
    }


def group_label(value: object) -> str:
    """How a group is named in the audit and the gate: flags as yes / no, missing
    values (None, NaN, pandas' NA) as "not recorded"."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "not recorded"
    return str(value)


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
    min_positives: int = DEFAULT_MIN_POSITIVES,
) -> list[dict]:
    """One JSON-ready row per (group type, group): size, metrics, ratios, verdict.

    Each row carries ``n`` (rows), ``n_students`` and ``n_positives`` (with the outcome);
    a group under ``min_group_size`` students has them withheld (None) and no metrics;
    a second group of its kind then has its sizes withheld (``size_withheld``, see
    :func:`complement_withheld`). ``too_few_positives`` marks a group, or one whose
    reference group, has fewer than ``min_positives`` students with the outcome: its
    error rates are not judged and its FNR and FNR ratio are withheld (None).
    Intervals resample students of the whole cohort (a group's and the reference's rates
    move together in each resample: ratios get honest bands)."""
    if min_positives < 1:
        raise ValueError(f"min_positives must be at least 1. Got {min_positives} instead.")
    y, risk = np.asarray(y, dtype="float64"), np.asarray(risk, dtype="float64")
    students = np.asarray(students)
    flagged = flag_top(risk, flag_rate)
    rows: list[dict] = []
    for group_type in attributes.columns:
        values = attributes[group_type].map(group_label).to_numpy()
        sizes = pd.Series(students).groupby(values).nunique()
        positives = pd.Series(students[y == 1]).groupby(values[y == 1]).nunique()
        reference = str(sizes.idxmax())
        reference_few = int(positives.get(reference, 0)) < min_positives
        audited = sorted(str(g) for g in sizes.index if sizes[g] >= min_group_size)

        def on(sample: np.ndarray, values: np.ndarray = values, audited: list = audited,
               reference: str = reference) -> dict[str, float]:
            return _type_metrics(y[sample], flagged[sample], risk[sample], values[sample], audited, reference)

        point = on(np.arange(len(y)))
        intervals = bootstrap_intervals(on, students, n_samples=n_samples, seed=seed)
        for group in sorted(str(g) for g in sizes.index):
            row: dict = {"group_type": group_type, "group": group, "reference_group": reference}
            if group not in audited:  # its size is withheld too
                verdict = f"too small to audit (fewer than {min_group_size} students)"
                rows.append({**row, "n": None, "n_students": None, "n_positives": None,
                             "too_small": True, "verdict": verdict})
                continue
            n_positives = int(positives.get(group, 0))
            row.update(n=int((values == group).sum()), n_students=int(sizes[group]),
                       n_positives=n_positives, too_small=False)
            row.update(_of_group(point, group))
            row["intervals"] = _of_group(intervals, group)
            few = _withhold_fnr(row, n_positives, reference_few, min_positives)
            row["verdict"] = _verdict(row, bounds, group == reference, few)
            rows.append(row)
        _protect_by_complement([r for r in rows if r["group_type"] == group_type])
    return rows


def complement_withheld(sizes: list[int | None], withheld: list[bool]) -> list[bool]:
    """Which cells to withhold among cells that add up to a published total: the
    withheld ones and, when exactly one is withheld, the smallest other one too (the
    total minus the others would otherwise give the one away). The rates' complementary
    suppression (``ontrack.indicators.suppression``) for the one equation of a single
    partition, as in the evaluation's groups and reliability bins."""
    hidden = list(withheld)
    shown = [i for i, h in enumerate(hidden) if not h]
    if sum(hidden) == 1 and shown:
        hidden[min(shown, key=lambda i: (sizes[i] or 0, i))] = True
    return hidden


def _protect_by_complement(rows: list[dict]) -> None:
    """The sizes of a second group of one kind are withheld when one group is too small:
    its size (students, rows, students with the outcome) would follow from the total."""
    hidden = complement_withheld([r["n_students"] for r in rows], [r["too_small"] for r in rows])
    for row, hide in zip(rows, hidden, strict=True):
        if hide and not row["too_small"]:
            row.update(n=None, n_students=None, n_positives=None, size_withheld=True)


def _of_group(values: dict, group: str) -> dict:
    """The entries of one group (keys ``group|metric``), keyed by metric."""
    prefix = f"{group}|"
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}


def _withhold_fnr(row: dict, n_positives: int, reference_few: bool, min_positives: int) -> str | None:
    """Mark ``row`` as having too few positives to judge (or not), withholding its FNR
    (when its own positives are too few) and FNR ratio; returns why, or None."""
    few = _too_few(n_positives, reference_few, min_positives)
    row["too_few_positives"] = few is not None
    if few is not None:
        own = n_positives < min_positives
        for key in ("fnr", "fnr_ratio") if own else ("fnr_ratio",):
            row[key] = None
            row["intervals"].pop(key, None)
    return few


def _type_metrics(y: np.ndarray, flagged: np.ndarray, risk: np.ndarray, values: np.ndarray,
                  groups: list[str], reference: str) -> dict[str, float]:
    """Rates of every group of one kind and their ratios to the reference group."""
    rates = {}
    for group in groups:
        inside = values == group
        rates[group] = _group_rates(y[inside], flagged[inside], risk[inside])
    ref = rates.get(reference, {"fpr": np.nan, "fnr": np.nan})
    out = {}
    for group, metrics in rates.items():
        metrics["fpr_ratio"] = _ratio(metrics["fpr"], ref["fpr"])
        metrics["fnr_ratio"] = _ratio(metrics["fnr"], ref["fnr"])
        out.update({f"{group}|{k}": v for k, v in metrics.items()})
    return out


def _ratio(value: float, reference: float) -> float:
    if not np.isfinite(value) or not np.isfinite(reference) or reference == 0:
        return np.nan
    return float(value / reference)


def _too_few(n_positives: int, reference_few: bool, min_positives: int) -> str | None:
    """Why a group's error rates cannot be judged, or None when they can."""
    if n_positives < min_positives:
        return f"too few to judge (fewer than {min_positives} students with the outcome)"
    if reference_few:
        return (f"too few to judge (the reference group has fewer than {min_positives} "
                "students with the outcome)")
    return None


def _verdict(
    row: dict, bounds: FairnessBounds, is_reference: bool, too_few: str | None = None
) -> str:
    """Plain-language verdict: within bounds, or which bound is broken and by how much.

    With ``too_few`` (see :func:`_too_few`) the error-rate ratios are neither passed nor
    failed; calibration is still checked."""
    problems, noisy = [], []
    rate_checks = [("fpr_ratio", "false-positive rate ratio"),
                   ("fnr_ratio", "false-negative rate ratio")]
    checks = [] if is_reference or too_few else rate_checks
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
    suffix = " (reference group)" if is_reference else ""
    if not problems:
        return (too_few or "within bounds") + suffix
    tail = " (within sampling uncertainty: may be noise)" if all(noisy) else ""
    rates = f"; error rates {too_few}" if too_few else ""
    return "outside bounds: " + "; ".join(problems) + tail + rates


def fairness_summary(rows: list[dict]) -> str:
    """One sentence for the model card and the report.

    Groups with too few students with the outcome to judge are counted on their own:
    neither within bounds nor outside (unless their calibration is outside bounds)."""
    judged = [r for r in rows if not r.get("too_small")]
    outside = [r for r in judged if r["verdict"].startswith("outside") and "noise" not in r["verdict"]]
    noisy = [r for r in judged
             if r["verdict"].startswith("outside") and "noise" in r["verdict"]]
    fewer = [r for r in judged if r["verdict"].startswith("too few")]
    small = [r for r in rows if r.get("too_small")]
    if not judged:
        return "No group was large enough to audit."
    within = len(judged) - len(outside) - len(noisy) - len(fewer)
    text = f"{within} of {len(judged)} audited groups are within bounds"
    if outside:
        names = ", ".join(f"{r['group_type']}={r['group']}" for r in outside)
        text += f"; outside bounds beyond sampling uncertainty: {names}"
    if noisy:
        names = ", ".join(f"{r['group_type']}={r['group']}" for r in noisy)
        text += f"; outside bounds but within sampling uncertainty: {names}"
    if fewer:
        names = ", ".join(f"{r['group_type']}={r['group']}" for r in fewer)
        text += f"; too few students with the outcome to judge: {names}"
    if small:
        text += f"; {len(small)} groups too small to audit"
    return text + "."
