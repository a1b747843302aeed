"""What the router remembers about each deployment, behind a small interface a shared store can implement.

The in-memory `MemoryState` serves one process. Several instances serving one config would
use a shared implementation (Redis) of the same `StateStore` protocol, fed a wall clock
instead of the monotonic one. Every method is synchronous and cheap: it runs once or twice
per attempt, never per streamed chunk.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

#: the sliding window for rpm, tpm and `allowed_fails`, in seconds
WINDOW = 60.0
#: how many recent latencies are averaged, and how many recent errors are kept
LATENCY_SAMPLES = 10
ERROR_SAMPLES = 5


class Clock(Protocol):
    """The router's time source; tests inject a manual one to step through cooldowns."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class RecentError:
    at: float
    status: int | None
    message: str


@dataclass(frozen=True, slots=True)
class DeploymentState:
    """A read-only view of one deployment at one moment (times are clock times)."""

    id: str
    in_flight: int = 0
    cooldown_until: float = 0.0
    #: attempts started, tokens used and failures within the last `WINDOW` seconds
    requests: int = 0
    tokens: int = 0
    fails: int = 0
    #: when the oldest request / token record in the window was made (None: none)
    oldest_request: float | None = None
    oldest_tokens: float | None = None
    #: mean of the recent time-to-first-token (streams) or response time, seconds
    latency: float | None = None
    errors: tuple[RecentError, ...] = ()

    def cooling(self, now: float) -> bool:
        return self.cooldown_until > now


class StateStore(Protocol):
    def view(self, ids: Sequence[str], now: float) -> list[DeploymentState]:
        """The state of each deployment named, in order (one round trip for a shared store)."""

    def begin(self, id: str, now: float) -> None:
        """An attempt starts: one more in flight, one more request in the rpm window."""

    def end(self, id: str) -> None:
        """An attempt is over, whatever its outcome."""

    def latency(self, id: str, seconds: float) -> None:
        """Record a time-to-first-token (or a whole response time)."""

    def tokens(self, id: str, count: int, now: float) -> None:
        """Record tokens used, for `tpm`."""

    def failure(self, id: str, error: RecentError) -> int:
        """Record a failure; returns the failures within the window, this one included."""

    def cool(self, id: str, until: float) -> None:
        """Skip the deployment until then; its failure count starts again from zero."""


class _Window:
    """A count over the last `WINDOW` seconds, kept per whole second: its memory is bounded by
    the window's length, not by the traffic (a timestamp per request would be 90,000 entries
    per deployment at 1,500 requests/s). A second's count leaves the window once all of that
    second is more than `WINDOW` old, so a limit frees at most a second late, never early."""

    __slots__ = ("_seconds", "total")

    def __init__(self) -> None:
        self._seconds: deque[list[int]] = deque()  # [second, count], oldest first
        self.total = 0

    def add(self, now: float, n: int = 1) -> None:
        second = math.floor(now)
        if self._seconds and self._seconds[-1][0] == second:
            self._seconds[-1][1] += n
        else:
            self._seconds.append([second, n])
        self.total += n

    def prune(self, now: float) -> None:
        edge = now - WINDOW
        seconds = self._seconds
        while seconds and seconds[0][0] + 1 <= edge:
            self.total -= seconds.popleft()[1]

    def oldest(self) -> float | None:
        """When the oldest count in the window was made, as the end of its second (the
        window frees it `WINDOW` seconds after that)."""
        return self._seconds[0][0] + 1.0 if self._seconds else None

    def clear(self) -> None:
        self._seconds.clear()
        self.total = 0


class _Slot:
    __slots__ = (
        "cooldown_until",
        "errors",
        "fails",
        "in_flight",
        "latencies",
        "requests",
        "tokens",
    )

    def __init__(self) -> None:
        self.in_flight = 0
        self.cooldown_until = 0.0
        self.requests = _Window()
        self.tokens = _Window()
        self.fails = _Window()
        self.latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.errors: deque[RecentError] = deque(maxlen=ERROR_SAMPLES)

    def prune(self, now: float) -> None:
        self.requests.prune(now)
        self.tokens.prune(now)
        self.fails.prune(now)


class MemoryState:
    """`StateStore` for one process."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def _slot(self, id: str) -> _Slot:
        slot = self._slots.get(id)
        if slot is None:
            slot = self._slots[id] = _Slot()
        return slot

    def view(self, ids: Sequence[str], now: float) -> list[DeploymentState]:
        out = []
        for id in ids:
            s = self._slot(id)
            s.prune(now)
            out.append(
                DeploymentState(
                    id=id,
                    in_flight=s.in_flight,
                    cooldown_until=s.cooldown_until,
                    requests=s.requests.total,
                    tokens=s.tokens.total,
                    fails=s.fails.total,
                    oldest_request=s.requests.oldest(),
                    oldest_tokens=s.tokens.oldest(),
                    latency=sum(s.latencies) / len(s.latencies) if s.latencies else None,
                    errors=tuple(s.errors),
                )
            )
        return out

    def begin(self, id: str, now: float) -> None:
        s = self._slot(id)
        s.in_flight += 1
        s.requests.add(now)

    def end(self, id: str) -> None:
        s = self._slot(id)
        s.in_flight = max(0, s.in_flight - 1)

    def latency(self, id: str, seconds: float) -> None:
        self._slot(id).latencies.append(seconds)

    def tokens(self, id: str, count: int, now: float) -> None:
        if count > 0:
            self._slot(id).tokens.add(now, count)

    def failure(self, id: str, error: RecentError) -> int:
        s = self._slot(id)
        s.errors.append(error)
        s.prune(error.at)
        s.fails.add(error.at)
        return s.fails.total

    def cool(self, id: str, until: float) -> None:
        s = self._slot(id)
        s.cooldown_until = max(s.cooldown_until, until)
        # a recovered deployment starts with a clean slate, not one failure from cooling again
        s.fails.clear()
