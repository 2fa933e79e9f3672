"""Model specifications (``lightgbm.yaml``), installed as ``ontrack.models`` package data."""
