"""Two gateways sharing one real PostgreSQL and one real Redis: budgets reserved atomically in the
database, rate limits counted in the same windows, key changes seen by the other within a second."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from litecursor.accounting import limits
from litecursor.server.keys import ACCOUNTING

from .conftest import GatewayFactory
from .fakes.common import FakeUpstream, Reply
from .fakes.routing import start_openai
from .harness import Gateway
from .services import Redis
from .test_e2e_keys import COST, FITTING, USAGE, admin, client, key_info, models, stream_all


@pytest.fixture
async def upstream(aiohttp_server: Any) -> tuple[FakeUpstream, str]:
    fake, base = await start_openai(aiohttp_server)
    fake.default_reply = Reply(text="hello there", **USAGE)
    return fake, base


@pytest.fixture
async def pair(
    gateway_factory: GatewayFactory,
    upstream: tuple[FakeUpstream, str],
    postgres_url: str,
    redis_server: Redis,
    redis_client: Any,
) -> tuple[Gateway, Gateway]:
    async def start() -> Gateway:
        return await gateway_factory(
            models(upstream[1]),
            general_settings={"master_key": "sk-test-master", "database_url": postgres_url},
            router_settings={"num_retries": 0, "redis_url": redis_server.url},
        )

    return await start(), await start()


async def test_fifty_requests_over_two_instances_spend_at_most_the_budget_plus_admitted(
    pair: tuple[Gateway, Gateway], upstream: tuple[FakeUpstream, str]
) -> None:
    a, b = pair
    fake, _ = upstream
    fake.faults.first_byte_delay = 0.3  # every request is admitted before any has finished
    key = (await admin(a, "/key/generate", {"max_budget": 5 * COST}))["key"]
    await b.app[ACCOUNTING].changed()
    tasks = [stream_all(client(gw, key), **FITTING) for _ in range(25) for gw in (a, b)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    ok = [r for r in results if r == "hello there"]
    refused = [r for r in results if isinstance(r, openai.BadRequestError)]
    # each instance on its own would admit about five: together they admit five at most
    assert len(ok) + len(refused) == 50 and 4 <= len(ok) <= 5, results
    await b.app[ACCOUNTING].writer.flush()
    spend = (await key_info(a, key))["spend"]
    assert spend == pytest.approx(len(ok) * COST) and spend <= 5 * COST + 1e-12
    # the reservations were given back with the charges
    store = a.app[ACCOUNTING].store
    (budget,) = (await store.budgets([_key_ref(key)])).values()
    assert budget.reserved == pytest.approx(0, abs=1e-12)


async def test_a_keys_rpm_is_counted_once_across_both_instances(
    pair: tuple[Gateway, Gateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    monkeypatch.setattr(limits, "WINDOW", 4)  # a four-second "minute", for the test's sake
    key = (await admin(a, "/key/generate", {"rpm_limit": 3}))["key"]
    await b.app[ACCOUNTING].changed()
    while time.time() % 4 > 1.5:  # all of it inside one window
        await asyncio.sleep(0.05)
    await stream_all(client(a, key))
    await stream_all(client(b, key))
    await stream_all(client(a, key))
    for gw in (a, b):
        with pytest.raises(openai.RateLimitError) as e:
            await stream_all(client(gw, key))
        assert e.value.response.headers["x-ratelimit-remaining-requests"] == "0"


async def test_the_proxy_rate_limit_is_shared_too(
    gateway_factory: GatewayFactory,
    upstream: tuple[FakeUpstream, str],
    redis_server: Redis,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "WINDOW", 4)
    gws = [
        await gateway_factory(
            models(upstream[1]),
            litellm_settings={"rate_limit": 2},
            router_settings={"num_retries": 0, "redis_url": redis_server.url},
        )
        for _ in range(2)
    ]
    while time.time() % 4 > 1.5:
        await asyncio.sleep(0.05)
    for gw in gws:
        await stream_all(gw.openai("/v1"))
    with pytest.raises(openai.RateLimitError) as e:
        await stream_all(gws[0].openai("/v1"))
    assert "proxy made 2 requests this minute" in str(e.value)


async def test_a_key_blocked_on_one_instance_is_refused_by_the_other_within_a_second(
    pair: tuple[Gateway, Gateway],
) -> None:
    a, b = pair
    key = (await admin(a, "/key/generate"))["key"]
    assert await stream_all(client(b, key)) == "hello there"
    await admin(a, "/key/block", {"key": key})
    deadline = time.monotonic() + 1.0
    while True:
        try:
            await stream_all(client(b, key))
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "still served a second after it was blocked"
        await asyncio.sleep(0.05)


def _key_ref(key: str) -> Any:
    from litecursor.store import BudgetRef
    from litecursor.store.tokens import hash_key

    return BudgetRef("key", hash_key(key))


async def test_with_the_shared_database_away_a_known_key_is_still_served(
    pair: tuple[Gateway, Gateway], caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = pair
    key = (await admin(a, "/key/generate", {"max_budget": 1}))["key"]
    assert await stream_all(client(a, key)) == "hello there"
    store = a.app[ACCOUNTING].store
    await a.app[ACCOUNTING].writer.flush()
    await store.close()
    try:
        assert await stream_all(client(a, key)) == "hello there"
    finally:
        await store._connect()
    assert "budgets admitted without a reservation" in caplog.text
    assert (await key_info(a, key))["spend"] == pytest.approx(2 * COST)


async def test_worker_processes_on_one_sqlite_file_share_budgets_through_it(
    dev_certs: Any, upstream: tuple[FakeUpstream, str], tmp_path: Any
) -> None:
    """What `litecursor serve --workers N` does on SQLite: each worker reserves in the file."""
    from .harness import make_config, run_gateway

    fake, _ = upstream
    fake.faults.first_byte_delay = 0.3
    config = make_config(
        models(upstream[1]),
        router_settings={"num_retries": 0},
        general_settings={"master_key": "sk-test-master", "database_url": str(tmp_path / "w.db")},
    )
    async with (
        run_gateway(config, dev_certs, shared_budgets=True) as a,
        run_gateway(config, dev_certs, shared_budgets=True) as b,
    ):
        key = (await admin(a, "/key/generate", {"max_budget": 5 * COST}))["key"]
        await b.app[ACCOUNTING].changed()
        tasks = [stream_all(client(gw, key), **FITTING) for _ in range(10) for gw in (a, b)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        ok = [r for r in results if r == "hello there"]
        assert 4 <= len(ok) <= 5, results
        await b.app[ACCOUNTING].writer.flush()
        assert (await key_info(a, key))["spend"] == pytest.approx(len(ok) * COST)
