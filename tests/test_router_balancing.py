"""Load balancing through the real gateway: weighted spread, order, least busy, latency, usage, limits."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fakes.common import FakeUpstream, Faults
from tests.fakes.routing import Answer, ask, openai_model, start_openai
from tests.harness import Gateway


async def group(
    aiohttp_server: Any, gateway_factory: Any, params: list[dict[str, Any]], **router: Any
) -> tuple[Gateway, list[FakeUpstream]]:
    """`m` on one fake upstream per entry of `params` (its litellm_params extras), ids d0, d1..."""
    fakes = [await start_openai(aiohttp_server) for _ in params]
    gw = await gateway_factory(
        [
            openai_model("m", base, id=f"d{i}", **p)
            for i, ((_, base), p) in enumerate(zip(fakes, params, strict=True))
        ],
        router_settings=router,
    )
    return gw, [f for f, _ in fakes]


async def until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


async def test_requests_spread_over_deployments_by_weight(aiohttp_server, gateway_factory) -> None:
    gw, (a, b) = await group(aiohttp_server, gateway_factory, [{"weight": 3}, {"weight": 1}])
    for _ in range(12):
        answers = await asyncio.gather(*(ask(gw, "m") for _ in range(25)))
        assert all(x.status == 200 for x in answers)
    assert len(a.requests) + len(b.requests) == 300
    assert 195 <= len(a.requests) <= 255  # 225 expected; 4 standard deviations either side


async def test_the_lowest_order_takes_all_traffic_while_healthy(
    aiohttp_server, gateway_factory
) -> None:
    gw, (a, b) = await group(aiohttp_server, gateway_factory, [{"order": 2}, {"order": 1}])
    for _ in range(10):
        await ask(gw, "m")
    assert (len(a.requests), len(b.requests)) == (0, 10)


async def test_least_busy_sends_a_new_request_to_the_idle_deployment(
    aiohttp_server, gateway_factory
) -> None:
    gw, fakes = await group(
        aiohttp_server, gateway_factory, [{}, {}], routing_strategy="least-busy"
    )
    for f in fakes:
        f.faults = Faults(first_byte_delay=0.05)
    for rounds in range(1, 8):
        first = asyncio.create_task(ask(gw, "m", stream=True))
        await until(lambda r=rounds: sum(len(f.requests) for f in fakes) == 2 * r - 1)
        second = asyncio.create_task(ask(gw, "m", stream=True))
        await asyncio.gather(first, second)
        assert [len(f.requests) for f in fakes] == [rounds, rounds]


async def test_latency_based_routing_prefers_the_faster_deployment(
    aiohttp_server, gateway_factory
) -> None:
    gw, (slow, fast) = await group(
        aiohttp_server, gateway_factory, [{}, {}], routing_strategy="latency-based-routing"
    )
    slow.faults = Faults(first_byte_delay=0.1)
    for _ in range(8):
        assert (await ask(gw, "m", stream=True)).status == 200
    assert (len(slow.requests), len(fast.requests)) == (1, 7)  # measured once, then avoided


async def test_usage_based_routing_evens_out_use(aiohttp_server, gateway_factory) -> None:
    gw, (a, b) = await group(
        aiohttp_server, gateway_factory, [{}, {}], routing_strategy="usage-based-routing"
    )
    for pairs in range(1, 8):
        for _ in range(2):
            await ask(gw, "m", stream=True)
        assert (len(a.requests), len(b.requests)) == (pairs, pairs)


async def test_usage_based_routing_prefers_the_deployment_with_more_headroom(
    aiohttp_server, gateway_factory
) -> None:
    gw, (small, _big) = await group(
        aiohttp_server,
        gateway_factory,
        [{"rpm": 4}, {"rpm": 400}],
        routing_strategy="usage-based-routing-v2",
    )
    for _ in range(10):
        await ask(gw, "m")
    assert len(small.requests) <= 1


async def test_a_deployment_at_its_rpm_is_skipped_and_all_at_rpm_is_a_429(
    aiohttp_server, gateway_factory
) -> None:
    gw, (a, b) = await group(aiohttp_server, gateway_factory, [{"rpm": 2}, {"rpm": 2}])
    for _ in range(4):
        assert (await ask(gw, "m")).status == 200
    assert (len(a.requests), len(b.requests)) == (2, 2)
    answer = await ask(gw, "m")
    assert answer.status == 429 and answer.error["code"] == "no_deployment_available"
    assert "'m'" in answer.error["message"] and "limit" in answer.error["message"]
    # until the oldest request leaves the minute window (counted to the whole second)
    assert 55 <= int(answer.headers["retry-after"]) <= 61


async def test_a_deployment_over_its_tpm_is_skipped(aiohttp_server, gateway_factory) -> None:
    gw, (a, b) = await group(aiohttp_server, gateway_factory, [{"tpm": 10}, {"tpm": 10}])
    assert (await ask(gw, "m", stream=True)).status == 200  # uses 18 tokens
    assert (await ask(gw, "m")).status == 200
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert (await ask(gw, "m")).status == 429


async def test_max_parallel_requests_bounds_each_deployment(
    aiohttp_server, gateway_factory
) -> None:
    gw, fakes = await group(
        aiohttp_server,
        gateway_factory,
        [{"max_parallel_requests": 1}, {"max_parallel_requests": 1}],
    )
    for f in fakes:
        f.faults = Faults(first_byte_delay=0.2)
    running = [asyncio.create_task(ask(gw, "m", stream=True)) for _ in range(2)]
    await until(lambda: sum(len(f.requests) for f in fakes) == 2)
    third: Answer = await ask(gw, "m", stream=True)
    assert third.status == 429 and third.headers["retry-after"] == "1"
    assert [x.status for x in await asyncio.gather(*running)] == [200, 200]
    assert [len(f.requests) for f in fakes] == [1, 1]
    assert (await ask(gw, "m")).status == 200  # room again once they are done
