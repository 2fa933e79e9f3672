"""DATA and --config as fsspec URLs (issue 17 item 3): a district in fsspec's in-process
``memory://`` store validates exactly as the same files in a local folder; unchanged files
are not copied again; credentials in a URL never reach the output; OUT must be local."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from conftest import TINY_DISTRICT, write_district

from ontrack.cli import main
from ontrack.storage import is_url, local_data, shown

CONFIG = "reporting:\n  min_group_size: 12\n"


@pytest.fixture
def bucket() -> Iterator[str]:
    """A folder of the in-memory store holding the tiny district and a stray file;
    its path (without memory://), removed afterwards."""
    memory = fsspec.filesystem("memory")
    folder = f"/bucket-{uuid.uuid4().hex}"
    for name, text in TINY_DISTRICT.items():
        memory.pipe(f"{folder}/district/{name}.csv", text.encode())
    memory.pipe(f"{folder}/district/README.txt", b"not a table")
    memory.pipe(f"{folder}/district.yaml", CONFIG.encode())
    yield folder
    memory.rm(folder, recursive=True)


def _report(out: Path) -> dict:
    report = json.loads((out / "validation" / "report.json").read_text(encoding="utf-8"))
    for where in ("data_dir", "out_dir", "created_at"):  # where and when, not what
        report.pop(where)
    for table in report["tables"].values():
        table["file"] = Path(table["file"]).name
    return report


def test_validate_from_memory_url_gives_the_local_report(bucket: str, tmp_path: Path) -> None:
    local = write_district(tmp_path / "data")
    config = tmp_path / "district.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    assert main(["validate", str(local), "--out", str(tmp_path / "a"), "--config", str(config)]) == 0
    assert main(["validate", f"memory://{bucket}/district", "--out", str(tmp_path / "b"),
                 "--config", f"memory://{bucket}/district.yaml"]) == 0
    expected = _report(tmp_path / "a")
    assert _report(tmp_path / "b") == expected
    assert expected["tables"]["attendance"]["rows_accepted"] == 4
    staged = list((tmp_path / "b" / ".tmp" / "data").glob("*/"))
    assert [p.name for p in staged if p.is_dir()]  # the copy lives under OUT/.tmp/data
    assert not list((tmp_path / "b" / ".tmp" / "data").glob("*/README.txt"))
    for name in TINY_DISTRICT:
        assert (tmp_path / "a" / "validated" / f"{name}.parquet").read_bytes() == \
            (tmp_path / "b" / "validated" / f"{name}.parquet").read_bytes()


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.csv")}


def test_only_changed_files_are_copied_again(bucket: str, tmp_path: Path) -> None:
    url, said = f"memory://{bucket}/district", []
    staging = local_data(url, tmp_path / "out", said.append)
    assert staging.is_relative_to(tmp_path / "out" / ".tmp" / "data")
    first = _stamps(staging)
    assert sorted(first) == sorted(f"{name}.csv" for name in TINY_DISTRICT)
    assert sum("copying" in line for line in said) == len(TINY_DISTRICT)

    said.clear()
    assert local_data(url, tmp_path / "out", said.append) == staging
    assert _stamps(staging) == first  # nothing rewritten
    assert not any("copying" in line for line in said)

    memory = fsspec.filesystem("memory")
    changed = TINY_DISTRICT["students"] + "00019,F,asian,2009-05-05\n"
    memory.pipe(f"{bucket}/district/students.csv", changed.encode())
    memory.rm(f"{bucket}/district/course_marks.csv")
    said.clear()
    local_data(url, tmp_path / "out", said.append)
    now = _stamps(staging)
    assert (staging / "students.csv").read_text(encoding="utf-8") == changed
    assert now["students.csv"] != first["students.csv"]
    assert "course_marks.csv" not in now  # a table gone from the store is gone here too
    assert {n: s for n, s in now.items() if n != "students.csv"} == \
        {n: s for n, s in first.items() if n not in ("students.csv", "course_marks.csv")}
    assert [line for line in said if "copying" in line] == \
        [f"copying students.csv from {url} (1 of 1)"]


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_s3_without_s3fs_names_the_package(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    url = "s3://AKIAEXAMPLE:s3cr3t-key@district-bucket/2026?X-Amz-Signature=abc"
    assert main(["validate", url, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "reading s3:// paths needs the s3fs package: pip install s3fs." in err
    assert "DATA=s3://district-bucket/2026 ." in err
    assert "Traceback" not in err
    assert "s3cr3t" not in err and "AKIAEXAMPLE" not in err and "Signature" not in err


def test_credentials_in_a_url_never_reach_the_output(bucket: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    memory = fsspec.filesystem("memory")
    host = f"user:hunter2@{bucket.strip('/')}"  # the memory store files the URL under it
    for name, text in TINY_DISTRICT.items():
        memory.pipe(f"/{host}/district?token=hunter3/{name}.csv", text.encode())
    url = f"memory://{host}/district?token=hunter3"  # memory:// keeps a query in the path
    out = tmp_path / "out"
    assert main(["validate", url, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*.json"))
    for text in (printed.out, printed.err, written):
        assert "hunter2" not in text and "hunter3" not in text
    assert shown(url) == f"memory:/{bucket}/district"
    memory.rm(f"/{host}", recursive=True)


def test_out_as_a_url_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["validate", str(write_district(tmp_path / "data")), "--out", "s3://k:secret@b/out"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "OUT must be a local folder or a shared POSIX filesystem" in err
    assert "mount the bucket" in err and "s3://b/out" in err and "secret" not in err


def test_urls_and_local_paths_told_apart() -> None:
    assert is_url("s3://b/x") and is_url("gs://b") and is_url("abfs://c@acct.dfs.core.windows.net/p")
    assert not is_url("/data/x") and not is_url("C://data") and not is_url(Path("s3:/b"))
    assert shown("abfs://c@acct/p?sig=1#f") == "abfs://c@acct/p"  # a container name is no secret
    assert shown("https://u:p@host:8080/a/b") == "https://host:8080/a/b"
    assert local_data(Path("/some/local"), "/out") == Path("/some/local")
    assert local_data("file:///some/local", "/out") == Path("/some/local")


@pytest.mark.slow  # the session's Prefect server
def test_ingest_flow_reads_a_url(prefect_harness, bucket: str, tmp_path: Path) -> None:
    from ontrack.flows.pipeline import ingest_flow

    report = ingest_flow(f"memory://{bucket}/district", tmp_path / "out",
                         f"memory://{bucket}/district.yaml")
    assert report["tables"]["attendance"]["rows_accepted"] == 4
    assert report["data_dir"].startswith(str(tmp_path / "out" / ".tmp" / "data"))


def test_schedules_keep_a_url_for_each_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ontrack.flows.serve import deployments

    from ontrack.config import Config

    url = "s3://k:secret@district-bucket/2026"
    planned = deployments(url, tmp_path / "out", "gs://configs/district.yaml", Config())
    assert planned[0].parameters["data_dir"] == url  # read again (and copied) by each run
    assert planned[0].parameters["config_path"] == "gs://configs/district.yaml"
    assert main(["serve", url, "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "s3://district-bucket/2026" in printed and "secret" not in printed
