"""Virtual keys end to end over HTTPS with the openai SDK: made through the API, used, priced,
refused at their budgets, models and rate limits, and their spend kept across a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai import AsyncOpenAI

from litecursor.accounting import limits
from litecursor.server.keys import ACCOUNTING

from .conftest import GatewayFactory
from .fakes.common import FakeUpstream, Reply
from .fakes.routing import openai_model, start_openai
from .harness import Gateway, run_gateway

#: per-token prices of the test deployment: cached reads at a tenth of the input price
PRICES = {
    "input_cost_per_token": 1e-6,
    "output_cost_per_token": 2e-6,
    "cache_read_input_token_cost": 1e-7,
}
#: what the fake answers with: 1,000 prompt tokens of which 800 cached, 100 completion tokens
USAGE = {"prompt_tokens": 1000, "cached_tokens": 800, "completion_tokens": 100}
#: 200 plain input + 800 cached + 100 output tokens at PRICES
COST = 200 * 1e-6 + 800 * 1e-7 + 100 * 2e-6
#: a `max_tokens` that makes the estimate reserved at admission just above COST (its output
#: alone costs COST; the prompt is estimated from the body), so a budget of 5 * COST fits
#: about five requests
FITTING = {"max_tokens": 240}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def upstream(aiohttp_server: Any) -> tuple[FakeUpstream, str]:
    fake, base = await start_openai(aiohttp_server)
    fake.default_reply = Reply(text="hello there", **USAGE)
    return fake, base


def models(base: str, **params: Any) -> list[dict[str, Any]]:
    return [
        openai_model("gpt-4o", base, **PRICES, **params),
        openai_model("claude-sonnet", base, **PRICES, **params),
    ]


@pytest.fixture
async def gw(gateway_factory: GatewayFactory, upstream: tuple[FakeUpstream, str]) -> Gateway:
    return await gateway_factory(models(upstream[1]), router_settings={"num_retries": 0})


def client(gw: Gateway, key: str, prefix: str = "/v1") -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=key,
        base_url=gw.base + prefix,
        http_client=httpx.AsyncClient(verify=gw.ssl, timeout=30),
        max_retries=0,
    )


async def admin(gw: Gateway, path: str, body: Any = None) -> Any:
    async with await gw.post(path, body or {}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def key_info(gw: Gateway, key: str) -> Any:
    await gw.app[ACCOUNTING].writer.flush()  # what the writer does at least every second
    async with gw.session.get(
        gw.base + "/key/info",
        params={"key": key},
        headers={"authorization": "Bearer sk-test-master"},
    ) as r:
        assert r.status == 200
        return (await r.json())["info"]


async def stream_all(oa: AsyncOpenAI, model: str = "gpt-4o", **kw: Any) -> str:
    stream = await oa.chat.completions.create(model=model, messages=HI, stream=True, **kw)
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def test_a_new_keys_spend_rises_by_exactly_the_priced_amount_cached_tokens_at_their_rate(
    gw: Gateway,
) -> None:
    made = await admin(gw, "/key/generate", {"key_alias": "alice", "max_budget": 10})
    oa = client(gw, made["key"])
    assert await stream_all(oa) == "hello there"
    assert (await key_info(gw, made["key"]))["spend"] == pytest.approx(COST, rel=1e-9)
    raw = await oa.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI)
    assert raw.headers["x-litecursor-response-cost"] == "0.00048"
    assert raw.parse().usage.prompt_tokens_details.cached_tokens == 800
    assert (await key_info(gw, made["key"]))["spend"] == pytest.approx(2 * COST, rel=1e-9)


async def test_a_spent_budget_is_a_400_naming_spend_limit_and_reset_then_it_resets(
    gw: Gateway,
) -> None:
    made = await admin(
        gw, "/key/generate", {"key_alias": "bob", "max_budget": 0.001, "budget_duration": "2s"}
    )
    oa = client(gw, made["key"])
    for _ in range(3):  # 0, 0.00048, 0.00096: each starts under the limit
        await stream_all(oa)
    with pytest.raises(openai.BadRequestError) as e:
        await stream_all(oa)
    err = e.value.body
    assert isinstance(err, dict) and err["type"] == "budget_exceeded"
    assert err["spend"] == pytest.approx(3 * COST) and err["max_budget"] == 0.001
    assert err["budget"] == "key" and err["budget_reset_at"].endswith("Z")
    assert "key 'bob' has spent $0.00144 of its $0.001 budget" in err["message"]
    assert "resets at" in err["message"]
    await asyncio.sleep(2.1)  # the period ends
    assert await stream_all(oa) == "hello there"
    assert (await key_info(gw, made["key"]))["spend"] == pytest.approx(COST, rel=1e-9)


async def test_expired_blocked_and_deleted_keys_are_401_alike(gw: Gateway) -> None:
    expired = (await admin(gw, "/key/generate", {"duration": "1s"}))["key"]
    blocked = (await admin(gw, "/key/generate"))["key"]
    deleted = (await admin(gw, "/key/generate"))["key"]
    for key in (expired, blocked, deleted):
        assert await stream_all(client(gw, key)) == "hello there"
    await admin(gw, "/key/block", {"key": blocked})
    await admin(gw, "/key/delete", {"keys": [deleted]})
    await asyncio.sleep(1.1)
    bodies = []
    for key in (expired, blocked, deleted, "sk-" + "x" * 43):
        with pytest.raises(openai.AuthenticationError) as e:
            await stream_all(client(gw, key))
        bodies.append(e.value.body)
    assert all(b == bodies[0] for b in bodies), bodies  # no hint which exists
    assert isinstance(bodies[0], dict) and bodies[0]["code"] == "invalid_api_key"
    # the master key keeps working
    assert await stream_all(gw.openai("/v1")) == "hello there"


async def test_a_model_outside_the_keys_list_is_403_listing_the_allowed_ones(
    gateway_factory: GatewayFactory, upstream: tuple[FakeUpstream, str]
) -> None:
    gw = await gateway_factory(models(upstream[1]), router_settings={"num_retries": 0})
    key = (await admin(gw, "/key/generate", {"models": ["gpt-4o"]}))["key"]
    oa = client(gw, key)
    assert await stream_all(oa, "gpt-4o") == "hello there"
    # Cursor's variant of an allowed name is allowed: it serves the same group
    assert await stream_all(oa, "gpt-4o-high") == "hello there"
    with pytest.raises(openai.PermissionDeniedError) as e:
        await stream_all(oa, "claude-sonnet")
    assert isinstance(e.value.body, dict) and e.value.body["code"] == "model_not_allowed"
    assert e.value.body["message"] == (
        f"model 'claude-sonnet' is not allowed for key 'sk-...{key[-4:]}'; allowed models: gpt-4o"
    )


async def test_a_teams_model_list_binds_its_keys(gw: Gateway) -> None:
    await admin(gw, "/team/new", {"team_id": "eng", "team_alias": "eng", "models": ["claude-*"]})
    key = (await admin(gw, "/key/generate", {"team_id": "eng"}))["key"]
    oa = client(gw, key)
    assert await stream_all(oa, "claude-sonnet") == "hello there"
    with pytest.raises(openai.PermissionDeniedError) as e:
        await stream_all(oa, "gpt-4o")
    assert "team 'eng'" in str(e.value) and "claude-*" in str(e.value)


async def test_rpm_is_a_429_with_retry_after_and_headers_then_recovers(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "WINDOW", 2)  # a two-second "minute", for the test's sake
    key = (await admin(gw, "/key/generate", {"rpm_limit": 2}))["key"]
    oa = client(gw, key)
    while time.time() % 2 > 1.0:  # all of it inside one window
        await asyncio.sleep(0.05)
    raw = await oa.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI)
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    await stream_all(oa)
    with pytest.raises(openai.RateLimitError) as e:
        await stream_all(oa)
    h = e.value.response.headers
    assert int(h["retry-after"]) in (1, 2) and h["x-ratelimit-remaining-requests"] == "0"
    assert h["x-ratelimit-limit-requests"] == "2"
    await asyncio.sleep(int(h["retry-after"]))
    assert await stream_all(oa) == "hello there"


async def test_max_parallel_requests_refuses_the_one_too_many(
    gw: Gateway, upstream: tuple[FakeUpstream, str]
) -> None:
    fake, _ = upstream
    key = (await admin(gw, "/key/generate", {"max_parallel_requests": 1}))["key"]
    oa = client(gw, key)
    fake.faults.first_byte_delay = 0.5
    first = asyncio.ensure_future(stream_all(oa))
    await asyncio.sleep(0.2)
    with pytest.raises(openai.RateLimitError) as e:
        await stream_all(oa)
    assert (
        isinstance(e.value.body, dict) and e.value.body["code"] == "max_parallel_requests_exceeded"
    )
    assert await first == "hello there"
    fake.faults.first_byte_delay = 0
    assert await stream_all(oa) == "hello there"


async def test_an_end_users_budget_is_max_end_user_budget(
    gateway_factory: GatewayFactory, upstream: tuple[FakeUpstream, str]
) -> None:
    gw = await gateway_factory(
        models(upstream[1]),
        router_settings={"num_retries": 0},
        litellm_settings={"max_end_user_budget": 0.0004},
    )
    oa = gw.openai("/v1")  # the master key: end users' budgets hold whatever the key
    for user in ("cursor-user-a", "cursor-user-b"):
        await oa.chat.completions.create(model="gpt-4o", messages=HI, user=user)
    with pytest.raises(openai.BadRequestError) as e:
        await oa.chat.completions.create(model="gpt-4o", messages=HI, user="cursor-user-a")
    assert "end user 'cursor-user-a' has spent $0.00048 of its $0.0004 budget" in str(e.value)
    await oa.chat.completions.create(model="gpt-4o", messages=HI)


async def test_fifty_requests_at_once_spend_at_most_the_budget_plus_what_was_admitted(
    gw: Gateway, upstream: tuple[FakeUpstream, str]
) -> None:
    fake, _ = upstream
    fake.faults.first_byte_delay = 0.2  # they are all admitted before any finishes
    key = (await admin(gw, "/key/generate", {"max_budget": 5 * COST}))["key"]
    oa = client(gw, key)
    results = await asyncio.gather(
        *(stream_all(oa, **FITTING) for _ in range(50)), return_exceptions=True
    )
    ok = [r for r in results if r == "hello there"]
    refused = [r for r in results if isinstance(r, openai.BadRequestError)]
    assert len(ok) + len(refused) == 50 and 4 <= len(ok) <= 5, results
    spend = (await key_info(gw, key))["spend"]
    assert spend == pytest.approx(len(ok) * COST) and spend <= 5 * COST + 1e-12


async def test_spend_and_a_spent_budget_survive_a_restart(
    dev_certs: Any, upstream: tuple[FakeUpstream, str], tmp_path: Path
) -> None:
    from .harness import make_config

    config = make_config(
        models(upstream[1]),
        router_settings={"num_retries": 0},
        general_settings={"master_key": "sk-test-master", "database_url": str(tmp_path / "lc.db")},
    )
    async with run_gateway(config, dev_certs) as gw:
        key = (await admin(gw, "/key/generate", {"max_budget": 1.5 * COST}))["key"]
        await stream_all(client(gw, key))
        await stream_all(client(gw, key))
        # no flush here: shutting down writes what is queued
    async with run_gateway(config, dev_certs) as gw:
        assert (await key_info(gw, key))["spend"] == pytest.approx(2 * COST)
        with pytest.raises(openai.BadRequestError):
            await stream_all(client(gw, key))


async def test_without_redis_reachable_limits_hold_per_process_and_the_log_says_so(
    gateway_factory: GatewayFactory,
    upstream: tuple[FakeUpstream, str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from .services import free_port

    monkeypatch.setattr(limits, "WINDOW", 3600)
    gw = await gateway_factory(
        models(upstream[1]),
        router_settings={"num_retries": 0, "redis_url": f"redis://127.0.0.1:{free_port()}/0"},
    )
    key = (await admin(gw, "/key/generate", {"rpm_limit": 2}))["key"]
    oa = client(gw, key)
    await stream_all(oa)
    await stream_all(oa)
    with pytest.raises(openai.RateLimitError):
        await stream_all(oa)
    assert "rate limits counted per process while Redis fails" in caplog.text


async def test_a_keys_budget_is_alerted_at_80_and_100_percent(
    gateway_factory: GatewayFactory, upstream: tuple[FakeUpstream, str], aiohttp_server: Any
) -> None:
    from .fakes.receivers import Receiver, json_app

    hook = Receiver()
    server = await aiohttp_server(json_app(hook))
    gw = await gateway_factory(
        models(upstream[1]),
        router_settings={"num_retries": 0},
        general_settings={
            "master_key": "sk-test-master",
            "alerting": ["webhook"],
            "alerting_args": {"webhook_url": str(server.make_url("/hook"))},
        },
    )
    made = await admin(gw, "/key/generate", {"key_alias": "carol", "max_budget": 2.2 * COST})
    oa = client(gw, made["key"])
    for _ in range(3):  # 45%, 91%, 136% of the budget once each has settled
        await stream_all(oa)
    received = await hook.wait_for(2)
    assert [(b["event"], b["key_alias"], b["token"]) for b in received] == [
        ("threshold_crossed", "carol", made["token"]),
        ("budget_crossed", "carol", made["token"]),
    ]
    assert received[1]["spend"] == pytest.approx(3 * COST)


async def test_with_the_database_away_known_keys_are_served_new_ones_get_503_and_rows_wait(
    gateway_factory: GatewayFactory, upstream: tuple[FakeUpstream, str], tmp_path: Path
) -> None:
    from litecursor.server.keys import STORE

    gw = await gateway_factory(
        models(upstream[1]),
        router_settings={"num_retries": 0},
        general_settings={"master_key": "sk-test-master", "database_url": str(tmp_path / "l.db")},
    )
    known = (await admin(gw, "/key/generate", {"max_budget": 1}))["key"]
    new = (await admin(gw, "/key/generate"))["key"]
    assert await stream_all(client(gw, known)) == "hello there"
    store = gw.app[STORE]
    await gw.app[ACCOUNTING].writer.flush()
    await store.close()  # the database goes away
    try:
        assert await stream_all(client(gw, known)) == "hello there"  # from memory
        with pytest.raises(openai.InternalServerError) as e:
            await stream_all(client(gw, new))
        assert e.value.status_code == 503 and e.value.response.headers["retry-after"] == "5"
        assert not await gw.app[ACCOUNTING].writer.flush()  # the rows wait
        assert len(gw.app[ACCOUNTING].writer) == 2  # the answer's and the 503's
    finally:
        await store._connect()  # and comes back
    assert await gw.app[ACCOUNTING].writer.flush()
    assert (await key_info(gw, known))["spend"] == pytest.approx(2 * COST)
