"""Router cooldowns: failing deployments are skipped for a while, then come back; all cooling is a 429."""

from __future__ import annotations

import json
from typing import Any

import pytest

from litecursor.router.state import MemoryState, RecentError
from tests.fakes.common import FakeUpstream, Faults, Reply
from tests.fakes.routing import ManualClock, ask, openai_model, router_of, start_openai
from tests.harness import Gateway


async def pair(
    aiohttp_server: Any, gateway_factory: Any, **router: Any
) -> tuple[Gateway, FakeUpstream, FakeUpstream, ManualClock]:
    """`gpt-4o` on deployments `a` (order 1: tried first while healthy) and `b` (order 2)."""
    (fa, ba), (fb, bb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [openai_model("gpt-4o", ba, id="a", order=1), openai_model("gpt-4o", bb, id="b", order=2)],
        router_settings=router,
    )
    clock = ManualClock()
    router_of(gw).clock = clock
    return gw, fa, fb, clock


async def test_a_deployment_is_cooled_down_after_allowed_fails(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b, _ = await pair(aiohttp_server, gateway_factory, allowed_fails=2)
    a.faults = Faults(status=500)
    for _ in range(4):
        assert (await ask(gw, "gpt-4o")).deployment == "b"
    assert len(a.requests) == 2  # the third and fourth requests skipped it


async def test_a_cooled_deployment_is_used_again_after_cooldown_time(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b, clock = await pair(
        aiohttp_server, gateway_factory, allowed_fails=1, cooldown_time=30
    )
    a.faults = Faults(status=500, times=1)
    assert (await ask(gw, "gpt-4o")).deployment == "b"
    clock.advance(29)
    assert (await ask(gw, "gpt-4o")).deployment == "b"
    clock.advance(2)
    assert (await ask(gw, "gpt-4o")).deployment == "a"


async def test_failures_older_than_a_minute_do_not_count(aiohttp_server, gateway_factory) -> None:
    gw, a, _b, clock = await pair(aiohttp_server, gateway_factory, allowed_fails=2)
    a.faults = Faults(status=500, times=2)
    await ask(gw, "gpt-4o")
    clock.advance(61)
    await ask(gw, "gpt-4o")  # a second failure, but the first has left the window
    assert (await ask(gw, "gpt-4o")).deployment == "a"


@pytest.mark.parametrize("status", [429, 401, 404])
async def test_429_401_and_404_cool_a_deployment_at_once(
    aiohttp_server, gateway_factory, status
) -> None:
    gw, a, _b, clock = await pair(aiohttp_server, gateway_factory, allowed_fails=3)
    a.faults = Faults(status=status, times=1)
    await ask(gw, "gpt-4o")
    for _ in range(2):
        assert (await ask(gw, "gpt-4o")).deployment == "b"
    assert len(a.requests) == 1
    clock.advance(31)
    assert (await ask(gw, "gpt-4o")).deployment == "a"


async def test_a_429_with_retry_after_cools_for_that_long(aiohttp_server, gateway_factory) -> None:
    gw, a, _b, clock = await pair(aiohttp_server, gateway_factory, cooldown_time=30)
    a.faults = Faults(status=429, times=1, headers={"retry-after": "5"})
    assert (await ask(gw, "gpt-4o")).deployment == "b"
    clock.advance(4)
    assert (await ask(gw, "gpt-4o")).deployment == "b"
    clock.advance(2)
    assert (await ask(gw, "gpt-4o")).deployment == "a"


async def test_client_errors_do_not_count_toward_cooldown(aiohttp_server, gateway_factory) -> None:
    gw, a, _b, _ = await pair(aiohttp_server, gateway_factory, allowed_fails=1)
    body = json.dumps({"error": {"message": "bad temperature", "type": "invalid_request_error"}})
    a.faults = Faults(status=400, times=1, body=body.encode())
    assert (await ask(gw, "gpt-4o")).status == 400
    assert (await ask(gw, "gpt-4o")).deployment == "a"


async def test_a_failure_after_the_first_byte_counts_toward_cooldown(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b, _ = await pair(aiohttp_server, gateway_factory, allowed_fails=1)
    a.faults = Faults(cut_after=3)
    broken = await ask(gw, "gpt-4o", stream=True)
    assert broken.deployment == "a" and "error" in broken.body[-1]
    assert (await ask(gw, "gpt-4o", stream=True)).deployment == "b"


async def test_an_in_band_error_after_the_first_byte_counts_toward_cooldown(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b, _ = await pair(aiohttp_server, gateway_factory, allowed_fails=1)
    a.replies.append(Reply(text="partial", stream_error="The server had an error"))
    assert "error" in (await ask(gw, "gpt-4o", stream=True)).body[-1]
    assert (await ask(gw, "gpt-4o", stream=True)).deployment == "b"


async def test_every_deployment_cooling_down_is_a_429_naming_the_group(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, b, _ = await pair(aiohttp_server, gateway_factory, allowed_fails=1, cooldown_time=30)
    a.faults = b.faults = Faults(status=500)
    first = await ask(gw, "gpt-4o")
    assert first.status == 502  # the upstream's own failure, after both were tried
    for stream in (True, False):
        answer = await ask(gw, "gpt-4o", stream=stream)
        assert answer.status == 429
        assert answer.headers["retry-after"] == "30"
        assert answer.error["type"] == "rate_limit_error"
        assert answer.error["code"] == "no_deployment_available"
        assert "'gpt-4o'" in answer.error["message"] and "cooling down" in answer.error["message"]
    assert (len(a.requests), len(b.requests)) == (1, 1)


async def test_the_429_retry_after_counts_down_to_the_first_recovery(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, b, clock = await pair(aiohttp_server, gateway_factory, allowed_fails=1, cooldown_time=30)
    a.faults = b.faults = Faults(status=500)
    await ask(gw, "gpt-4o")
    clock.advance(20.5)
    assert (await ask(gw, "gpt-4o")).headers["retry-after"] == "10"


async def test_a_single_deployment_without_fallbacks_is_never_cooled(
    aiohttp_server, gateway_factory
) -> None:
    fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [openai_model("gpt-4o", base)], router_settings={"allowed_fails": 1, "num_retries": 0}
    )
    fake.faults = Faults(status=500, times=1)
    assert (await ask(gw, "gpt-4o")).status == 502
    assert (await ask(gw, "gpt-4o")).status == 200  # the upstream's recovery is seen at once


async def test_a_single_deployment_with_a_fallback_is_cooled(
    aiohttp_server, gateway_factory
) -> None:
    (main, mb), (_backup, bb) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    gw = await gateway_factory(
        [openai_model("main", mb), openai_model("backup", bb)],
        router_settings={"allowed_fails": 1, "num_retries": 0, "fallbacks": [{"main": ["backup"]}]},
    )
    main.faults = Faults(status=500)
    for _ in range(3):
        assert (await ask(gw, "main")).group == "backup"
    assert len(main.requests) == 1  # skipped straight to the fallback while cooling


async def test_disable_cooldowns_keeps_failing_deployments_in_rotation(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b, _ = await pair(
        aiohttp_server, gateway_factory, allowed_fails=1, disable_cooldowns=True
    )
    a.faults = Faults(status=429)
    for _ in range(3):
        await ask(gw, "gpt-4o")
    assert len(a.requests) == 3


# --- the in-memory state on its own ---------------------------------------------------------


def test_memory_state_counts_failures_within_the_window() -> None:
    state = MemoryState()
    assert state.failure("d", RecentError(0.0, 500, "x")) == 1
    assert state.failure("d", RecentError(30.0, 500, "x")) == 2
    assert state.failure("d", RecentError(61.0, 500, "x")) == 2  # the first one left the window


def test_memory_state_cooling_clears_the_failure_count() -> None:
    state = MemoryState()
    state.failure("d", RecentError(0.0, 500, "x"))
    state.cool("d", 30.0)
    (view,) = state.view(["d"], 1.0)
    assert view.cooling(1.0) and not view.cooling(30.0)
    assert view.fails == 0
    assert [e.status for e in view.errors] == [500]


def test_memory_state_in_flight_and_windows() -> None:
    state = MemoryState()
    state.begin("d", 0.0)
    state.begin("d", 10.0)
    state.end("d")
    state.tokens("d", 100, 10.0)
    (view,) = state.view(["d"], 20.0)
    # the oldest request counts as made at the end of its second
    assert (view.in_flight, view.requests, view.tokens, view.oldest_request) == (1, 2, 100, 1.0)
    (later,) = state.view(["d"], 65.0)
    assert (later.requests, later.tokens) == (1, 100)


def test_memory_state_windows_keep_one_count_per_second_and_free_at_most_a_second_late() -> None:
    state = MemoryState()
    for i in range(10_000):  # a busy second: one count, not ten thousand timestamps
        state.begin("d", 100.0 + i / 10_000)
        state.tokens("d", 3, 100.0 + i / 10_000)
    assert len(state._slot("d").requests._seconds) == 1
    assert len(state._slot("d").tokens._seconds) == 1
    state.begin("d", 130.5)
    (view,) = state.view(["d"], 160.99)  # second 100 stays until all of it is a minute old
    assert (view.requests, view.tokens, view.oldest_request) == (10_001, 30_000, 101.0)
    (view,) = state.view(["d"], 161.0)  # all of second 100 is a minute old now
    assert (view.requests, view.tokens, view.oldest_request) == (1, 0, 131.0)
    (view,) = state.view(["d"], 191.0)
    assert (view.requests, view.oldest_request) == (0, None)
