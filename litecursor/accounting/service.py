"""Keys, budgets, limits and spend for one application: made at start, flushed and closed at shutdown.

`AccountingService.start` opens what the listener needs (the key cache and its change feed, the
proxy budget, the prices, the spend writer, Redis when configured) and a maintenance task:
budget periods reset in the database as they end (exactly once, whichever instance gets there),
reservations of a crashed instance given back, the change feed pruned. `close` writes every
queued spend row: the application's cleanup calls it after the last request has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..pricing import PriceFileError, PriceTable, parse_litellm, shipped
from ..requestlog.bodies import Bodies
from ..router import Router
from ..store import Store, StoreError
from .budgets import PROXY, Budgets, BudgetWatcher, EndUsers
from .enforce import Accounting
from .keycache import KeyCache
from .ledger import Ledger
from .limits import Limiter, MemoryLimiter, RedisLimiter
from .prices import Prices
from .quiet import Throttled
from .writer import SpendWriter

log = logging.getLogger("litecursor.keys")
warn = Throttled(log)

#: how often budget periods are reset in the database
ROLL_EVERY = 1.0
#: how often expired database reservations are given back, and the change feed pruned
SWEEP_EVERY = 60.0
#: changes older than this are pruned (every instance polls within a second)
CHANGES_KEPT = 3600.0


@dataclass(slots=True)
class AccountingMemory:
    """What keys and budgets hold in memory for the process's life, whatever config it
    serves: a reload must not reset a key's rate window or forget charges not yet written."""

    limiter: MemoryLimiter = field(default_factory=MemoryLimiter)
    ledger: Ledger = field(default_factory=Ledger)


class AccountingService:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        redis: Any = None,
        shared_budgets: bool | None = None,
        watcher: BudgetWatcher | None = None,
        on_drop: Callable[[int, int], None] | None = None,
        memory: AccountingMemory | None = None,
    ) -> None:
        """`shared_budgets`: reserve budgets in the database, for instances (or worker
        processes) sharing it; by default when the database is PostgreSQL. `watcher` is told
        each budget's spend as requests settle (the budget alerts); `on_drop(n, total)` of
        spend rows dropped from a full queue (metrics, alerts). `memory`: the process's
        rate-limit counts and budget ledger, kept across reloads."""
        memory = memory if memory is not None else AccountingMemory()
        self.config = config
        self.settings = s = config.accounting
        self.store = store
        self.redis = redis
        shared = store.shared if shared_budgets is None else shared_budgets
        r = config.router
        # a reservation outlives its request only when an instance dies mid-request: it is
        # given back once every attempt the request could make has timed out
        attempts = (r.num_retries + 1) * (2 if r.fallbacks or r.default_fallbacks else 1)
        hold = r.timeout * attempts + 60.0
        self.budgets = Budgets(
            store, shared=shared, hold_seconds=hold, watcher=watcher, ledger=memory.ledger
        )
        self.keys = KeyCache(store, on_change=self._changed)
        self.writer = SpendWriter(
            store,
            None if shared else self.budgets.ledger,
            interval=s.flush_interval,
            max_rows=s.spend_queue_size,
            on_drop=on_drop,
        )
        self.limiter: Limiter = RedisLimiter(redis) if redis is not None else memory.limiter
        self.prices = Prices(PriceTable(shipped()))
        self.end_users = (
            EndUsers(store, self.budgets, s.max_end_user_budget)
            if s.max_end_user_budget is not None
            else None
        )
        self._task: asyncio.Task[None] | None = None
        self._reloading: asyncio.Task[None] | None = None

    def listener(
        self,
        router: Router,
        quiet_routes: frozenset[str] = frozenset(),
        bodies: Bodies | None = None,
    ) -> Accounting:
        return Accounting(
            self.settings,
            router,
            keys=self.keys,
            budgets=self.budgets,
            limiter=self.limiter,
            writer=self.writer,
            prices=self.prices,
            end_users=self.end_users,
            quiet_routes=quiet_routes,
            bodies=bodies,
        )

    async def start(self) -> None:
        s = self.settings
        now = time.time()
        await self.store.roll_budgets(now)
        proxy = await self.store.set_proxy_budget(s.max_budget, s.budget_duration, now)
        self.budgets.track(PROXY, proxy)
        await self._load_prices()
        unpriced = self.prices.unpriced(self.config.deployments)
        if unpriced:
            log.warning(
                "no price for deployment(s) %s: their requests cost 0 and no budget limits "
                "them (set input_cost_per_token / output_cost_per_token in litellm_params, "
                "or `litecursor prices import`)",
                ", ".join(unpriced),
            )
        await self.keys.start()
        self.writer.start()
        self._task = asyncio.create_task(self._maintain(), name="litecursor-budgets")

    async def close(self) -> None:
        """Stop the maintenance, write what is queued, give Redis back."""
        for task in (self._task, self._reloading):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.keys.close()
        await self.writer.close()
        await self.limiter.drain()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()

    async def changed(self) -> None:
        """This instance changed keys, users or teams (the admin API): see it at once."""
        try:
            await self.keys.refresh()
        except StoreError as e:
            log.warning("cannot read the change feed of %s: %s", self.store.where, e)

    def _changed(self, kind: str, id: str) -> None:
        if kind == "prices" and (self._reloading is None or self._reloading.done()):
            self._reloading = asyncio.ensure_future(self._load_prices())

    async def _load_prices(self) -> None:
        try:
            imported = parse_litellm(await self.store.imported_prices())
        except (StoreError, PriceFileError) as e:
            log.warning("imported prices not loaded (%s): using the shipped table", e)
            imported = {}
        self.prices.reload(PriceTable(shipped(), imported))

    async def _maintain(self) -> None:
        last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(ROLL_EVERY)
            now = time.time()
            try:
                await self.store.roll_budgets(now)
                if time.monotonic() - last_sweep >= SWEEP_EVERY:
                    last_sweep = time.monotonic()
                    if self.budgets.shared:
                        await self.store.release_expired(now)
                    await self.store.prune_changes(now - CHANGES_KEPT)
            except StoreError as e:
                warn.warning("maintain", "budget maintenance on %s failed: %s", self.store.where, e)
