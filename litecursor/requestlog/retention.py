"""Retention: rows older than `maximum_spend_logs_retention_period` deleted in small batches, off the request path.

One short transaction per batch of the oldest rows, with a pause between batches, so that a
first cleanup of millions of rows never holds the database (SQLite's one writer, a PostgreSQL
table lock) for long, never needs memory in proportion to what it deletes (LiteLLM's single
big DELETE is known to run its pods out of memory), and lets the spend writer's batches in
between. Runs at start and then every `maximum_spend_logs_retention_interval`; every worker
and instance may run it: deleting what another already deleted costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from ..background import stop
from ..store import Store, StoreError

log = logging.getLogger("litecursor.retention")

#: rows per transaction: each batch holds the write lock for a few milliseconds
BATCH = 500
#: seconds between batches: the writes waiting for the lock go first
PAUSE = 0.05


@dataclass(frozen=True, slots=True)
class Sweep:
    rows: int
    batches: int
    seconds: float
    #: the longest single batch (the longest the write lock was held), in seconds
    longest: float


class Retention:
    def __init__(
        self,
        store: Store,
        period: float,
        interval: float = 3600.0,
        *,
        batch: int = BATCH,
        pause: float = PAUSE,
    ) -> None:
        self.store = store
        self.period = period
        self.interval = interval
        self.batch = batch
        self.pause = pause
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, now: float | None = None) -> Sweep:
        """Delete every row that started before `now - period`, batch by batch, and the
        hourly totals of those hours."""
        cut = (time.time() if now is None else now) - self.period
        started = time.monotonic()
        rows = batches = 0
        longest = 0.0
        while True:
            t = time.monotonic()
            n = await self.store.delete_spend_before(cut, self.batch)
            longest = max(longest, time.monotonic() - t)
            rows += n
            batches += 1
            if n < self.batch:
                break
            await asyncio.sleep(self.pause)
        await self.store.delete_activity_before(cut)
        return Sweep(rows, batches, time.monotonic() - started, longest)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="litecursor-retention")

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                done = await self.sweep()
            except (StoreError, OSError) as e:
                log.warning("request log retention failed, tried again later: %s", e)
            else:
                if done.rows:
                    log.info(
                        "request log retention: deleted %d row(s) older than %s in %.1f s "
                        "(%d batches, the longest %.0f ms)",
                        done.rows,
                        _age(self.period),
                        done.seconds,
                        done.batches,
                        done.longest * 1000,
                    )
            await asyncio.sleep(self.interval)


def _age(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g} days" if days >= 1 else f"{seconds / 3600:g} hours"
