"""Evaluation metrics of a risk score against a binary outcome, with bootstrap intervals.

Every metric takes ``y`` (1 = the bad outcome: off track, not graduated) and a score
where higher means more risk. Precision and recall "at a rate" flag the top share of
rows by score, the way a team with capacity for that many students would use a list.
Rows tied at the cut are flagged *fractionally*: each gets the share of the remaining
places (the expected value over every ordering of the tie), so neither the model nor
the rule (a 1 / 0.5 / 0 score) is flattered or punished by row order. A binary rule at
its own flag rate has no tie at the cut and selects exactly the rows it flags.

Intervals resample *students*, not rows: a student appears once per checkpoint, and
treating those rows as independent would make the intervals too narrow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

N_BINS = 10
POINT_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "precision_at_rule_rate",
    "recall_at_rule_rate",
)


def top_share_key(share: float) -> str:
    """Metric suffix of a top share: 0.1 -> ``top_10``."""
    return f"top_{round(share * 100):d}"


def expected_flags(score: np.ndarray, k: float, ascending: np.ndarray | None = None) -> np.ndarray:
    """Expected flag of each row when the ``k`` highest scores are flagged.

    Rows strictly above the cut get 1, rows below it 0, and the rows tied at the cut
    share the places left: each gets ``places / tied`` (the expected value over every
    ordering of the tie). The weights sum to ``k``. ``ascending``: the scores already
    sorted (a caller computing several metrics sorts once).

    Examples
    --------
    >>> expected_flags(np.array([0.9, 0.5, 0.5, 0.1]), 2).tolist()
    [1.0, 0.5, 0.5, 0.0]
    """
    score = np.asarray(score, dtype="float64")
    n = len(score)
    k = float(min(max(k, 0.0), n))
    weights = np.zeros(n, dtype="float64")
    if k <= 0 or n == 0:
        return weights
    ascending = np.sort(score) if ascending is None else ascending
    cut = ascending[n - int(np.ceil(k))]  # the k-th highest
    above = score > cut
    tied = score == cut
    weights[above] = 1.0
    weights[tied] = (k - above.sum()) / tied.sum()
    return weights


def list_flags(score: np.ndarray, places: np.ndarray, lists: np.ndarray,
               order: np.ndarray | None = None) -> np.ndarray:
    """Expected flag of each row when every list (one cohort at one checkpoint: the list
    a team gets that day) flags as many rows as ``places`` holds for it: ``places`` is
    a per-row count whose sum within the list is the list's number of places (e.g. the
    rule's 0/1 flags, so each list flags as many as the rule does there). ``lists``:
    any labels, or non-negative integer codes (used as they are); ``order``: a stable
    ascending argsort of ``score`` when the caller has one."""
    score = np.asarray(score, dtype="float64")
    places = np.asarray(places, dtype="float64")
    weights = np.zeros(len(score), dtype="float64")
    if not len(score):
        return weights
    # Every list at once, as :func:`expected_flags` does one list: counts are exact in
    # float64, so the weights are the same numbers. How lists are numbered changes no
    # weight: each list's sums run over its own rows in row order.
    codes = np.asarray(lists)
    if not (np.issubdtype(codes.dtype, np.integer) and codes.min() >= 0):
        codes, _ = pd.factorize(codes)
    sizes = np.bincount(codes)
    k = np.minimum(np.maximum(np.bincount(codes, weights=places), 0.0), sizes)
    # By list, highest score first (ties in any order: only the cut's value is read).
    descending = (np.argsort(score, kind="stable") if order is None else order)[::-1]
    small = codes[descending].astype(np.uint16) if len(sizes) <= 1 << 16 else codes[descending]
    order = descending[np.argsort(small, kind="stable")]  # radix sort for 16-bit codes
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    used = k > 0
    cut = np.full(len(sizes), np.inf)
    cut[used] = score[order[starts[used] + np.ceil(k[used]).astype(int) - 1]]
    row_cut = cut[codes]
    above, tied = score > row_cut, score == row_cut
    n_tied = np.bincount(codes, weights=tied, minlength=len(sizes))
    share = np.divide(k - np.bincount(codes, weights=above, minlength=len(sizes)), n_tied,
                      out=np.zeros(len(sizes)), where=n_tied > 0)
    weights[above] = 1.0
    weights[tied] = share[codes[tied]]
    return weights


def flag_count(rate: float, n: int) -> int:
    """Places on a list flagging ``rate`` of ``n`` rows: ``round(rate * n)``."""
    return int(round(rate * n))


def flag_top(score: np.ndarray, rate: float, ascending: np.ndarray | None = None) -> np.ndarray:
    """Expected flag (0..1) of each row when the top ``rate`` share is flagged
    (:func:`expected_flags`; ties at the cut share the places left)."""
    score = np.asarray(score, dtype="float64")
    return expected_flags(score, flag_count(rate, len(score)), ascending)


def precision_recall_at(y: np.ndarray, score: np.ndarray, rate: float,
                        ascending: np.ndarray | None = None) -> tuple[float, float]:
    """Precision and recall when the top ``rate`` share by score is flagged, tie-aware
    (``ascending``: the scores already sorted)."""
    return precision_recall_of(y, flag_top(score, rate, ascending))


def precision_recall_of(y: np.ndarray, flagged: np.ndarray) -> tuple[float, float]:
    """Precision and recall of expected flags (0..1 per row, ties shared)."""
    y = np.asarray(y, dtype="float64")
    hits, places = float((y * flagged).sum()), float(flagged.sum())
    precision = hits / places if places > 0 else np.nan
    recall = hits / y.sum() if y.sum() > 0 else np.nan
    return precision, recall


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic on average ranks (ties count one half);
    equal to scikit-learn's ``roc_auc_score``, without its per-call input checks, which
    cost 20x the arithmetic inside a bootstrap. NaN with one outcome class only."""
    y = np.asarray(y, dtype="float64")
    positives = float(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return np.nan
    # SciPy's statistics (~0.3 s to import) only once an AUC is computed: scoring needs none.
    from scipy.stats import rankdata

    ranks = rankdata(np.asarray(score, dtype="float64"))
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _average_ranks(order: np.ndarray, ascending: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean) from a stable ascending sort: the
    same numbers as ``scipy.stats.rankdata`` (half-integers are exact in float64)."""
    new = np.r_[True, ascending[1:] != ascending[:-1]]
    block = np.cumsum(new)
    ends = np.r_[np.flatnonzero(new), len(ascending)]
    ranks = np.empty(len(ascending), dtype="float64")
    ranks[order] = 0.5 * (ends[block] + ends[block - 1] + 1)
    return ranks


def _sorted_aucs(y: np.ndarray, order: np.ndarray, ascending: np.ndarray) -> tuple[float, float]:
    """ROC AUC and average precision from one sort (both classes present): equal to
    :func:`roc_auc` and :func:`average_precision`. Within a tie block the row order
    does not matter: only the counts at each block's end enter."""
    positives = float(y.sum())
    negatives = len(y) - positives
    ranks = _average_ranks(order, ascending)
    auc = float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))
    ranked, hits = ascending[::-1], np.cumsum(y[order[::-1]])
    last = np.r_[np.flatnonzero(np.diff(ranked) != 0), len(ranked) - 1]
    tp = hits[last]
    precision = tp / (last + 1)
    recall = tp / positives
    return auc, float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve as a step sum over the distinct scores,
    highest first (scikit-learn's ``average_precision_score``). NaN without positives."""
    y = np.asarray(y, dtype="float64")
    positives = float(y.sum())
    if positives == 0:
        return np.nan
    score = np.asarray(score, dtype="float64")
    order = np.argsort(-score, kind="stable")
    ranked, hits = score[order], np.cumsum(y[order])
    last = np.r_[np.flatnonzero(np.diff(ranked) != 0), len(ranked) - 1]  # end of each tie block
    tp = hits[last]
    precision = tp / (last + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def expected_calibration_error(y: np.ndarray, prob: np.ndarray, n_bins: int = N_BINS) -> float:
    """Row-weighted mean gap between predicted and observed rates over equal-width bins."""
    y = np.asarray(y, dtype="float64")
    if not len(y):
        return np.nan
    prob = np.clip(np.asarray(prob, dtype="float64"), 0.0, 1.0)
    bins = _bin_of(prob, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.bincount(bins, weights=prob - y, minlength=n_bins)
    return float(np.abs(gap).sum() / counts.sum())


def _bin_of(prob: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each probability; 1.0 falls in the last bin."""
    return np.minimum((prob * n_bins).astype(int), n_bins - 1)


def reliability_table(y: np.ndarray, prob: np.ndarray, n_bins: int = N_BINS) -> pd.DataFrame:
    """Per probability bin: rows, mean predicted risk and observed rate (empty bins left out)."""
    y = np.asarray(y, dtype="float64")
    prob = np.clip(np.asarray(prob, dtype="float64"), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = _bin_of(prob, n_bins)
    rows = []
    for b in range(n_bins):
        inside = bins == b
        if not inside.any():
            continue
        rows.append(
            {
                "bin_low": float(edges[b]),
                "bin_high": float(edges[b + 1]),
                "n": int(inside.sum()),
                "mean_predicted": float(prob[inside].mean()),
                "observed_rate": float(y[inside].mean()),
            }
        )
    return pd.DataFrame(rows, columns=["bin_low", "bin_high", "n", "mean_predicted", "observed_rate"])


def score_metrics(
    y: np.ndarray,
    score: np.ndarray,
    *,
    rule_rate: float,
    top_shares: Sequence[float] = (0.10, 0.20),
    probabilistic: bool = True,
    lists: np.ndarray | None = None,
    rule_flagged: np.ndarray | None = None,
) -> dict[str, float]:
    """Every point metric of one score. Brier and ECE only for probabilities.

    With ``lists`` and ``rule_flagged`` (one list label and the rule's 0/1 flag per
    row), "at the rule's rate" is judged list by list: each list flags as many rows as
    the rule flags there (what the gate checks); else the pooled top ``rule_rate``.
    A score that cannot rank (one outcome class only) gets NaN for AUCs.
    """
    y = np.asarray(y, dtype="float64")
    score = np.asarray(score, dtype="float64")
    both = 0 < y.sum() < len(y)
    ascending = None
    if np.isnan(score).any():
        aucs = (roc_auc(y, score), average_precision(y, score)) if both else (np.nan, np.nan)
    else:  # one sort serves both AUCs and every top share
        order = np.argsort(score, kind="stable")
        ascending = score[order]
        aucs = _sorted_aucs(y, order, ascending) if both else (np.nan, np.nan)
    out: dict[str, float] = {
        "roc_auc": aucs[0],
        "pr_auc": aucs[1],
        "brier": float(np.mean((score - y) ** 2)) if probabilistic and len(y) else np.nan,
        "ece": expected_calibration_error(y, score) if probabilistic else np.nan,
    }
    if lists is not None and rule_flagged is not None:
        out["precision_at_rule_rate"], out["recall_at_rule_rate"] = precision_recall_of(
            y, list_flags(score, rule_flagged, lists, None if ascending is None else order)
        )
    else:
        out["precision_at_rule_rate"], out["recall_at_rule_rate"] = precision_recall_at(
            y, score, rule_rate, ascending
        )
    for share in top_shares:
        key = top_share_key(share)
        out[f"precision_at_{key}"], out[f"recall_at_{key}"] = precision_recall_at(
            y, score, share, ascending
        )
    return out


def bootstrap_intervals(
    metric: Callable[[np.ndarray], Mapping[str, float]],
    groups: np.ndarray,
    *,
    n_samples: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, list[float]]:
    """Percentile intervals of every metric ``metric(rows)`` returns, resampling groups.

    Parameters
    ----------
    metric : takes an integer array of row positions, returns metric name -> value.
    groups : one label per row (the student); whole students are resampled.
    n_samples : resamples; seed : fixes them, so intervals are reproducible.
    """
    codes, uniques = pd.factorize(np.asarray(groups))
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    # Every resample's students drawn at once: the same stream, so the same draws, as
    # one ``integers(size=n)`` call per resample.
    picks = np.random.default_rng(seed).integers(0, len(uniques), size=(n_samples, len(uniques)))
    draws: dict[str, list[float]] = {}
    for picked in picks:
        for name, value in metric(_group_rows(order, starts, picked)).items():
            draws.setdefault(name, []).append(value)
    tail = (1.0 - level) / 2.0 * 100.0
    intervals = {}
    for name, values in draws.items():
        finite = np.asarray(values, dtype="float64")
        finite = finite[np.isfinite(finite)]
        if len(finite) < max(10, n_samples // 2):
            intervals[name] = [np.nan, np.nan]
        else:
            low, high = np.percentile(finite, [tail, 100.0 - tail])
            intervals[name] = [float(low), float(high)]
    return intervals


def _group_rows(order: np.ndarray, starts: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """The rows of the picked groups, group after group in the order picked (each
    group's rows in ``order``): what concatenating ``order[starts[g]:starts[g + 1]]``
    gives, without a Python loop over the groups.

    Examples
    --------
    >>> _group_rows(np.array([0, 2, 1]), np.array([0, 2, 3]), np.array([1, 0, 0])).tolist()
    [1, 0, 2, 0, 2]
    """
    lengths = starts[picked + 1] - starts[picked]
    ends = np.cumsum(lengths)
    within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - lengths, lengths)
    return order[np.repeat(starts[picked], lengths) + within]


def evaluate_score(
    y: np.ndarray,
    score: np.ndarray,
    students: np.ndarray,
    *,
    rule_rate: float,
    top_shares: Sequence[float],
    probabilistic: bool,
    n_samples: int,
    seed: int,
    lists: np.ndarray | None = None,
    rule_flagged: np.ndarray | None = None,
) -> dict:
    """Point metrics plus their student-bootstrap intervals, as one JSON-ready dict
    (``lists``/``rule_flagged``: see :func:`score_metrics`)."""
    y = np.asarray(y, dtype="float64")
    score = np.asarray(score, dtype="float64")
    # Lists as integer codes: the same partition of rows, factorized once rather than
    # once per resample (labels are only compared for equality).
    codes = None if lists is None else pd.factorize(np.asarray(lists))[0]
    flags = None if rule_flagged is None else np.asarray(rule_flagged)

    def on(rows: np.ndarray) -> dict[str, float]:
        return score_metrics(
            y[rows], score[rows], rule_rate=rule_rate, top_shares=top_shares,
            probabilistic=probabilistic,
            lists=None if codes is None else codes[rows],
            rule_flagged=None if flags is None else flags[rows],
        )

    point = on(np.arange(len(y)))
    intervals = bootstrap_intervals(on, students, n_samples=n_samples, seed=seed)
    return {
        "n": int(len(y)),
        "n_students": int(pd.Series(students).nunique()),
        "base_rate": float(y.mean()) if len(y) else np.nan,
        **point,
        "intervals": {k: v for k, v in intervals.items() if k in point},
    }
