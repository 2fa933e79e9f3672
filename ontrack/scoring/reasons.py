"""Reasons in plain language from exact TreeSHAP contributions, and only true ones.

For each student, the booster's per-feature contributions to the margin (LightGBM's
``pred_contrib``: exact TreeSHAP, additive to the margin) are filtered, in this order:

1. the feature is *malleable*: staff can change its current value (this year's
   attendance, marks, behavior, the rule's criteria). Last year's tests, demographics,
   mobility history and age are context, never reasons;
2. never a protected attribute or a program flag (``NEVER_REASONS``);
3. the student's value is known (the text shows it);
4. the contribution raises the risk (> 0);
5. the value is on the feature's risk side of its ``healthy`` bound: never the healthy
   extreme (100% attendance, 0 Fs) and never a change the healthy way (a rise in marks
   cannot explain risk). A feature declared without a direction is never shown.

One domain (attendance, coursework, behavior, ...; the rule criteria count in the
domain they measure) takes one slot: domains are ranked by their summed contribution
over the features that passed, and each shows its largest. A student may get fewer
than ``n`` reasons, or none. A student who must be explained (the top tier) and has no
reason gets one *context* line: the non-malleable feature with the largest contribution
that passes filters 2-5, stated as context ("Context: failed 2 core courses last year").

Worked example: marks_trend = -0.4 (declared ``risk_when="low"``, ``healthy=-0.05``)
with contribution +0.3 gives "Marks fell 0.4 grade points since the previous report
card"; marks_trend = +0.2 with contribution +0.3 gives nothing.

A contract from before directions were declared (no ``risk_when`` key) keeps the old
behaviour minus what cannot be checked: a template with a signed value (``{value:+``)
is not shown, and there are no context lines.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ontrack.config import DistrictRules
from ontrack.dataset.featureset import PROTECTED_COLUMNS
from ontrack.indicators import GROUP_FLAGS
from ontrack.indicators.definitions import criterion_bar
from ontrack.modeling.baselines import baseline

NEVER_REASONS: frozenset[str] = frozenset((*PROTECTED_COLUMNS, *GROUP_FLAGS))
# Rule-criterion features belong to the domain they measure.
DOMAIN_OF: dict[str, str] = {
    "readiness_gpa_ok_ytd": "coursework",
    "readiness_df_ok_ytd": "coursework",
    "readiness_attendance_ok_ytd": "attendance",
    "readiness_suspension_ok_ytd": "behavior",
    "on_track_met_ytd": "coursework",
    "on_track_credits_ok_ytd": "coursework",
    "on_track_fs_ok_ytd": "coursework",
    "core_semester_fs_ytd": "coursework",
    "credits_earned_ytd": "coursework",
    "credits_vs_expected_ytd": "coursework",
    "readiness_met_ytd": "coursework",
}
KINDS: tuple[str, str] = ("reason", "context")
LONG_COLUMNS: tuple[str, ...] = (
    "row", "rank", "feature", "value", "contribution", "text", "kind",
)
_SIGNED_TEMPLATE = re.compile(r"\{value:\+")
_PLACEHOLDER = re.compile(r"\{(value|size)(?::([^}]*))?\}")


def shown_as(contract: dict) -> dict[str, str]:
    """Each feature that may appear on a roster and how: ``reason`` or ``context``.

    Features without a template, without a declared direction, or in
    ``NEVER_REASONS`` are left out; so are signed templates of an old contract.
    """
    templates = contract.get("reasons", {})
    malleable = contract.get("malleable", {})
    directions = contract.get("risk_when")
    kinds: dict[str, str] = {}
    for name in contract["features"]:
        if name in NEVER_REASONS or not templates.get(name):
            continue
        if directions is None:  # an old contract: reasons only, unsigned only
            signed = _SIGNED_TEMPLATE.search(templates[name])
            if malleable.get(name, False) and not signed:
                kinds[name] = "reason"
        elif directions.get(name) in ("low", "high"):
            kinds[name] = "reason" if malleable.get(name, False) else "context"
    return kinds


def reason_features(contract: dict) -> list[str]:
    """The model's features that may appear as reasons (see the module docstring)."""
    return [f for f, kind in shown_as(contract).items() if kind == "reason"]


def domain(feature: str, contract: dict) -> str:
    """The domain a feature's reason counts in."""
    return DOMAIN_OF.get(feature, contract.get("groups", {}).get(feature, feature))


def risk_side(values: np.ndarray, features: list[str], contract: dict) -> np.ndarray:
    """True where a value lies strictly on its feature's risk side of ``healthy``.

    ``values`` is rows x features. Without a ``healthy`` bound every known value
    counts; an old contract's features (no direction declared) count as today.
    """
    directions = contract.get("risk_when")
    healthy = contract.get("healthy", {})
    out = np.isfinite(values)
    if directions is None:
        return out
    for j, name in enumerate(features):
        bound = healthy.get(name)
        if bound is None:
            continue
        column = values[:, j]
        side = column > bound if directions.get(name) == "high" else column < bound
        out[:, j] &= side & ~_reads_healthy(column, contract["reasons"][name], bound)
    return out


