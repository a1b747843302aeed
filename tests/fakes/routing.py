"""Router test helpers: several fake upstreams at once, ports that refuse or never answer, a manual clock."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from litecursor.router import Router
from litecursor.server.keys import ROUTER

from ..harness import Gateway, sse_payloads
from . import anthropic_upstream, openai_upstream
from .common import FakeUpstream

UPSTREAM_KEY = "sk-upstream-secret"
USER = [{"role": "user", "content": "hi"}]


async def start_openai(aiohttp_server: Any) -> tuple[FakeUpstream, str]:
    fake = FakeUpstream()
    server = await aiohttp_server(openai_upstream.make_app(fake))
    return fake, str(server.make_url("/v1"))


async def start_anthropic(aiohttp_server: Any) -> tuple[FakeUpstream, str]:
    fake = FakeUpstream()
    fake.default_reply.text = "Hello from the fake Anthropic upstream."
    server = await aiohttp_server(anthropic_upstream.make_app(fake))
    return fake, str(server.make_url(""))


def model_entry(
    name: str, base: str, model: str, id: str | None = None, **params: Any
) -> dict[str, Any]:
    """A `model_list` entry for the fake upstream at `base`, with `model_info.id` when given."""
    entry: dict[str, Any] = {
        "model_name": name,
        "litellm_params": {"model": model, "api_base": base, "api_key": UPSTREAM_KEY, **params},
    }
    if id is not None:
        entry["model_info"] = {"id": id}
    return entry


def openai_model(
    name: str, base: str, id: str | None = None, model: str = "openai/gpt-4o", **params: Any
) -> dict[str, Any]:
    """A `model_list` entry served by a fake OpenAI upstream."""
    return model_entry(name, base, model, id, **params)


def anthropic_model(
    name: str,
    base: str,
    id: str | None = None,
    model: str = "anthropic/claude-sonnet-4-5",
    **params: Any,
) -> dict[str, Any]:
    """A `model_list` entry served by a fake Anthropic upstream."""
    return model_entry(name, base, model, id, **params)


def error_body(message: str, code: str | None = None) -> bytes:
    """An OpenAI-shaped error body for a fault."""
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return orjson.dumps({"error": error})


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    #: the JSON body, or the list of SSE `data` payloads of a stream
    body: Any

    @property
    def deployment(self) -> str | None:
        return self.headers.get("x-litecursor-deployment")

    @property
    def group(self) -> str | None:
        return self.headers.get("x-litecursor-model-group")

    @property
    def error(self) -> dict[str, Any]:
        return self.body["error"]


async def ask(gw: Gateway, model: str, *, stream: bool = False, **extra: Any) -> Answer:
    body = {"model": model, "messages": USER, "stream": stream, **extra}
    async with await gw.post("/cursor/chat/completions", body) as resp:
        raw = await resp.read()
        headers = {k.lower(): v for k, v in resp.headers.items()}
        if headers.get("content-type", "").startswith("text/event-stream"):
            return Answer(resp.status, headers, sse_payloads(raw))
        return Answer(resp.status, headers, orjson.loads(raw))


def router_of(gw: Gateway) -> Router:
    return gw.app[ROUTER]


class ManualClock:
    """The router's clock, moved by hand: cooldowns pass without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A loopback port whose listener never accepts and whose backlog is full, so a new
    connection attempt hangs in the handshake: the way to make a connect timeout locally."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(c)
        yield port
    finally:
        for c in fillers:
            c.close()
        listener.close()
