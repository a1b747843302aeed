"""Deployment state shared through a real Redis: two states side by side, then two gateways."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from litecursor.config import parse
from litecursor.router.shared import STALE, SharedState
from litecursor.router.state import RecentError
from litecursor.server.keys import ROUTER

from .conftest import GatewayFactory
from .fakes.routing import USER, openai_model, start_openai
from .harness import Gateway
from .services import Redis

CONFIG = parse(
    {
        "model_list": [
            {"model_name": "m", "litellm_params": {"model": "mock/a"}, "model_info": {"id": "a"}},
            {"model_name": "m", "litellm_params": {"model": "mock/b"}, "model_info": {"id": "b"}},
        ],
        "general_settings": {"master_key": "k"},
    },
    environ={},
)


async def test_each_state_sees_the_others_counts_and_cooldowns_after_one_exchange(
    redis_client: Any,
) -> None:
    one = SharedState(redis_client, CONFIG.deployments)
    two = SharedState(redis_client, CONFIG.deployments)
    now = time.monotonic()
    for _ in range(3):
        one.begin("a", now)
    one.tokens("a", 500, now)
    one.end("a")
    assert one.failure("b", RecentError(now, 500, "boom")) == 1
    one.cool("b", now + 30)
    await one.exchange()
    await two.exchange()
    a, b = two.view(["a", "b"], time.monotonic())
    assert (a.in_flight, a.requests, a.tokens) == (2, 3, 500)
    assert b.cooling(time.monotonic()) and 29 < b.cooldown_until - time.monotonic() <= 30
    # and both ways: the second's own request adds to the first's view
    two.begin("a", time.monotonic())
    await two.exchange()
    await one.exchange()
    (a,) = one.view(["a"], time.monotonic())
    assert (a.in_flight, a.requests) == (3, 4)


async def test_failures_count_across_instances_toward_allowed_fails(redis_client: Any) -> None:
    one = SharedState(redis_client, CONFIG.deployments)
    two = SharedState(redis_client, CONFIG.deployments)
    now = time.monotonic()
    one.failure("a", RecentError(now, 500, "x"))
    one.failure("a", RecentError(now, 500, "x"))
    await one.exchange()
    await two.exchange()
    assert two.failure("a", RecentError(now, 500, "x")) == 3


async def test_a_stopped_instance_stops_counting(redis_client: Any) -> None:
    one = SharedState(redis_client, CONFIG.deployments)
    two = SharedState(redis_client, CONFIG.deployments)
    one.begin("a", time.monotonic())
    await one.exchange()
    await one.close()  # leaves at once
    await two.exchange()
    assert two.view(["a"], time.monotonic())[0].in_flight == 0
    # one that died without leaving is ignored once its snapshot is stale
    three = SharedState(redis_client, CONFIG.deployments)
    three.begin("a", time.monotonic())
    await three.exchange()
    snap = orjson.loads(await redis_client.hget("litecursor:router:state", three.instance))
    assert next(iter(snap["deps"].values()))[0] == 1  # it was counted while fresh
    snap["at"] -= STALE + 1
    await redis_client.hset("litecursor:router:state", three.instance, orjson.dumps(snap))
    await two.exchange()
    assert two.view(["a"], time.monotonic())[0].in_flight == 0
    await asyncio.sleep(0.1)  # and removed
    assert await redis_client.hget("litecursor:router:state", three.instance) is None


async def gateways(
    factory: GatewayFactory, redis_url: str, models: list[dict[str, Any]]
) -> tuple[Gateway, Gateway]:
    async def start() -> Gateway:
        return await factory(
            models,
            router_settings={"num_retries": 1, "redis_url": redis_url, "cooldown_time": 30},
        )

    return await start(), await start()


async def wait_for(check: Any, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not shared in time"
        await asyncio.sleep(0.05)


async def test_a_deployment_cooled_by_one_gateway_is_avoided_by_the_other(
    gateway_factory: GatewayFactory, aiohttp_server: Any, redis_server: Redis, redis_client: Any
) -> None:
    (fa, a), (fb, b) = [await start_openai(aiohttp_server) for _ in range(2)]
    one, two = await gateways(
        gateway_factory,
        redis_server.url,
        [openai_model("gpt-4o", a, id="a"), openai_model("gpt-4o", b, id="b")],
    )
    fa.faults.status, fa.faults.times = 429, 1  # one rate limit, then A would answer fine
    while not fa.requests:  # until the first gateway has met A's 429 (and retried on B)
        status, _ = await one.chat({"model": "gpt-4o", "messages": USER})
        assert status == 200
    await wait_for(lambda: two.app[ROUTER].health()[0].cooldown_remaining > 0)
    sent = len(fa.requests)
    for _ in range(10):
        status, _ = await two.chat({"model": "gpt-4o", "messages": USER})
        assert status == 200
    assert len(fa.requests) == sent  # the second gateway never tried A
    assert len(fb.requests) >= 10


async def test_a_deployments_rpm_counts_both_gateways_requests(
    gateway_factory: GatewayFactory, aiohttp_server: Any, redis_server: Redis, redis_client: Any
) -> None:
    fake, base = await start_openai(aiohttp_server)
    one, two = await gateways(
        gateway_factory, redis_server.url, [openai_model("solo", base, id="s", rpm=3)]
    )
    body = {"model": "solo", "messages": USER}
    for gw in (one, one, two):
        assert (await gw.chat(body))[0] == 200
    await wait_for(lambda: two.app[ROUTER].state.view(["s"], time.monotonic())[0].requests >= 3)
    status, err = await two.chat(body)
    assert status == 429 and err["error"]["code"] == "no_deployment_available"
    assert len(fake.requests) == 3
