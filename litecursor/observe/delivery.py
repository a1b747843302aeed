"""A bounded queue sent in batches by a background task, with retries and backoff: how exports and alerts leave the process.

`put` never waits and never fails: past `queue_size` the oldest item is dropped and counted.
A batch that fails to send stays at the head of the queue and is tried again after a jittered,
growing wait (1 s, 2 s, 4 s ... 60 s) while new items keep arriving behind it, so a receiver
that is down costs memory up to the bound and nothing else. Nothing here runs on a request's
path: the request only calls `put`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

import aiohttp

from ..background import stop

T = TypeVar("T")

log = logging.getLogger("litecursor.observe")

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
#: how often the same failing receiver is logged again
LOG_EVERY = 60.0


class SendError(Exception):
    """A batch did not reach its receiver; the message says why (never a credential)."""


class Delivery(Generic[T]):
    """Items of one kind to one receiver.

    `send(batch)` delivers a batch or raises (`SendError`, `OSError`, a timeout ...): it is
    then retried. `on_drop(n)` is told of every item dropped from a full queue or left unsent
    at shutdown.
    """

    def __init__(
        self,
        name: str,
        send: Callable[[list[T]], Awaitable[None]],
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        queue_size: int = 10_000,
        timeout: float = 10.0,
        on_drop: Callable[[int], None] | None = None,
        backoff_first: float = BACKOFF_FIRST,
    ) -> None:
        self.name = name
        self._send = send
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.queue_size = queue_size
        self.timeout = timeout
        self._on_drop = on_drop
        self.backoff_first = backoff_first
        self._items: deque[T] = deque()
        #: sequence number of the item at the head, and the end of the batch being sent:
        #: an item pushed out of a full queue while its batch is in flight is dropped only
        #: if that batch fails
        self._head = 0
        self._inflight_end = 0
        self._evicted_inflight = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: since start: items sent, dropped, and batches that failed
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self._failing_since: float | None = None
        self._last_log = 0.0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        """Queue an item; never waits. A full queue drops its oldest item."""
        items = self._items
        if len(items) >= self.queue_size:
            items.popleft()
            if self._head < self._inflight_end:
                self._evicted_inflight += 1
            else:
                self._dropped(1)
            self._head += 1
        items.append(item)
        if len(items) >= self.batch_size:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"litecursor-{self.name}")

    async def close(self, timeout: float = 5.0) -> None:
        """Stop, then send what is queued within `timeout` seconds (shutdown); what is left
        is counted as dropped."""
        await stop(self._task)
        self._task = None
        deadline = time.monotonic() + timeout
        while self._items:
            left = deadline - time.monotonic()
            if left <= 0 or not await self._send_batch(min(left, self.timeout)):
                break
        if self._items:
            log.error(
                "%s: %d item(s) not sent at shutdown (receiver unreachable)",
                self.name,
                len(self._items),
            )
            self._dropped(len(self._items))
            self._head += len(self._items)
            self._items.clear()

    async def _loop(self) -> None:
        wait = 0.0
        while True:
            if wait:
                await asyncio.sleep(wait)
            elif len(self._items) < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            while self._items:
                if not await self._send_batch(self.timeout):
                    break
            # back off while the receiver fails: 1 s, 2 s, 4 s ... jittered, at most 60 s
            if self._failing_since is None:
                wait = 0.0
            else:
                wait = min(BACKOFF_MAX, max(wait * 2, self.backoff_first))
                wait *= 0.5 + random.random() / 2

    async def _send_batch(self, timeout: float) -> bool:
        n = min(self.batch_size, len(self._items))
        batch = [self._items[i] for i in range(n)]
        start = self._head
        self._inflight_end = start + n
        try:
            async with asyncio.timeout(timeout):
                await self._send(batch)
        except asyncio.CancelledError:
            self._settle(ok=False)
            raise
        except Exception as e:  # any failure of a receiver is retried, never raised
            self.failures += 1
            self._settle(ok=False)
            self._failed(e)
            return False
        # the batch leaves the queue once sent (what of it a full queue pushed out meanwhile
        # is gone already)
        while self._items and self._head < start + n:
            self._items.popleft()
            self._head += 1
        self._settle(ok=True)
        self.sent += n
        if self._failing_since is not None:
            log.warning(
                "%s: receiver is back after %.0f s",
                self.name,
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
        return True

    def _settle(self, ok: bool) -> None:
        """The batch in flight is done: items pushed out of the queue meanwhile were sent
        with it, or are lost with it."""
        if not ok and self._evicted_inflight:
            self._dropped(self._evicted_inflight)
        self._evicted_inflight = 0
        self._inflight_end = self._head

    def _dropped(self, n: int) -> None:
        self.dropped += n
        if self._on_drop is not None:
            try:
                self._on_drop(n)
            except Exception:
                log.exception("%s: drop callback failed", self.name)

    def _failed(self, e: BaseException) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._last_log < LOG_EVERY:
            return
        self._last_log = now
        reason = str(e) or type(e).__name__
        log.warning(
            "%s: cannot send (%s); %d item(s) wait, up to %d",
            self.name,
            reason,
            len(self._items),
            self.queue_size,
        )


async def post_json(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str] = {}
) -> None:
    """POST a JSON body; any answer but 2xx is a `SendError` naming the status (the URL is
    not named: webhook URLs carry their secret in the path)."""
    async with session.post(
        url, data=body, headers={"Content-Type": "application/json", **headers}
    ) as resp:
        await resp.read()
        if resp.status >= 300:
            raise SendError(f"the receiver answered HTTP {resp.status}")
