"""The application's part in the process lifecycle: requests tracked for the drain, the client behind a trusted proxy, `POST /admin/reload`.

`ops.runtime` calls `install` on each application it serves before starting it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import PermissionDeniedError, ReloadRefusedError
from ..ops.drain import Drain
from ..ops.forwarded import TrustedProxies
from .keys import CALL

__all__ = ["DRAIN", "RELOAD", "TRUSTED_PROXIES", "install"]

Reload = Callable[[], Awaitable[Any]]  # -> ops.runtime.ReloadResult

DRAIN = web.AppKey("drain", Drain)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
RELOAD: web.AppKey[Reload] = web.AppKey("reload")


def install(
    app: web.Application,
    *,
    drain: Drain,
    trusted_proxies: TrustedProxies,
    reload: Reload | None = None,
) -> None:
    app[DRAIN] = drain
    app[TRUSTED_PROXIES] = trusted_proxies
    if reload is not None:
        app[RELOAD] = reload
        app.router.add_post("/admin/reload", admin_reload)
    # outermost: the whole request is tracked, and every layer sees the real client
    app.middlewares.insert(0, lifecycle_middleware)


@web.middleware
async def lifecycle_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    trusted = app[TRUSTED_PROXIES]
    if trusted:
        headers = request.headers
        forwarded = trusted.resolve(
            request.remote,
            headers.getall("X-Forwarded-For", ()),
            headers.getall("X-Forwarded-Proto", ()),
        )
        if forwarded is not None:
            request = request.clone(
                remote=forwarded.client, scheme=forwarded.scheme or request.scheme
            )
    with app[DRAIN].track():
        return await handler(request)


async def admin_reload(request: web.Request) -> web.Response:
    """Re-read the config, the environment files and the certificate files, as SIGHUP does."""
    identity = request[CALL].identity
    if identity is None or not identity.is_master:
        raise PermissionDeniedError("/admin/reload needs the master key")
    result = await request.app[RELOAD]()
    if not result.ok:
        raise ReloadRefusedError(
            f"reload refused: {result.message}; still serving the previous config"
        )
    body = {"reloaded": True, "message": result.message, "models": result.models}
    return web.Response(body=orjson.dumps(body), content_type="application/json")
