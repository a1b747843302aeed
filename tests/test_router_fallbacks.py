"""Router fallbacks: other groups tried after a group's retries, chosen by the kind of failure."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.common import FakeUpstream, Faults
from tests.fakes.routing import (
    ManualClock,
    anthropic_model,
    ask,
    error_body,
    openai_model,
    router_of,
    start_anthropic,
    start_openai,
)
from tests.harness import Gateway, text_of

ANTHROPIC_TEXT = "Hello from the fake Anthropic upstream."


async def openai_to_anthropic(
    aiohttp_server: Any, gateway_factory: Any
) -> tuple[Gateway, FakeUpstream, FakeUpstream]:
    """`gpt-4o` (OpenAI, failing with 500) falls back to `claude-sonnet` (Anthropic)."""
    (oa, ob), (an, ab) = await start_openai(aiohttp_server), await start_anthropic(aiohttp_server)
    oa.faults = Faults(status=500)
    gw = await gateway_factory(
        [
            openai_model("gpt-4o", ob, id="openai-1"),
            anthropic_model("claude-sonnet", ab, id="claude-1"),
        ],
        router_settings={"num_retries": 1, "fallbacks": [{"gpt-4o": ["claude-sonnet"]}]},
    )
    router_of(gw).clock = ManualClock()  # the backoff before the retry passes at once
    return gw, oa, an


async def test_an_openai_group_falls_back_to_an_anthropic_group_in_chat_completions(
    aiohttp_server, gateway_factory
) -> None:
    gw, _, anthropic = await openai_to_anthropic(aiohttp_server, gateway_factory)
    client = gw.openai()
    stream = await client.chat.completions.create(
        model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}]
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANTHROPIC_TEXT
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert {c.model for c in chunks} == {"gpt-4o"}  # the name asked for, whoever answered
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert len(anthropic.requests) == 1


async def test_the_routing_headers_name_the_fallback_that_answered(
    aiohttp_server, gateway_factory
) -> None:
    gw, _, _ = await openai_to_anthropic(aiohttp_server, gateway_factory)
    answer = await ask(gw, "gpt-4o", stream=True)
    assert (answer.group, answer.deployment) == ("claude-sonnet", "claude-1")


async def test_a_non_streaming_fallback_keeps_the_requested_model_name(
    aiohttp_server, gateway_factory
) -> None:
    gw, _, _ = await openai_to_anthropic(aiohttp_server, gateway_factory)
    answer = await ask(gw, "gpt-4o")
    assert answer.status == 200
    assert answer.body["model"] == "gpt-4o"
    assert answer.body["choices"][0]["message"]["content"] == ANTHROPIC_TEXT
    assert answer.group == "claude-sonnet"


async def test_a_fallback_is_tried_after_the_groups_retries(
    aiohttp_server, gateway_factory
) -> None:
    gw, openai, anthropic = await openai_to_anthropic(aiohttp_server, gateway_factory)
    await ask(gw, "gpt-4o")
    assert (len(openai.requests), len(anthropic.requests)) == (2, 1)  # num_retries: 1


async def test_fallbacks_are_tried_in_order_until_one_answers(
    aiohttp_server, gateway_factory
) -> None:
    fakes = [await start_openai(aiohttp_server) for _ in range(3)]
    (main, mb), (first, fb), (_second, sb) = fakes
    main.faults = first.faults = Faults(status=503)
    gw = await gateway_factory(
        [openai_model("main", mb), openai_model("first", fb), openai_model("second", sb)],
        router_settings={"num_retries": 0, "fallbacks": [{"main": ["first", "second"]}]},
    )
    answer = await ask(gw, "main", stream=True)
    assert answer.status == 200 and answer.group == "second"
    assert [len(f.requests) for f, _ in fakes] == [1, 1, 1]


async def test_when_every_fallback_fails_the_requested_groups_error_is_returned(
    aiohttp_server, gateway_factory
) -> None:
    (main, mb), (backup, bb) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    main.faults = Faults(status=500, body=error_body("main is down"))
    backup.faults = Faults(status=404, body=error_body("no such model"))
    gw = await gateway_factory(
        [openai_model("main", mb), openai_model("backup", bb)],
        router_settings={"num_retries": 0, "fallbacks": [{"main": ["backup"]}]},
    )
    answer = await ask(gw, "main")
    assert answer.status == 502
    assert "main is down" in answer.error["message"]
    assert len(backup.requests) == 1


async def test_context_window_errors_use_context_window_fallbacks(
    aiohttp_server, gateway_factory
) -> None:
    fakes = [await start_openai(aiohttp_server) for _ in range(3)]
    (short, sb), (_long, lb), (_other, ob) = fakes
    short.faults = Faults(
        status=400,
        body=error_body(
            "This model's maximum context length is 8192 tokens.", "context_length_exceeded"
        ),
    )
    gw = await gateway_factory(
        [openai_model("gpt-4", sb), openai_model("gpt-4-long", lb), openai_model("other", ob)],
        router_settings={
            "context_window_fallbacks": [{"gpt-4": ["gpt-4-long"]}],
            "fallbacks": [{"gpt-4": ["other"]}],
        },
    )
    answer = await ask(gw, "gpt-4", stream=True)
    assert answer.status == 200 and answer.group == "gpt-4-long"
    assert [len(f.requests) for f, _ in fakes] == [1, 1, 0]  # no retry of a context error


async def test_a_context_window_error_without_context_window_fallbacks_is_returned(
    aiohttp_server, gateway_factory
) -> None:
    (short, sb), (other, ob) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    short.faults = Faults(
        status=400, body=error_body("prompt is too long", "context_length_exceeded")
    )
    gw = await gateway_factory(
        [openai_model("gpt-4", sb), openai_model("other", ob)],
        router_settings={"fallbacks": [{"gpt-4": ["other"]}]},
    )
    answer = await ask(gw, "gpt-4")
    assert answer.status == 400 and answer.error["code"] == "context_length_exceeded"
    assert len(other.requests) == 0


async def test_content_policy_errors_use_content_policy_fallbacks(
    aiohttp_server, gateway_factory
) -> None:
    (strict, sb), (_lenient, lb) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    strict.faults = Faults(
        status=400,
        body=error_body(
            "Your request was rejected by our safety system", "content_policy_violation"
        ),
    )
    gw = await gateway_factory(
        [openai_model("strict", sb), openai_model("lenient", lb)],
        router_settings={"content_policy_fallbacks": [{"strict": ["lenient"]}]},
    )
    answer = await ask(gw, "strict")
    assert answer.status == 200 and answer.group == "lenient"


async def test_default_fallbacks_serve_groups_without_their_own(
    aiohttp_server, gateway_factory
) -> None:
    (main, mb), (_backup, bb) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    main.faults = Faults(status=502)
    gw = await gateway_factory(
        [openai_model("main", mb), openai_model("backup", bb)],
        router_settings={"num_retries": 0, "default_fallbacks": ["backup"]},
    )
    answer = await ask(gw, "main")
    assert answer.status == 200 and answer.group == "backup"


@pytest.mark.parametrize("status", [400, 422])
async def test_a_bad_request_is_not_sent_to_fallbacks(
    aiohttp_server, gateway_factory, status
) -> None:
    (main, mb), (backup, bb) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    main.faults = Faults(status=status, body=error_body("Invalid value for 'temperature'"))
    gw = await gateway_factory(
        [openai_model("main", mb), openai_model("backup", bb)],
        router_settings={"fallbacks": [{"main": ["backup"]}], "default_fallbacks": ["backup"]},
    )
    answer = await ask(gw, "main")
    assert answer.status == 400
    assert len(backup.requests) == 0


async def test_a_rejected_upstream_key_falls_back(aiohttp_server, gateway_factory) -> None:
    (main, mb), (_backup, bb) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    main.faults = Faults(status=401, body=error_body("Incorrect API key provided"))
    gw = await gateway_factory(
        [openai_model("main", mb), openai_model("backup", bb)],
        router_settings={"fallbacks": [{"main": ["backup"]}]},
    )
    answer = await ask(gw, "main")
    assert answer.status == 200 and answer.group == "backup"
    assert len(main.requests) == 1


async def test_fallbacks_under_litellm_settings_are_used(aiohttp_server, gateway_factory) -> None:
    (main, mb), (_backup, bb) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    main.faults = Faults(status=500)
    gw = await gateway_factory(
        [openai_model("main", mb), openai_model("backup", bb)],
        litellm_settings={"num_retries": 0, "fallbacks": [{"main": ["backup"]}]},
    )
    answer = await ask(gw, "main", stream=True)
    assert answer.status == 200 and answer.group == "backup"
    assert text_of(answer.body) == "Hello from the fake upstream."
    assert len(main.requests) == 1


async def test_no_fallback_after_the_first_byte(aiohttp_server, gateway_factory) -> None:
    (main, mb), (backup, bb) = (
        await start_openai(aiohttp_server),
        await start_openai(aiohttp_server),
    )
    main.faults = Faults(cut_after=3)
    gw = await gateway_factory(
        [openai_model("main", mb), openai_model("backup", bb)],
        router_settings={"fallbacks": [{"main": ["backup"]}]},
    )
    answer = await ask(gw, "main", stream=True)
    assert answer.status == 200 and "error" in answer.body[-1]
    assert len(backup.requests) == 0
