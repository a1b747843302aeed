"""Spend rows leave the request path here: a bounded queue written in batches off the path.

Written at least every `interval` seconds and at shutdown. While the database is unreachable
the rows wait and are retried; past `max_rows` the oldest rows are dropped, counted and logged
(never silently). What each request cost its budgets is kept apart from the rows, summed per
budget, so dropping a row never loses spend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from ..store import BudgetRef, Charge, SpendRow, Store, StoreError
from .ledger import Ledger

log = logging.getLogger("litecursor.spend")

#: rows per transaction: a second's rows in one up to 2,000 requests a second. A commit
#: writes out every index page its rows touched, and a per-key index gets one page per key
#: written to whatever the number of rows: fewer, larger transactions cost less per row
#: (benchmarks/accounting.py). 2,000 rows still take SQLite only tens of milliseconds.
BATCH = 2000
#: how often a failing database or dropped rows are logged again
LOG_EVERY = 30.0


class SpendWriter:
    def __init__(
        self,
        store: Store,
        ledger: Ledger | None = None,
        *,
        interval: float = 1.0,
        max_rows: int = 10_000,
        on_drop: Callable[[int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.interval = interval
        self.max_rows = max_rows
        #: told `(rows dropped now, dropped since start)` when the queue overflows
        self.on_drop = on_drop
        self._rows: deque[SpendRow] = deque()
        self._charges: dict[BudgetRef, float] = {}
        self._released: list[str] = []
        self._wake = asyncio.Event()
        #: one flush at a time: a caller's flush waits for the loop's batch under way
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: rows dropped because the queue was full, since start
        self.dropped = 0
        self.written = 0
        self._failing_since: float | None = None
        self._last_log = 0.0

    def __len__(self) -> int:
        return len(self._rows)

    def put(
        self, row: SpendRow | None, charges: Iterable[Charge] = (), release: str | None = None
    ) -> None:
        """Queue a row, its charges and the database reservation it settles; never waits."""
        if row is not None:
            if len(self._rows) >= self.max_rows:
                self._rows.popleft()
                self.dropped += 1
                self._log_drop()
                if self.on_drop is not None:
                    try:
                        self.on_drop(1, self.dropped)
                    except Exception:  # metrics or alerts must never lose the row
                        log.exception("the spend-row drop callback failed")
            self._rows.append(row)
        for c in charges:
            if c.cost:
                self._charges[c.ref] = self._charges.get(c.ref, 0.0) + c.cost
        if release is not None:
            self._released.append(release)
        if len(self._rows) >= BATCH:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="litecursor-spend-writer")

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the loop and write what is queued (shutdown)."""
        if self._task is not None:
            # a flag rather than cancel(): a cancelled flush would have to put its batch back,
            # and the loop ends after the write under way
            self._closing = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            self._task = None
        deadline = time.monotonic() + timeout
        while self._pending() and time.monotonic() < deadline:
            if not await self.flush():
                await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        if self._pending():
            log.error(
                "shutting down with %d spend row(s) not written (database %s unreachable)",
                len(self._rows),
                self.store.where,
            )

    def _pending(self) -> bool:
        return bool(self._rows or self._charges or self._released)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(due):
                    await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                # the next flush an interval after this one began, whatever this one takes
                due = loop.time() + self.interval
                await self.flush()

    async def flush(self) -> bool:
        """Write everything queued when it is called, batch by batch; False when the
        database failed (the rest stays queued for the next try)."""
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> bool:
        # only what is queued now: what comes while it is written waits for the next flush
        # (within `interval`, sooner once BATCH rows wait). Writing it as soon as the last
        # write ended would make, under steady load, a transaction of a few rows every few
        # milliseconds, each paying in full for its commit and for the index pages, summary
        # rows and budgets of every key among its rows.
        left = len(self._rows)
        while self._pending():
            rows = [self._rows.popleft() for _ in range(min(BATCH, left, len(self._rows)))]
            left -= len(rows)
            charges, self._charges = self._charges, {}
            released, self._released = self._released, []
            try:
                await self.store.write_spend(
                    rows,
                    [Charge(ref, cost) for ref, cost in charges.items()],
                    released,
                    time.time(),
                )
            except BaseException as e:  # the batch goes back whatever stopped it
                self._rows.extendleft(reversed(rows))
                for ref, cost in charges.items():
                    self._charges[ref] = self._charges.get(ref, 0.0) + cost
                self._released[:0] = released
                if not isinstance(e, StoreError | OSError):
                    raise
                self._log_failure(e)
                return False
            self.written += len(rows)
            if self.ledger is not None:
                for ref, cost in charges.items():
                    self.ledger.written(ref, cost)
            if self._failing_since is not None:
                log.warning(
                    "database %s is back after %.0f s; spend rows written again",
                    self.store.where,
                    time.monotonic() - self._failing_since,
                )
                self._failing_since = None
            if left <= 0:
                break
        return True

    def _log_failure(self, e: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._last_log < LOG_EVERY:
            return
        self._last_log = now
        log.warning(
            "cannot write spend rows to %s (%s); %d row(s) wait in memory (up to %d)",
            self.store.where,
            e,
            len(self._rows),
            self.max_rows,
        )

    def _log_drop(self) -> None:
        now = time.monotonic()
        if self.dropped == 1 or now - self._last_log >= LOG_EVERY:
            self._last_log = now
            log.error(
                "spend queue full (%d rows): dropped the oldest row, %d dropped since start; "
                "their cost still counts against budgets (litecursor_settings.spend_queue_size)",
                self.max_rows,
                self.dropped,
            )
