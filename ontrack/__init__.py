"""ontrack: early-warning and on-track indicators for 8th and 9th graders."""

from __future__ import annotations

__version__ = "0.1.0"
