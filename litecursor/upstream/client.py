"""The pooled upstream HTTP client: sends a provider's `HttpRequest`, hands back the body as it arrives.

One `aiohttp.ClientSession` per process (kept-alive connections, shared DNS cache). Each
request has four limits: connect, first byte (headers and the first body bytes), idle time
between body reads, and a total deadline. A response left before its end (client gone, error)
is closed, not released, so the provider sees the connection drop and stops generating.
Requests to `mock://` go to the in-process mock model (`mock.py`) instead of the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import aiohttp
from yarl import URL

from ..errors import UpstreamConnectionError, UpstreamProtocolError, UpstreamTimeoutError
from ..protocol.providers import HttpRequest
from .mock import MockExchange

if TYPE_CHECKING:
    from ..clouds import RequestAuth


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 600.0
    idle: float = 300.0
    total: float = 600.0


#: an error body is read to this length at most: any JSON error fits, and of an HTML page only
#: the start is kept anyway
ERROR_BODY = 64 * 1024


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def read(self, limit: int) -> bytes:
        """The whole body; `UpstreamProtocolError` once it is longer than `limit` bytes (the
        rest is not read)."""
        ...

    async def read_start(self, limit: int) -> bytes:
        """At most the first `limit` bytes of the body; the rest is not read."""
        ...


class _HttpResponse:
    __slots__ = ("_deadline", "_first", "_loop", "_resp", "_timeouts", "headers", "status")

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        timeouts: Timeouts,
        deadline: float,
        first_deadline: float,
    ) -> None:
        self._resp = resp
        self._timeouts = timeouts
        self._deadline = deadline
        self._first = first_deadline
        self._loop = asyncio.get_running_loop()
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        loop = self._loop
        idle = self._timeouts.idle
        deadline = self._deadline
        when = min(self._first, deadline)
        what = "first byte"
        task = asyncio.current_task()
        assert task is not None
        limit = _ReadLimit(loop, task)
        try:
            while True:
                limit.start(when)
                try:
                    data = await content.readany()
                except asyncio.CancelledError:
                    if limit.expired(task):  # the total deadline may be the nearer one
                        raise _timeout(
                            what if when < deadline else "total", self._timeouts
                        ) from None
                    raise
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as e:
                    raise UpstreamConnectionError(
                        f"upstream connection lost mid-response: {_describe(e)}"
                    ) from None
                finally:
                    limit.reading = False
                if not data:
                    return
                yield data
                when = min(loop.time() + idle, deadline)
                what = "idle"
        finally:
            limit.stop()

    async def read(self, limit: int) -> bytes:
        body = await self.read_start(limit + 1)
        if len(body) > limit:
            raise too_large(limit)
        return body

    async def read_start(self, limit: int) -> bytes:
        # not `ClientResponse.read()`, which reads all there is whatever its size; what is left
        # unread closes the connection instead of returning it to the pool (see `_Exchange`)
        content = self._resp.content
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout_at(self._deadline):
                while size < limit:
                    data = await content.read(limit - size)
                    if not data:
                        break
                    chunks.append(data)
                    size += len(data)
        except TimeoutError:
            raise _timeout("total", self._timeouts) from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as e:
            raise UpstreamConnectionError(
                f"upstream connection lost mid-response: {_describe(e)}"
            ) from None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def too_large(limit: int) -> UpstreamProtocolError:
    return UpstreamProtocolError(
        f"the upstream's answer is larger than the {limit / 1024 / 1024:g} MiB limit "
        "(litecursor_settings.max_response_mb)",
        code="upstream_response_too_large",
    )


class _ReadLimit:
    """The time limit of the read in progress, kept by one timer for a whole response.

    `asyncio.timeout` per read costs a timer per streamed chunk (a heap push, a cancel); here a
    read only moves `expires`, and the timer, when it goes off before it, waits again until
    then. It cancels the task only while a read is in progress, like `asyncio.timeout` would.
    """

    __slots__ = (
        "_cancelling",
        "_fired",
        "_handle",
        "_loop",
        "_task",
        "_timer_at",
        "expires",
        "reading",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> None:
        self._loop = loop
        self._task = task
        self._handle: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._fired = False
        self._cancelling = 0
        self.expires = 0.0
        self.reading = False

    def start(self, when: float) -> None:
        """A read begins that must end by `when`."""
        self.expires = when
        self.reading = True
        if self._handle is None or self._timer_at > when:
            if self._handle is not None:
                self._handle.cancel()
            self._timer_at = when
            self._handle = self._loop.call_at(when, self._check)

    def _check(self) -> None:
        self._handle = None
        if not self.reading:
            return  # the next read sets the timer again
        if self.expires > self._timer_at:
            self._timer_at = self.expires
            self._handle = self._loop.call_at(self.expires, self._check)
            return
        self._fired = True
        self._cancelling = self._task.cancelling()
        self._task.cancel()

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether a `CancelledError` in the read was this limit's doing (and only its)."""
        return self._fired and task.uncancel() <= self._cancelling

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _describe(e: BaseException) -> str:
    return str(e) or type(e).__name__


