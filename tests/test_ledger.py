"""In-memory budgets: reservations, settling, periods, reloads."""

from __future__ import annotations

import pytest

from litecursor.accounting.ledger import Ledger
from litecursor.store.records import Budget, BudgetRef

KEY = BudgetRef("key", "k")
TEAM = BudgetRef("team", "t")
NOW = 1_780_000_000.0


def test_only_as_many_requests_as_the_budget_fits_are_admitted_at_once() -> None:
    ledger = Ledger()
    ledger.load(KEY, Budget(max_budget=5.0))
    admitted = [ledger.reserve([KEY], 1.0, NOW) is None for _ in range(50)]
    assert sum(admitted) == 5
    for _ in range(5):
        ledger.settle([KEY], 1.0, 1.2, NOW)  # each cost a little more than its estimate
    view = ledger.view(KEY, NOW)
    assert view is not None and view.reserved == 0 and view.spend == pytest.approx(6.0)
    refusal = ledger.reserve([KEY], 1.0, NOW)
    assert refusal is not None and (refusal.spend, refusal.max_budget) == (pytest.approx(6.0), 5.0)


def test_a_refusal_reserves_nothing_on_the_other_budgets() -> None:
    ledger = Ledger()
    ledger.load(TEAM, Budget(max_budget=100.0))
    ledger.load(KEY, Budget(max_budget=1.0, spend=1.0))
    refusal = ledger.reserve([TEAM, KEY], 0.5, NOW)
    assert refusal is not None and refusal.ref == KEY
    team = ledger.view(TEAM, NOW)
    assert team is not None and team.reserved == 0


def test_a_spent_budget_opens_again_when_its_period_ends() -> None:
    ledger = Ledger()
    ledger.load(KEY, Budget(max_budget=1.0, duration="30s", reset_at=NOW + 30, spend=1.0))
    assert ledger.reserve([KEY], 0.1, NOW + 29) is not None
    assert ledger.reserve([KEY], 0.1, NOW + 30) is None
    view = ledger.view(KEY, NOW + 31)
    assert view is not None and view.spend == 0 and view.reset_at == NOW + 60


def test_a_reload_keeps_unwritten_charges_and_running_reservations() -> None:
    ledger = Ledger()
    ledger.load(KEY, Budget(max_budget=10.0, spend=1.0))
    ledger.reserve([KEY], 2.0, NOW)
    ledger.settle([KEY], 0.0, 0.5, NOW)  # another request's charge, not yet written
    ledger.load(KEY, Budget(max_budget=20.0, spend=1.0))  # the admin raised the budget
    view = ledger.view(KEY, NOW)
    assert view is not None and (view.max_budget, view.spend, view.reserved) == (20.0, 1.5, 2.0)
    ledger.written(KEY, 0.5)
    ledger.load(KEY, Budget(max_budget=20.0, spend=1.5))  # the database has it now
    view = ledger.view(KEY, NOW)
    assert view is not None and view.spend == 1.5


def test_budgets_without_a_limit_never_refuse() -> None:
    ledger = Ledger()
    ledger.load(KEY, Budget(spend=1e9))
    assert ledger.reserve([KEY, BudgetRef("user", "unknown")], 1.0, NOW) is None