def _reads_healthy(values: np.ndarray, template: str, bound: float) -> np.ndarray:
    """True where the template shows the same text as at the healthy bound (99.7%
    attendance prints "100%"; a 0.03 fall in marks prints "0.0")."""
    specs = _PLACEHOLDER.findall(template)
    same = np.zeros(len(values), dtype=bool)
    if not specs:
        return same
    step = 1.0
    for _, spec in specs:
        digits = re.search(r"\.(\d+)", spec)
        if digits:
            scale = 0.01 if spec.endswith("%") else 1.0
            step = min(step, scale * 10.0 ** -int(digits.group(1)))
    near = np.flatnonzero(np.abs(values - bound) <= step)  # rounding can tie only here
    if len(near):
        at_bound = _format(template, bound)
        # Each distinct value formatted once (counts repeat a lot); distinct by its bits,
        # so 0.0 and -0.0, which may print differently, are not merged.
        near_values = np.ascontiguousarray(values[near], dtype="float64")
        _bits, first, where = np.unique(near_values.view(np.int64), return_index=True, return_inverse=True)
        reads = np.array([_format(template, v) == at_bound for v in near_values[first]], dtype=bool)
        same[near] = reads[where.reshape(-1)]
    return same


def _format(template: str, value: float) -> str:
    try:
        return template.format(value=value, size=abs(value))
    except (ValueError, KeyError, IndexError):
        return template


def reason_text(
    feature: str, value: float, contract: dict, rules: DistrictRules, rule: str
) -> str:
    """The feature's template with the student's value (and the rule's bar).

    The template may use ``value`` and ``size`` (the value without its sign).
    """
    text = singular(_format(contract["reasons"][feature], value))
    bar = _rule_bar(feature, rules, rule)
    return f"{text} ({bar})" if bar else text


def context_text(feature: str, value: float, contract: dict) -> str:
    """A non-malleable feature's template, stated as context ("Context: failed ...").

    Examples
    --------
    >>> contract = {"reasons": {"f": "Failed {value:.0f} core courses last year"}}
    >>> context_text("f", 2.0, contract)
    'Context: failed 2 core courses last year'
    """
    text = singular(_format(contract["reasons"][feature], value))
    if len(text) > 1 and not text[1].isupper():  # keep "ELA", lower "Failed"
        text = text[0].lower() + text[1:]
    return f"Context: {text}"


def singular(text: str) -> str:
    """Grammar for a count of one: "Suspended 1 times" -> "Suspended once",
    "1 discipline incidents" -> "1 discipline incident".

    Examples
    --------
    >>> singular("1 D or F marks this year")
    '1 D or F mark this year'
    >>> singular("Absent 11 days this year")
    'Absent 11 days this year'
    """
    if "1 " not in text:
        return text
    text = re.sub(r"(?<![\d.,+-])1 times\b", "once", text)
    return re.sub(r"(?<![\d.,])([+-]?1) ((?:\w+ ){0,4}?)(\w+?)s\b", r"\1 \2\3", text)


def _rule_bar(feature: str, rules: DistrictRules, rule: str) -> str | None:
    """Baseline ``rule``'s threshold for a feature it judges, in the rule's words."""
    criterion = baseline(rule).bars.get(feature)
    return None if criterion is None else criterion_bar(rules, criterion)


