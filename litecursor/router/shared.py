"""The router's deployment state shared through Redis: a local mirror, kept in step in the background.

The router asks its `StateStore` synchronously, once or twice per attempt, and must keep doing
so without a network round trip (a streamed chunk never touches it, and an attempt should not
wait on Redis either). So `SharedState` answers from memory: this process's own counts (a
`MemoryState`) plus the other instances' totals, which a background task refreshes every
`interval` (a quarter of a second). Each tick is one Redis round trip: this instance writes
its snapshot (per deployment: in flight, requests, tokens and failures in the window,
cooldown) into one hash, and reads everyone's. A cooldown wakes the task at once, so the other
instances stop sending to a failing deployment within a tick.

What that gives: cooldowns and failure counts (`allowed_fails`) are common to every instance;
deployment `rpm`/`tpm`/`max_parallel_requests` and least-busy routing see every instance's
traffic as of the last tick (a burst inside one tick can pass a deployment's limit by what
arrives meanwhile). Exact, atomic counting is for the keys' and the proxy's own limits
(`accounting.limits.RedisLimiter`, one script per request). When Redis is away the router
goes on with its own counts and logs it.

Times cross processes as wall-clock seconds; inside, the router's monotonic clock is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from ..background import stop
from ..config import Deployment
from .state import DeploymentState, MemoryState, RecentError

log = logging.getLogger("litecursor.router")

#: seconds between two exchanges of snapshots
INTERVAL = 0.25
#: a snapshot older than this is a stopped instance's: ignored, then removed
STALE = 10.0
LOG_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class Remote:
    """The other instances' totals for one deployment (times monotonic, this process's)."""

    in_flight: int = 0
    requests: int = 0
    tokens: int = 0
    fails: int = 0
    cooldown_until: float = 0.0
    oldest_request: float | None = None
    oldest_tokens: float | None = None


NOTHING = Remote()


def deployment_key(d: Deployment) -> str:
    """A deployment's name in Redis: its id with what it points at, so two configs that reuse
    an id (`gpt-4o#0`) for different upstreams do not share one deployment's state."""
    what = f"{d.id}\n{d.litellm_model}\n{d.target.api_base}"
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def _wall_offset() -> float:
    """wall = monotonic + offset."""
    return time.time() - time.monotonic()


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


class SharedState:
    """`StateStore` for several instances on one Redis (redis-py's asyncio client)."""

    def __init__(
        self,
        client: Any,
        deployments: Iterable[Deployment],
        *,
        prefix: str = "litecursor:router",
        interval: float = INTERVAL,
    ) -> None:
        self.client = client
        self.interval = interval
        self.local = MemoryState()
        self.instance = secrets.token_hex(8)
        self._hash = f"{prefix}:state"
        self._keys = {d.id: deployment_key(d) for d in deployments}
        self._remote: dict[str, Remote] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing_since = 0.0
        #: ticks completed (tests wait on it)
        self.ticks = 0

    # -- the StateStore the router reads, from memory ---------------------------------------

    def view(self, ids: Sequence[str], now: float) -> list[DeploymentState]:
        out = self.local.view(ids, now)
        remote = self._remote
        if not remote:
            return out
        for i, s in enumerate(out):
            r = remote.get(s.id)
            if r is None:
                continue
            out[i] = replace(
                s,
                in_flight=s.in_flight + r.in_flight,
                requests=s.requests + r.requests,
                tokens=s.tokens + r.tokens,
                fails=s.fails + r.fails,
                cooldown_until=max(s.cooldown_until, r.cooldown_until),
                oldest_request=_min(s.oldest_request, r.oldest_request),
                oldest_tokens=_min(s.oldest_tokens, r.oldest_tokens),
            )
        return out

    def begin(self, id: str, now: float) -> None:
        self.local.begin(id, now)

    def end(self, id: str) -> None:
        self.local.end(id)

    def latency(self, id: str, seconds: float) -> None:
        self.local.latency(id, seconds)

    def tokens(self, id: str, count: int, now: float) -> None:
        self.local.tokens(id, count, now)

    def failure(self, id: str, error: RecentError) -> int:
        return self.local.failure(id, error) + self._remote.get(id, NOTHING).fails

    def cool(self, id: str, until: float) -> None:
        self.local.cool(id, until)
        self._wake.set()  # the others should know now, not at the next tick

    # -- keeping in step ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="litecursor-router-state")

    async def close(self) -> None:
        await stop(self._task)
        self._task = None
        with contextlib.suppress(Exception):  # leave the others' sums now, not in STALE s
            await self.client.hdel(self._hash, self.instance)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.exchange()
            except Exception as e:  # Redis away: go on with this process's own counts
                now = time.monotonic()
                if now - self._failing_since > LOG_EVERY:
                    self._failing_since = now
                    log.warning("deployment state not shared while Redis fails: %s", e)

    def snapshot(self, now: float) -> bytes:
        """This instance's own state, for the others (wall-clock times)."""
        offset = _wall_offset()
        deps: dict[str, list[Any]] = {}
        for s in self.local.view(list(self._keys), now):
            cooling = s.cooldown_until if s.cooling(now) else 0.0
            if not (s.in_flight or s.requests or s.tokens or s.fails or cooling):
                continue
            deps[self._keys[s.id]] = [
                s.in_flight,
                s.requests,
                s.tokens,
                s.fails,
                cooling + offset if cooling else 0,
                None if s.oldest_request is None else s.oldest_request + offset,
                None if s.oldest_tokens is None else s.oldest_tokens + offset,
            ]
        return orjson.dumps({"at": now + offset, "deps": deps})

    async def exchange(self) -> None:
        """One round trip: publish this instance's snapshot, read everyone's."""
        now = time.monotonic()
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self._hash, self.instance, self.snapshot(now))
        pipe.expire(self._hash, int(STALE * 6))
        pipe.hgetall(self._hash)
        _, _, found = await pipe.execute()
        self._merge(found, now)
        self.ticks += 1

    def _merge(self, found: dict[bytes, bytes], now: float) -> None:
        offset = _wall_offset()
        wall = now + offset
        by_key: dict[str, list[Remote]] = {}
        stale: list[bytes] = []
        for who, raw in found.items():
            if who.decode() == self.instance:
                continue
            try:
                snap = orjson.loads(raw)
                at = float(snap["at"])
                deps = snap["deps"]
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                stale.append(who)
                continue
            if wall - at > STALE:
                stale.append(who)
                continue
            for key, v in deps.items():
                by_key.setdefault(key, []).append(
                    Remote(
                        int(v[0]),
                        int(v[1]),
                        int(v[2]),
                        int(v[3]),
                        float(v[4]) - offset if v[4] else 0.0,
                        None if v[5] is None else float(v[5]) - offset,
                        None if v[6] is None else float(v[6]) - offset,
                    )
                )
        remote: dict[str, Remote] = {}
        for id, key in self._keys.items():
            parts = by_key.get(key)
            if not parts:
                continue
            total = Remote(
                sum(p.in_flight for p in parts),
                sum(p.requests for p in parts),
                sum(p.tokens for p in parts),
                sum(p.fails for p in parts),
                max(p.cooldown_until for p in parts),
                min(
                    (p.oldest_request for p in parts if p.oldest_request is not None), default=None
                ),
                min((p.oldest_tokens for p in parts if p.oldest_tokens is not None), default=None),
            )
            remote[id] = total
        self._remote = remote
        if stale:
            task = asyncio.ensure_future(self.client.hdel(self._hash, *stale))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
