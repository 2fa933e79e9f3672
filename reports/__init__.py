"""Renderers: turn ontrack's results into things people read. They never fit anything."""
