"""Router retries: which failures are retried, where the retry lands, how long it waits, and never after the first byte."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.fakes.common import FakeUpstream, Faults, Reply
from tests.fakes.routing import (
    ManualClock,
    ask,
    error_body,
    openai_model,
    router_of,
    start_openai,
)
from tests.harness import Gateway, text_of


async def pair(
    aiohttp_server: Any, gateway_factory: Any, **router: Any
) -> tuple[Gateway, FakeUpstream, FakeUpstream]:
    """`gpt-4o` on two deployments; `a` has the lower order, so it is always tried first."""
    (fa, ba), (fb, bb) = await start_openai(aiohttp_server), await start_openai(aiohttp_server)
    gw = await gateway_factory(
        [openai_model("gpt-4o", ba, id="a", order=1), openai_model("gpt-4o", bb, id="b", order=2)],
        router_settings=router,
    )
    return gw, fa, fb


async def single(
    aiohttp_server: Any, gateway_factory: Any, **router: Any
) -> tuple[Gateway, FakeUpstream, ManualClock]:
    fake, base = await start_openai(aiohttp_server)
    gw = await gateway_factory([openai_model("gpt-4o", base, id="only")], router_settings=router)
    clock = ManualClock()
    router_of(gw).clock = clock
    return gw, fake, clock


# --- where a retry lands ----------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_a_500_is_retried_on_the_other_deployment(
    aiohttp_server, gateway_factory, stream
) -> None:
    gw, a, b = await pair(aiohttp_server, gateway_factory)
    a.faults = Faults(status=500)
    answer = await ask(gw, "gpt-4o", stream=stream)
    assert answer.status == 200
    assert answer.deployment == "b"
    assert (len(a.requests), len(b.requests)) == (1, 1)


async def test_a_429_is_retried_on_the_other_deployment_without_waiting(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b = await pair(aiohttp_server, gateway_factory)
    clock = router_of(gw).clock = ManualClock()
    a.faults = Faults(status=429, headers={"retry-after": "30"})
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == 200 and answer.deployment == "b"
    assert clock.slept == []


async def test_a_connection_reset_is_retried_on_the_other_deployment(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b = await pair(aiohttp_server, gateway_factory)
    a.faults = Faults(reset=True)
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == 200 and answer.deployment == "b"
    assert text_of(answer.body) == "Hello from the fake upstream."


async def test_a_hanging_deployment_times_out_and_is_retried(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b = await pair(aiohttp_server, gateway_factory, stream_timeout=0.2)
    a.faults = Faults(first_byte_delay=30.0)
    started = time.monotonic()
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == 200 and answer.deployment == "b"
    # the timeout fired (0.2 s) long before the fault would have ended: generous for slow CI
    assert 0.2 <= time.monotonic() - started < 10.0


async def test_a_stream_cut_before_any_content_is_retried(aiohttp_server, gateway_factory) -> None:
    gw, a, _b = await pair(aiohttp_server, gateway_factory)
    a.faults = Faults(cut_after=1)  # only the role chunk, which shows the client nothing
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == 200 and answer.deployment == "b"
    assert text_of(answer.body) == "Hello from the fake upstream."


async def test_an_in_band_error_before_any_content_is_retried(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, _b = await pair(aiohttp_server, gateway_factory)
    a.replies.append(Reply(text="", stream_error="The server is overloaded"))
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == 200 and answer.deployment == "b"
    assert "error" not in answer.body[-2]


@pytest.mark.parametrize(
    ("upstream", "expected"), [(400, 400), (401, 502), (403, 502), (404, 404), (422, 400)]
)
async def test_client_and_credential_errors_are_not_retried(
    aiohttp_server, gateway_factory, upstream, expected
) -> None:
    gw, a, b = await pair(aiohttp_server, gateway_factory)
    a.faults = Faults(status=upstream, body=error_body(f"upstream says {upstream}"))
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == expected
    assert (len(a.requests), len(b.requests)) == (1, 0)


async def test_retries_stop_after_num_retries(aiohttp_server, gateway_factory) -> None:
    fakes = [await start_openai(aiohttp_server) for _ in range(3)]
    gw = await gateway_factory(
        [openai_model("gpt-4o", base, id=f"d{i}") for i, (_, base) in enumerate(fakes)],
        router_settings={"num_retries": 1},
    )
    for fake, _ in fakes:
        fake.faults = Faults(status=500)
    answer = await ask(gw, "gpt-4o")
    assert answer.status == 502
    assert sorted(len(f.requests) for f, _ in fakes) == [0, 1, 1]


async def test_num_retries_zero_makes_one_attempt(aiohttp_server, gateway_factory) -> None:
    gw, a, b = await pair(aiohttp_server, gateway_factory, num_retries=0)
    a.faults = Faults(status=500)
    answer = await ask(gw, "gpt-4o")
    assert answer.status == 502
    assert (len(a.requests), len(b.requests)) == (1, 0)


# --- waiting before a retry on the same deployment --------------------------------------------


async def test_the_same_deployment_is_retried_after_jittered_exponential_backoff(
    aiohttp_server, gateway_factory
) -> None:
    gw, fake, clock = await single(aiohttp_server, gateway_factory)
    fake.faults = Faults(status=500, times=2)
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == 200
    assert len(fake.requests) == 3
    first, second = clock.slept
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0


async def test_retry_after_is_honoured_on_the_same_deployment(
    aiohttp_server, gateway_factory
) -> None:
    gw, fake, clock = await single(aiohttp_server, gateway_factory)
    fake.faults = Faults(status=503, times=1, headers={"retry-after": "2"})
    answer = await ask(gw, "gpt-4o")
    assert answer.status == 200
    assert clock.slept == [2.0]


async def test_retry_after_ms_is_honoured_too(aiohttp_server, gateway_factory) -> None:
    gw, fake, clock = await single(aiohttp_server, gateway_factory)
    fake.faults = Faults(status=429, times=1, headers={"retry-after-ms": "1500"})
    answer = await ask(gw, "gpt-4o")
    assert answer.status == 200
    assert clock.slept == [1.5]


async def test_a_retry_after_beyond_max_retry_wait_fails_at_once_with_429(
    aiohttp_server, gateway_factory
) -> None:
    gw, fake, clock = await single(aiohttp_server, gateway_factory, max_retry_wait=5)
    fake.faults = Faults(status=429, headers={"retry-after": "100"})
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == 429
    assert answer.headers["retry-after"] == "100"
    assert len(fake.requests) == 1 and clock.slept == []


async def test_the_router_waits_at_least_retry_after_setting(
    aiohttp_server, gateway_factory
) -> None:
    gw, fake, clock = await single(aiohttp_server, gateway_factory, retry_after=3)
    fake.faults = Faults(status=500, times=1)
    answer = await ask(gw, "gpt-4o")
    assert answer.status == 200
    assert clock.slept == [3.0]


# --- never after the first byte ---------------------------------------------------------------


async def test_a_stream_cut_after_content_is_not_retried(aiohttp_server, gateway_factory) -> None:
    gw, a, b = await pair(aiohttp_server, gateway_factory)
    a.replies.append(Reply(text="one two three four", pieces=4))
    a.faults = Faults(cut_after=3)  # the role chunk and two pieces of text, then the line drops
    answer = await ask(gw, "gpt-4o", stream=True)
    assert answer.status == 200
    text = text_of(answer.body)
    assert text and text != "one two three four" and "one two three four".startswith(text)
    assert answer.body[-1]["error"]["code"] == "upstream_connection_error"
    assert "[DONE]" not in answer.body
    assert (len(a.requests), len(b.requests)) == (1, 0)


async def test_an_in_band_error_after_content_is_not_retried(
    aiohttp_server, gateway_factory
) -> None:
    gw, a, b = await pair(aiohttp_server, gateway_factory)
    a.replies.append(Reply(text="partial", stream_error="The server had an error"))
    answer = await ask(gw, "gpt-4o", stream=True)
    assert text_of(answer.body) == "partial"
    assert answer.body[-1]["error"]["message"] == "The server had an error"
    assert (len(a.requests), len(b.requests)) == (1, 0)
