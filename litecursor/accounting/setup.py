"""Which store a config uses: `general_settings.database_url`, else `litecursor.db` beside it."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..store import Store, open_store


def store_for(config: Config) -> Store:
    """A config read from a file keeps its database beside it; one built in code (tests, the
    benchmarks) without a `database_url` gets an in-memory SQLite database."""
    url = config.accounting.database_url
    if url is None and not Path(config.source).is_file():
        url = ":memory:"
    return open_store(url, Path(config.source).parent)
