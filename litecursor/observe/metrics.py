"""Prometheus metrics of the gateway (`GET /metrics`): a listener of every request, the router's cooldowns, drops.

One process keeps its values as plain numbers in dicts, read by a collector at scrape time: a
request costs a few dict operations, less than half of what prometheus-client's metric objects
cost (they take a lock and validate on every operation: 14-16 µs per request against 6-7 µs,
measured side by side on a loaded machine; `benchmarks/listeners.py` times the listener). Each
gateway has its own values (several may run in one process: tests, an embedding program).

With several worker processes, prometheus-client's multiprocess mode sums them: the
environment variable `PROMETHEUS_MULTIPROC_DIR` names an empty directory, set before the
workers start, where each process keeps its values in memory-mapped files (prometheus-client's
own metric objects, then); any worker's `/metrics` reads all of them (README "Metrics"). The
process that starts the workers calls `worker_exited(pid)` for each one that ends, so that
its open streams stop counting.

Label values come from the config (model groups, deployments, routes), the keys (aliases)
and status codes: bounded sets, never a request's own text. No label ever holds a key.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.utils import floatToGoString

from ..pipeline import Call, Outcome

if TYPE_CHECKING:
    from ..protocol.types import ChatRequest
    from ..router import Cooldown

#: prometheus-client's own variable for its multiprocess mode
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: the route label of a path no route serves (a 404): one value for all of them
OTHER_ROUTE = "other"

#: whole requests take from a second to several minutes (agent turns stream for long)
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60)
_NOTE = "metrics.stream"


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: looked up per request
class Spec:
    kind: Literal["counter", "histogram", "gauge"]
    #: without `_total`, which the exposition adds to counters
    name: str
    doc: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    #: how processes' values of a gauge combine in multiprocess mode
    mode: Literal["livesum", "livemax"] = "livesum"


GROUP_DEP = ("model_group", "deployment")
REQUESTS = Spec(
    "counter",
    "litecursor_requests",
    "Requests answered, by model group, deployment, route and status",
    ("model_group", "deployment", "route", "status"),
)
DURATION = Spec(
    "histogram",
    "litecursor_request_duration_seconds",
    "Time from a chat request's arrival to the end of its answer",
    GROUP_DEP,
    DURATION_BUCKETS,
)
TTFT = Spec(
    "histogram",
    "litecursor_time_to_first_token_seconds",
    "Time from a streamed request's arrival to its first byte of answer",
    GROUP_DEP,
    TTFT_BUCKETS,
)
TOKENS = Spec(
    "counter",
    "litecursor_tokens",
    "Tokens used, by key, model group and type (prompt, completion, cached, cache_creation, "
    "reasoning; cached and cache_creation are part of prompt, reasoning part of completion)",
    ("key_alias", "model_group", "type"),
)
SPEND = Spec(
    "counter",
    "litecursor_spend_usd",
    "What requests cost in US dollars, by key and model group",
    ("key_alias", "model_group"),
)
OPEN_STREAMS = Spec("gauge", "litecursor_open_streams", "Streamed chat requests in progress")
COOLDOWNS = Spec(
    "counter",
    "litecursor_deployment_cooldowns",
    "Times a deployment started cooling down after failures",
    GROUP_DEP,
)
COOLDOWN_UNTIL = Spec(
    "gauge",
    "litecursor_deployment_cooldown_until_seconds",
    "Unix time a deployment's last cooldown ends (cooling down: value > time())",
    GROUP_DEP,
    mode="livemax",
)
UPSTREAM_ERRORS = Spec(
    "counter",
    "litecursor_upstream_errors",
    "Failed attempts at a deployment, by kind of error",
    ("deployment", "type"),
)
SPEND_ROWS_DROPPED = Spec(
    "counter",
    "litecursor_spend_rows_dropped",
    "Spend rows dropped because the spend queue was full (database unreachable)",
)
EXPORT_DROPPED = Spec(
    "counter",
    "litecursor_export_dropped",
    "Request records an exporter dropped (receiver down, queue full)",
    ("exporter",),
)
ALERTS_DROPPED = Spec(
    "counter",
    "litecursor_alerts_dropped",
    "Alerts that could not be delivered to a receiver",
    ("receiver",),
)
SPECS = (
    REQUESTS,
    DURATION,
    TTFT,
    TOKENS,
    SPEND,
    OPEN_STREAMS,
    COOLDOWNS,
    COOLDOWN_UNTIL,
    UPSTREAM_ERRORS,
    SPEND_ROWS_DROPPED,
    EXPORT_DROPPED,
    ALERTS_DROPPED,
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def worker_exited(pid: int, directory: str | None = None) -> None:
    """A worker process ended: its live gauges (open streams, cooldowns) stop counting.
    Called by the process that started the workers (`directory`: theirs, else this process's
    own `PROMETHEUS_MULTIPROC_DIR`)."""
    directory = directory or multiprocess_dir()
    if directory:
        mark_process_dead(pid, directory)


class _Local:
    """This process's values as plain numbers, exposed by `collect` at scrape time."""

    def __init__(self) -> None:
        self.values: dict[Spec, dict[tuple[str, ...], Any]] = {s: {} for s in SPECS}
        self.values[OPEN_STREAMS][()] = 0.0
        self.values[SPEND_ROWS_DROPPED][()] = 0.0

    def inc(self, spec: Spec, labels: tuple[str, ...], n: float = 1.0) -> None:
        d = self.values[spec]
        d[labels] = d.get(labels, 0.0) + n

    def set(self, spec: Spec, labels: tuple[str, ...], value: float) -> None:
        self.values[spec][labels] = value

    def observe(self, spec: Spec, labels: tuple[str, ...], value: float) -> None:
        d = self.values[spec]
        h = d.get(labels)
        if h is None:
            # a count per bucket (the last is +Inf), then the sum
            h = d[labels] = [0] * (len(spec.buckets) + 1) + [0.0]
        h[bisect_left(spec.buckets, value)] += 1  # the first bucket with value <= le
        h[-1] += value

    def collect(self) -> Iterator[Metric]:
        for spec in SPECS:
            values = self.values[spec]
            family: Metric
            if spec.kind == "counter":
                family = CounterMetricFamily(spec.name, spec.doc, labels=spec.labels)
                for labels, v in values.items():
                    family.add_metric(labels, v)
            elif spec.kind == "gauge":
                family = GaugeMetricFamily(spec.name, spec.doc, labels=spec.labels)
                for labels, v in values.items():
                    family.add_metric(labels, v)
            else:
                family = HistogramMetricFamily(spec.name, spec.doc, labels=spec.labels)
                bounds = [floatToGoString(b) for b in spec.buckets] + ["+Inf"]
                for labels, h in values.items():
                    cumulative, total = [], 0
                    for bound, n in zip(bounds, h[:-1], strict=True):
                        total += n
                        cumulative.append((bound, total))
                    family.add_metric(labels, cumulative, h[-1])
            yield family


