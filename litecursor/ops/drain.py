"""Requests in flight, and how they end at shutdown: finish within the grace period, then stop with an SSE error chunk.

Each request's task is tracked while it runs (one set add and remove). At shutdown the
runtime waits for the set to empty, up to `--graceful-timeout`; whatever is still running then
is cancelled with `SHUTDOWN`, which a streaming handler answers with an error chunk instead
of a dropped connection (`is_shutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

__all__ = ["SHUTDOWN", "Drain", "is_shutdown"]

#: the cancellation message that tells a handler the gateway is stopping
SHUTDOWN = "litecursor: shutting down"


def is_shutdown(error: asyncio.CancelledError) -> bool:
    """Whether this cancellation is the drain ending the request (not the client leaving)."""
    return bool(error.args) and error.args[0] == SHUTDOWN


class Drain:
    __slots__ = ("_idle", "tasks")

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[object]] = set()
        self._idle: asyncio.Event | None = None

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self.tasks.add(task)
        try:
            yield
        finally:
            self.tasks.discard(task)
            if not self.tasks and self._idle is not None:
                self._idle.set()

    @property
    def active(self) -> int:
        return len(self.tasks)

    async def wait(self, timeout: float) -> bool:
        """Wait until no request is in flight, at most `timeout` seconds; True if none is."""
        if not self.tasks:
            return True
        self._idle = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return not self.tasks

    def end_all(self) -> int:
        """Cancel what is still running with `SHUTDOWN`; how many were."""
        running = [t for t in self.tasks if not t.done()]
        for task in running:
            task.cancel(SHUTDOWN)
        return len(running)
