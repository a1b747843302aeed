"""Who may use the admin page, and how a session cookie becomes the caller's identity."""

from __future__ import annotations

import time

from aiohttp import web

from ...errors import AuthenticationError, PermissionDeniedError
from ...pipeline import MASTER, Call, Identity
from ..keys import ACCOUNTING, CALL, STORE
from .session import (
    COOKIE,
    CSRF_HEADER,
    SAFE_METHODS,
    CSRFRefused,
    LoginThrottle,
    Session,
    SessionRefused,
    Sessions,
)

SESSIONS = web.AppKey("ui_sessions", Sessions)
LOGIN_THROTTLE = web.AppKey("ui_login_throttle", LoginThrottle)
#: the session a request was made with (absent: a bearer key, or no credential)
SESSION = web.RequestKey("ui_session", Session)

#: the paths of the page itself and its files: served without a key (they hold no data; the
#: page asks for its data with the session)
PAGE_PREFIX = "/ui"
API_PREFIX = "/ui/api/"


def is_page(path: str) -> bool:
    return (path == PAGE_PREFIX or path.startswith(PAGE_PREFIX + "/")) and not path.startswith(
        API_PREFIX
    )


def is_admin(identity: Identity) -> bool:
    """The master key, or a virtual key given the admin role."""
    return identity.is_admin


def require_admin(request: web.Request) -> Identity:
    """The caller, when it may use the admin endpoints; 403 otherwise."""
    identity = request[CALL].identity
    if identity is None or not is_admin(identity):
        raise PermissionDeniedError(f"{request.path} needs the master key or an admin key")
    return identity


def subject_of(identity: Identity) -> str:
    return "master" if identity.is_master else f"key:{identity.id}"


def has_session_cookie(request: web.Request) -> bool:
    # the header first: API clients send no cookie, and parsing none still costs a little
    return "Authorization" not in request.headers and COOKIE in request.cookies


async def session_identity(request: web.Request, call: Call) -> Identity:
    """The identity of a request made with the page's cookie, its CSRF token checked for a
    change; raises the error the middleware answers with."""
    sessions = request.app.get(SESSIONS)
    if sessions is None:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    try:
        session = sessions.check(request.cookies[COOKIE])
    except SessionRefused as e:
        raise AuthenticationError(f"{e}: log in again") from None
    store = request.app.get(STORE)
    # a logout anywhere (another worker, before a reload) holds here too
    if store is not None and await store.ui_session_ended(session.sid):
        raise AuthenticationError("the session was logged out: log in again")
    try:
        sessions.check_csrf(
            session,
            request.method,
            request.headers.get(CSRF_HEADER),
            request.headers.get("Origin"),
            request.host,
        )
    except CSRFRefused as e:
        raise PermissionDeniedError(str(e), code="csrf_token_invalid") from None
    identity = MASTER if session.subject == "master" else await _admin_key(request, session)
    request[SESSION] = session
    # the page's own reads (it refreshes itself) make no log rows; its changes do
    call.quiet = request.method in SAFE_METHODS
    return identity


async def _admin_key(request: web.Request, session: Session) -> Identity:
    """An admin key's session holds the key's hash: the key is looked up again on every
    request (from memory, kept fresh by the change feed), so that blocking or deleting the
    key, or taking its role away, ends its sessions at once."""
    token = session.subject.removeprefix("key:")
    accounting = request.app.get(ACCOUNTING)
    found = await accounting.keys.identify_hash(token) if accounting is not None else None
    if found is None or not found.usable(time.time()) or found.role != "admin":
        raise AuthenticationError("the session's key is no longer valid: log in again")
    key = found.key
    return Identity(
        key.token,
        kind="key",
        alias=key.key_alias,
        user_id=key.user_id,
        team_id=key.team_id,
        role=found.role,
    )
