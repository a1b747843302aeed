"""Cross-cutting request handling: the request context, error mapping, auth, CORS headers."""

from __future__ import annotations

import hmac
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from ..context import RequestContext
from ..errors import (
    AuthenticationError,
    InternalError,
    LitecursorError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
)
from .access import AccessLog
from .keys import ACCESS_LOG, CONFIG, CONTEXT

log = logging.getLogger("litecursor.access")

PUBLIC_PATHS = frozenset({"/health"})
CORS_ALLOW_HEADERS = "authorization, content-type, x-api-key, openai-organization, openai-project, x-stainless-os, x-stainless-lang, x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, x-stainless-arch, x-stainless-retry-count, x-stainless-timeout"


def error_response(err: LitecursorError, ctx: RequestContext | None = None) -> web.Response:
    headers = dict(err.headers)
    if ctx is not None:
        headers["x-request-id"] = ctx.request_id
    return web.json_response(err.to_dict(), status=err.status, headers=headers)


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gives each request its context, checks the key, and turns every error into OpenAI
    error JSON. This is the one place that catches everything: no stack trace reaches a client."""
    path, method = request.path, request.method
    ctx = RequestContext(route=path)
    request[CONTEXT] = ctx
    status = 500
    try:
        if method == "OPTIONS":  # CORS preflight, on any path, without a key
            status = 204
            return preflight(request)
        if path not in PUBLIC_PATHS:
            ctx.key = authenticate(request)
        resp = await handler(request)
        status = resp.status
        if not resp.prepared:
            resp.headers["x-request-id"] = ctx.request_id
        return resp
    except LitecursorError as e:
        status = e.status
        ctx.error = e.message
        return error_response(e, ctx)
    except web.HTTPRequestEntityTooLarge as e:
        status = 413
        err = PayloadTooLargeError.over_limit(request.app[CONFIG].max_request_size_mb)
        ctx.error = str(e)
        return error_response(err, ctx)
    except web.HTTPNotFound:
        status = 404
        return error_response(NotFoundError(f"no route for {method} {path}"), ctx)
    except web.HTTPMethodNotAllowed:
        status = 405
        return error_response(MethodNotAllowedError(f"{method} is not allowed on {path}"), ctx)
    except web.HTTPException as e:
        status = e.status
        raise
    except Exception:
        log.exception("internal error on %s %s (request %s)", method, path, ctx.request_id)
        ctx.error = "internal error"
        return error_response(InternalError(f"internal error (request id {ctx.request_id})"), ctx)
    finally:
        ctx.finished_at = time.monotonic()
        ctx.status = ctx.status or status
        if path not in PUBLIC_PATHS and method != "OPTIONS":
            _log_request(method, path, ctx, request.app[ACCESS_LOG])


def _log_request(method: str, path: str, ctx: RequestContext, access: AccessLog) -> None:
    if not access.enabled():
        return
    # the line is built here, once, with no arguments left to format later
    dep = ctx.deployment.id if ctx.deployment else "-"
    usage = ctx.usage
    tokens = f"{usage.prompt_tokens}/{usage.completion_tokens}" if usage else "-"
    first = ctx.first_byte_at
    ttfb = f"{(first - ctx.started) * 1000:.0f}" if first is not None else "-"
    end = ctx.finished_at
    ms = (end - ctx.started) * 1000 if end is not None else 0
    error = f" error={ctx.error!r}" if ctx.error else ""
    access.write(
        f"{ctx.request_id[:12]} {method} {path} {ctx.status} "
        f"model={ctx.requested_model or '-'} deployment={dep} tokens={tokens} "
        f"ttfb_ms={ttfb} ms={ms:.0f} conversation={ctx.conversation_id or '-'}{error}"
    )


def authenticate(request: web.Request) -> str:
    """The caller's identity from `Authorization: Bearer <key>`; 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    master = request.app[CONFIG].master_key
    if not hmac.compare_digest(token.strip().encode(), master.encode()):
        raise AuthenticationError("invalid API key")
    return "master"


def preflight(request: web.Request) -> web.Response:
    requested = request.headers.get("Access-Control-Request-Headers")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": requested or CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": "86400",
        },
    )


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    origins = request.app[CONFIG].cors_allow_origins
    origin = request.headers.get("Origin")
    if "*" in origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Expose-Headers"] = (
        "x-request-id, retry-after, x-litecursor-model-group, x-litecursor-deployment"
    )
