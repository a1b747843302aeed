"""What every fake upstream shares: scripted replies, recorded requests, and faults on demand.

A fake provider module exposes `make_app(fake: FakeUpstream) -> web.Application`. Its handler:
  1. parses and strictly validates the request like the real API (unknown parameters, wrong
     tool shapes, over-long ids -> the real API's error status and body), recording it in
     `fake.requests` first;
  2. calls `await fake.before_reply(request)` which applies the faults that do not depend on
     the wire format (status errors, connection reset, hang, first-byte delay);
  3. takes `fake.next_reply()` and writes it in its own wire format, streaming or not,
     calling `await fake.pace(resp, i)` between chunks (chunk delay, cut mid-stream).

Providers echo the key they were sent in their error messages; so do the fakes: in a fault's
body and a reply's `stream_error`, `{api_key}` becomes the credential the request carried and
`{api_key_masked}` the form OpenAI prints (`sk-proj-****abcd`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class ToolCallSpec:
    id: str
    name: str
    arguments: str  # a JSON string (or raw text for a native custom tool)
    custom: bool = False


@dataclass
class Reply:
    """A provider-neutral answer each fake renders in its own wire format."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    #: provider-neutral finish: stop / length / tool_calls / content_filter (None: derived)
    finish: str | None = None
    prompt_tokens: int = 11
    completion_tokens: int = 7
    cached_tokens: int = 0
    #: prompt tokens written to the cache (Anthropic reports them)
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    #: how many pieces each text is cut into when streamed
    pieces: int = 3
    #: error event sent after the content, before the finish (mid-stream failure)
    stream_error: str | None = None
    #: a raw body to send verbatim instead (a recorded wire file)
    raw: bytes | None = None
    raw_content_type: str = "text/event-stream"

    def finish_reason(self) -> str:
        if self.finish:
            return self.finish
        return "tool_calls" if self.tool_calls else "stop"


def split_text(text: str, pieces: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class Faults:
    #: answer with this HTTP status and body instead of a reply
    status: int | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: how many requests the status fault applies to (None: all)
    times: int | None = None
    #: close the connection without any answer
    reset: bool = False
    #: never answer (until the client gives up)
    hang: bool = False
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0
    #: close the connection after this many body chunks
    cut_after: int | None = None


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class FakeUpstream:
    """State shared between a test and the fake provider app it runs on loopback."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.default_reply = Reply(text="Hello from the fake upstream.")
        self.faults = Faults()
        #: set when a client went away while a response was being written
        self.disconnected = asyncio.Event()
        self.chunks_sent = 0
        self.finished = asyncio.Event()

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def record(self, request: web.Request, body: Any) -> None:
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )

    def next_reply(self) -> Reply:
        reply = self.replies.popleft() if self.replies else self.default_reply
        if reply.stream_error and "{api_key" in reply.stream_error:
            reply = dataclasses.replace(reply, stream_error=self.echo(reply.stream_error))
        return reply

    def echo(self, text: str) -> str:
        """`text` with the key of the last request in place of `{api_key}` and, masked the way
        OpenAI prints a key it refuses, of `{api_key_masked}`."""
        key = sent_key(self.last.headers) if self.requests else ""
        masked = f"{key[:8]}{'*' * max(4, len(key) - 12)}{key[-4:]}"
        return text.replace("{api_key}", key).replace("{api_key_masked}", masked)

    async def before_reply(self, request: web.Request) -> web.StreamResponse | None:
        """Apply the format-neutral faults; returns a response to send instead, or None."""
        f = self.faults
        if f.reset:
            transport = request.transport
            if transport is not None:
                transport.close()
            raise asyncio.CancelledError  # aiohttp drops the request quietly
        if f.hang:
            await asyncio.sleep(3600)
        if f.first_byte_delay:
            await asyncio.sleep(f.first_byte_delay)
        if f.status is not None and (f.times is None or f.times > 0):
            if f.times is not None:
                f.times -= 1
            body = f.body or b'{"error": {"message": "fault", "type": "server_error"}}'
            if b"{api_key" in body:
                body = self.echo(body.decode()).encode()
            return web.Response(
                status=f.status,
                body=body,
                headers={"content-type": "application/json", **f.headers},
            )
        return None

    async def pace(self, resp: web.StreamResponse, index: int) -> None:
        """Called before writing body chunk `index`: applies chunk delay and mid-stream cuts."""
        f = self.faults
        if f.cut_after is not None and index >= f.cut_after:
            transport = resp._req.transport if resp._req is not None else None
            if transport is not None:
                transport.close()
            raise ConnectionResetError("fake upstream cut the stream")
        if f.chunk_delay and index:
            await asyncio.sleep(f.chunk_delay)

    async def write_stream(
        self, request: web.Request, chunks: list[bytes], content_type: str = "text/event-stream"
    ) -> web.StreamResponse:
        """Write pre-rendered body chunks one by one, honouring pacing and cuts, and noticing
        a client that goes away."""
        resp = web.StreamResponse(
            headers={"content-type": content_type, "cache-control": "no-cache"}
        )
        await resp.prepare(request)
        try:
            for i, chunk in enumerate(chunks):
                await self.pace(resp, i)
                await resp.write(chunk)
                self.chunks_sent += 1
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.disconnected.set()
            raise
        finally:
            self.finished.set()
        return resp


def error_response(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def sent_key(headers: dict[str, str]) -> str:
    """The credential a request carried, whichever header its API puts it in."""
    lower = {k.lower(): v for k, v in headers.items()}
    bearer = lower.get("authorization", "").removeprefix("Bearer ")
    return (
        bearer or lower.get("x-api-key") or lower.get("x-goog-api-key") or lower.get("api-key", "")
    )
