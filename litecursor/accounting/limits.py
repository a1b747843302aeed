"""Requests and tokens per minute and requests in flight, per key, user, team and the whole proxy.

Windows are whole minutes of the wall clock, the same on every instance: with Redis
(`router_settings.redis_*`) every instance and worker counts in the same windows; without it
each process counts alone. A request is admitted on every scope or on none.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import RateLimitError
from .quiet import Throttled

log = logging.getLogger("litecursor.limits")
warn = Throttled(log)

WINDOW = 60
#: a parallel counter outlives a crashed instance by at most this (seconds)
PARALLEL_TTL = 900


@dataclass(frozen=True, slots=True)
class Scope:
    """One rate-limited subject (`key:<hash>`, `user:<id>`, `team:<id>`, `proxy`)."""

    id: str
    rpm: int | None = None
    tpm: int | None = None
    parallel: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """A scope's counts in the current window, after admitting the request."""

    scope: Scope
    requests: int
    tokens: int
    in_flight: int


def window_of(now: float) -> int:
    return int(now // WINDOW)


def headers(usages: Sequence[Usage], now: float) -> dict[str, str]:
    """OpenAI's `x-ratelimit-*` headers for the most constrained scope of each kind."""
    requests: tuple[int, int] | None = None  # (limit, remaining)
    tokens: tuple[int, int] | None = None
    for u in usages:
        s = u.scope
        if s.rpm is not None and (requests is None or s.rpm - u.requests < requests[1]):
            requests = (s.rpm, s.rpm - u.requests)
        if s.tpm is not None and (tokens is None or s.tpm - u.tokens < tokens[1]):
            tokens = (s.tpm, s.tpm - u.tokens)
    out: dict[str, str] = {}
    if requests is None and tokens is None:
        return out
    reset = f"{math.ceil((window_of(now) + 1) * WINDOW - now)}s"
    if requests is not None:
        out["x-ratelimit-limit-requests"] = str(requests[0])
        out["x-ratelimit-remaining-requests"] = str(max(0, requests[1]))
        out["x-ratelimit-reset-requests"] = reset
    if tokens is not None:
        out["x-ratelimit-limit-tokens"] = str(tokens[0])
        out["x-ratelimit-remaining-tokens"] = str(max(0, tokens[1]))
        out["x-ratelimit-reset-tokens"] = reset
    return out


def refusal(scope: Scope, kind: str, requests: int, tokens: int, now: float) -> RateLimitError:
    reset = (window_of(now) + 1) * WINDOW - now
    who = scope.id.split(":", 1)[0]
    if kind == "parallel":
        err = RateLimitError(
            f"{who} has {scope.parallel} request(s) in flight, its max_parallel_requests; "
            "retry when one finishes",
            retry_after=1.0,
            code="max_parallel_requests_exceeded",
        )
    elif kind == "tokens":
        err = RateLimitError(
            f"{who} used {tokens} tokens this minute, its tpm_limit is {scope.tpm}",
            retry_after=reset,
        )
    else:
        err = RateLimitError(
            f"{who} made {requests} requests this minute, its rpm_limit is {scope.rpm}",
            retry_after=reset,
        )
    err.headers.update(headers([Usage(scope, requests, tokens, 0)], now))
    return err


class Limiter(Protocol):
    async def acquire(self, scopes: Sequence[Scope], now: float) -> list[Usage]:
        """Count the request on every scope, or raise `RateLimitError` and count it on none."""

    def release(self, scopes: Sequence[Scope], tokens: int, now: float) -> None:
        """The request is over: one fewer in flight; its tokens count this minute. Never
        waits: a shared limiter sends it in the background (`drain` waits for that)."""

    async def drain(self) -> None:
        """Wait for the releases under way (shutdown, tests)."""


class MemoryLimiter:
    """For one process."""

    def __init__(self) -> None:
        # scope id -> [window, requests, tokens, in flight]
        self._counts: dict[str, list[int]] = {}

    def _slot(self, id: str, window: int) -> list[int]:
        slot = self._counts.get(id)
        if slot is None:
            slot = self._counts[id] = [window, 0, 0, 0]
        elif slot[0] != window:
            slot[0], slot[1], slot[2] = window, 0, 0
        return slot

    async def acquire(self, scopes: Sequence[Scope], now: float) -> list[Usage]:
        window = window_of(now)
        slots = [self._slot(s.id, window) for s in scopes]
        for s, slot in zip(scopes, slots, strict=True):
            if s.rpm is not None and slot[1] >= s.rpm:
                raise refusal(s, "requests", slot[1], slot[2], now)
            if s.tpm is not None and slot[2] >= s.tpm:
                raise refusal(s, "tokens", slot[1], slot[2], now)
            if s.parallel is not None and slot[3] >= s.parallel:
                raise refusal(s, "parallel", slot[1], slot[2], now)
        out = []
        for s, slot in zip(scopes, slots, strict=True):
            slot[1] += 1
            slot[3] += 1
            out.append(Usage(s, slot[1], slot[2], slot[3]))
        return out

    def release(self, scopes: Sequence[Scope], tokens: int, now: float) -> None:
        window = window_of(now)
        for s in scopes:
            slot = self._slot(s.id, window)
            slot[3] = max(0, slot[3] - 1)
            slot[2] += tokens

    async def drain(self) -> None:
        pass


# One round trip, atomic: check every scope, then count on all of them. Per scope i the keys
# are its requests, tokens and in-flight counters; ARGV holds the limits (-1: none).
_ACQUIRE = """
local n = #KEYS / 3
for i = 0, n - 1 do
  local r = tonumber(redis.call('GET', KEYS[i*3+1]) or '0')
  local t = tonumber(redis.call('GET', KEYS[i*3+2]) or '0')
  local p = tonumber(redis.call('GET', KEYS[i*3+3]) or '0')
  local rl, tl, pl = tonumber(ARGV[i*3+1]), tonumber(ARGV[i*3+2]), tonumber(ARGV[i*3+3])
  if rl >= 0 and r >= rl then return {i, 1, r, t} end
  if tl >= 0 and t >= tl then return {i, 2, r, t} end
  if pl >= 0 and p >= pl then return {i, 3, r, t} end
end
local out = {-1, 0, 0, 0}
for i = 0, n - 1 do
  local r = redis.call('INCR', KEYS[i*3+1])
  redis.call('EXPIRE', KEYS[i*3+1], 120)
  local p = redis.call('INCR', KEYS[i*3+3])
  redis.call('EXPIRE', KEYS[i*3+3], tonumber(ARGV[#ARGV]))
  table.insert(out, r)
  table.insert(out, tonumber(redis.call('GET', KEYS[i*3+2]) or '0'))
  table.insert(out, p)
end
return out
"""
_RELEASE = """
local n = #KEYS / 2
for i = 0, n - 1 do
  local p = tonumber(redis.call('GET', KEYS[i*2+2]) or '0')
  if p > 0 then redis.call('DECR', KEYS[i*2+2]) end
  if tonumber(ARGV[1]) > 0 then
    redis.call('INCRBY', KEYS[i*2+1], ARGV[1])
    redis.call('EXPIRE', KEYS[i*2+1], 120)
  end
end
return 0
"""
_KINDS = {1: "requests", 2: "tokens", 3: "parallel"}


class RedisLimiter:
    """Shared by every instance and worker using the same Redis (redis-py's asyncio client)."""

    def __init__(self, client: Any, prefix: str = "litecursor:limits") -> None:
        self.client = client
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._pending: set[asyncio.Task[None]] = set()

    def _keys(self, s: Scope, window: int) -> list[str]:
        return [
            f"{self.prefix}:{s.id}:r:{window}",
            f"{self.prefix}:{s.id}:t:{window}",
            f"{self.prefix}:{s.id}:p",
        ]

    async def acquire(self, scopes: Sequence[Scope], now: float) -> list[Usage]:
        if not scopes:
            return []
        window = window_of(now)
        keys: list[str] = []
        args: list[int] = []
        for s in scopes:
            keys += self._keys(s, window)
            args += [_limit(s.rpm), _limit(s.tpm), _limit(s.parallel)]
        args.append(PARALLEL_TTL)
        result = [int(x) for x in await self._acquire(keys=keys, args=args)]
        if result[0] >= 0:
            s = scopes[result[0]]
            raise refusal(s, _KINDS[result[1]], result[2], result[3], now)
        counts = result[4:]
        return [
            Usage(s, counts[i * 3], counts[i * 3 + 1], counts[i * 3 + 2])
            for i, s in enumerate(scopes)
        ]

    def release(self, scopes: Sequence[Scope], tokens: int, now: float) -> None:
        if not scopes:
            return
        window = window_of(now)
        keys: list[str] = []
        for s in scopes:
            k = self._keys(s, window)
            keys += [k[1], k[2]]
        task = asyncio.ensure_future(self._send_release(keys, tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_release(self, keys: list[str], tokens: int) -> None:
        try:
            await self._release(keys=keys, args=[tokens])
        except Exception as e:  # Redis away: the in-flight count expires (PARALLEL_TTL)
            warn.warning("release", "cannot release rate-limit counts in Redis: %s", e)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def _limit(v: int | None) -> int:
    return -1 if v is None else v
