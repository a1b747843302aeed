"""The aiohttp application: routes, middlewares, the pipeline's listeners, and the things with a lifetime."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator
from typing import TextIO

from aiohttp import web

from ..accounting.setup import store_for
from ..config import Config
from ..pipeline import Pipeline
from ..pipeline.listeners import MasterKey, RouterUsage
from ..replay import ReasoningReplay
from ..router import Router
from ..upstream import UpstreamClient
from . import admin, handlers, keys_api
from .access import AccessLog
from .keys import ACCESS_LOG, CONFIG, PIPELINE, REPLAY, ROUTER, STARTED, STORE, UPSTREAM
from .middleware import call_middleware, cors_headers

log = logging.getLogger("litecursor")

CHAT_PATHS = (
    "/cursor/chat/completions",
    "/cursor/v1/chat/completions",
    "/v1/chat/completions",
    "/chat/completions",
)
MODEL_PATHS = ("/models", "/v1/models", "/cursor/models", "/cursor/v1/models")


def create_app(config: Config, access_stream: TextIO | None = None) -> web.Application:
    """The gateway for `config`; access lines go to `access_stream` when given (see `access`),
    else through the `litecursor.access` logger."""
    app = web.Application(
        middlewares=[call_middleware],
        client_max_size=config.max_request_bytes,
        handler_args={"max_field_size": 65536},
    )
    app[CONFIG] = config
    app[STARTED] = time.time()
    app[ACCESS_LOG] = AccessLog(access_stream)
    app[REPLAY] = ReasoningReplay(int(config.reasoning_replay_mb * 1024 * 1024))
    app[PIPELINE] = Pipeline()
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_upstream_pool)
    app.on_response_prepare.append(cors_headers)
    for path in CHAT_PATHS:
        app.router.add_post(path, handlers.chat_completions)
    for path in MODEL_PATHS:
        app.router.add_get(path, handlers.list_models)
    app.router.add_get("/health", handlers.health)
    app.router.add_get("/health/deployments", admin.deployments_health)
    keys_api.add_routes(app)
    return app


async def _store(app: web.Application) -> AsyncIterator[None]:
    """Keys, budgets and spend: opened (and migrated) before the first request, closed last."""
    store = store_for(app[CONFIG])
    await store.open()
    app[STORE] = store
    yield
    await store.close()


async def _upstream_pool(app: web.Application) -> AsyncIterator[None]:
    client = UpstreamClient.create()
    app[UPSTREAM] = client
    app[ROUTER] = Router(app[CONFIG], client)
    for listener in listeners(app):
        app[PIPELINE].add(listener)
    yield
    await client.close()


def listeners(app: web.Application) -> list[object]:
    """Every feature that follows requests, in the order each point calls them: who is
    calling first, the access line last (it reports what the others decided)."""
    return [
        MasterKey(app[CONFIG].master_key),
        RouterUsage(app[ROUTER]),
        app[REPLAY],
        app[ACCESS_LOG],
    ]


async def serve(
    config: Config,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    ready: asyncio.Event | None = None,
    access_stream: TextIO | None = None,
) -> None:
    """Run until cancelled (SIGINT/SIGTERM in the CLI)."""
    app = create_app(config, access_stream)
    # handler_cancellation: a client that goes away cancels its handler at once, which closes
    # the upstream connection so the provider stops generating (and billing).
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, shutdown_timeout=10)
    await site.start()
    scheme = "https" if ssl_context else "http"
    log.info(
        "litecursor serving %d model(s) on %s://%s:%d", len(config.model_names), scheme, host, port
    )
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
