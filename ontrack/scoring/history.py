"""Risk history: every ``score`` run's rows in ``OUT/history/scores.parquet`` (CONTRACT §4).

One row per student × model × run. A run is named by its model, ``model_version`` and
``as_of_date``: scoring the same as-of date with the same version again replaces that
run's rows (idempotent); a new version or a new as-of date adds rows. The file is what
the next run compares with (change since the previous run, the alerts) and what the
follow-up list and the profiles read. It holds IDs, scores and counts, never names.

Concurrent ``score`` runs (two models at once) must not lose each other's rows: the
read-modify-write happens under an exclusive ``fcntl.flock`` on ``OUT/history/.lock``,
and the file itself is replaced atomically (temporary file in the same folder, then
``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ontrack.paths import write_atomically

HISTORY_COLUMNS: tuple[str, ...] = (
    "student_id", "school_id", "model", "model_version", "as_of_date", "scored_at", "ranked_by",
    "risk", "risk_tier", "tier_level", "rule_status", "school_year", "failing_core", "suspensions",
    "absence_alert", "recent_absence_rate",
)
RUN_KEY: tuple[str, ...] = ("model", "model_version", "as_of_date")
TEXT_COLUMNS = ("student_id", "school_id", "model", "model_version", "as_of_date", "ranked_by",
                "risk_tier", "rule_status")


def history_path(out_dir: Path) -> Path:
    """``OUT/history/scores.parquet``."""
    return Path(out_dir) / "history" / "scores.parquet"


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the exclusive lock of the history folder (blocks until it is free)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _normalised(rows: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in HISTORY_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"rows must have the history columns. Got none for {', '.join(missing)} instead.")
    frame = rows[list(HISTORY_COLUMNS)].copy()
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].fillna("").astype(str)
    frame["scored_at"] = pd.to_datetime(frame["scored_at"], utc=True)
    for column in ("risk", "tier_level", "failing_core", "suspensions", "recent_absence_rate"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["school_year"] = pd.to_numeric(frame["school_year"], errors="coerce").astype("Int64")
    frame["absence_alert"] = frame["absence_alert"].fillna(False).astype(bool)
    return frame


def append_run(out_dir: Path, rows: pd.DataFrame) -> int:
    """Add one run's rows to the history, replacing any earlier rows of the same run
    (same model, version and as-of date). Returns the number of rows in the file."""
    frame = _normalised(rows)
    runs = frame[list(RUN_KEY)].drop_duplicates()
    if len(runs) > 1:
        raise ValueError(f"rows must hold one run (model, model_version, as_of_date). Got {len(runs)} instead.")
    path = history_path(out_dir)
    with _locked(path.parent):
        old = pd.read_parquet(path) if path.is_file() else frame.iloc[0:0]
        if len(runs):
            run = runs.iloc[0]
            same = (old["model"] == run["model"]) & (old["model_version"] == run["model_version"]) \
                & (old["as_of_date"] == run["as_of_date"])
            old = old[~same]
        combined = pd.concat([old, frame], ignore_index=True) if len(old) else frame.reset_index(drop=True)
        combined = combined.sort_values(["model", "as_of_date", "scored_at", "student_id"], kind="stable")
        write_atomically(path, lambda temporary: combined.to_parquet(temporary, index=False))
        return len(combined)


def read_history(out_dir: Path, model: str | None = None) -> pd.DataFrame:
    """Every stored row (of one model, when given); empty with the columns when none."""
    path = history_path(out_dir)
    if not path.is_file():
        return _normalised(pd.DataFrame(columns=list(HISTORY_COLUMNS)))
    if model is None:
        return pd.read_parquet(path)
    # Only this model's rows are read (a district's history holds every model's runs).
    return pd.read_parquet(path, filters=[("model", "==", model)]).reset_index(drop=True)


def runs_of(history: pd.DataFrame, model: str) -> pd.DataFrame:
    """The runs of a model, one row each (model_version, as_of_date, scored_at: the
    latest write of the run), oldest first by (as_of_date, scored_at)."""
    mine = history[history["model"] == model]
    runs = mine.groupby(["model_version", "as_of_date"], as_index=False)["scored_at"].max()
    return runs.sort_values(["as_of_date", "scored_at"], kind="stable").reset_index(drop=True)


def previous_run(history: pd.DataFrame, model: str, as_of: str, version: str) -> pd.DataFrame | None:
    """The rows of the run a run of ``model`` at ``as_of`` with ``version`` compares with:
    among the other runs of the model on or before ``as_of``, the one with the greatest
    (as_of_date, scored_at). A same-day run of another version counts; the run itself
    (re-scored) never does, so re-scoring gives the same comparison again. None when
    there is no such run."""
    runs = runs_of(history, model)
    earlier = runs[(runs["as_of_date"] <= as_of) & ~((runs["as_of_date"] == as_of) & (runs["model_version"] == version))]
    if earlier.empty:
        return None
    last = earlier.iloc[-1]
    rows = history[(history["model"] == model) & (history["model_version"] == last["model_version"])
                   & (history["as_of_date"] == last["as_of_date"])]
    return rows.reset_index(drop=True)


def run_rows(history: pd.DataFrame, model: str, as_of: str, version: str) -> pd.DataFrame:
    """The rows of one run (empty when it is not in the history)."""
    keep = (history["model"] == model) & (history["model_version"] == version) & (history["as_of_date"] == as_of)
    return history[keep].reset_index(drop=True)
