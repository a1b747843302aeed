"""Which store and Redis a config uses: `general_settings.database_url` (else `litecursor.db` beside the config, or in the state directory), `router_settings.redis_*`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    return open_store(
        url,
        state or Path(config.source).parent,
        pool_size=config.accounting.database_pool_limit,
    )


def redis_for(config: Config) -> Any:
    """redis-py's asyncio client for `router_settings.redis_*` (connections are made on first
    use), or None: then limits and cooldowns are per process."""
    url = config.accounting.redis_url
    if url is None:
        return None
    import redis.asyncio as aioredis

    # short timeouts: a request waits on Redis at admission; when it is away the limits fall
    # back to per-process counts instead of holding requests
    return aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
