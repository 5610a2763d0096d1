"""Shared test set-up: run from a checkout without installing, with `gen` and `clients` importable."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

for _path in (ROOT / "clients", ROOT / "gen", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
