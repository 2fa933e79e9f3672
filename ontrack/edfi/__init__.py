"""Ed-Fi ingest: read an Ed-Fi ODS table export into the ontrack data contract.

>>> from ontrack.edfi import import_edfi          # doctest: +SKIP
>>> report = import_edfi(Path("edfi-export"), Path("data"))   # doctest: +SKIP
>>> print(report.summary())                       # doctest: +SKIP

See ``docs/edfi-mapping.md`` for the mapping, table by table.
"""

from __future__ import annotations

from ontrack.edfi.importer import import_edfi
from ontrack.edfi.mapping_file import DEFAULT_MAPPING_FILE, EdfiMapping, load_mapping
from ontrack.edfi.report import EdfiImportReport, Rejection, UnmappedValue

__all__ = [
    "DEFAULT_MAPPING_FILE",
    "EdfiImportReport",
    "EdfiMapping",
    "Rejection",
    "UnmappedValue",
    "import_edfi",
    "load_mapping",
]