class _Shared:
    """prometheus-client's metric objects, whose values live in the multiprocess directory."""

    def __init__(self) -> None:
        if not getattr(prometheus_values.ValueClass, "_multiprocess", False):
            # prometheus-client picks its value class when first imported; the variable may
            # have been set after that (by a parent process that imported it before forking)
            prometheus_values.ValueClass = prometheus_values.get_value_class()
        registry = CollectorRegistry()  # never exposed: scrapes read the directory
        self.metrics: dict[Spec, Any] = {}
        for s in SPECS:
            if s.kind == "counter":
                m: Any = Counter(s.name, s.doc, s.labels, registry=registry)
            elif s.kind == "gauge":
                m = Gauge(s.name, s.doc, s.labels, registry=registry, multiprocess_mode=s.mode)
            else:
                m = Histogram(s.name, s.doc, s.labels, registry=registry, buckets=s.buckets)
            self.metrics[s] = m
        self._children: dict[tuple[Spec, tuple[str, ...]], Any] = {}

    def _child(self, spec: Spec, labels: tuple[str, ...]) -> Any:
        child = self._children.get((spec, labels))
        if child is None:
            m = self.metrics[spec]
            child = self._children[(spec, labels)] = m.labels(*labels) if labels else m
        return child

    def inc(self, spec: Spec, labels: tuple[str, ...], n: float = 1.0) -> None:
        self._child(spec, labels).inc(n)

    def set(self, spec: Spec, labels: tuple[str, ...], value: float) -> None:
        self._child(spec, labels).set(value)

    def observe(self, spec: Spec, labels: tuple[str, ...], value: float) -> None:
        self._child(spec, labels).observe(value)


