"""Run the real gateway over TLS on loopback, and talk to it as clients do."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import aiohttp
import httpx2 as httpx  # the transport of openai>=3
import orjson
from aiohttp import web
from openai import AsyncOpenAI

from litecursor.config import Config, parse
from litecursor.server import create_app, listen
from litecursor.tls import DevCerts, client_context, server_context

MASTER_KEY = "sk-test-master"
#: two chat tools the end-to-end tests call
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
STOCK = {
    "type": "function",
    "function": {
        "name": "get_stock",
        "parameters": {
            "type": "object",
            "properties": {"ticker": {"type": "string"}},
            "required": ["ticker"],
        },
    },
}


def make_config(models: list[dict[str, Any]], **sections: Any) -> Config:
    data = {"model_list": models, "general_settings": {"master_key": MASTER_KEY}, **sections}
    return parse(data, environ={})


@dataclass
class Gateway:
    base: str  # https://127.0.0.1:PORT
    certs: DevCerts
    config: Config
    app: web.Application
    session: aiohttp.ClientSession

    @property
    def ssl(self) -> ssl.SSLContext:
        return client_context(self.certs.ca)

    def openai(self, prefix: str = "/cursor", **kw: Any) -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=MASTER_KEY,
            base_url=self.base + prefix,
            http_client=httpx.AsyncClient(verify=self.ssl, timeout=30),
            max_retries=0,
            **kw,
        )

    async def post(
        self,
        path: str,
        body: Any,
        *,
        key: str | None = MASTER_KEY,
        headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        h = {"content-type": "application/json", **(headers or {})}
        if key is not None:
            h["authorization"] = f"Bearer {key}"
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.session.post(self.base + path, data=data, headers=h)

    async def chat(
        self, body: Any, path: str = "/cursor/chat/completions", **kw: Any
    ) -> tuple[int, Any]:
        """POST and decode: JSON for a plain answer, a list of SSE `data` payloads for a stream."""
        async with await self.post(path, body, **kw) as resp:
            raw = await resp.read()
            if resp.headers.get("content-type", "").startswith("text/event-stream"):
                return resp.status, sse_payloads(raw)
            return resp.status, orjson.loads(raw)


def sse_payloads(raw: bytes) -> list[Any]:
    out: list[Any] = []
    for block in raw.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: "):
                data = line[6:]
                out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


@asynccontextmanager
async def run_gateway(
    config: Config, certs: DevCerts, access_stream: TextIO | None = None, **options: Any
) -> AsyncIterator[Gateway]:
    """`options`: `create_app`'s keyword options (`shared_budgets`)."""
    app = create_app(config, access_stream, **options)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = await listen(runner, host="127.0.0.1", ssl_context=server_context(certs.cert, certs.key))
    port = site.port
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_context(certs.ca)))
    try:
        yield Gateway(f"https://127.0.0.1:{port}", certs, config, app, session)
    finally:
        await session.close()
        await runner.cleanup()


def text_of(payloads: list[Any]) -> str:
    return "".join(
        (c["choices"][0]["delta"].get("content") or "")
        for c in payloads
        if isinstance(c, dict) and c.get("choices")
    )


def tool_calls_of(payloads: list[Any]) -> dict[int, dict[str, str]]:
    """index -> {id, name, arguments} assembled from streamed fragments."""
    calls: dict[int, dict[str, str]] = {}
    for c in payloads:
        if not isinstance(c, dict) or not c.get("choices"):
            continue
        for tc in c["choices"][0]["delta"].get("tool_calls") or ():
            entry = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
            if tc.get("id"):
                entry["id"] = tc["id"]
            fn = tc.get("function") or {}
            if fn.get("name"):
                entry["name"] = fn["name"]
            entry["arguments"] += fn.get("arguments") or ""
    return calls


def finish_reasons(payloads: list[Any]) -> list[str]:
    return [
        c["choices"][0]["finish_reason"]
        for c in payloads
        if isinstance(c, dict) and c.get("choices") and c["choices"][0].get("finish_reason")
    ]
