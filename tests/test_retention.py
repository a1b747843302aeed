"""Retention: `maximum_spend_logs_retention_period` deletes old request-log rows in small batches, in the background."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from litecursor.config import parse
from litecursor.config.values import ConfigError
from litecursor.requestlog.retention import Retention
from litecursor.server.keys import STORE
from litecursor.store import SpendQuery, SpendRow, Store, open_store

from .harness import MASTER_KEY, make_config, run_gateway

DAY = 86400.0
NOW = 1_780_012_800.0


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = open_store(database_url)
    await s.open()
    yield s
    await s.close()


def row(n: int, at: float) -> SpendRow:
    return SpendRow(f"r{n:04d}", at, at + 1, key_hash="k", model_group="m", spend=0.01)


async def test_a_sweep_deletes_only_what_is_older_than_the_period_in_batches(
    store: Store,
) -> None:
    old = [row(i, NOW - 40 * DAY + i) for i in range(10)]
    young = [row(100 + i, NOW - 29 * DAY + i) for i in range(3)]
    await store.write_spend(old + young)
    sweep = await Retention(store, 30 * DAY, batch=3, pause=0).sweep(now=NOW)
    assert (sweep.rows, sweep.batches) == (10, 4)  # 3 + 3 + 3 + 1
    left = await store.spend_logs(SpendQuery())
    assert sorted(r.request_id for r in left) == ["r0100", "r0101", "r0102"]
    # the totals of the deleted hours went with them
    days = await store.activity_series(NOW - 41 * DAY, NOW, DAY)
    assert sum(b.totals.requests for b in days) == 3
    again = await Retention(store, 30 * DAY, batch=3, pause=0).sweep(now=NOW)
    assert (again.rows, again.batches) == (0, 1)


def test_the_settings_are_litellms() -> None:
    models = [{"model_name": "m", "litellm_params": {"model": "mock/x"}}]
    config = parse(
        {
            "model_list": models,
            "general_settings": {
                "master_key": "k",
                "maximum_spend_logs_retention_period": "30d",
                "maximum_spend_logs_retention_interval": "6h",
                "store_prompts_in_spend_logs": True,
            },
            "litecursor_settings": {"log_body_max_kb": 8},
        },
        environ={},
    )
    log = config.request_log
    assert (log.retention, log.retention_interval) == (30 * DAY, 6 * 3600)
    assert log.store_bodies and log.body_max_bytes == 8192
    assert make_config(models).request_log.retention is None  # keep every row by default
    for general, message in (
        ({"maximum_spend_logs_retention_period": "30 days"}, "30 days"),
        ({"maximum_spend_logs_retention_period": "10m"}, "at least 1h"),
        ({"store_prompts_in_spend_logs": "yes"}, "true or false"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse(
                {"model_list": models, "general_settings": {"master_key": "k", **general}},
                environ={},
            )


async def test_the_gateway_sweeps_at_start(tmp_path: Path, dev_certs: Any) -> None:
    db = tmp_path / "litecursor.db"
    store = open_store(str(db))
    await store.open()
    now = time.time()
    await store.write_spend([row(1, now - 3 * DAY), row(2, now - 60)])
    await store.close()
    config = make_config(
        [{"model_name": "m", "litellm_params": {"model": "mock/x"}}],
        general_settings={
            "master_key": MASTER_KEY,
            "database_url": str(db),
            "maximum_spend_logs_retention_period": "1d",
        },
    )
    async with run_gateway(config, dev_certs) as gw:
        store = gw.app[STORE]
        for _ in range(100):
            if len(await store.spend_logs(SpendQuery())) == 1:
                break
            await asyncio.sleep(0.02)
        assert [r.request_id for r in await store.spend_logs(SpendQuery())] == ["r0002"]
