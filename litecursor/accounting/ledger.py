"""Budgets in memory: reserve an estimate at admit, settle the real cost at finish.

For one instance this is the authority (the database is its durable copy, written in batches);
with PostgreSQL the reservation is made in the database instead (`Store.reserve`) and this keeps
the figures shown in errors. Synchronous and clock-free: the caller passes `now`.

A budget is open while its spend plus what admitted, unfinished requests reserved is under its
limit. So when many requests arrive at once, only as many are admitted as their estimates fit,
and the spend can pass the limit by at most what the admitted ones cost beyond their estimates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..store.periods import parse_duration
from ..store.records import Budget, BudgetRef


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first budget that is spent: what it spent, its limit, when it resets."""

    ref: BudgetRef
    spend: float
    max_budget: float
    reset_at: float | None


class _Entry:
    __slots__ = ("duration", "max_budget", "pending", "reserved", "reset_at", "spend")

    def __init__(self, b: Budget) -> None:
        self.max_budget = b.max_budget
        self.duration = b.duration
        self.reset_at = b.reset_at
        self.spend = b.spend
        self.reserved = 0.0
        #: charged here, not yet written to the database (kept across a reload)
        self.pending = 0.0

    def roll(self, now: float) -> None:
        if self.reset_at is not None and now >= self.reset_at:
            self.spend = 0.0
            self.reset_at = (
                parse_duration(self.duration).next_end(self.reset_at, now)
                if self.duration
                else None
            )


class Ledger:
    def __init__(self) -> None:
        self._entries: dict[BudgetRef, _Entry] = {}

    def __contains__(self, ref: BudgetRef) -> bool:
        return ref in self._entries

    def load(self, ref: BudgetRef, budget: Budget) -> None:
        """Take the database's figures (first sight, or after a change); charges not written
        yet are kept on top, and so are the reservations of running requests."""
        entry = self._entries.get(ref)
        fresh = _Entry(budget)
        if entry is not None:
            fresh.pending = entry.pending
            fresh.spend += entry.pending
            fresh.reserved = entry.reserved
        self._entries[ref] = fresh

    def forget(self, ref: BudgetRef) -> None:
        self._entries.pop(ref, None)

    def view(self, ref: BudgetRef, now: float) -> Budget | None:
        entry = self._entries.get(ref)
        if entry is None:
            return None
        entry.roll(now)
        return Budget(entry.max_budget, entry.duration, entry.reset_at, entry.spend, entry.reserved)

    def reserve(self, refs: Sequence[BudgetRef], amount: float, now: float) -> Refusal | None:
        """Reserve `amount` on every budget, or on none when one is spent."""
        entries = []
        for ref in refs:
            entry = self._entries.get(ref)
            if entry is None:
                continue
            entry.roll(now)
            limit = entry.max_budget
            if limit is not None and entry.spend + entry.reserved >= limit:
                return Refusal(ref, entry.spend, limit, entry.reset_at)
            entries.append(entry)
        for entry in entries:
            entry.reserved += amount
        return None

    def settle(self, refs: Iterable[BudgetRef], reserved: float, cost: float, now: float) -> None:
        """A request is over: its reservation goes, its cost is spent (and waits to be written)."""
        for ref in refs:
            entry = self._entries.get(ref)
            if entry is None:
                continue
            entry.roll(now)
            entry.reserved = max(0.0, entry.reserved - reserved)
            entry.spend += cost
            entry.pending += cost

    def written(self, ref: BudgetRef, cost: float) -> None:
        """A charge reached the database."""
        entry = self._entries.get(ref)
        if entry is not None:
            entry.pending = max(0.0, entry.pending - cost)
