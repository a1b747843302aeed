"""The spend queue: batches off the request path, shutdown flush, an unreachable database, overflow."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from litecursor.accounting.ledger import Ledger
from litecursor.accounting.writer import SpendWriter
from litecursor.store import Budget, BudgetRef, Charge, SpendQuery, SpendRow, open_store
from litecursor.store.sqlite import SQLiteStore

NOW = 1_780_000_000.0


def row(i: int) -> SpendRow:
    return SpendRow(request_id=f"r{i:05d}", start_time=NOW + i, end_time=NOW + i, spend=0.01)


async def count(store: object) -> int:
    return len(await store.spend_logs(SpendQuery(limit=1000)))


async def test_rows_are_written_within_the_interval_and_all_at_shutdown(database_url: str) -> None:
    store = open_store(database_url)
    await store.open()
    _, key = await store.create_key({}, {"max_budget": 10}, NOW)
    ref = BudgetRef("key", key.token)
    writer = SpendWriter(store, interval=0.1)
    writer.start()
    writer.put(row(0), [Charge(ref, 0.01)])
    await asyncio.sleep(0.4)
    assert await count(store) == 1
    for i in range(1, 1200):
        writer.put(row(i), [Charge(ref, 0.01)])
    await writer.close()
    assert len(await store.spend_logs(SpendQuery(limit=1000))) == 1000
    assert (await store.budgets([ref]))[ref].spend == pytest.approx(12.0)
    await store.close()


async def test_under_steady_load_rows_are_written_once_an_interval_not_after_each_write(
    tmp_path: Path,
) -> None:
    """Rows that come while a batch is written wait for the next flush: writing them as soon
    as the last write ended would make a transaction of a few rows every few milliseconds."""
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    writes: list[int] = []
    write_spend = store.write_spend

    async def counted(rows: list[SpendRow], *args: Any) -> None:
        writes.append(len(rows))
        await asyncio.sleep(0.01)  # a write that takes a while, as a large one does
        await write_spend(rows, *args)

    store.write_spend = counted
    writer = SpendWriter(store, interval=0.2)
    writer.start()
    loop = asyncio.get_running_loop()
    end = loop.time() + 1.0
    n = 0
    while loop.time() < end:  # a request finishing every millisecond or so
        writer.put(row(n))
        n += 1
        await asyncio.sleep(0.001)
    await writer.close()
    written = sum(t.requests for t in await store.spend_report("model"))
    assert sum(writes) == n == written
    assert len(writes) <= 8, writes  # about one a 0.2 s, and the last one at shutdown
    await store.close()


def _lock(path: Path) -> sqlite3.Connection:
    """Another process's write lock, held until released: the database is unavailable."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


async def test_rows_wait_while_the_database_is_unavailable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite", busy_timeout=0.05)
    await store.open()
    ledger = Ledger()
    ref = BudgetRef("proxy", "proxy")
    await store.set_proxy_budget(100.0, None, NOW)
    ledger.load(ref, Budget(max_budget=100.0))
    ledger.settle([ref], 0.0, 0.5, NOW)
    writer = SpendWriter(store, ledger)
    other = _lock(tmp_path / "db.sqlite")
    writer.put(row(1), [Charge(ref, 0.5)], release="r1")
    with caplog.at_level(logging.WARNING, "litecursor.spend"):
        assert await writer.flush() is False
    assert len(writer) == 1 and "1 row(s) wait in memory" in caplog.text
    other.execute("ROLLBACK")
    other.close()
    with caplog.at_level(logging.WARNING, "litecursor.spend"):
        assert await writer.flush() is True
    assert "is back" in caplog.text
    assert await count(store) == 1
    assert (await store.budgets([ref]))[ref].spend == 0.5
    ledger.load(ref, (await store.budgets([ref]))[ref])  # nothing counted twice
    view = ledger.view(ref, NOW)
    assert view is not None and view.spend == 0.5
    await store.close()


async def test_overflow_drops_the_oldest_rows_counted_and_logged_but_keeps_their_cost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite", busy_timeout=0.05)
    await store.open()
    ref = BudgetRef("proxy", "proxy")
    await store.set_proxy_budget(None, None, NOW)
    writer = SpendWriter(store, max_rows=3)
    other = _lock(tmp_path / "db.sqlite")
    with caplog.at_level(logging.ERROR, "litecursor.spend"):
        for i in range(5):
            writer.put(row(i), [Charge(ref, 1.0)])
    assert writer.dropped == 2 and "dropped since start" in caplog.text
    assert await writer.flush() is False
    other.execute("ROLLBACK")
    other.close()
    await writer.close()
    rows = await store.spend_logs(SpendQuery())
    assert [r.request_id for r in rows] == ["r00004", "r00003", "r00002"]
    assert (await store.budgets([ref]))[ref].spend == 5.0
    await store.close()
