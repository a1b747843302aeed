"""End to end over TLS: the openai SDK and a raw SSE client, through the gateway, to a strict fake OpenAI."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp_sse_client import client as sse_client

from .fakes.common import Faults, Reply, ToolCallSpec
from .harness import MASTER_KEY, STOCK, WEATHER, finish_reasons, text_of, tool_calls_of

USER = [{"role": "user", "content": "hi"}]


async def test_sdk_streaming_text(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="The quick brown fox.", pieces=4))
    stream = await gw.openai().chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    chunks = [c async for c in stream]
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "The quick brown fox."
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert {c.model for c in chunks} == {"gpt-4o"}
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["stop"]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage.prompt_tokens == 11 and usage.completion_tokens == 7


async def test_sdk_non_streaming_text(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="Plain answer.", cached_tokens=3, reasoning_tokens=2))
    r = await gw.openai().chat.completions.create(model="gpt-4o", messages=USER)
    assert r.object == "chat.completion" and r.model == "gpt-4o"
    assert r.choices[0].message.content == "Plain answer." and r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens_details.cached_tokens == 3
    assert r.usage.completion_tokens_details.reasoning_tokens == 2
    assert fake.last.body.get("stream") is None  # asked upstream without streaming


async def test_sdk_tool_call_streaming(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(
        Reply(tool_calls=[ToolCallSpec("call_abc", "get_weather", '{"city": "Paris"}')])
    )
    stream = await gw.openai().chat.completions.create(
        model="gpt-4o", messages=USER, tools=[WEATHER], stream=True
    )
    chunks = [c async for c in stream]
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    first = deltas[0]
    assert first.index == 0 and first.id == "call_abc" and first.type == "function"
    assert first.function.name == "get_weather" and first.function.arguments == ""
    assert all(d.id is None for d in deltas[1:])
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Paris"}
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["tool_calls"]
    assert fake.last.body["tools"] == [WEATHER]


async def test_parallel_tool_calls_keep_distinct_indexes(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(
        Reply(
            tool_calls=[
                ToolCallSpec("c1", "get_weather", '{"city": "Oslo"}'),
                ToolCallSpec("c2", "get_stock", '{"ticker": "ACME"}'),
            ]
        )
    )
    status, payloads = await gw.chat(
        {"model": "gpt-4o", "messages": USER, "tools": [WEATHER, STOCK], "stream": True}
    )
    assert status == 200
    calls = tool_calls_of(payloads)
    assert calls == {
        0: {"id": "c1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        1: {"id": "c2", "name": "get_stock", "arguments": '{"ticker": "ACME"}'},
    }
    assert finish_reasons(payloads) == ["tool_calls"]


async def test_non_streaming_parallel_tool_calls(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(
        Reply(
            tool_calls=[
                ToolCallSpec("c1", "get_weather", '{"city": "Oslo"}'),
                ToolCallSpec("c2", "get_stock", '{"ticker": "ACME"}'),
            ]
        )
    )
    r = await gw.openai().chat.completions.create(
        model="gpt-4o", messages=USER, tools=[WEATHER, STOCK]
    )
    assert [(t.id, t.function.name) for t in r.choices[0].message.tool_calls] == [
        ("c1", "get_weather"),
        ("c2", "get_stock"),
    ]
    assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None


async def test_tool_result_turn_reaches_upstream_in_chat_form(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="It is sunny in Paris."))
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny"},
    ]
    r = await gw.openai().chat.completions.create(
        model="gpt-4o", messages=messages, tools=[WEATHER]
    )
    assert r.choices[0].message.content == "It is sunny in Paris."
    sent = fake.last.body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


async def test_responses_shaped_body_gets_chat_completions_back(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="ok"))
    status, payloads = await gw.chat(
        {
            "model": "gpt-4o",
            "stream": True,
            "stream_options": {"include_usage": True},
            "instructions": "You are terse.",
            "input": "say ok",
            "max_output_tokens": 50,
            "reasoning": {"effort": "low"},
            "tools": [
                {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
            ],
            "tool_choice": {"type": "function", "name": "get_weather"},
        }
    )
    assert status == 200 and text_of(payloads) == "ok" and payloads[-1] == "[DONE]"
    body = fake.last.body
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "say ok"},
    ]
    assert body["max_completion_tokens"] == 50 and body["reasoning_effort"] == "low"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


async def test_raw_sse_client_reads_the_stream(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="abc def", pieces=2))
    payload = json.dumps({"model": "gpt-4o", "messages": USER, "stream": True})
    events = []
    async with sse_client.EventSource(
        gw.base + "/v1/chat/completions",
        session=gw.session,
        option={"method": "POST"},
        headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
        data=payload,
    ) as source:
        async for event in source:
            events.append(event.data)
            if event.data == "[DONE]":
                break
    chunks = [json.loads(e) for e in events[:-1]]
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        == "abc def"
    )
    assert events[-1] == "[DONE]"
    # /v1 is not the Cursor route: no usage chunk unless asked
    assert all(c["choices"] for c in chunks)


async def test_usage_only_when_asked_outside_the_cursor_route(openai_gateway) -> None:
    gw, _ = openai_gateway
    _, plain = await gw.chat(
        {"model": "gpt-4o", "messages": USER, "stream": True}, path="/chat/completions"
    )
    _, asked = await gw.chat(
        {
            "model": "gpt-4o",
            "messages": USER,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        path="/chat/completions",
    )
    _, cursor = await gw.chat(
        {"model": "gpt-4o", "messages": USER, "stream": True}, path="/cursor/v1/chat/completions"
    )
    assert not any(isinstance(c, dict) and "usage" in c for c in plain)
    assert asked[-2]["usage"]["total_tokens"] == 18
    assert cursor[-2]["usage"]["total_tokens"] == 18


async def test_first_chunk_arrives_long_before_the_last_is_sent(openai_gateway) -> None:
    """No buffering: upstream paced at 100 ms per chunk; the first content chunk must reach the
    client while the upstream is still sending."""
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="one two three four five six", pieces=6))
    fake.faults = Faults(chunk_delay=0.1)
    start = time.monotonic()
    first_at = None
    async with await gw.post(
        "/cursor/chat/completions", {"model": "gpt-4o", "messages": USER, "stream": True}
    ) as resp:
        async for line in resp.content:
            if line.startswith(b"data: {") and b'"content":"' in line and first_at is None:
                first_at = time.monotonic() - start
                sent_then = fake.chunks_sent
        total = time.monotonic() - start
    assert first_at is not None
    assert total >= 0.8  # 9 chunks, 8 gaps of 100 ms
    # relative, not absolute, times: a slow CI machine stretches both alike
    assert first_at < total / 2, f"first content after {first_at:.2f}s of {total:.2f}s"
    assert sent_then <= 3  # the upstream had sent only the first few chunks


async def test_client_disconnect_closes_the_upstream_connection(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="x" * 200, pieces=100))
    fake.faults = Faults(chunk_delay=0.05)
    resp = await gw.post(
        "/cursor/chat/completions", {"model": "gpt-4o", "messages": USER, "stream": True}
    )
    await resp.content.readline()  # the stream has started
    resp.close()  # the client goes away
    await asyncio.wait_for(fake.disconnected.wait(), 2)
    assert fake.chunks_sent < 50


# --- upstream errors before the first byte ---------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "expected", "etype"),
    [
        (400, 400, "invalid_request_error"),
        (401, 502, "upstream_error"),
        (403, 502, "upstream_error"),
        (404, 404, "invalid_request_error"),
        (429, 429, "rate_limit_error"),
        (500, 502, "upstream_error"),
        (503, 502, "upstream_error"),
    ],
)
async def test_upstream_status_maps_to_client_status(
    openai_gateway, upstream: int, expected: int, etype: str
) -> None:
    gw, fake = openai_gateway
    body = {
        "error": {
            "message": "Incorrect API key provided: sk-upstream-secret"
            if upstream in (401, 403)
            else f"upstream says {upstream}",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    fake.faults = Faults(
        status=upstream, body=json.dumps(body).encode(), headers={"retry-after": "3"}
    )
    for stream in (True, False):
        async with await gw.post(
            "/cursor/chat/completions", {"model": "gpt-4o", "messages": USER, "stream": stream}
        ) as resp:
            data = await resp.json()
            assert resp.status == expected
            assert set(data["error"]) == {"message", "type", "param", "code"}
            assert data["error"]["type"] == etype
            assert "sk-upstream-secret" not in json.dumps(data)
            if upstream == 429:
                assert resp.headers["retry-after"] == "3"
            if upstream == 400:
                assert "upstream says 400" in data["error"]["message"]


async def test_upstream_refuses_connection_is_502(gateway_factory) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    gw = await gateway_factory(
        [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/x",
                    "api_base": f"http://127.0.0.1:{port}/v1",
                    "api_key": "k",
                },
            }
        ],
        router_settings={"num_retries": 0},
    )
    status, body = await gw.chat({"model": "m", "messages": USER})
    assert status == 502 and body["error"]["code"] == "upstream_connection_error"


async def test_upstream_timeout_is_504(gateway_factory, fake_openai) -> None:
    fake, base = fake_openai
    fake.faults = Faults(first_byte_delay=2)
    gw = await gateway_factory(
        [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/x",
                    "api_base": base,
                    "api_key": "k",
                    "timeout": 0.3,
                },
            }
        ],
        router_settings={"num_retries": 0},
    )
    status, body = await gw.chat({"model": "m", "messages": USER, "stream": True})
    assert status == 504 and body["error"]["type"] == "timeout_error"


async def test_provider_cookies_are_not_kept_between_requests(gateway_factory, fake_openai) -> None:
    """Providers behind Cloudflare set cookies; a gateway shared by many callers must not
    store them and send them on with the next caller's request. Reached by name, not by IP
    address: aiohttp's default jar would store a cookie from `localhost`."""
    fake, base = fake_openai
    fake.faults = Faults(
        status=500, times=1, headers={"set-cookie": "__cf_bm=abc123; Path=/; HttpOnly"}
    )
    gw = await gateway_factory(
        [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/x",
                    "api_base": base.replace("127.0.0.1", "localhost"),
                    "api_key": "k",
                },
            }
        ],
        router_settings={"num_retries": 0},
    )
    assert (await gw.chat({"model": "m", "messages": USER}))[0] == 502
    status, _ = await gw.chat({"model": "m", "messages": USER})
    assert status == 200 and len(fake.requests) == 2
    assert "cookie" not in {k.lower() for k in fake.last.headers}