class Metrics:
    """The gateway's metrics, fed by the pipeline (`admit`, `finish`), the router
    (`cooldown`) and the queues that may drop (`spend_rows_dropped`, `export_dropped`)."""

    def __init__(self, routes: frozenset[str] = frozenset()) -> None:
        #: the paths served (route labels); any other path counts as `other`
        self.routes = routes
        self.multiprocess = multiprocess_dir()
        self._store: _Local | _Shared = _Shared() if self.multiprocess else _Local()

    # -- the pipeline --------------------------------------------------------------------

    async def admit(self, call: Call, req: ChatRequest) -> None:
        if req.stream:
            self._store.inc(OPEN_STREAMS, (), 1)
            call.notes[_NOTE] = True

    def finish(self, call: Call, outcome: Outcome) -> None:
        store = self._store
        if call.notes.get(_NOTE):
            store.inc(OPEN_STREAMS, (), -1)
        group = outcome.model_group or ""
        d = outcome.deployment
        dep = d.id if d is not None else ""
        route = call.route if call.route in self.routes else OTHER_ROUTE
        store.inc(REQUESTS, (group, dep, route, str(outcome.status)))
        for a in outcome.attempts:
            if a.status is not None and a.kind != "cancelled":
                store.inc(UPSTREAM_ERRORS, (a.deployment_id, a.kind or str(a.status)))
        if not group:
            return
        store.observe(DURATION, (group, dep), outcome.ended_at - call.started)
        if call.stream and outcome.first_byte_at is not None:
            store.observe(TTFT, (group, dep), outcome.first_byte_at - call.started)
        who = call.identity.label if call.identity is not None else ""
        usage = outcome.usage
        if usage is not None:
            store.inc(TOKENS, (who, group, "prompt"), usage.prompt_tokens)
            store.inc(TOKENS, (who, group, "completion"), usage.completion_tokens)
            for kind, n in (
                ("cached", usage.cached_tokens),
                ("cache_creation", usage.cache_creation_tokens),
                ("reasoning", usage.reasoning_tokens),
            ):
                if n:
                    store.inc(TOKENS, (who, group, kind), n)
        if call.cost:
            store.inc(SPEND, (who, group), call.cost)

    # -- the router and the queues -------------------------------------------------------

    def cooldown(self, event: Cooldown) -> None:
        d = event.deployment
        self._store.inc(COOLDOWNS, (d.model_name, d.id))
        self._store.set(COOLDOWN_UNTIL, (d.model_name, d.id), time.time() + event.seconds)

    def spend_rows_dropped(self, n: int = 1) -> None:
        self._store.inc(SPEND_ROWS_DROPPED, (), n)

    def export_dropped(self, exporter: str, n: int = 1) -> None:
        self._store.inc(EXPORT_DROPPED, (exporter,), n)

    def alert_dropped(self, receiver: str, n: int = 1) -> None:
        self._store.inc(ALERTS_DROPPED, (receiver,), n)

    # -- exposition ----------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text format: this gateway's values, or every process's in
        multiprocess mode."""
        registry = CollectorRegistry()
        if isinstance(self._store, _Shared):
            MultiProcessCollector(registry, path=self.multiprocess)
        else:
            registry.register(self._store)
        return generate_latest(registry)
