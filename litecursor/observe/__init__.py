"""Observability of the gateway: the server log's formats, Prometheus metrics, alerts and request exports.

`Observability` holds one gateway's metrics, alerts and exporters and their lifetime (an
aiohttp `cleanup_ctx` starts their background senders and flushes them at shutdown). Its
listeners follow every request from the pipeline's finish point; the router tells it of
cooldowns (`watch`); the keys feature calls `alerts.budget_crossed` after it settles a
request's cost, and `spend_rows_dropped` when its spend queue overflows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from ..config import Config
from ..router import Router
from .alerts import AlertMemory, Alerts
from .exports import Exports
from .metrics import Metrics


class Observability:
    def __init__(
        self,
        config: Config,
        redact: Callable[[str], str],
        *,
        backoff_first: float = 1.0,
        metrics: Metrics | None = None,
        alert_memory: AlertMemory | None = None,
    ) -> None:
        """`metrics` and `alert_memory` are the process's, when it keeps them across reloads
        (counters go on counting, nothing is alerted twice); fresh ones otherwise."""
        s = config.observability
        self.metrics = metrics if metrics is not None else Metrics()
        self.alerts = Alerts(
            s.alerts,
            on_drop=self.metrics.alert_dropped,
            backoff_first=backoff_first,
            memory=alert_memory,
        )
        self.exports = Exports(s.exports, redact, self._export_dropped, backoff_first)
        self._session: aiohttp.ClientSession | None = None

    # -- what other features call ----------------------------------------------------------

    def spend_rows_dropped(self, n: int, total: int) -> None:
        """The spend writer dropped `n` rows (`total` since start)."""
        self.metrics.spend_rows_dropped(n)
        self.alerts.dropped("spend_rows", total)

    def _export_dropped(self, exporter: str, n: int, total: int) -> None:
        self.metrics.export_dropped(exporter, n)
        self.alerts.dropped(f"export:{exporter}", total)

    # -- wiring ----------------------------------------------------------------------------

    def listeners(self) -> list[object]:
        out: list[object] = [self.metrics]
        if self.exports:
            out.append(self.exports)
        if self.alerts.enabled:
            out.append(self.alerts)
        return out

    def watch(self, router: Router) -> None:
        router.on_cooldown.append(self.metrics.cooldown)
        if self.alerts.enabled:
            router.on_cooldown.append(self.alerts.cooldown)

    async def start(self, routes: frozenset[str]) -> None:
        self.metrics.routes = routes
        if self.alerts.enabled or self.exports:
            # its own pool: a slow receiver never holds a connection the upstreams need
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=10)
            )
            self.alerts.start(self._session)
            self.exports.start(self._session)

    async def close(self, timeout: float = 5.0) -> None:
        """Flush the exports and alerts, all together within `timeout` seconds, then stop."""
        await asyncio.gather(self.exports.close(timeout), self.alerts.close(timeout))
        if self._session is not None:
            await self._session.close()
