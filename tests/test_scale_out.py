"""Scale-out: `ontrack flow refresh --dask ADDRESS` sends the partitioned stages' parts to
the cluster's workers (validation's jobs per table and partition, indicators per year,
features per checkpoint and bucket, scoring (features, risks, reasons) and the profile
pages by groups of whole schools, each school's and counselor's roster files) and
writes the same files as the single-process run (one validation partition there, two on
the cluster).

What "the same" means, file by file:
- byte-identical: everything under ``indicators/``, ``features/`` (but ``meta.json`` and
  the ``_complete.json`` markers), ``report/`` and every roster CSV: what the partitioned
  stages write, and what reads it;
- equal without the run's clock (``CLOCK``: when it ran, how long it took, OUT's path):
  the JSON stamps (``meta.json``, the completion markers, ``validation/report.json``,
  roster summaries, the impact study) and the risk history's ``scored_at``;
- equal frames, rows in any order: ``validated/*.parquet`` (validation writes rows in no
  fixed order, single-process too) and the XLSX rosters (the workbook stamps its creation
  time), read back cell by cell.
The run's bookkeeping (``.cache/`` step records, ``.parts/``, ``.tmp/``, MLflow's store,
validation's reuse record) is not an output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # a Dask cluster and the session's Prefect server

# grade8 at one checkpoint a year (about 25 cohort rows each): parts of at most
# PART_ROWS rows group neighbouring checkpoints, each part split in two buckets of
# students, on fewer parts than the three default checkpoints make.
PART_ROWS = 60
CONFIG = (f"resources:\n  student_buckets: 2\n  feature_part_rows: {PART_ROWS}\n"
          "{partitions}"
          "models:\n  grade9: null\n  grade8:\n    checkpoints: [\"01-31\"]\n"
          "modeling:\n  bootstrap_samples: 20\n")
PARTITIONS = 2  # each table validated in two hash partitions on the cluster
BYTES = ("indicators/", "features/", "report/")
STAMPED = ("meta.json", "_complete.json")  # JSON in those folders that carries the run's time
CLOCK = {"created_at", "scored_at", "folder", "out_dir", "timings_s", "students_per_second",
         "scoring_core_students_per_second"}
BOOKKEEPING = (".cache/", ".parts/", ".tmp/", "mlruns", "mlflow",
               "validation/reuse.json")  # when, and the files' sizes and times, for reuse


def _outputs(out: Path) -> dict[str, Path]:
    files = {str(p.relative_to(out)): p for p in sorted(out.rglob("*")) if p.is_file()}
    return {name: path for name, path in files.items() if not name.startswith(BOOKKEEPING)}


def _same(name: str, one: Path, two: Path) -> bool:
    if name.endswith(".json") and not (name.startswith(BYTES) and not name.endswith(STAMPED)):
        return _unclocked(json.loads(one.read_text())) == _unclocked(json.loads(two.read_text()))
    if name.endswith(".parquet") and not name.startswith(BYTES):
        return _rows(pd.read_parquet(one)).equals(_rows(pd.read_parquet(two)))
    if name.endswith(".xlsx"):
        a, b = pd.read_excel(one, sheet_name=None), pd.read_excel(two, sheet_name=None)
        return a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)
    return one.read_bytes() == two.read_bytes()


def _unclocked(record: object) -> object:
    if isinstance(record, dict):
        return {k: _unclocked(v) for k, v in record.items() if k not in CLOCK}
    return record


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in frame.columns if c in CLOCK])
    frame = frame.reset_index(drop=isinstance(frame.index, pd.RangeIndex))
    return frame.sort_values(list(frame.columns), ignore_index=True)


def _part_tasks(dask_scheduler) -> list[tuple[str, str]]:  # runs on the scheduler
    stream = dask_scheduler.plugins["task-stream"].buffer
    return [(str(record["key"]), record["worker"]) for record in stream]


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 200-student district: as small as shows every stage's parts."""
    from ontrack.synth import generate_district

    root = tmp_path_factory.mktemp("scale_out")
    generate_district(root / "data", n_students=200, n_years=3, seed=21)
    (root / "config.yaml").write_text(CONFIG.format(partitions=""), encoding="utf-8")
    (root / "dask.yaml").write_text(
        CONFIG.format(partitions=f"  validation_partitions: {PARTITIONS}\n"), encoding="utf-8")
    return {"data": root / "data", "config": root / "config.yaml", "dask": root / "dask.yaml",
            "root": root}