def _timeout(what: str, t: Timeouts) -> UpstreamTimeoutError:
    limits = {"connect": t.connect, "first byte": t.first_byte, "idle": t.idle, "total": t.total}
    return UpstreamTimeoutError(
        f"upstream timed out: no {'answer' if what != 'idle' else 'data'} within the "
        f"{what} timeout of {limits[what]:g}s",
        code=f"upstream_timeout_{what.replace(' ', '_')}",
    )


class UpstreamClient:
    """Sends requests over one shared session."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        # the connect limits by their value: a handful per config, reused by every request
        self._connect_limits: dict[float, aiohttp.ClientTimeout] = {}

    @classmethod
    def create(cls) -> UpstreamClient:
        connector = aiohttp.TCPConnector(
            limit=0,  # the router limits concurrency per deployment; the pool must not queue
            ttl_dns_cache=300,
            keepalive_timeout=60,
            enable_cleanup_closed=True,
        )
        # no automatic timeouts: each request sets its own limits in `open`
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            # no cookie jar: a provider's cookies (Cloudflare sets some) would otherwise be kept
            # and sent with every later request, whoever the caller; a gateway holds no state
            # between requests, and it saves the cookie work on each one
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return cls(session)

    async def close(self) -> None:
        await self.session.close()

    def open(
        self, http: HttpRequest, timeouts: Timeouts, auth: RequestAuth | None = None
    ) -> AbstractAsyncContextManager[UpstreamResponse]:
        """`async with client.open(http, timeouts) as resp`: sends, and hands back the response.
        With `auth` (a cloud deployment's credentials), the request is signed first."""
        if http.url.startswith("mock://"):
            return MockExchange(http)
        connect = self._connect_limits.get(timeouts.connect)
        if connect is None:
            connect = self._connect_limits[timeouts.connect] = aiohttp.ClientTimeout(
                total=None, connect=timeouts.connect, sock_connect=timeouts.connect
            )
        return _Exchange(self.session, http, timeouts, connect, auth)


class _Exchange:
    """One request and its response. The request is let go of once sent: a context manager
    made by `asynccontextmanager` would keep it, body and all, for as long as the stream
    lasts (and orjson's output keeps spare capacity: several KB even for a small body)."""

    __slots__ = ("_auth", "_connect", "_http", "_resp", "_session", "_timeouts")

    def __init__(
        self,
        session: aiohttp.ClientSession,
        http: HttpRequest,
        timeouts: Timeouts,
        connect: aiohttp.ClientTimeout,
        auth: RequestAuth | None = None,
    ) -> None:
        self._session = session
        self._auth = auth
        self._http: HttpRequest | None = http
        self._timeouts = timeouts
        self._connect = connect  # aiohttp's own limits: connecting only
        self._resp: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> UpstreamResponse:
        http, self._http = self._http, None
        assert http is not None, "an exchange is entered once"
        url: str | URL = http.url
        if self._auth is not None:
            # credentials (a token refresh, a signature): an UpstreamCredentialsError names the
            # deployment; the URL then goes out byte for byte as signed, never re-quoted
            http = await self._auth.apply(http)
            url = URL(http.url, encoded=True)
        timeouts = self._timeouts
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + timeouts.total
        first = start + timeouts.first_byte
        headers = {"user-agent": "litecursor", **http.headers}
        try:
            async with asyncio.timeout_at(min(first, deadline)):
                resp = await self._session.request(
                    http.method, url, data=http.body, headers=headers, timeout=self._connect
                )
        except aiohttp.ConnectionTimeoutError:  # a TimeoutError too: must come first
            raise _timeout("connect", timeouts) from None
        except TimeoutError:
            raise _timeout("first byte" if first < deadline else "total", timeouts) from None
        except (aiohttp.ClientConnectionError, OSError) as e:
            raise UpstreamConnectionError(
                f"cannot reach the upstream at {_origin(http.url)}: {_describe(e)}"
            ) from None
        self._resp = resp
        return _HttpResponse(resp, timeouts, deadline, first)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        resp, self._resp = self._resp, None
        if resp is None:
            return
        if exc_type is None and resp.content.at_eof():
            resp.release()
        else:
            resp.close()  # drop the connection: the provider stops generating


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
