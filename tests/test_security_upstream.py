"""What an upstream sends cannot make the gateway hold unbounded memory or time: oversized events, bodies and answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from .fakes.common import FakeUpstream
from .harness import Gateway, sse_payloads

USER = [{"role": "user", "content": "hi"}]
PIECE = b"x" * 65536
FIRST = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}\n\n'


async def chat_upstream(aiohttp_server: Any, fake: FakeUpstream, chunks: list[bytes]) -> str:
    """An OpenAI-compatible upstream that streams `chunks`, noting a client that leaves."""

    async def chat(request: web.Request) -> web.StreamResponse:
        fake.record(request, await request.json())
        return await fake.write_stream(request, chunks)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    server = await aiohttp_server(app)
    return str(server.make_url("/v1"))


async def gateway(gateway_factory: Any, base: str, **lc: Any) -> Gateway:
    gw: Gateway = await gateway_factory(
        [
            {
                "model_name": "m",
                "litellm_params": {"model": "openai/m", "api_base": base, "api_key": "sk-k"},
            }
        ],
        router_settings={"num_retries": 0},
        litecursor_settings=lc,
    )
    return gw


@pytest.mark.parametrize("after_content", [False, True])
async def test_an_event_over_max_event_kb_ends_the_stream_and_drops_the_upstream(
    aiohttp_server, gateway_factory, after_content: bool
) -> None:  # type: ignore[no-untyped-def]
    """64 MB of one line without a newline: the gateway stops at the limit, answers with an
    upstream_protocol_error, and closes the upstream connection instead of reading on."""
    fake = FakeUpstream()
    chunks = [*([FIRST] if after_content else []), b"data: ", *[PIECE] * 1024]
    base = await chat_upstream(aiohttp_server, fake, chunks)
    gw = await gateway(gateway_factory, base, max_event_kb=256)
    status, body = await gw.chat({"model": "m", "messages": USER, "stream": True})
    if after_content:
        assert status == 200
        assert body[0]["choices"][0]["delta"]["content"] == "Hello"
        error = body[-1]["error"]
    else:
        assert status == 502
        error = body["error"]
    assert error["code"] == "upstream_protocol_error"
    assert "256 KiB limit" in error["message"] and "max_event_kb" in error["message"]
    await fake.finished.wait()
    assert fake.disconnected.is_set()
    assert fake.chunks_sent < 512  # far from the 64 MB it had to send


async def test_events_within_max_event_kb_stream_normally(aiohttp_server, gateway_factory) -> None:  # type: ignore[no-untyped-def]
    fake = FakeUpstream()
    big = "y" * 200_000
    event = FIRST.replace(b'"Hello"', json.dumps(big).encode())
    base = await chat_upstream(aiohttp_server, fake, [event, b"data: [DONE]\n\n"])
    gw = await gateway(gateway_factory, base, max_event_kb=256)
    async with await gw.post(
        "/cursor/chat/completions", {"model": "m", "messages": USER, "stream": True}
    ) as resp:
        payloads = sse_payloads(await resp.read())
    assert resp.status == 200 and payloads[0]["choices"][0]["delta"]["content"] == big
