"""The settings of keys, budgets, limits and spend: database, proxy-wide budget and limits, Redis.

Read from LiteLLM's places: `general_settings.database_url` / `global_max_parallel_requests` /
`max_parallel_requests` (each deployment's default) / `proxy_batch_write_at` /
`disable_spend_logs`, `litellm_settings.max_budget` / `budget_duration` /
`max_end_user_budget` / `rate_limit` (the proxy's requests per minute, as LiteLLM's Cursor
tutorial writes it), `router_settings.redis_*`, and litecursor's `spend_queue_size`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..store.periods import DurationError, parse_duration
from .values import ConfigError, ValueReader

GENERAL_KEYS = frozenset(
    {
        "database_url",
        "database_connection_pool_limit",
        "global_max_parallel_requests",
        "max_parallel_requests",
        "proxy_batch_write_at",
        "disable_spend_logs",
    }
)
LITELLM_KEYS = frozenset({"max_budget", "budget_duration", "max_end_user_budget", "rate_limit"})
ROUTER_KEYS = frozenset({"redis_host", "redis_port", "redis_password", "redis_url"})
LITECURSOR_KEYS = frozenset({"spend_queue_size"})
#: spend rows are written at least this often, whatever `proxy_batch_write_at` says
MAX_FLUSH_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class AccountingSettings:
    #: None: `litecursor.db` beside the config file
    database_url: str | None = None
    database_pool_limit: int = 10
    max_budget: float | None = None
    budget_duration: str | None = None
    max_end_user_budget: float | None = None
    #: the whole proxy's requests per minute and requests in flight
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    #: requests in flight per deployment, for deployments that set none themselves
    deployment_parallel_requests: int | None = None
    flush_interval: float = MAX_FLUSH_INTERVAL
    #: spend rows waiting to be written; beyond it the oldest are dropped, counted and logged
    spend_queue_size: int = 10_000
    #: no row per request (`general_settings.disable_spend_logs`): budgets are still charged
    disable_spend_logs: bool = False
    redis_url: str | None = None


def read_accounting(
    p: ValueReader,
    general: dict[str, Any],
    litellm: dict[str, Any],
    router: dict[str, Any],
    lc: dict[str, Any],
) -> AccountingSettings:
    g, ls = "general_settings", "litellm_settings"
    duration = p.opt_str(litellm, "budget_duration", f"{ls}.budget_duration")
    if duration is not None:
        try:
            parse_duration(duration)
        except DurationError as e:
            raise ConfigError(f"{ls}.budget_duration", str(e)) from None
    flush = p.opt_num(general, "proxy_batch_write_at", f"{g}.proxy_batch_write_at")
    if flush is not None and flush <= 0:
        raise ConfigError(f"{g}.proxy_batch_write_at", "must be more than 0 seconds")
    queue = p.opt_int(lc, "spend_queue_size", "litecursor_settings.spend_queue_size")
    if queue is not None and queue < 1:
        raise ConfigError("litecursor_settings.spend_queue_size", "must be at least 1")
    pool = p.opt_int(
        general, "database_connection_pool_limit", f"{g}.database_connection_pool_limit"
    )
    return AccountingSettings(
        database_url=p.opt_str(general, "database_url", f"{g}.database_url") or None,
        database_pool_limit=pool or 10,
        max_budget=p.opt_num(litellm, "max_budget", f"{ls}.max_budget"),
        budget_duration=duration,
        max_end_user_budget=p.opt_num(litellm, "max_end_user_budget", f"{ls}.max_end_user_budget"),
        rpm_limit=p.opt_int(litellm, "rate_limit", f"{ls}.rate_limit"),
        max_parallel_requests=p.opt_int(
            general, "global_max_parallel_requests", f"{g}.global_max_parallel_requests"
        ),
        deployment_parallel_requests=p.opt_int(
            general, "max_parallel_requests", f"{g}.max_parallel_requests"
        ),
        flush_interval=min(flush or MAX_FLUSH_INTERVAL, MAX_FLUSH_INTERVAL),
        spend_queue_size=queue or 10_000,
        disable_spend_logs=_flag(p, general, "disable_spend_logs", f"{g}.disable_spend_logs"),
        redis_url=_redis_url(p, router),
    )


def _flag(p: ValueReader, raw: dict[str, Any], key: str, path: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(path, "must be true or false")
    return value


def _redis_url(p: ValueReader, raw: dict[str, Any]) -> str | None:
    r = "router_settings"
    url = p.opt_str(raw, "redis_url", f"{r}.redis_url")
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"{r}.redis_url", f"'{url}' is not a redis:// or rediss:// URL")
        return url
    host = p.opt_str(raw, "redis_host", f"{r}.redis_host")
    if host is None:
        for key in ("redis_port", "redis_password"):
            if key in raw:
                raise ConfigError(f"{r}.{key}", "set redis_host (or redis_url) too")
        return None
    port = p.opt_int(raw, "redis_port", f"{r}.redis_port") or 6379
    password = p.opt_str(raw, "redis_password", f"{r}.redis_password")
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/0"
