"""Cross-cutting request handling: one `Call` per request from start to finish, auth, error mapping, response headers."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import (
    AuthenticationError,
    InternalError,
    LitecursorError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
)
from ..observe.logs import REQUEST_ID
from ..pipeline import Call, request_id_from
from .access import printable
from .connection import SERVER, GatewayConnection
from .keys import BODIES, CALL, CONFIG, PIPELINE, REDACTOR
from .ui.state import has_session_cookie, is_page, session_identity

log = logging.getLogger("litecursor.server")

PUBLIC_PATHS = frozenset({"/health"})
CORS_ALLOW_HEADERS = "authorization, content-type, x-api-key, openai-organization, openai-project, x-stainless-os, x-stainless-lang, x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, x-stainless-arch, x-stainless-retry-count, x-stainless-timeout"
#: status recorded for a request whose client went away before the answer was complete
CLIENT_CLOSED = 499


def error_response(err: LitecursorError, call: Call | None = None) -> web.Response:
    headers = dict(err.headers)
    if call is not None:
        headers.update(call.headers)
        headers["x-request-id"] = call.request_id
    return web.json_response(err.to_dict(), status=err.status, headers=headers)


@web.middleware
async def call_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Opens the request's `Call`, authenticates it, turns every error into OpenAI error JSON,
    and closes the call exactly once, here, whatever happened: this `finally` is the pipeline's
    finish point. It is also the one place that catches everything: no stack trace reaches a
    client."""
    pipeline = request.app[PIPELINE]
    path, method = request.path, request.method
    headers = request.headers
    call = Call(
        pipeline,
        request_id_from(headers.get("x-request-id")),
        method,
        path,
        client=request.remote,
        user_agent=headers.get("User-Agent"),
        body_limit=request.app[BODIES].capture,
        # the admin page and its files need no key, and make no log row or access line
        quiet=method == "GET" and is_page(path),
    )
    request[CALL] = call
    # every line logged while this request is served carries its id (observe.logs)
    context = REQUEST_ID.set(call.request_id)
    proto = request.protocol
    if type(proto) is GatewayConnection:  # its writes end at the request's deadline
        proto.call = call
    status = 500
    error: LitecursorError | None = None
    gone = False
    try:
        if method == "OPTIONS":  # CORS preflight, on any path, without a key
            status = 204
            return preflight(request)
        if path not in PUBLIC_PATHS and not is_page(path):
            await authenticate(request, call)
        resp = await handler(request)
        status = resp.status
        if not resp.prepared:
            resp.headers["x-request-id"] = call.request_id
            if call.headers:
                resp.headers.update(call.headers)
        return resp
    except LitecursorError as e:
        status, error = e.status, e
        # whatever raised it, no credential goes out in its message
        return error_response(request.app[REDACTOR].error(e), call)
    except web.HTTPRequestEntityTooLarge:
        error = PayloadTooLargeError.over_limit(request.app[CONFIG].max_request_size_mb)
        status = error.status
        return error_response(error, call)
    except web.HTTPNotFound:
        error = NotFoundError(f"no route for {method} {path}")
        status = error.status
        return error_response(error, call)
    except web.HTTPMethodNotAllowed:
        error = MethodNotAllowedError(f"{method} is not allowed on {path}")
        status = error.status
        return error_response(error, call)
    except web.HTTPException as e:
        status = e.status
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        # the client went away: aiohttp cancels the handler (`handler_cancellation`), or a
        # write found the connection closed
        status, gone = CLIENT_CLOSED, True
        raise
    except Exception:
        log.exception(
            "internal error on %s %s (request %s)", method, printable(path), call.request_id
        )
        error = InternalError(f"internal error (request id {call.request_id})")
        status = error.status
        return error_response(error, call)
    finally:
        outcome = call.outcome(status, error, gone)
        if outcome.error is not None:  # the last safety net: logs, spend and log rows, exports
            request.app[REDACTOR].error(outcome.error)
        pipeline.finish(call, outcome)
        REQUEST_ID.reset(context)


async def authenticate(request: web.Request, call: Call) -> None:
    """The caller's identity from `Authorization: Bearer <key>`, or from the admin page's
    session cookie when no key is sent; 401 otherwise."""
    if has_session_cookie(request):
        call.identity = await session_identity(request, call)
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    if await request.app[PIPELINE].authenticate(call, token) is None:
        raise AuthenticationError("invalid API key")


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


async def response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers on every response: the server's name (not aiohttp's and Python's versions),
    CORS."""
    response.headers["Server"] = SERVER
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
