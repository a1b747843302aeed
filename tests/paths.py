"""Where the test data lives: inside the repository, so a fresh clone runs the suite alone."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
#: recorded provider response bodies (see data/wire/INDEX.md for each file's source)
WIRE = DATA / "wire"
#: the request bodies Cursor sends, one per dialect (see data/cursor/README.md)
CURSOR_REQUESTS = DATA / "cursor" / "requests"
#: configs as users bring them (see data/config/README.md)
CONFIGS = DATA / "config"
