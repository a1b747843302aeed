"""Request exports (`litellm_settings.callbacks`): a finish listener handing each request's record to the configured exporters.

Each exporter has its own bounded queue and background sender (`delivery.Delivery`): the
request only builds its record (once, shared by all exporters) and queues it. A receiver that
is down or hangs fills its queue, whose oldest records are then dropped and counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import aiohttp

from ...config.observability import ExportSettings, JsonlExport, WebhookExport
from ...pipeline import Call, Outcome
from ..delivery import Delivery
from ..logs import WallClock
from .record import Record, request_record

#: requests no exporter sees: preflights, liveness probes, scrapes
QUIET_PATHS = frozenset({"/health", "/metrics"})


class Sink(Protocol):
    name: str

    async def send(self, batch: list[Record]) -> None: ...

    async def aclose(self) -> None: ...


def make_sink(settings: ExportSettings) -> Sink:
    target = settings.target
    if isinstance(target, JsonlExport):
        from .jsonl import JsonlExporter

        return JsonlExporter(target)
    if isinstance(target, WebhookExport):
        from .webhook import WebhookExporter

        return WebhookExporter(target)
    from .otel import OtelExporter  # the optional extra: imported only when configured

    return OtelExporter(target, timeout=settings.delivery.timeout)


class Export:
    """One configured exporter and its queue."""

    def __init__(
        self,
        settings: ExportSettings,
        on_drop: Callable[[str, int, int], None],
        backoff_first: float = 1.0,
    ) -> None:
        self.settings = settings
        self.sink = make_sink(settings)
        d = settings.delivery
        name = settings.name
        self.delivery: Delivery[Record] = Delivery(
            f"export-{name}",
            self.sink.send,
            batch_size=d.batch_size,
            flush_interval=d.flush_interval,
            queue_size=d.queue_size,
            # the OTLP exporter keeps its own timeout inside its worker thread: wait for it
            timeout=d.timeout * 2 if name == "otel" else d.timeout,
            on_drop=lambda n: on_drop(name, n, self.delivery.dropped),
            backoff_first=backoff_first,
        )


class Exports:
    """The finish listener: each request's record to every exporter that wants it
    (`success_callback`: answered requests, `failure_callback`: failed ones)."""

    def __init__(
        self,
        settings: tuple[ExportSettings, ...],
        redact: Callable[[str], str],
        on_drop: Callable[[str, int, int], None],
        backoff_first: float = 1.0,
    ) -> None:
        self.exports = [Export(s, on_drop, backoff_first) for s in settings]
        self._redact = redact
        self._clock = WallClock()

    def __bool__(self) -> bool:
        return bool(self.exports)

    def finish(self, call: Call, outcome: Outcome) -> None:
        if call.method == "OPTIONS" or call.route in QUIET_PATHS:
            return
        ok = outcome.ok
        record: Record | None = None
        for e in self.exports:
            if e.settings.on_success if ok else e.settings.on_failure:
                if record is None:
                    record = request_record(call, outcome, self._redact, self._clock)
                e.delivery.put(record)

    def start(self, session: aiohttp.ClientSession) -> None:
        for e in self.exports:
            if hasattr(e.sink, "session"):
                e.sink.session = session
            e.delivery.start()

    async def close(self, timeout: float = 5.0) -> None:
        """Flush every exporter (together, within `timeout`), then close them."""
        await asyncio.gather(*(e.delivery.close(timeout) for e in self.exports))
        for e in self.exports:
            await e.sink.aclose()
