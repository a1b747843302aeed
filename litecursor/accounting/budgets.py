"""The budgets a request draws on: reserved at admission, settled when it ends, watched for thresholds.

On one instance the in-memory `Ledger` is the authority and admission awaits nothing; the
database is its durable copy, charged in the spend writer's batches. When instances share a
database (PostgreSQL), each reservation is one conditional UPDATE there (`Store.reserve`), so
two instances cannot both take the last of a budget; the writer's batch that charges the cost
also gives the reservation back, in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..store import Budget, BudgetRef, BudgetRefused, Charge, Store
from ..store.periods import parse_duration
from ..store.records import PROXY_ID
from .ledger import Ledger

log = logging.getLogger("litecursor.budgets")

PROXY = BudgetRef("proxy", PROXY_ID)
#: end users remembered (each a first-sight database write): beyond it the oldest are forgotten
MAX_END_USERS = 100_000
#: an end user's `user` value is kept to this length (Cursor's is a 64-character hash)
MAX_END_USER_ID = 256


class BudgetWatcher(Protocol):
    """Told a budget's spend after each request that drew on it (the budget alerts, issue 12:
    they keep what they already sent, so this is called every time)."""

    def budget_crossed(
        self,
        kind: str,
        id: str,
        alias: str | None,
        spend: float,
        limit: float,
        period_start: float | None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """A spent budget: its figures as the refusal shows them."""

    ref: BudgetRef
    spend: float
    reserved: float
    max_budget: float
    reset_at: float | None


def period_start(b: Budget) -> float | None:
    if b.reset_at is None or b.duration is None:
        return None
    return parse_duration(b.duration).start_of(b.reset_at)


class Budgets:
    def __init__(
        self,
        store: Store,
        *,
        shared: bool,
        hold_seconds: float = 3600.0,
        watcher: BudgetWatcher | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        """`ledger`: the process's, when it keeps one across reloads (what the previous
        config's requests reserved and spent, not written yet, still counts)."""
        self.store = store
        self.shared = shared
        self.hold_seconds = hold_seconds
        self.watcher = watcher
        self.ledger = ledger if ledger is not None else Ledger()
        #: the budget object each ledger entry was loaded from: a reloaded record brings a
        #: new one (its limit may have changed), the same one needs no work
        self._loaded: dict[BudgetRef, Budget] = {}

    def track(self, ref: BudgetRef, budget: Budget) -> None:
        """The budget as the database had it when its record was loaded."""
        if self._loaded.get(ref) is not budget:
            self._loaded[ref] = budget
            self.ledger.load(ref, budget)

    def forget(self, ref: BudgetRef) -> None:
        self._loaded.pop(ref, None)
        self.ledger.forget(ref)

    async def reserve(
        self,
        request_id: str,
        refs: Sequence[BudgetRef],
        limited: Sequence[BudgetRef],
        amount: float,
        aliases: dict[BudgetRef, str | None],
        now: float,
    ) -> Refusal | None:
        """Reserve `amount` on every budget of `refs` or on none; `limited` are those with a
        limit (the only ones a shared database is asked about)."""
        if not self.shared:
            found = self.ledger.reserve(refs, amount, now)
            if found is None:
                return None
            view = self.ledger.view(found.ref, now)
            assert view is not None  # a refusal names a budget the ledger holds
            self._watch(found.ref, aliases.get(found.ref), view)
            return Refusal(found.ref, view.spend, view.reserved, found.max_budget, view.reset_at)
        if not limited:
            return None
        holds = [(ref, amount) for ref in limited]
        try:
            after = await self.store.reserve(request_id, holds, now, now + self.hold_seconds)
        except BudgetRefused as e:
            b = e.budget
            assert b.max_budget is not None  # a budget without a limit is never refused
            self._watch(e.ref, aliases.get(e.ref), b)
            return Refusal(e.ref, b.spend, b.reserved, b.max_budget, b.reset_at)
        for ref, b in after.items():
            self._watch(ref, aliases.get(ref), b)
        return None

    def settle(
        self,
        refs: Sequence[BudgetRef],
        reserved: float,
        cost: float,
        aliases: dict[BudgetRef, str | None],
        now: float,
    ) -> list[Charge]:
        """The request is over: its reservation goes, its cost is spent. Returns the charges
        for the database (a shared database gives the reservation back with them)."""
        if not self.shared:
            self.ledger.settle(refs, reserved, cost, now)
            if self.watcher is not None and cost:
                for ref in refs:
                    view = self.ledger.view(ref, now)
                    if view is not None:
                        self._watch(ref, aliases.get(ref), view)
        return [Charge(ref, cost) for ref in refs] if cost else []

    def view(self, ref: BudgetRef, now: float) -> Budget | None:
        return self.ledger.view(ref, now)

    def _watch(self, ref: BudgetRef, alias: str | None, b: Budget) -> None:
        if self.watcher is None or b.max_budget is None:
            return
        try:
            self.watcher.budget_crossed(
                ref.kind, ref.id, alias, b.spend, b.max_budget, period_start(b)
            )
        except Exception:
            log.exception("the budget watcher failed on %s %s", ref.kind, ref.id)


class EndUsers:
    """End users (the request's `user`: Cursor's per-user hash) with the proxy's
    `max_end_user_budget`: each is created in the database on first sight (awaited once per
    process, like an unknown key), then drawn on from memory."""

    def __init__(self, store: Store, budgets: Budgets, max_budget: float) -> None:
        self.store = store
        self.budgets = budgets
        self.max_budget = max_budget
        self._known: dict[str, None] = {}
        self._loads: dict[str, asyncio.Future[None]] = {}

    async def ref(self, end_user: str) -> BudgetRef:
        """The end user's budget, loaded into the ledger on first sight."""
        end_user = end_user[:MAX_END_USER_ID]
        ref = BudgetRef("end_user", end_user)
        if end_user in self._known:
            return ref
        pending = self._loads.get(end_user)
        if pending is None:
            pending = self._loads[end_user] = asyncio.ensure_future(self._load(end_user, ref))
            pending.add_done_callback(lambda _: self._loads.pop(end_user, None))
        await asyncio.shield(pending)
        return ref

    async def _load(self, end_user: str, ref: BudgetRef) -> None:
        record = await self.store.end_user(end_user, self.max_budget, time.time())
        self.budgets.track(ref, record.budget)
        self._known[end_user] = None
        if len(self._known) > MAX_END_USERS:
            for old in list(self._known)[: MAX_END_USERS // 10]:
                del self._known[old]
                self.budgets.forget(BudgetRef("end_user", old))