def test_refresh_on_dask_runs_the_parts_on_the_workers_with_the_same_outputs(
    prefect_harness, district: dict
) -> None:
    from distributed import Client, LocalCluster
    from ontrack.reports.profile_parts import profile_parts

    from ontrack import pipeline
    from ontrack.cli import main
    from ontrack.config import load_config
    from ontrack.dataset.build import group_checkpoints
    from ontrack.scoring.parts import scoring_parts
    from ontrack.tables import TABLE_ORDER

    data, config = district["data"], district["config"]
    single, spread = district["root"] / "single", district["root"] / "dask"
    stages = pipeline.names("weekly")
    pipeline.run_stages(stages, data, single, load_config(config))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        client.get_task_stream()  # installs the scheduler's task-stream plugin
        assert main(["flow", "refresh", str(data), "--out", str(spread), "--config",
                     str(district["dask"]), "--dask", cluster.scheduler_address]) == 0
        ran = client.run_on_scheduler(_part_tasks)
        workers = set(cluster.scheduler_info["workers"])
    by_stage = {name: [w for key, w in ran if key.startswith(f"{name}_part-")]
                for name in ("validate", "indicators", "features", "score")}
    tables = json.loads((single / "validation" / "report.json").read_text())["tables"]
    # every table prepared, each present one checked in two partitions and finished
    assert len(by_stage["validate"]) == len(TABLE_ORDER) + (PARTITIONS + 1) * len(tables)
    assert len(by_stage["indicators"]) == 3  # one task per school year
    cohort = pd.read_parquet(single / "features" / "grade8" / "cohort.parquet")
    days = pd.Series(cohort.index.get_level_values("as_of_date").date).astype("str")
    planned = group_checkpoints(sorted(days.value_counts().items()), PART_ROWS, 2)
    assert len(by_stage["features"]) == len(planned) >= 4  # grade8's parts x 2 buckets
    rosters = [*(single / "rosters").glob("*.csv"), *(single / "rosters" / "counselors").glob("*.csv")]
    files = [p for p in rosters if p.name != "reasons.csv"]
    roster = pd.read_parquet(single / "rosters" / "_history" / "grade8_roster.parquet")
    pages = profile_parts(roster, load_config(config))
    assert len(pages) >= 2 and sum(len(p) for p in pages) == len(roster)
    scoring = scoring_parts(roster, load_config(config), model="grade8", as_of=None, version="", many=True)
    assert len(scoring) >= 2 and sum(len(p.cohort) for p in scoring) == len(roster)
    # one task per part of the scoring (features, risks, reasons), then per part of the
    # profile pages, then one per school and counselor file
    assert len(by_stage["score"]) == len(scoring) + len(pages) + len(files) > 2
    assert all(w in workers for parts in by_stage.values() for w in parts)
    assert all(len(set(parts)) == 2 for parts in by_stage.values())  # both workers worked
    one, two = _outputs(single), _outputs(spread)
    assert sorted(one) == sorted(two)
    assert {"indicators/students.csv", "features/grade8/matrix.parquet", "report/index.html",
            "validation/report.json", "validated/attendance.parquet"} <= set(one)
    assert any(name.startswith("validation/quarantine/") for name in one)
    assert [name for name in one if not _same(name, one[name], two[name])] == []
