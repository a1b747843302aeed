"""The aiohttp application: routes, middlewares, the pipeline's listeners, and the things with a lifetime."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator
from typing import TextIO

from aiohttp import web

from ..accounting.service import AccountingService
from ..accounting.setup import redis_for, store_for
from ..config import Config, Limits
from ..observe import Observability
from ..observe.logs import LogFormat, to_journald
from ..ops.listening import DEFAULT_BACKLOG
from ..pipeline import Pipeline
from ..pipeline.listeners import MasterKey, MetricsToken, RouterUsage
from ..redaction import Redactor
from ..requestlog.bodies import Bodies
from ..requestlog.retention import Retention
from ..router import Router
from ..router.shared import SharedState
from ..upstream import UpstreamClient
from . import admin, handlers, keys_api, logs_api, ui
from .access import QUIET_PATHS, AccessLog
from .connection import GatewaySite
from .keys import (
    ACCESS_LOG,
    ACCOUNTING,
    BODIES,
    CONFIG,
    LASTING,
    OBSERVE,
    PIPELINE,
    REDACTOR,
    REPLAY,
    ROUTER,
    SHARED_BUDGETS,
    STARTED,
    STORE,
    UPSTREAM,
)
from .lasting import Lasting
from .middleware import call_middleware, response_headers

log = logging.getLogger("litecursor")

CHAT_PATHS = (
    "/cursor/chat/completions",
    "/cursor/v1/chat/completions",
    "/v1/chat/completions",
    "/chat/completions",
)
MODEL_PATHS = ("/models", "/v1/models", "/cursor/models", "/cursor/v1/models")


def create_app(
    config: Config,
    access_stream: TextIO | None = None,
    log_format: LogFormat = "text",
    *,
    shared_budgets: bool | None = None,
    lasting: Lasting | None = None,
) -> web.Application:
    """The gateway for `config`; access lines go to `access_stream` when given (see `access`),
    else through the `litecursor.access` logger, as text or JSON lines. `shared_budgets`:
    several processes serve from this database (worker processes on one SQLite file): budgets
    are then reserved in the database, as they always are on PostgreSQL. `lasting`: what the
    process keeps across reloads (`server.lasting`), when it builds one app per config."""
    app = web.Application(middlewares=[call_middleware], client_max_size=config.max_request_bytes)
    app[CONFIG] = config
    app[STARTED] = time.time()
    journald = access_stream is not None and to_journald(access_stream)
    # one redactor: every credential the config holds and every one obtained later (tokens),
    # out of error texts shown, logged, exported and stored; the request log's prompts and
    # answers lose anything shaped like a key as well (a provider may echo the key it was sent)
    app[REDACTOR] = Redactor.for_deployments(config.deployments, config.master_key)
    app[BODIES] = Bodies.of(config, app[REDACTOR])
    redact = app[BODIES].redact
    app[ACCESS_LOG] = AccessLog(access_stream, log_format, journald, redact)
    if lasting is None:
        lasting = Lasting.create(config)
    lasting.adopt(config)
    app[LASTING] = lasting
    app[OBSERVE] = Observability(
        config, redact, metrics=lasting.metrics, alert_memory=lasting.alerts
    )
    app.cleanup_ctx.append(_observability)
    app[REPLAY] = lasting.replay
    app[PIPELINE] = Pipeline()
    app[SHARED_BUDGETS] = shared_budgets
    app.cleanup_ctx.append(_accounting)
    app.cleanup_ctx.append(_upstream_pool)
    app.cleanup_ctx.append(_retention)
    app.on_response_prepare.append(response_headers)
    for path in CHAT_PATHS:
        app.router.add_post(path, handlers.chat_completions)
    for path in MODEL_PATHS:
        app.router.add_get(path, handlers.list_models)
    app.router.add_get("/health", handlers.health)
    app.router.add_get("/health/deployments", admin.deployments_health)
    keys_api.add_routes(app)
    app.router.add_get("/metrics", admin.metrics)
    logs_api.add_routes(app)
    ui.add_routes(app, config.master_key)
    return app


async def _accounting(app: web.Application) -> AsyncIterator[None]:
    """Keys, budgets and spend: the store opened (and migrated) before the first request;
    at shutdown, after the last request, every queued spend row written, then closed."""
    config = app[CONFIG]
    store = store_for(config)
    await store.open()
    app[STORE] = store
    observe = app[OBSERVE]
    service = AccountingService(
        config,
        store,
        redis=redis_for(config),
        shared_budgets=app[SHARED_BUDGETS],
        # 80% and 100% of a budget, once per period
        watcher=observe.alerts if observe.alerts.enabled else None,
        on_drop=observe.spend_rows_dropped,
        memory=app[LASTING].accounting,
    )
    try:
        await service.start()
    except BaseException:
        await service.close()
        await store.close()
        raise
    app[ACCOUNTING] = service
    yield
    try:
        await service.close()
    finally:
        await store.close()


async def _observability(app: web.Application) -> AsyncIterator[None]:
    """Metrics, alerts and exports: their senders start before the first request and are
    flushed after the last one."""
    routes = frozenset(r.canonical for r in app.router.resources())
    await app[OBSERVE].start(routes)
    yield
    await app[OBSERVE].close()


async def _upstream_pool(app: web.Application) -> AsyncIterator[None]:
    client = UpstreamClient.create()
    app[UPSTREAM] = client
    config = app[CONFIG]
    # with Redis, cooldowns and deployment counts are every instance's (router/shared.py)
    redis = app[ACCOUNTING].redis
    shared = SharedState(redis, config.deployments) if redis is not None else None
    if shared is not None:
        shared.start()
    state = shared if shared is not None else app[LASTING].router
    app[ROUTER] = Router(config, client, state=state, redactor=app[REDACTOR])
    app[OBSERVE].watch(app[ROUTER])
    for listener in listeners(app):
        app[PIPELINE].add(listener)
    yield
    if shared is not None:
        await shared.close()
    await client.close()


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """Old request-log rows deleted in the background (`maximum_spend_logs_retention_period`)."""
    settings, store = app[CONFIG].request_log, app.get(STORE)
    retention = None
    if store is not None and settings.retention is not None:
        retention = Retention(store, settings.retention, settings.retention_interval)
        retention.start()
    yield
    if retention is not None:
        await retention.close()


def listeners(app: web.Application) -> list[object]:
    """Every feature that follows requests, in the order each point calls them: who is
    calling first; metrics, exports and alerts after whatever prices the request; the access
    line last (it reports what the others decided)."""
    config = app[CONFIG]
    token = config.observability.metrics_token
    return [
        MasterKey(config.master_key),
        *([MetricsToken(token)] if token else []),
        # keys, limits and budgets; the cost, which the listeners after it read
        app[ACCOUNTING].listener(app[ROUTER], QUIET_PATHS, app[BODIES]),
        RouterUsage(app[ROUTER]),
        app[LASTING].streams,
        app[REPLAY],
        *app[OBSERVE].listeners(),
        app[ACCESS_LOG],
    ]


async def listen(
    runner: web.AppRunner,
    *,
    host: str | None = None,
    port: int = 0,
    sock: socket.socket | None = None,
    ssl_context: ssl.SSLContext | None = None,
    backlog: int = DEFAULT_BACKLOG,
) -> GatewaySite:
    """Serve the app of `runner` (set up) on `host`:`port` or on `sock`, with the connection
    limits of its config (the defaults for an app without one, such as the plain-HTTP port's)."""
    app = runner.app
    config = app.get(CONFIG)
    site = GatewaySite(
        runner,
        host=host,
        port=port,
        sock=sock,
        ssl_context=ssl_context,
        limits=config.limits if config is not None else Limits(),
        access=app.get(ACCESS_LOG) or AccessLog(),
        backlog=backlog,
    )
    await site.start()
    return site