def explain(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    contract: dict,
    rules_of: pd.Series,
    rule: str,
    n: int = 3,
    must_explain: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each row's true reasons (and a context line where one must be given).

    Parameters
    ----------
    contributions : TreeSHAP contributions (log-odds), rows x features (extra columns
        such as ``base_value`` are ignored).
    X : the feature values, same rows in the same order.
    contract : the model contract (``features``, ``reasons``, ``malleable``,
        ``groups``, and when trained since directions were declared ``risk_when`` and
        ``healthy``).
    rules_of : each row's :class:`DistrictRules` (the district's bars), by position.
    rule : the model's baseline, ``readiness`` or ``on_track`` (whose bars apply).
    n : at most this many reasons per row.
    must_explain : booleans, one per row: rows that get a context line when they have
        no reason (the top tier). None: no row must.

    Returns
    -------
    wide : ``reason_1..reason_n`` texts ("" when fewer), index = contributions.index.
    long : one row per line shown, columns ``LONG_COLUMNS``: row (position in
        ``contributions``), rank (1..n), feature, value, contribution (> 0), text,
        kind (``reason`` or ``context``).
    """
    if n < 0:
        raise ValueError(f"n must be at least 0. Got {n} instead.")
    rows = len(contributions)
    must = _must_explain(must_explain, rows)
    columns = [f"reason_{i + 1}" for i in range(n)]
    wide = pd.DataFrame("", index=contributions.index, columns=columns)
    kinds = shown_as(contract)
    names = [f for f in kinds if f in contributions.columns and f in X.columns]
    records: list[tuple] = []
    if names and rows:
        values = X[names].to_numpy(dtype="float64")
        phi = contributions[names].to_numpy(dtype="float64")
        ok = (phi > 0) & np.isfinite(phi) & risk_side(values, names, contract)
        is_reason = np.array([kinds[f] == "reason" for f in names])
        reason_phi = np.where(ok & is_reason, phi, 0.0)
        context_phi = np.where(ok & ~is_reason, phi, 0.0)
        lines = _lines(reason_phi, context_phi, names, contract, n, must)
        texts, records = _texts(
            lines, values, phi, names, contract, list(rules_of), rule, n
        )
        wide.loc[:, columns] = texts
    long = pd.DataFrame.from_records(records, columns=list(LONG_COLUMNS))
    long = long.astype(
        {"row": "int64", "rank": "int64", "feature": "object", "value": "float64",
         "contribution": "float64", "text": "object", "kind": "object"}
    )
    return wide, long


def _must_explain(must_explain: np.ndarray | None, rows: int) -> np.ndarray:
    """``explain``'s ``must_explain`` as booleans, one per row (None: all False)."""
    must = np.zeros(rows, dtype=bool) if must_explain is None else must_explain
    must = np.asarray(must)
    if must.dtype != bool or must.shape != (rows,):
        raise ValueError(
            f"must_explain must be a boolean array with one entry per row ({rows}). "
            f"Got dtype {must.dtype} and shape {must.shape} instead."
        )
    return must


def _lines(
    reason_phi: np.ndarray,
    context_phi: np.ndarray,
    names: list[str],
    contract: dict,
    n: int,
    must: np.ndarray,
) -> list[tuple[int, int, int, str]]:
    """(row, rank, feature position, kind) of every line shown: the reasons, then a
    context line for each row that must be explained and has no reason."""
    lines = _reasons(reason_phi, names, contract, n) if n else []
    has_reason = np.zeros(len(must), dtype=bool)
    has_reason[[row for row, *_ in lines]] = True
    needs = must & ~has_reason & (context_phi.max(axis=1) > 0) & (n > 0)
    for row in np.flatnonzero(needs):
        lines.append((int(row), 1, int(context_phi[row].argmax()), "context"))
    return lines


def _texts(
    lines: list[tuple[int, int, int, str]],
    values: np.ndarray,
    phi: np.ndarray,
    names: list[str],
    contract: dict,
    rules: list[DistrictRules],
    rule: str,
    n: int,
) -> tuple[np.ndarray, list[tuple]]:
    """Each line's text: a rows x n grid of reason texts, and the ``LONG_COLUMNS``
    records of every line in (row, rank) order."""
    texts = np.full((len(phi), n), "", dtype=object)
    records = []
    for row, rank, j, kind in sorted(lines):
        value, name = float(values[row, j]), names[j]
        if kind == "reason":
            text = reason_text(name, value, contract, rules[row], rule)
        else:
            text = context_text(name, value, contract)
        if rank <= n:
            texts[row, rank - 1] = text
        records.append((row, rank, name, value, float(phi[row, j]), text, kind))
    return texts, records


def _reasons(
    phi: np.ndarray, names: list[str], contract: dict, n: int
) -> list[tuple[int, int, int, str]]:
    """(row, rank, feature position, "reason"): a domain's largest, domains by sum."""
    domains = [domain(f, contract) for f in names]
    labels = sorted(set(domains))
    member = np.array([[d == label for d in domains] for label in labels])
    totals = phi @ member.T  # rows x domains
    best_in = np.empty(totals.shape, dtype=np.intp)  # each domain's first largest feature
    for d, in_domain in enumerate(member):
        positions = np.flatnonzero(in_domain)
        best_in[:, d] = positions[phi[:, positions].argmax(axis=1)]
    order = np.argsort(-totals, axis=1, kind="stable")[:, :n]
    # A row's domains in order while their sum is positive (the first one that is not
    # ends the row's reasons); np.nonzero walks rows, then slots: (row, rank) order.
    shown = np.cumprod(np.take_along_axis(totals, order, axis=1) > 0, axis=1).astype(bool)
    rows, slots = np.nonzero(shown)
    features = best_in[rows, order[rows, slots]]
    return [(r, s, f, "reason") for r, s, f in zip(rows.tolist(), (slots + 1).tolist(), features.tolist(), strict=True)]


def top_reasons(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    contract: dict,
    rules_of: pd.Series,
    rule: str,
    n: int = 3,
    must_explain: np.ndarray | None = None,
) -> pd.DataFrame:
    """``reason_1..n`` (text, "" when fewer) per row: the wide frame of :func:`explain`.

    ``rules_of`` holds each row's :class:`DistrictRules` (the district's bars).
    """
    return explain(contributions, X, contract, rules_of, rule, n, must_explain)[0]
