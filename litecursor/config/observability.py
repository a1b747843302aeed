"""Alerts, request exports and the metrics token: `general_settings.alerting*`, `litellm_settings.*callback*`.

LiteLLM's names throughout: `alerting: [slack, webhook]` with `SLACK_WEBHOOK_URL` / `WEBHOOK_URL`
(or `alerting_args.slack_webhook_url` / `webhook_url`), `alerting_threshold`, `alert_types`;
`callbacks` / `success_callback` / `failure_callback` naming the exporters, and
`callback_settings.<exporter>` for their options.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from .values import ConfigError, ValueReader

#: the keys each section gives this module (settings.py accepts them)
GENERAL_KEYS = frozenset({"alerting", "alerting_threshold", "alert_types", "alerting_args"})
LITELLM_KEYS = frozenset(
    {
        "callbacks",
        "success_callback",
        "failure_callback",
        "callback_settings",
        "json_logs",
        "turn_off_message_logging",
    }
)
LITECURSOR_KEYS = frozenset({"metrics_token"})

Receiver = Literal["slack", "webhook"]
RECEIVERS: tuple[Receiver, ...] = ("slack", "webhook")
#: where each receiver's URL comes from when `alerting_args` has none (LiteLLM's variables)
RECEIVER_ENV = {"slack": "SLACK_WEBHOOK_URL", "webhook": "WEBHOOK_URL"}
#: receivers LiteLLM has that litecursor does not (warned about, not errors)
OTHER_RECEIVERS = frozenset({"email", "pagerduty", "msteams", "discord", "opsgenie"})

#: what litecursor alerts on; LiteLLM's names where it has one (`export_dropped` is ours)
ALERT_TYPES = (
    "budget_alerts",
    "cooldown_deployment",
    "failed_tracking_spend",
    "export_dropped",
    "llm_too_slow",
)
#: LiteLLM alert types litecursor does not send (warned about)
OTHER_ALERT_TYPES = frozenset(
    {
        "llm_exceptions",
        "llm_requests_hanging",
        "db_exceptions",
        "daily_reports",
        "spend_reports",
        "fallback_reports",
        "new_model_added",
        "outage_alerts",
        "region_outage_alerts",
        "new_virtual_key_created",
        "virtual_key_updated",
        "virtual_key_deleted",
        "new_team_created",
        "team_updated",
        "team_deleted",
        "new_internal_user_created",
        "internal_user_updated",
        "internal_user_deleted",
    }
)
_ALERTING_ARGS = {
    "webhook_url",
    "slack_webhook_url",
    "budget_alert_thresholds",
    "cooldown_alert_ttl",
    "drop_alert_ttl",
    "slow_alert_ttl",
    "queue_size",
}
#: LiteLLM's own `alerting_args` for reports and outage detection litecursor does not have
_OTHER_ALERTING_ARGS = frozenset(
    {
        "daily_report_frequency",
        "report_check_interval",
        "budget_alert_ttl",
        "outage_alert_ttl",
        "region_outage_alert_ttl",
        "minor_outage_alert_threshold",
        "major_outage_alert_threshold",
        "max_outage_alert_list_size",
        "log_to_console",
    }
)

Exporter = Literal["jsonl", "webhook", "otel"]
EXPORTERS: tuple[Exporter, ...] = ("jsonl", "webhook", "otel")
#: a callback LiteLLM users set for its /metrics: litecursor always serves /metrics
METRICS_CALLBACKS = frozenset({"prometheus"})
#: the module the `otel` exporter needs, from the optional extra
OTEL_MODULE = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
OTEL_EXTRA = "pip install 'litecursor[otel]'"


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Where alerts go and which are sent. Empty `receivers`: alerting is off."""

    receivers: Mapping[Receiver, str] = field(default_factory=dict)
    types: frozenset[str] = frozenset(ALERT_TYPES)
    #: a request slower than this (seconds, LiteLLM's `alerting_threshold`) is `llm_too_slow`
    slow_seconds: float = 300.0
    #: fractions of a budget at which an alert goes out, once each per budget period
    budget_thresholds: tuple[float, ...] = (0.8, 1.0)
    #: the same deployment's cooldown, the same drops, the same slow deployment: at most
    #: one alert per this many seconds
    cooldown_ttl: float = 60.0
    drop_ttl: float = 300.0
    slow_ttl: float = 900.0
    #: alerts waiting per receiver; past it the oldest is dropped (counted)
    queue_size: int = 1000

    @property
    def enabled(self) -> bool:
        return bool(self.receivers)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How an exporter batches: at most `batch_size` records per write or POST, at least
    every `flush_interval` seconds; `queue_size` records wait at most (the oldest is dropped
    and counted past it)."""

    batch_size: int = 100
    flush_interval: float = 1.0
    queue_size: int = 10_000
    #: one write or POST may take this long before it counts as failed and is retried
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class JsonlExport:
    path: str
    #: the file is rotated (path.1, path.2 ...) when it would grow past this
    max_bytes: int = 100 * 1024 * 1024
    backups: int = 5


@dataclass(frozen=True, slots=True)
class WebhookExport:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OtelExport:
    #: the OTLP/HTTP traces endpoint, `.../v1/traces`
    endpoint: str
    headers: Mapping[str, str] = field(default_factory=dict)
    service_name: str = "litecursor"


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """One exporter: what it exports (successful requests, failed ones) and where."""

    name: Exporter
    on_success: bool
    on_failure: bool
    target: JsonlExport | WebhookExport | OtelExport
    delivery: Delivery = Delivery()


@dataclass(frozen=True, slots=True)
class ObservabilitySettings:
    alerts: AlertSettings = AlertSettings()
    exports: tuple[ExportSettings, ...] = ()
    #: a second credential for `GET /metrics` only (Prometheus's scrape config), besides the
    #: master key
    metrics_token: str | None = None
    #: LiteLLM's `json_logs`: JSON log lines unless `--log-format` says otherwise
    json_logs: bool = False


def read_observability(
    p: ValueReader,
    general: dict[str, Any],
    litellm: dict[str, Any],
    litecursor: dict[str, Any],
    source: str,
) -> ObservabilitySettings:
    token = p.opt_str(litecursor, "metrics_token", "litecursor_settings.metrics_token")
    if token is not None and len(token) < 16:
        raise ConfigError(
            "litecursor_settings.metrics_token", "must be at least 16 characters (a random token)"
        )
    json_logs = litellm.get("json_logs", False)
    if not isinstance(json_logs, bool):
        raise ConfigError("litellm_settings.json_logs", "must be true or false")
    if litellm.get("turn_off_message_logging") is False:
        p.warn(
            "litellm_settings.turn_off_message_logging: false is ignored: prompts and answers "
            "are never logged or exported"
        )
    return ObservabilitySettings(
        alerts=_alerts(p, general),
        exports=_exports(p, litellm, source),
        metrics_token=token,
        json_logs=json_logs,
    )


# -- alerts ----------------------------------------------------------------------------------


def _alerts(p: ValueReader, general: dict[str, Any]) -> AlertSettings:
    path = "general_settings"
    kinds = p.str_list(general.get("alerting") or [], f"{path}.alerting")
    args = p.obj(general.get("alerting_args") or {}, f"{path}.alerting_args")
    for key in args:
        if key in _OTHER_ALERTING_ARGS:
            p.warn(f"{path}.alerting_args.{key} is not supported yet and is ignored")
        elif key not in _ALERTING_ARGS:
            raise ConfigError(
                f"{path}.alerting_args.{key}",
                f"unknown key; known keys: {', '.join(sorted(_ALERTING_ARGS))}",
            )
    receivers: dict[Receiver, str] = {}
    for i, kind in enumerate(kinds):
        receiver = next((r for r in RECEIVERS if r == kind), None)
        if receiver is None:
            if kind in OTHER_RECEIVERS:
                p.warn(f"{path}.alerting[{i}] '{kind}' is not supported yet and is ignored")
                continue
            raise ConfigError(
                f"{path}.alerting[{i}]", f"'{kind}' is not one of {', '.join(RECEIVERS)}"
            )
        arg = f"{receiver}_url" if receiver == "webhook" else "slack_webhook_url"
        url = p.opt_str(args, arg, f"{path}.alerting_args.{arg}") or p.environ.get(
            RECEIVER_ENV[receiver]
        )
        if not url:
            raise ConfigError(
                f"{path}.alerting[{i}]",
                f"'{receiver}' alerts are on but have no receiver: set {RECEIVER_ENV[receiver]} "
                f"in the environment or {path}.alerting_args.{arg}",
            )
        receivers[receiver] = _http_url(url, f"{path}.alerting_args.{arg}")
    types = p.str_list(general.get("alert_types") or list(ALERT_TYPES), f"{path}.alert_types")
    enabled: set[str] = set()
    for i, t in enumerate(types):
        if t in ALERT_TYPES:
            enabled.add(t)
        elif t in OTHER_ALERT_TYPES:
            p.warn(f"{path}.alert_types[{i}] '{t}' is not supported yet and is ignored")
        else:
            raise ConfigError(
                f"{path}.alert_types[{i}]", f"'{t}' is not one of {', '.join(ALERT_TYPES)}"
            )
    d = AlertSettings()
    slow = p.opt_num(general, "alerting_threshold", f"{path}.alerting_threshold")
    if slow is not None and slow <= 0:
        raise ConfigError(f"{path}.alerting_threshold", "must be more than 0 seconds")
    args_path = f"{path}.alerting_args"
    thresholds = args.get("budget_alert_thresholds", [80, 100])
    fractions = []
    for i, t in enumerate(p.seq(thresholds, f"{args_path}.budget_alert_thresholds")):
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 100:
            raise ConfigError(
                f"{args_path}.budget_alert_thresholds[{i}]",
                "must be a percentage of the budget, more than 0 and at most 100",
            )
        fractions.append(t / 100)
    queue = p.int_or(args, "queue_size", args_path, d.queue_size)
    if queue < 1:
        raise ConfigError(f"{args_path}.queue_size", "must be at least 1")
    return AlertSettings(
        receivers=receivers,
        types=frozenset(enabled),
        slow_seconds=d.slow_seconds if slow is None else float(slow),
        budget_thresholds=tuple(sorted(set(fractions))),
        cooldown_ttl=p.num_or(args, "cooldown_alert_ttl", args_path, d.cooldown_ttl),
        drop_ttl=p.num_or(args, "drop_alert_ttl", args_path, d.drop_ttl),
        slow_ttl=p.num_or(args, "slow_alert_ttl", args_path, d.slow_ttl),
        queue_size=queue,
    )


def _http_url(url: str, path: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(path, "must be an http(s) URL")
    return url


# -- exports ---------------------------------------------------------------------------------


def _exports(p: ValueReader, litellm: dict[str, Any], source: str) -> tuple[ExportSettings, ...]:
    path = "litellm_settings"
    success: set[Exporter] = set()
    failure: set[Exporter] = set()
    for key, sides in (
        ("callbacks", (success, failure)),
        ("success_callback", (success,)),
        ("failure_callback", (failure,)),
    ):
        for i, name in enumerate(p.str_list(litellm.get(key) or [], f"{path}.{key}")):
            exporter = next((e for e in EXPORTERS if e == name), None)
            if exporter is not None:
                for side in sides:
                    side.add(exporter)
            elif name not in METRICS_CALLBACKS:  # /metrics is always served
                p.warn(
                    f"{path}.{key}[{i}] '{name}' is not supported yet and is ignored "
                    f"(supported: {', '.join(EXPORTERS)}; otel reaches most tracing services)"
                )
    settings = p.obj(litellm.get("callback_settings") or {}, f"{path}.callback_settings")
    out = []
    for name in EXPORTERS:
        if name not in success and name not in failure:
            continue
        spath = f"{path}.callback_settings.{name}"
        raw = p.obj(settings.get(name) or {}, spath)
        if name == "jsonl":
            target: JsonlExport | WebhookExport | OtelExport = _jsonl(p, raw, spath, source)
        elif name == "webhook":
            target = _webhook(p, raw, spath)
        else:
            target = _otel(p, raw, spath)
        out.append(
            ExportSettings(
                name=name,
                on_success=name in success,
                on_failure=name in failure,
                target=target,
                delivery=_delivery(p, raw, spath),
            )
        )
    for name in settings:
        if name not in EXPORTERS:
            p.warn(f"{path}.callback_settings.{name} is not supported yet and is ignored")
    return tuple(out)


_DELIVERY_KEYS = {"batch_size", "flush_interval", "queue_size", "timeout"}


def _delivery(p: ValueReader, raw: dict[str, Any], path: str) -> Delivery:
    d = Delivery()
    batch = p.int_or(raw, "batch_size", path, d.batch_size)
    queue = p.int_or(raw, "queue_size", path, d.queue_size)
    if batch < 1 or queue < 1:
        raise ConfigError(path, "batch_size and queue_size must be at least 1")
    return Delivery(
        batch_size=batch,
        flush_interval=p.positive(raw, "flush_interval", path, d.flush_interval),
        queue_size=queue,
        timeout=p.positive(raw, "timeout", path, d.timeout),
    )


def _jsonl(p: ValueReader, raw: dict[str, Any], path: str, source: str) -> JsonlExport:
    p.only(raw, path, {"path", "max_mb", "backups", *_DELIVERY_KEYS})
    where = p.opt_str(raw, "path", f"{path}.path")
    if where is None:
        # beside the config file, like the database
        base = Path(source).parent if not source.startswith("<") else Path()
        where = str(base / "litecursor-requests.jsonl")
    max_mb = p.num_or(raw, "max_mb", path, 100.0)
    if max_mb <= 0:
        raise ConfigError(f"{path}.max_mb", "must be more than 0")
    backups = p.int_or(raw, "backups", path, 5)
    return JsonlExport(path=where, max_bytes=int(max_mb * 1024 * 1024), backups=backups)


def _headers(p: ValueReader, raw: dict[str, Any], path: str) -> dict[str, str]:
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{path}.headers", "must map header names to strings")
    return {str(k): v for k, v in headers.items()}


def _webhook(p: ValueReader, raw: dict[str, Any], path: str) -> WebhookExport:
    p.only(raw, path, {"url", "headers", *_DELIVERY_KEYS})
    url = p.opt_str(raw, "url", f"{path}.url")
    if not url:
        raise ConfigError(f"{path}.url", "missing: the webhook exporter POSTs batches to this URL")
    return WebhookExport(url=_http_url(url, f"{path}.url"), headers=_headers(p, raw, path))


def _otel(p: ValueReader, raw: dict[str, Any], path: str) -> OtelExport:
    p.only(raw, path, {"endpoint", "headers", "service_name", "message_logging", *_DELIVERY_KEYS})
    if raw.get("message_logging"):
        p.warn(f"{path}.message_logging: prompts and answers are never exported; ignored")
    try:
        importlib.import_module(OTEL_MODULE)
    except ImportError:
        raise ConfigError(
            "litellm_settings.callbacks",
            f"'otel' needs the OpenTelemetry exporter, which is not installed: {OTEL_EXTRA}",
        ) from None
    env = p.environ
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol != "http/protobuf" or env.get("OTEL_EXPORTER", "otlp_http") != "otlp_http":
        raise ConfigError(
            path, "litecursor exports OTLP over HTTP with protobuf (http/protobuf, port 4318) only"
        )
    endpoint = p.opt_str(raw, "endpoint", f"{path}.endpoint") or _otel_endpoint(env)
    headers = _headers(p, raw, path) if "headers" in raw else _otel_headers(env)
    service = p.opt_str(raw, "service_name", f"{path}.service_name") or env.get(
        "OTEL_SERVICE_NAME", "litecursor"
    )
    return OtelExport(
        endpoint=_http_url(endpoint, f"{path}.endpoint"), headers=headers, service_name=service
    )


def _otel_endpoint(env: Mapping[str, str]) -> str:
    """OpenTelemetry's own variables first, then LiteLLM's `OTEL_ENDPOINT`."""
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    return env.get("OTEL_ENDPOINT") or "http://localhost:4318/v1/traces"


def _otel_headers(env: Mapping[str, str]) -> dict[str, str]:
    """`k=v,k2=v2`, values URL-encoded, as OpenTelemetry's variables carry them."""
    raw = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        or env.get("OTEL_EXPORTER_OTLP_HEADERS")
        or env.get("OTEL_HEADERS")
        or ""
    )
    out = {}
    for part in raw.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            out[unquote(name.strip())] = unquote(value.strip())
    return out
