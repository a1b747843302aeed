"""Which store a config uses: `general_settings.database_url`, else `litecursor.db` beside it (or in the state directory)."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import Config
from ..store import Store, open_store


def store_for(config: Config) -> Store:
    """A config read from a file keeps its database beside it, or in `$STATE_DIRECTORY` when
    systemd (`StateDirectory=`) or the container image sets one: there the config's folder is
    read-only to the service. One built in code (tests, the benchmarks) without a
    `database_url` gets an in-memory SQLite database."""
    url = config.accounting.database_url
    if url is None and not Path(config.source).is_file():
        url = ":memory:"
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return open_store(url, state or Path(config.source).parent)
