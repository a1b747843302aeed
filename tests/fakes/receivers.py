"""Receivers of what the gateway sends out: a Slack-shaped incoming webhook, a JSON webhook, an OTLP/HTTP traces endpoint.

Each runs as a real aiohttp server on loopback, keeps what it received, and can be told to
fail (answer 500) or to hang (never answer) for a while.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Receiver:
    #: decoded bodies, in the order they arrived (JSON values, or OTLP requests)
    received: list[Any] = field(default_factory=list)
    #: raw request headers of each POST
    headers: list[dict[str, str]] = field(default_factory=list)
    #: answer 500 / never answer, while set
    failing: bool = False
    hang: bool = False
    posts: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Stop hanging: the POSTs held open are answered now."""
        self.hang = False
        self.released.set()

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[Any]:
        """Until at least `n` bodies arrived."""
        async with asyncio.timeout(timeout):
            while len(self.received) < n:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received

    async def _common(self, request: web.Request) -> web.StreamResponse | None:
        self.posts += 1
        if self.hang:
            await self.released.wait()  # until released, or the client gives up
        if self.failing:
            return web.Response(status=500, text="receiver down")
        return None

    def _got(self, request: web.Request, body: Any) -> None:
        self.headers.append(dict(request.headers))
        self.received.append(body)
        self.arrived.set()


def json_app(r: Receiver, path: str = "/hook") -> web.Application:
    """A webhook taking JSON; Slack's incoming webhooks answer `ok` as text."""

    async def handle(request: web.Request) -> web.StreamResponse:
        early = await r._common(request)
        if early is not None:
            return early
        assert request.content_type == "application/json", request.content_type
        r._got(request, orjson.loads(await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, handle)
    return app


def otlp_app(r: Receiver) -> web.Application:
    """An OTLP/HTTP traces endpoint: `POST /v1/traces`, protobuf in and out."""

    async def handle(request: web.Request) -> web.StreamResponse:
        early = await r._common(request)
        if early is not None:
            return early
        assert request.content_type == "application/x-protobuf", request.content_type
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(await request.read())
        r._got(request, msg)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    app = web.Application()
    app.router.add_post("/v1/traces", handle)
    return app


def spans_of(requests: list[ExportTraceServiceRequest]) -> list[Any]:
    return [
        span
        for req in requests
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def attrs(span: Any) -> dict[str, Any]:
    """A span's attributes as Python values."""
    out: dict[str, Any] = {}
    for kv in span.attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [getattr(x, x.WhichOneof("value")) for x in v.array_value.values]
        else:
            out[kv.key] = getattr(v, kind)
    return out
