"""``python -m ontrack`` runs the command line."""

from __future__ import annotations

import sys

from ontrack.cli import main

sys.exit(main())
