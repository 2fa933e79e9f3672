"""Render ``OUT/validation/report.json`` as Markdown (for Prefect artifacts and humans).

Counts only: no student rows ever appear here.
"""

from __future__ import annotations

import json
from pathlib import Path


def validation_markdown(report: dict) -> str:
    """A Markdown summary: per table rows in / accepted / quarantined and error kinds."""
    lines = [
        "# Validation summary",
        "",
        f"Data: `{report['data_dir']}` · config `{report['config_hash']}` "
        f"(version {report['config_version']})",
        "",
        "| table | rows in | accepted | quarantined | errors by kind |",
        "|---|---:|---:|---:|---|",
    ]
    for name, table in report["tables"].items():
        kinds = ", ".join(f"{k}: {n:,}" for k, n in table["errors"].items()) or "none"
        lines.append(
            f"| {name} | {table['rows_in']:,} | {table['rows_accepted']:,} | "
            f"{table['rows_quarantined']:,} | {kinds} |"
        )
    if report.get("missing_tables"):
        lines += ["", f"Not provided: {', '.join(report['missing_tables'])}."]
    if report.get("warnings"):
        lines += ["", "Warnings:", *[f"- {w}" for w in report["warnings"]]]
    return "\n".join(lines) + "\n"


def render_validation(out_dir: Path | str) -> Path:
    """Write ``OUT/validation/summary.md`` next to the JSON report; return its path."""
    folder = Path(out_dir) / "validation"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    target = folder / "summary.md"
    target.write_text(validation_markdown(report), encoding="utf-8")
    return target
