"""The admin page's sessions: signed cookies, CSRF tokens, logout and login throttling.

A session is a cookie the server signs, not a row it stores, so that it survives a reload and
is accepted by every worker and every instance with the same config; only a logout is stored
(`ui_sessions_ended`), so that it holds everywhere until the cookie would have expired. The signing key is
derived from the master key (HMAC-SHA256 of a fixed label, keyed by the master key): nothing
to generate or keep, and changing the master key ends every session at once. The cookie holds
who logged in (`master`, or the hash of an admin key), a random session id and the expiry;
never a key.

State-changing requests made with the cookie must carry the session's CSRF token in
`x-csrf-token` (an HMAC of the session id the page gets at login) and, when the browser sends
one, an `Origin` of this host: SameSite=Strict already keeps other sites' requests from
carrying the cookie, and the token covers browsers and proxies that get that wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

#: `__Host-`: the browser only keeps it when set over HTTPS, for `/`, without a Domain
COOKIE = "__Host-litecursor-session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LABEL = b"litecursor admin page session signing key v1"
_VERSION = 1


class SessionRefused(Exception):
    """A cookie that is not (or no longer) a session: expired, forged, logged out."""


class CSRFRefused(Exception):
    """A state-changing request made with the cookie without the session's token."""


@dataclass(frozen=True, slots=True)
class Session:
    #: random, 128 bits: names the session for logout and for its CSRF token
    sid: str
    #: "master", or "key:<sha256 of the key>" for a virtual key with the admin role
    subject: str
    issued: float
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Issues and checks the admin page's cookies. `ttl` is a session's whole life in seconds:
    a session is not extended by use, so a stolen cookie is worth at most that long."""

    def __init__(self, master_key: str, ttl: float = 12 * 3600) -> None:
        self._secret = hmac.new(master_key.encode(), _LABEL, hashlib.sha256).digest()
        self.ttl = ttl
        #: session ids logged out in this process, until they would have expired anyway
        self._ended: dict[str, float] = {}

    # -- issuing -------------------------------------------------------------------------

    def issue(self, subject: str, now: float | None = None) -> tuple[Session, str]:
        """A new session for `subject`, and its cookie value."""
        now = time.time() if now is None else now
        s = Session(_b64(secrets.token_bytes(16)), subject, now, now + self.ttl)
        payload = _b64(
            orjson.dumps(
                {"v": _VERSION, "sid": s.sid, "sub": s.subject, "iat": s.issued, "exp": s.expires}
            )
        )
        return s, f"{payload}.{self._sign(payload)}"

    def csrf_token(self, session: Session) -> str:
        return _b64(hmac.new(self._secret, b"csrf|" + session.sid.encode(), "sha256").digest())

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    # -- checking ------------------------------------------------------------------------

    def check(self, cookie: str, now: float | None = None) -> Session:
        """The session a cookie holds; raises `SessionRefused` when it is not one."""
        now = time.time() if now is None else now
        payload, dot, mac = cookie.partition(".")
        if not dot or not hmac.compare_digest(mac.encode(), self._sign(payload).encode()):
            raise SessionRefused("not a session of this gateway")
        try:
            data = orjson.loads(_unb64(payload))
            s = Session(str(data["sid"]), str(data["sub"]), float(data["iat"]), float(data["exp"]))
            version = data["v"]
        except (ValueError, KeyError, TypeError):
            raise SessionRefused("not a session of this gateway") from None
        if version != _VERSION:
            raise SessionRefused("a session of another version")
        if s.expires <= now:
            raise SessionRefused("the session has expired")
        if s.sid in self._ended:
            raise SessionRefused("the session was logged out")
        return s

    def check_csrf(
        self, session: Session, method: str, token: str | None, origin: str | None, host: str
    ) -> None:
        """Raises `CSRFRefused` unless a state-changing request carries the session's token
        and, when the browser names it, comes from a page of this host."""
        if method in SAFE_METHODS:
            return
        if origin is not None and origin != "null" and urlsplit(origin).netloc != host:
            raise CSRFRefused(f"a request from another site ({origin}) may not use the session")
        if not token or not hmac.compare_digest(token.encode(), self.csrf_token(session).encode()):
            raise CSRFRefused(
                f"this request changes something and needs the session's {CSRF_HEADER} header"
            )

    def end(self, session: Session, now: float | None = None) -> None:
        """Log out: this process refuses the session from now on (the page also drops the
        cookie; the store keeps the end for the other workers and instances, and for after
        a reload)."""
        now = time.time() if now is None else now
        self._ended = {sid: exp for sid, exp in self._ended.items() if exp > now}
        self._ended[session.sid] = session.expires


class LoginThrottle:
    """At most `limit` failed logins per client address in `window` seconds: the master key
    cannot be guessed through the login form faster than through the API, where every
    wrong key costs a round trip too, but a form invites scripted tries."""

    def __init__(self, limit: int = 10, window: float = 300.0, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, client: str, now: float) -> float | None:
        """Seconds until `client` may try again, or None when it may now."""
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            return None
        return failures[0] + self.window - now

    def failed(self, client: str, now: float) -> None:
        if client not in self._failures and len(self._failures) >= self.max_clients:
            # bounded memory: forget the client seen longest ago
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(now)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
