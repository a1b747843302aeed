"""Rate limits per scope, in one process and shared through a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from litecursor.accounting.limits import MemoryLimiter, RedisLimiter, Scope, headers
from litecursor.errors import RateLimitError

from .services import Redis

NOW = 1_779_999_980.0  # 20 s into a minute


async def released(limiter: Any, *args: Any) -> None:
    """Release, and wait for a shared limiter's background write."""
    limiter.release(*args)
    await limiter.drain()


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryLimiter()
        return
    import redis.asyncio as aioredis

    server: Redis = request.getfixturevalue("redis_server")
    client = aioredis.from_url(server.url)
    await client.flushdb()
    yield RedisLimiter(client)
    await client.aclose()


async def test_rpm_refuses_with_retry_after_then_recovers_next_minute(limiter: Any) -> None:
    key = Scope("key:k", rpm=3)
    for _ in range(3):
        await limiter.acquire([key], NOW)
        await released(limiter, [key], 0, NOW)
    with pytest.raises(RateLimitError) as e:
        await limiter.acquire([key], NOW + 1)
    assert e.value.status == 429 and e.value.headers["retry-after"] == "39"
    assert e.value.headers["x-ratelimit-remaining-requests"] == "0"
    assert "rpm_limit is 3" in e.value.message
    usage = await limiter.acquire([key], NOW + 40)  # the next minute
    assert usage[0].requests == 1


async def test_a_refusal_on_one_scope_counts_on_none(limiter: Any) -> None:
    key, team = Scope("key:k", rpm=10), Scope("team:t", rpm=1)
    await limiter.acquire([team], NOW)
    with pytest.raises(RateLimitError, match="team made 1 requests"):
        await limiter.acquire([key, team], NOW)
    usage = await limiter.acquire([key], NOW)
    assert usage[0].requests == 1


async def test_tokens_per_minute_count_what_finished_requests_used(limiter: Any) -> None:
    key = Scope("key:k", tpm=1000)
    await limiter.acquire([key], NOW)
    await released(limiter, [key], 1200, NOW)
    with pytest.raises(RateLimitError, match="used 1200 tokens this minute"):
        await limiter.acquire([key], NOW)


async def test_parallel_requests_are_capped_and_freed(limiter: Any) -> None:
    key = Scope("key:k", parallel=2)
    await limiter.acquire([key], NOW)
    await limiter.acquire([key], NOW)
    with pytest.raises(RateLimitError, match="2 request\\(s\\) in flight"):
        await limiter.acquire([key], NOW)
    await released(limiter, [key], 0, NOW)
    assert (await limiter.acquire([key], NOW))[0].in_flight == 2


async def test_two_instances_on_one_redis_share_the_window(redis_client: Any) -> None:
    a, b = RedisLimiter(redis_client), RedisLimiter(redis_client)
    proxy = Scope("proxy", rpm=4)
    for limiter in (a, b, a, b):
        await limiter.acquire([proxy], NOW)
    for limiter in (a, b):
        with pytest.raises(RateLimitError):
            await limiter.acquire([proxy], NOW)


def test_headers_name_the_tightest_scope() -> None:
    from litecursor.accounting.limits import Usage

    h = headers(
        [
            Usage(Scope("key:k", rpm=100), 10, 0, 1),
            Usage(Scope("proxy", rpm=20, tpm=500), 15, 100, 1),
        ],
        NOW,
    )
    assert h["x-ratelimit-limit-requests"] == "20" and h["x-ratelimit-remaining-requests"] == "5"
    assert h["x-ratelimit-limit-tokens"] == "500" and h["x-ratelimit-remaining-tokens"] == "400"
