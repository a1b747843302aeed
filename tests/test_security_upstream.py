"""What an upstream sends cannot make the gateway hold unbounded memory or time: oversized events, bodies and answers."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import orjson
import pytest
from aiohttp import web

from . import upstreams
from .fakes.common import FakeUpstream, Reply
from .harness import MASTER_KEY, Gateway, sse_payloads

serve = upstreams.serve  # the fixture, where pytest looks for it

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
) -> None:
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


async def test_events_within_max_event_kb_stream_normally(aiohttp_server, gateway_factory) -> None:
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


async def test_a_client_that_stops_reading_is_dropped_at_the_deployment_timeout(
    aiohttp_server, gateway_factory, caplog
) -> None:
    """The upstream streams 64 MB; the client reads none of it. At the deployment's total
    timeout the gateway drops the client and the upstream request, freeing its slot."""
    import logging

    caplog.set_level(logging.INFO, logger="litecursor.access")
    fake = FakeUpstream()
    text = FIRST.replace(b'"Hello"', b'"' + b"x" * 65536 + b'"')
    base = await chat_upstream(aiohttp_server, fake, [text] * 1024)
    gw: Gateway = await gateway_factory(
        [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/m",
                    "api_base": base,
                    "api_key": "sk-k",
                    "timeout": 1.5,
                },
            }
        ],
        router_settings={"num_retries": 0},
    )
    port = int(gw.base.rsplit(":", 1)[1])
    _, writer = await asyncio.open_connection(  # and never reads
        "127.0.0.1", port, ssl=gw.ssl, server_hostname="localhost"
    )
    body = orjson.dumps({"model": "m", "messages": USER, "stream": True})
    writer.write(
        b"POST /cursor/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
        b"Authorization: Bearer " + MASTER_KEY.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    t0 = time.monotonic()
    await asyncio.wait_for(fake.finished.wait(), 8)  # never read: the writes stall, then...
    assert fake.disconnected.is_set() and fake.chunks_sent < 1024
    assert 1.2 < time.monotonic() - t0 < 6
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    async with gw.session.get(gw.base + "/health/deployments", headers=headers) as resp:
        assert (await resp.json())["deployments"][0]["in_flight"] == 0
    assert any("stopped reading" in r.getMessage() for r in caplog.records)
    writer.close()


# --- bodies read within limits (point 7) and answers that are not JSON (point 11) ----------


async def test_a_huge_upstream_error_body_is_not_read_whole(
    aiohttp_server, gateway_factory
) -> None:
    """A 50 MB error page: the gateway keeps its start and drops the connection."""
    sent = 0
    dropped = asyncio.Event()

    async def chat(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        await request.read()
        resp = web.StreamResponse(status=500, headers={"content-type": "text/html"})
        await resp.prepare(request)
        try:
            await resp.write(b"<html><body><h1>Internal error</h1>")
            for _ in range(800):
                await resp.write(PIECE)
                sent += len(PIECE)
        except (ConnectionResetError, asyncio.CancelledError):
            dropped.set()
            raise
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    base = str((await aiohttp_server(app)).make_url("/v1"))
    gw = await gateway(gateway_factory, base)
    status, body = await gw.chat({"model": "m", "messages": USER})
    assert status == 502 and body["error"]["message"].startswith(
        "openai error (500): <html><body><h1>Internal error</h1>xxx"
    )
    await asyncio.wait_for(dropped.wait(), 10)
    assert sent < 25 * 1024 * 1024  # of 50 MB: what the sockets' buffers took, no more


async def test_a_non_streamed_answer_over_max_response_mb_is_a_502(
    aiohttp_server, gateway_factory
) -> None:
    async def chat(request: web.Request) -> web.Response:
        await request.read()
        text = "y" * (2 * 1024 * 1024)
        return web.json_response(
            {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                          "finish_reason": "stop"}]}
        )  # fmt: skip

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    base = str((await aiohttp_server(app)).make_url("/v1"))
    small = await gateway(gateway_factory, base, max_response_mb=1)
    status, body = await small.chat({"model": "m", "messages": USER})
    assert status == 502 and body["error"]["code"] == "upstream_response_too_large"
    assert "max_response_mb" in body["error"]["message"]
    status, body = await (await gateway(gateway_factory, base)).chat(
        {"model": "m", "messages": USER}
    )
    assert status == 200 and len(body["choices"][0]["message"]["content"]) == 2 * 1024 * 1024


@pytest.mark.parametrize("kind", upstreams.KIND_NAMES)
@pytest.mark.parametrize(
    "raw",
    [b"<html><body>502 Bad Gateway</body></html>", b'["a list"]', b""],
    ids=["html", "list", "empty"],
)
async def test_a_200_that_is_not_a_json_answer_is_a_502_upstream_protocol_error(
    serve, kind: str, raw: bytes
) -> None:
    fake, gw = await serve(kind, router_settings={"num_retries": 0})
    fake.replies.append(Reply(raw=raw, raw_content_type="text/html"))
    status, body = await gw.chat({"model": upstreams.MODEL, "messages": USER, "stream": False})
    assert status == 502, body
    assert body["error"]["code"] == "upstream_protocol_error"
