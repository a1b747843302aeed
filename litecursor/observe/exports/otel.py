"""The `otel` exporter: one OpenTelemetry span per chat request, over OTLP/HTTP, with the GenAI semantic conventions.

Needs the `otel` extra (`pip install 'litecursor[otel]'`: opentelemetry-sdk and its OTLP/HTTP
exporter); the config refuses `otel` without it. Spans are built from the request records and
exported from a worker thread by the SDK's `OTLPSpanExporter`; nothing of it runs on a
request's path. The tracer provider is this exporter's own, never the process-wide one.

Attributes follow the GenAI conventions (semantic-conventions 1.37+: `gen_ai.provider.name`,
`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.response.finish_reasons`,
`gen_ai.usage.*`), so Langfuse, Phoenix, Grafana and Datadog read them as they are; the older
`gen_ai.system` is set too, for backends that still read it. A span's trace id is the request
id when that is 32 hex digits (the gateway's own ids): the `x-request-id` a client got finds
its trace. Upstream attempts are the span's `attempt` events.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from ... import __version__
from ...config.observability import OtelExport
from ..delivery import SendError
from .record import Record

#: litellm `model:` prefixes -> the conventions' `gen_ai.provider.name` well-known values
PROVIDERS = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "perplexity": "perplexity",
}


class _Collect(SpanProcessor):
    """Keeps the spans ended during one export call."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


class _RequestIds(RandomIdGenerator):
    """The next span's trace id is the request's id when it is 128 bits of hex."""

    def __init__(self) -> None:
        self.next: int | None = None

    def generate_trace_id(self) -> int:
        trace_id, self.next = self.next, None
        return trace_id or super().generate_trace_id()


def _trace_id(request_id: str) -> int | None:
    if len(request_id) != 32:
        return None
    try:
        return int(request_id, 16) or None
    except ValueError:
        return None


def is_chat(record: Record) -> bool:
    return record["model"] is not None or str(record["route"]).endswith("/chat/completions")


def attributes(r: Record) -> dict[str, Any]:
    """A record's span attributes; None values are left out (OpenTelemetry has no null)."""
    provider = PROVIDERS.get(r["provider"] or "", r["provider"])
    usage = r["usage"] or {}
    err = r["error"]
    host, _, port = (r["upstream_host"] or "").partition(":")
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": r["model"],
        "gen_ai.response.model": r["upstream_model"],
        "gen_ai.response.id": r["response_id"],
        "gen_ai.response.finish_reasons": [r["finish_reason"]] if r["finish_reason"] else None,
        "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
        "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
        "gen_ai.usage.cache_read.input_tokens": usage.get("cached_tokens"),
        "gen_ai.usage.cache_creation.input_tokens": usage.get("cache_creation_tokens"),
        "gen_ai.conversation.id": r["conversation_id"],
        "server.address": host or None,
        "server.port": int(port) if port.isdigit() else None,
        "error.type": err["kind"] if err else None,
        "http.request.method": r["method"],
        "http.route": r["route"],
        "http.response.status_code": r["status"],
        "client.address": r["client_ip"],
        "user_agent.original": r["user_agent"],
        "litecursor.request_id": r["request_id"],
        "litecursor.model_group": r["model_group"],
        "litecursor.deployment": r["deployment"],
        "litecursor.stream": r["stream"],
        "litecursor.ttft_ms": r["ttft_ms"],
        "litecursor.cost_usd": r["cost"],
        "litecursor.key": r["key"],
        "litecursor.user_id": r["user_id"],
        "litecursor.team_id": r["team_id"],
        "litecursor.end_user": r["end_user"],
        "litecursor.client_gone": r["client_gone"],
        "litecursor.reasoning_tokens": usage.get("reasoning_tokens"),
    }
    return {k: v for k, v in attrs.items() if v is not None}


class OtelExporter:
    name = "otel"

    def __init__(self, settings: OtelExport, timeout: float = 10.0) -> None:
        self.settings = settings
        self._ids = _RequestIds()
        self._collect = _Collect()
        self._provider = TracerProvider(
            resource=Resource.create(
                {"service.name": settings.service_name, "service.version": __version__}
            ),
            id_generator=self._ids,
            shutdown_on_exit=False,
        )
        self._provider.add_span_processor(self._collect)
        self._tracer = self._provider.get_tracer("litecursor", __version__)
        self._exporter = OTLPSpanExporter(
            endpoint=settings.endpoint, headers=dict(settings.headers), timeout=timeout
        )
        # its own thread: an export blocked on a hanging receiver (up to `timeout`) holds
        # neither the event loop nor the loop's default executor, which shutdown waits for
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="litecursor-otel")

    async def send(self, batch: list[Record]) -> None:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._thread, self._export, batch)
        if result is not SpanExportResult.SUCCESS:
            raise SendError("the OTLP receiver did not accept the spans")

    def _export(self, batch: list[Record]) -> SpanExportResult:
        spans = self.spans(batch)
        return self._exporter.export(spans) if spans else SpanExportResult.SUCCESS

    def spans(self, batch: list[Record]) -> list[ReadableSpan]:
        """The spans of a batch's chat requests (built in the export thread)."""
        self._collect.spans = []
        for r in batch:
            if not is_chat(r):
                continue
            start = int(r["start_unix"] * 1e9)
            self._ids.next = _trace_id(r["request_id"])
            span = self._tracer.start_span(
                f"chat {r['model']}" if r["model"] else "chat",
                kind=SpanKind.CLIENT,
                attributes=attributes(r),
                start_time=start,
            )
            for a in r["attempts"]:
                span.add_event(
                    "attempt",
                    {
                        k: v
                        for k, v in (
                            ("litecursor.deployment", a["deployment"]),
                            ("http.response.status_code", a["status"]),
                            ("litecursor.latency_ms", a["latency_ms"]),
                            ("error.type", a["error_kind"]),
                            ("litecursor.error", a["error"]),
                        )
                        if v is not None
                    },
                    timestamp=start + int(a["offset_ms"] * 1_000_000),
                )
            err = r["error"]
            if err is not None or r["status"] >= 500:
                span.set_status(Status(StatusCode.ERROR, err["message"] if err else None))
            span.end(end_time=start + int(r["duration_ms"] * 1_000_000))
        return self._collect.spans

    async def aclose(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._provider.shutdown()
        self._exporter.shutdown()
