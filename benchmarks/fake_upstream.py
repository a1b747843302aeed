"""A fast fake LLM upstream for `make bench`: OpenAI Chat and Anthropic Messages, streamed or whole.

The response shape is chosen by the path, so one process serves every deployment of the
benchmark config; the size and pacing of a response are chosen by a path prefix
`/p/<chunks>/<chars>/<delay_ms>`, e.g. `POST /p/20/24/0/v1/chat/completions` streams 20 content
chunks of 24 characters back to back, and `/p/600/8/1000/v1/messages` sends an Anthropic event
every second (the memory test's idle streams). Without a prefix the command-line defaults apply.

Responses are rendered once per (shape, size, model) and cached, so the fake spends its CPU on
HTTP, not on building JSON: it is the ceiling the gateway is compared with. Each event is one
`write()`, as a real provider's token stream is. Usage: `fake_upstream.py --port 0` prints
`READY <port>` on stdout when it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

WORDS = (
    "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. "
)


@dataclass(frozen=True, slots=True)
class Shape:
    chunks: int
    chars: int
    delay: float  # seconds between events


def text_pieces(chunks: int, chars: int) -> list[str]:
    """`chunks` pieces of `chars` characters of prose (with one non-ASCII letter per piece
    so the JSON codecs escape and decode real UTF-8)."""
    out = []
    for i in range(chunks):
        start = (i * chars) % len(WORDS)
        piece = (WORDS[start:] + WORDS * (chars // len(WORDS) + 1))[: max(chars - 1, 0)]
        out.append(piece + "é" if chars else "")
    return out


def _usage_openai(completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": 1200,
        "completion_tokens": completion,
        "total_tokens": 1200 + completion,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


# events before the first text one go out at once, then the first text event, then the pacing:
# a paced stream shows its first visible content without waiting (the memory test relies on it)
OPENAI_LEAD = 1
ANTHROPIC_LEAD = 3


def openai_stream(shape: Shape, model: str, include_usage: bool) -> list[bytes]:
    head = {
        "id": "chatcmpl-BENCHfake000000000000000000",
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_bench00000",
    }

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        return b"data: " + orjson.dumps({**head, "choices": choices, **extra}) + b"\n\n"

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"content": p}) for p in text_pieces(shape.chunks, shape.chars)]
    out.append(chunk({}, "stop"))
    if include_usage:
        out.append(chunk(None, usage=_usage_openai(shape.chunks)))
    out.append(b"data: [DONE]\n\n")
    return out


def openai_body(shape: Shape, model: str) -> bytes:
    text = "".join(text_pieces(shape.chunks, shape.chars))
    return orjson.dumps(
        {
            "id": "chatcmpl-BENCHfake000000000000000000",
            "object": "chat.completion",
            "created": 1764000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage_openai(shape.chunks),
            "service_tier": "default",
            "system_fingerprint": "fp_bench00000",
        }
    )


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


def _usage_anthropic(output: int) -> dict[str, Any]:
    return {
        "input_tokens": 176,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1024,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output,
        "service_tier": "standard",
    }


def anthropic_stream(shape: Shape, model: str) -> list[bytes]:
    message: dict[str, Any] = {
        "model": model,
        "id": "msg_01BENCHfake0000000000000",
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage_anthropic(1),
    }
    out = [
        _event("message_start", {"message": message}),
        _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        _event("ping", {}),
    ]
    out += [
        _event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}})
        for p in text_pieces(shape.chunks, shape.chars)
    ]
    out.append(_event("content_block_stop", {"index": 0}))
    out.append(
        _event(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": _usage_anthropic(shape.chunks),
            },
        )
    )
    out.append(_event("message_stop", {}))
    return out


def anthropic_body(shape: Shape, model: str) -> bytes:
    text = "".join(text_pieces(shape.chunks, shape.chars))
    return orjson.dumps(
        {
            "model": model,
            "id": "msg_01BENCHfake0000000000000",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": _usage_anthropic(shape.chunks),
        }
    )


class Fake:
    def __init__(self, default: Shape) -> None:
        self.default = default
        self._cache: dict[tuple[Any, ...], Any] = {}

    def shape(self, request: web.Request) -> Shape:
        info = request.match_info
        if "chunks" not in info:
            return self.default
        return Shape(int(info["chunks"]), int(info["chars"]), int(info["delay"]) / 1000)

    def rendered(self, key: tuple[Any, ...], make: Any) -> Any:
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = make()
        return value

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        shape = self.shape(request)
        model = str(body.get("model", "gpt"))
        if not body.get("stream"):
            data = self.rendered(("oa-body", shape, model), lambda: openai_body(shape, model))
            return web.Response(body=data, content_type="application/json")
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = self.rendered(
            ("oa", shape, model, usage), lambda: openai_stream(shape, model, usage)
        )
        return await self._stream(request, events, shape.delay, OPENAI_LEAD)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        shape = self.shape(request)
        model = str(body.get("model", "claude"))
        if not body.get("stream"):
            data = self.rendered(("an-body", shape, model), lambda: anthropic_body(shape, model))
            return web.Response(body=data, content_type="application/json")
        events = self.rendered(("an", shape, model), lambda: anthropic_stream(shape, model))
        return await self._stream(request, events, shape.delay, ANTHROPIC_LEAD)

    async def _stream(
        self, request: web.Request, events: list[bytes], delay: float, lead: int
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await resp.prepare(request)
        for i, event in enumerate(events):
            if delay and i > lead:
                await asyncio.sleep(delay)
            await resp.write(event)
        await resp.write_eof()
        return resp


def make_app(default: Shape) -> web.Application:
    fake = Fake(default)
    app = web.Application()
    prefix = "/p/{chunks:\\d+}/{chars:\\d+}/{delay:\\d+}"
    for base in ("", prefix):
        app.router.add_post(base + "/v1/chat/completions", fake.chat)
        app.router.add_post(base + "/v1/messages", fake.messages)
    return app


async def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--chunks", type=int, default=20, help="content events per response")
    p.add_argument("--chars", type=int, default=24, help="characters of text per event")
    p.add_argument("--delay-ms", type=int, default=0, help="pause between events")
    args = p.parse_args(argv)
    app = make_app(Shape(args.chunks, args.chars, args.delay_ms / 1000))
    await serve(app, args.host, args.port)


async def serve(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Serve `app` until cancelled, printing `READY <port>` once it listens."""
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, backlog=4096)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
