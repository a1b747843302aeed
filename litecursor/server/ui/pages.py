"""The admin page's own routes: the page and its files, login, logout, the session.

The page is one HTML file and the project's own CSS and JavaScript modules, shipped inside the
package and read once at start; every path under `/ui` that is not a file or an API call is
the same page, which draws the view the path names. The data it shows comes from the JSON
endpoints (`/logs`, `/key/...`, `/health/deployments`, `/ui/api/...`), which accept the
session cookie as well as a bearer key.
"""

from __future__ import annotations

import hashlib
import mimetypes
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from ...errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
)
from ..keys import CALL, PIPELINE, STORE
from . import data
from .session import COOKIE, CSRF_HEADER, LoginThrottle, Session, Sessions
from .state import LOGIN_THROTTLE, SESSION, SESSIONS, is_admin, subject_of

#: the page may load nothing from elsewhere and be framed by nobody
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of `static/` (package data), by its path under it."""
    root = resources.files(__package__).joinpath("static")
    assets: dict[str, Asset] = {}

    def walk(folder: Any, prefix: str) -> None:
        for item in folder.iterdir():
            name = f"{prefix}{item.name}"
            if item.is_dir():
                walk(item, f"{name}/")
                continue
            body = item.read_bytes()
            suffix = name[name.rfind(".") :]
            kind = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            assets[name] = Asset(body, kind, etag)

    walk(root, "")
    return assets


class Pages:
    """The page and its files, from memory."""

    def __init__(self) -> None:
        self.assets = load_assets()
        self.index = self.assets["index.html"]

    def _send(self, request: web.Request, asset: Asset) -> web.Response:
        # revalidated on every load (no-cache), answered with 304 while unchanged: a new
        # version of litecursor is picked up at once, and a reload costs a few tiny requests
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache", **SECURITY_HEADERS}
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.content_type, headers=headers)

    async def page(self, request: web.Request) -> web.Response:
        return self._send(request, self.index)

    async def static(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.match_info["name"])
        if asset is None or request.match_info["name"] == "index.html":
            raise web.HTTPNotFound()
        return self._send(request, asset)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _session_json(sessions: Sessions, session: Session, who: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": who,
        "csrf_token": sessions.csrf_token(session),
        "expires_at": session.expires,
        "csrf_header": CSRF_HEADER,
    }


def _who(request: web.Request) -> dict[str, Any]:
    identity = request[CALL].identity
    assert identity is not None
    return {"id": identity.id, "kind": identity.kind, "alias": identity.alias}


async def login(request: web.Request) -> web.Response:
    """`{"key": ...}`: the master key, or a virtual key with the admin role. Checked by the
    pipeline's authentication point, as any key is; a session cookie on success."""
    call = request[CALL]
    sessions, throttle = request.app[SESSIONS], request.app[LOGIN_THROTTLE]
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        raise PermissionDeniedError("log in from this gateway's own page")
    client = request.remote or "-"
    now = time.time()
    wait = throttle.retry_after(client, now)
    if wait is not None:
        raise RateLimitError(
            "too many failed logins from this address; try again later", retry_after=wait
        )
    try:
        body = orjson.loads(await request.read())
        key = body["key"] if isinstance(body, dict) else None
    except (orjson.JSONDecodeError, KeyError):
        key = None
    if not isinstance(key, str) or not key.strip():
        raise InvalidRequestError('send {"key": "<the master key or an admin key>"}', param="key")
    identity = await request.app[PIPELINE].authenticate(call, key.strip())
    if identity is None:
        throttle.failed(client, now)
        raise AuthenticationError("this key is not valid here")
    if not is_admin(identity):
        throttle.failed(client, now)
        raise PermissionDeniedError(
            "this key cannot open the admin page: log in with the master key or a key with "
            "the admin role"
        )
    throttle.succeeded(client)
    session, cookie = sessions.issue(subject_of(identity), now)
    resp = _json(_session_json(sessions, session, _who(request)))
    resp.set_cookie(
        COOKIE,
        cookie,
        max_age=int(sessions.ttl),
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict",
    )
    return resp


async def session_info(request: web.Request) -> web.Response:
    """Who is logged in, and the CSRF token the page sends with every change."""
    session = request.get(SESSION)
    if session is None:
        # a bearer key, not the page: there is no session and no token
        return _json({"user": _who(request), "csrf_token": None, "expires_at": None})
    return _json(_session_json(request.app[SESSIONS], session, _who(request)))


async def logout(request: web.Request) -> web.Response:
    session = request.get(SESSION)
    if session is not None:
        request.app[SESSIONS].end(session)
        store = request.app.get(STORE)
        if store is not None:
            await store.end_ui_session(session.sid, session.expires, time.time())
    resp = _json({"logged_out": True})
    resp.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return resp


def add_routes(app: web.Application, master_key: str) -> None:
    app[SESSIONS] = Sessions(master_key)
    app[LOGIN_THROTTLE] = LoginThrottle()
    pages = Pages()
    app.router.add_get("/ui", pages.page)
    app.router.add_get("/ui/static/{name:.+}", pages.static)
    app.router.add_post("/ui/login", login)
    app.router.add_get("/ui/api/session", session_info)
    app.router.add_post("/ui/api/logout", logout)
    data.add_routes(app)
    # every other path under /ui is a view of the page (deep links, reloads)
    app.router.add_get(r"/ui/{view:(?!api/|static/).*}", pages.page)
