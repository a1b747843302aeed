"""GET /health/deployments: each deployment's router state, for the master key only, never a secret."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from tests.fakes.common import Faults
from tests.fakes.routing import (
    UPSTREAM_KEY,
    ManualClock,
    ask,
    openai_model,
    router_of,
    start_openai,
)
from tests.harness import MASTER_KEY, Gateway

FIELDS = {
    "id",
    "model_name",
    "model",
    "api_base",
    "status",
    "cooling_down_until",
    "cooldown_remaining_s",
    "at_limit",
    "in_flight",
    "latency_ms",
    "requests_last_minute",
    "tokens_last_minute",
    "fails_last_minute",
    "limits",
    "recent_errors",
}


async def health(gw: Gateway, key: str | None = MASTER_KEY) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with gw.session.get(gw.base + "/health/deployments", headers=headers) as resp:
        return resp.status, await resp.json()


async def test_health_deployments_needs_the_master_key(aiohttp_server, gateway_factory) -> None:
    _, base = await start_openai(aiohttp_server)
    gw = await gateway_factory([openai_model("gpt-4o", base)])
    for key in (None, "sk-wrong"):
        status, body = await health(gw, key)
        assert status == 401 and body["error"]["type"] == "authentication_error"
        assert "deployments" not in body


async def test_health_deployments_lists_every_deployment_healthy_at_first(
    aiohttp_server, gateway_factory
) -> None:
    _, base = await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [
            openai_model("gpt-4o", base, id="a", rpm=60),
            openai_model("gpt-4o", base, id="b"),
            openai_model("claude-*", base, model="openai/claude-*"),
        ]
    )
    status, body = await health(gw)
    assert status == 200
    assert (body["healthy"], body["cooling_down"]) == (3, 0)
    items = body["deployments"]
    assert [d["id"] for d in items] == ["a", "b", "claude-*#2"]
    assert all(set(d) == FIELDS for d in items)
    a = items[0]
    assert (a["model_name"], a["model"], a["status"], a["in_flight"]) == (
        "gpt-4o",
        "openai/gpt-4o",
        "healthy",
        0,
    )
    assert a["limits"] == {"rpm": 60, "tpm": None, "max_parallel_requests": None}
    assert a["cooling_down_until"] is None and a["latency_ms"] is None and a["recent_errors"] == []


async def test_health_deployments_never_reveals_keys_headers_or_url_credentials(
    gateway_factory,
) -> None:
    gw = await gateway_factory(
        [
            openai_model(
                "gpt-4o",
                "https://user:url-password@llm.example/v1?key=query-secret",
                extra_headers={"x-tenant-key": "header-secret"},
            )
        ]
    )
    status, body = await health(gw)
    text = json.dumps(body)
    assert status == 200
    for secret in (UPSTREAM_KEY, "header-secret", "url-password", "query-secret", "user@"):
        assert secret not in text
    assert body["deployments"][0]["api_base"] == "https://llm.example/v1"


async def test_a_cooling_deployment_shows_until_when_and_why(
    aiohttp_server, gateway_factory
) -> None:
    (fa, ba), (_, bb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [openai_model("gpt-4o", ba, id="a", order=1), openai_model("gpt-4o", bb, id="b", order=2)],
        router_settings={"cooldown_time": 30},
    )
    fa.faults = Faults(
        status=429,
        body=json.dumps(
            {"error": {"message": f"Rate limit reached for key {UPSTREAM_KEY}", "type": "requests"}}
        ).encode(),
    )
    await ask(gw, "gpt-4o")
    _, body = await health(gw)
    a, b = body["deployments"]
    assert (a["status"], b["status"]) == ("cooling_down", "healthy")
    assert (body["healthy"], body["cooling_down"]) == (1, 1)
    until = datetime.fromisoformat(a["cooling_down_until"].replace("Z", "+00:00")).timestamp()
    assert 25 < until - datetime.now().timestamp() <= 30.5
    assert 29 < a["cooldown_remaining_s"] <= 30
    (error,) = a["recent_errors"]
    assert error["status"] == 429 and "Rate limit reached" in error["message"]
    assert UPSTREAM_KEY not in json.dumps(body)


async def test_a_cooled_deployment_is_healthy_again_after_cooldown_time(
    aiohttp_server, gateway_factory
) -> None:
    (fa, ba), (_, bb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [openai_model("gpt-4o", ba, order=1), openai_model("gpt-4o", bb, order=2)],
        router_settings={"cooldown_time": 30},
    )
    clock = router_of(gw).clock = ManualClock()
    fa.faults = Faults(status=429, times=1)
    await ask(gw, "gpt-4o")
    clock.advance(31)
    _, body = await health(gw)
    assert [d["status"] for d in body["deployments"]] == ["healthy", "healthy"]


async def test_in_flight_counts_requests_being_served(aiohttp_server, gateway_factory) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(chunk_delay=0.1)
    gw = await gateway_factory([openai_model("gpt-4o", base)])
    tasks = [asyncio.create_task(ask(gw, "gpt-4o", stream=True)) for _ in range(2)]
    while len(fake.requests) < 2:
        await asyncio.sleep(0.01)
    _, during = await health(gw)
    await asyncio.gather(*tasks)
    _, after = await health(gw)
    assert during["deployments"][0]["in_flight"] == 2
    assert after["deployments"][0]["in_flight"] == 0


async def test_latency_and_use_are_recorded_after_a_request(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(first_byte_delay=0.05)
    gw = await gateway_factory([openai_model("gpt-4o", base)])
    await ask(gw, "gpt-4o", stream=True)
    _, body = await health(gw)
    d = body["deployments"][0]
    assert 50 <= d["latency_ms"] < 1000
    assert (d["requests_last_minute"], d["tokens_last_minute"], d["fails_last_minute"]) == (
        1,
        18,
        0,
    )
