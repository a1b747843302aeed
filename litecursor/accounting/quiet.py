"""Warnings about a failing service (the database, Redis), logged once per interval rather than once per request."""

from __future__ import annotations

import logging
import time

#: how often the same failure is logged again while it lasts
EVERY = 30.0


class Throttled:
    """`warning(what, ...)`: logged the first time, then at most once every `every` seconds
    for the same `what`, however many requests meet the failure meanwhile."""

    __slots__ = ("_last", "every", "log")

    def __init__(self, log: logging.Logger, every: float = EVERY) -> None:
        self.log = log
        self.every = every
        self._last: dict[str, float] = {}

    def warning(self, what: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(what)
        if last is not None and now - last < self.every:
            return
        self._last[what] = now
        self.log.warning(message, *args)
