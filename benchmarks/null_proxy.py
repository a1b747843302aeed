"""The floor under any aiohttp gateway: a bare pass-through, HTTPS in and plain HTTP out, that does nothing else.

Each POST is sent on to `--upstream` + its path with the same body and the request's
content-type/auth headers, over one pooled `aiohttp.ClientSession` (the settings the gateway
uses), and the upstream's bytes are written back as they arrive: no JSON, no translation, no
routing, no logging. `make bench` runs the same loads through it as through the gateway, so
the report can say what the HTTP server, the HTTP client and TLS cost on their own, and what
litecursor adds on top. Usage: `null_proxy.py --upstream http://127.0.0.1:PORT --cert C --key K`
prints `READY <port>` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import aiohttp
from aiohttp import web
from fake_upstream import serve

from litecursor.tls import server_context

FORWARDED = ("content-type", "authorization", "x-api-key", "anthropic-version")


def make_app(upstream: str) -> web.Application:
    app = web.Application()
    sessions: list[aiohttp.ClientSession] = []

    async def session_ctx(app: web.Application):
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        sessions.append(session)
        yield
        await session.close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        async with sessions[0].post(upstream + request.path, data=body, headers=headers) as up:
            resp = web.StreamResponse(
                status=up.status,
                headers={"Content-Type": up.headers.get("Content-Type", "text/plain")},
            )
            await resp.prepare(request)
            async for data in up.content.iter_any():
                await resp.write(data)
            await resp.write_eof()
            return resp

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/{tail:.*}", forward)
    return app


async def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8001")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    app = make_app(args.upstream.rstrip("/"))
    await serve(app, args.host, args.port, server_context(args.cert, args.key))


def _loop_factory():
    """uvloop when installed, as the gateway does."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=_loop_factory()) as r,
    ):
        r.run(main())
