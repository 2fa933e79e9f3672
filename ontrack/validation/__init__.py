"""Validation: a district's raw files become typed, checked tables (CONTRACT §1).

Every later stage reads what this stage accepted (``OUT/validated/<table>.parquet``);
rejected rows go to ``OUT/validation/quarantine/`` with their reasons. In the order of
the data flow: ``reading`` (files to numbered raw rows), ``checks`` and ``table_rules``
(the SQL of each column and table rule), ``row_checks`` (the rows each rule rejects),
``run`` (the stage: :func:`validate_directory` and its report) and ``store`` (how later
stages open the validated tables).
"""

from ontrack.validation.run import ValidationReport, connect, validate_directory

__all__ = ["ValidationReport", "connect", "validate_directory"]
