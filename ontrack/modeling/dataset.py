"""The training data of one model: X, y, equity attributes, rule baseline and split.

Read from ``OUT/features/<model>/`` (``ontrack features``), never from raw tables, so
training sees exactly the point-in-time matrix the time-travel tests hold to account.

The rule baseline (CONTRACT §3) is the rule the model's declaration names
(``Config.models[model].baseline``), scored by ``ontrack.modeling.baselines``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ontrack.config import Config
from ontrack.errors import LeakageError, SchemaError
from ontrack.indicators import GROUP_FLAGS
from ontrack.modeling.baselines import rule_score
from ontrack.dataset.splits import TemporalSplit, cohort_windows, rolling_splits

# The groups of the fairness audit, in the order: race/ethnicity, gender, then
# the program flags of the equity rates.
EQUITY_GROUPS: tuple[str, ...] = ("race_ethnicity", "gender", *GROUP_FLAGS)


@dataclass(frozen=True)
class TrainingData:
    """Everything one training run reads, aligned on (student_id, as_of_date)."""

    model: str
    label: str
    X: pd.DataFrame
    labels: pd.DataFrame
    cohort: pd.DataFrame
    rule_score: pd.Series
    splits: tuple[TemporalSplit, ...]  # rolling origin, oldest test cohort first
    data_end: date
    split_note: str | None
    split_reason: str | None = None  # why the splits are retrospective (None: deployment)
    baseline: str = "readiness"  # the declared rule it must beat (ontrack.modeling.baselines)

    @property
    def split(self) -> TemporalSplit:
        """The newest split: its model is the one registered."""
        return self.splits[-1]

    @property
    def split_kind(self) -> str:
        """``deployment`` or ``retrospective`` (CONTRACT §3)."""
        return self.split.kind

    @property
    def y(self) -> pd.Series:
        """The label (1 = bad outcome), NaN where unknown or excluded."""
        return self.labels["label"]

    def part(self, name: str, split: TemporalSplit | None = None) -> np.ndarray:
        """Rows of part ``name`` of ``split`` (default: the newest) that have a label
        and predict ahead of it.

        A row whose as-of date is on or after its label's window end (a 9th grader on
        June 30 for ``off_track_9``) already knows its outcome: it is no prediction,
        so it is neither trained nor evaluated on.
        """
        dates = pd.DatetimeIndex(self.X.index.get_level_values("as_of_date"))
        ahead = dates.to_numpy() < pd.to_datetime(self.labels["window_end"]).to_numpy()
        split = split or self.split
        return split.mask(self.X.index, name) & self.y.notna().to_numpy() & ahead

    def test_rows(self) -> np.ndarray:
        """Rows of every fold's test part: the out-of-time rows all evaluation pools."""
        rows = np.zeros(len(self.X), dtype=bool)
        for split in self.splits:
            rows |= self.part("test", split)
        return rows

    @property
    def feature_hash(self) -> str:
        """Short SHA-256 of the ordered feature list (the model's input contract)."""
        return hashlib.sha256("\n".join(self.X.columns).encode()).hexdigest()[:12]


def load_training_data(
    out_dir: Path, model: str, config: Config, *, target: str | None = None,
    split_kind: str | None = None,
) -> TrainingData:
    """Read the model's features and labels and make the rolling temporal splits.

    ``target`` is ``on_track_9`` or ``graduation``; None tries the model's declared
    labels in order (CONTRACT §3: grade9 predicts graduation when the outcomes allow an
    honest split, else on-track).
    ``split_kind`` overrides ``split.kind`` (``deployment``, ``retrospective``,
    ``auto``): a deployment split for any candidate label is preferred; only when none
    exists does ``auto`` fall back to a retrospective split, and says why.
    """
    folder = Path(out_dir) / "features" / model
    if not (folder / "matrix.parquet").is_file():
        raise SchemaError(
            f"features of {model} must exist in {folder} (run `ontrack features`). "
            "Got no matrix.parquet instead."
        )
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    X = pd.read_parquet(folder / "matrix.parquet")
    cohort = pd.read_parquet(folder / "cohort.parquet").reindex(X.index)
    data_end = date.fromisoformat(meta["data_end"])
    available = sorted(p.stem for p in (folder / "labels").glob("*.parquet"))
    declared = config.model_spec(model)
    candidates = _candidate_labels(declared.labels, target, available)
    spec = config.split if split_kind is None else config.split.model_copy(update={"kind": split_kind})
    kinds = {"auto": ("deployment", "retrospective")}.get(spec.kind, (spec.kind,))
    errors: list[str] = []
    for kind in kinds:
        for label in candidates:
            labels = pd.read_parquet(folder / "labels" / f"{label}.parquet").reindex(X.index)
            # A cohort year is labelled once every row's window has closed: the few
            # rows whose window closed early (10th graders who repeated 9th grade) do
            # not make a year whose cohort is still open a test cohort.
            known = labels["label"].groupby(labels["school_year"]).transform("count") > 0
            windows = cohort_windows(labels[known].dropna(subset=["window_end"]))
            # auto's second pass: deployment failed for every label, so rolling_splits
            # falls back to retrospective and says why in plain words.
            pass_kind = "auto" if (kind == "retrospective" and spec.kind == "auto") else kind
            try:
                splits, reason = rolling_splits(
                    windows, data_end=data_end, spec=spec.model_copy(update={"kind": pass_kind})
                )
            except LeakageError as err:
                errors.append(f"{label}: {err}")
                continue
            note = None
            if label != candidates[0]:
                note = f"fell back to {label} because " + errors[0]
            return TrainingData(
                model, label, X, labels, cohort, rule_score(declared.baseline, X), tuple(splits),
                data_end, note, reason, declared.baseline,
            )
    raise LeakageError(
        f"{model} must have a label with a usable temporal split (split.kind = {spec.kind}). "
        "Got none instead: " + " | ".join(errors)
    )


def _candidate_labels(
    declared: tuple[str, ...], target: str | None, available: list[str]
) -> list[str]:
    """The labels to try, in order: ``target``'s alone, else the declared ones built."""
    names = {"on_track_9": "off_track_9", "graduation": "not_graduated_4yr", None: None}
    if target not in names:
        raise SchemaError(
            f"target must be on_track_9 or graduation. Got {target!r} instead."
        )
    wanted = names[target]
    if wanted is not None:
        if wanted not in available:
            raise SchemaError(
                f"target {target} needs label {wanted} (the outcomes table for "
                "graduation; on-track only up to grade 9). Got labels "
                f"{', '.join(available) or 'none'} instead."
            )
        return [wanted]
    found = [name for name in declared if name in available]
    if not found:
        raise SchemaError(
            f"the model's labels ({', '.join(declared)}) must have been built by "
            f"`ontrack features`. Got labels {', '.join(available) or 'none'} instead."
        )
    return found