async def test_error_after_first_byte_is_a_final_sse_error_chunk(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="partial answer", stream_error="The server had an error"))
    status, payloads = await gw.chat({"model": "gpt-4o", "messages": USER, "stream": True})
    assert status == 200
    assert text_of(payloads) == "partial answer"
    assert payloads[-1]["error"]["message"] == "The server had an error"
    assert "[DONE]" not in payloads and finish_reasons(payloads) == []


async def test_connection_cut_mid_stream_is_a_final_sse_error_chunk(openai_gateway) -> None:
    gw, fake = openai_gateway
    fake.replies.append(Reply(text="a b c d e f", pieces=6))
    fake.faults = Faults(cut_after=4, chunk_delay=0.02)
    status, payloads = await gw.chat({"model": "gpt-4o", "messages": USER, "stream": True})
    assert status == 200
    assert text_of(payloads)  # some content went out first
    assert payloads[-1]["error"]["type"] in ("upstream_error",)
    assert "[DONE]" not in payloads


async def test_an_open_stream_does_not_hold_the_parsed_request(openai_gateway) -> None:
    """Agent bodies are large; once the answer streams, only what the stream needs is kept."""
    import gc

    from litecursor.protocol.types import ChatRequest

    gw, fake = openai_gateway
    fake.replies.append(Reply(text="a b c d e f", pieces=6))
    fake.faults = Faults(chunk_delay=0.1)
    marker = "a-marker-only-this-request-has"
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": marker}]}

    def held() -> list[ChatRequest]:
        gc.collect()
        return [
            o
            for o in gc.get_objects()
            if isinstance(o, ChatRequest) and any(m.text == marker for m in o.messages)
        ]

    async with await gw.post("/cursor/chat/completions", body) as resp:
        await resp.content.readline()  # the answer is streaming
        assert held() == []
        await resp.read()
