"""A credential that expires, refreshed before it does: one refresh in flight, the others wait on it.

`Refreshing.get()` answers from memory while the value is fresh. Inside the `early` window
before expiry it still answers at once and starts one refresh in the background, so requests
never wait on a token endpoint while the old token is good; within `must` seconds of expiry
(or with no value yet) callers wait, all of them on the same refresh. A failed refresh is
raised to every waiter and remembered for `retry_after` seconds, so a dead token endpoint is
asked once a second, not once per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ..errors import UpstreamCredentialsError

log = logging.getLogger("litecursor.clouds")

T = TypeVar("T")

#: (value, seconds it stays valid; None for never)
Fetch = Callable[[], Awaitable[tuple[T, float | None]]]


class Refreshing(Generic[T]):
    def __init__(
        self,
        fetch: Fetch[T],
        *,
        what: str,
        early: float = 300.0,
        must: float = 60.0,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._what = what  # "deployment 'x': Google access token", for messages
        self._early = early
        self._must = must
        self._retry_after = retry_after
        self._clock = clock
        self._value: T | None = None
        self._expires = 0.0  # clock time; inf for a value that never expires
        self._task: asyncio.Task[T] | None = None
        self._failed_at = -1e9
        self._error: UpstreamCredentialsError | None = None
        self.refreshes = 0  # how many fetches ran (tests read it)
        #: called with each new value (its owner passes the secrets in it to the redactor)
        self.on_refresh: Callable[[T], None] | None = None

    async def get(self) -> T:
        now = self._clock()
        value = self._value
        if value is not None and now < self._expires - self._early:
            return value
        if value is not None and now < self._expires - self._must:
            if self._task is None and now - self._failed_at >= self._retry_after:
                self._start()  # refreshed in the background; this request goes on
            return value
        if self._task is None:
            if self._error is not None and now - self._failed_at < self._retry_after:
                raise self._error
            self._start()
        assert self._task is not None
        # shielded: a caller that goes away must not cancel the refresh the others wait on
        return await asyncio.shield(self._task)

    def _start(self) -> None:
        task = self._task = asyncio.get_running_loop().create_task(self._run())
        # a background refresh nobody awaits still has its failure read (and logged in _run)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _run(self) -> T:
        self.refreshes += 1
        try:
            value, ttl = await self._fetch()
        except UpstreamCredentialsError as e:
            self._fail(e)
            raise
        except Exception as e:
            err = UpstreamCredentialsError(f"{self._what}: {type(e).__name__}: {e}")
            self._fail(err)
            raise err from None
        finally:
            self._task = None
        if self.on_refresh is not None:
            self.on_refresh(value)
        self._value = value
        self._expires = float("inf") if ttl is None else self._clock() + ttl
        self._error = None
        return value

    def _fail(self, e: UpstreamCredentialsError) -> None:
        self._failed_at = self._clock()
        self._error = e
        # the message names the source and the endpoint's answer, never a secret
        log.warning("%s", e.message)
