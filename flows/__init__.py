"""Prefect flows: thin tasks over the ``ontrack`` core. The only place that imports Prefect."""
