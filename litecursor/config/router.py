"""`router_settings` -> `RouterSettings`: strategy, retries, timeouts, fallbacks, aliases."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .values import ConfigError, ValueReader

ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
)


# router settings LiteLLM also accepts under litellm_settings
LITELLM_ROUTER_KEYS = (
    "num_retries",
    "request_timeout",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
)


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """A `model_name` with `*` as a regex; each `*` matches one or more characters."""
    return re.compile("(.+)".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _check_model(name: str, names: set[str], aliases: Mapping[str, str], path: str) -> None:
    """A fallback or alias target must be served by the model_list (exactly, by a wildcard
    pattern, or through an alias)."""
    if name in names or name in aliases:
        return
    if any("*" in n and wildcard_regex(n).fullmatch(name) for n in names):
        return
    raise ConfigError(
        path, f"'{name}' is not a model_name in model_list (known: {', '.join(sorted(names))})"
    )


@dataclass(frozen=True, slots=True)
class RouterSettings:
    routing_strategy: str = "simple-shuffle"
    num_retries: int = 2
    retry_after: float = 0.0
    allowed_fails: int = 3
    cooldown_time: float = 30.0
    timeout: float = 600.0
    stream_timeout: float | None = None
    connect_timeout: float = 10.0
    idle_timeout: float = 300.0
    lowest_latency_buffer: float = 0.0
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    context_window_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    content_policy_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_fallbacks: tuple[str, ...] = ()
    model_group_alias: Mapping[str, str] = field(default_factory=dict)
    #: the longest a retry waits (backoff or retry-after); longer means give up on the group
    max_retry_wait: float = 10.0
    disable_cooldowns: bool = False


def read_router_settings(
    p: ValueReader, raw: dict[str, Any], litellm: dict[str, Any], names: set[str]
) -> RouterSettings:
    """`router_settings`, with the router keys LiteLLM also reads from `litellm_settings`;
    fallback and alias targets must name models the config serves."""
    path = "router_settings"
    p.only(
        raw,
        path,
        {
            "routing_strategy",
            "num_retries",
            "retry_after",
            "allowed_fails",
            "cooldown_time",
            "timeout",
            "stream_timeout",
            "connect_timeout",
            "idle_timeout",
            "lowest_latency_buffer",
            "fallbacks",
            "context_window_fallbacks",
            "content_policy_fallbacks",
            "default_fallbacks",
            "model_group_alias",
            "max_retry_wait",
            "disable_cooldowns",
            "routing_strategy_args",
            # read with the accounting settings (accounting.py)
            "redis_host",
            "redis_port",
            "redis_password",
            "redis_url",
        },
    )
    strategy = p.opt_str(raw, "routing_strategy", f"{path}.routing_strategy") or "simple-shuffle"
    if strategy not in ROUTING_STRATEGIES:
        raise ConfigError(
            f"{path}.routing_strategy",
            f"'{strategy}' is not one of {', '.join(ROUTING_STRATEGIES)}",
        )
    if strategy == "usage-based-routing-v2":
        strategy = "usage-based-routing"
    if strategy == "cost-based-routing":
        p.warn(
            f"{path}.routing_strategy cost-based-routing is not supported yet; using simple-shuffle"
        )
        strategy = "simple-shuffle"
    d = RouterSettings()
    alias = raw.get("model_group_alias") or {}
    if not isinstance(alias, dict):
        raise ConfigError(f"{path}.model_group_alias", "must map names to model names")
    alias_t: dict[str, str] = {}
    for k, v in alias.items():
        target = v.get("model") if isinstance(v, dict) else v
        if not isinstance(target, str):
            raise ConfigError(f"{path}.model_group_alias.{k}", "must name a model")
        _check_model(target, names, {}, f"{path}.model_group_alias.{k}")
        alias_t[str(k)] = target
    # LiteLLM also reads these from litellm_settings; router_settings wins when both set them
    merged = {k: litellm[k] for k in LITELLM_ROUTER_KEYS if k in litellm}
    merged.update(raw)
    if "request_timeout" in merged and "timeout" not in raw:
        merged["timeout"] = merged["request_timeout"]
    where = {k: path if k in raw else "litellm_settings" for k in merged}
    args = p.obj(raw.get("routing_strategy_args") or {}, f"{path}.routing_strategy_args")
    for key in args:
        if key != "lowest_latency_buffer":
            p.warn(f"{path}.routing_strategy_args.{key} is not supported yet and is ignored")
    buffer = p.opt_num(raw, "lowest_latency_buffer", f"{path}.lowest_latency_buffer")
    if buffer is None:
        buffer = p.opt_num(
            args, "lowest_latency_buffer", f"{path}.routing_strategy_args.lowest_latency_buffer"
        )

    def fallbacks(key: str) -> dict[str, tuple[str, ...]]:
        table = _fallbacks(p, merged.get(key), f"{where.get(key, path)}.{key}")
        for k, targets in table.items():
            for t in targets:
                _check_model(t, names, alias_t, f"{where[key]}.{key}.{k}")
        return table

    default_fb = tuple(
        p.str_list(
            merged.get("default_fallbacks") or [],
            f"{where.get('default_fallbacks', path)}.default_fallbacks",
        )
    )
    for t in default_fb:
        _check_model(t, names, alias_t, f"{where['default_fallbacks']}.default_fallbacks")
    return RouterSettings(
        routing_strategy=strategy,
        num_retries=p.int_or(merged, "num_retries", where.get("num_retries", path), d.num_retries),
        retry_after=p.num_or(raw, "retry_after", path, d.retry_after),
        allowed_fails=p.int_or(raw, "allowed_fails", path, d.allowed_fails),
        cooldown_time=p.num_or(raw, "cooldown_time", path, d.cooldown_time),
        timeout=p.positive(merged, "timeout", where.get("timeout", path), d.timeout),
        stream_timeout=p.opt_num(raw, "stream_timeout", f"{path}.stream_timeout"),
        connect_timeout=p.positive(raw, "connect_timeout", path, d.connect_timeout),
        idle_timeout=p.positive(raw, "idle_timeout", path, d.idle_timeout),
        lowest_latency_buffer=d.lowest_latency_buffer if buffer is None else float(buffer),
        fallbacks=fallbacks("fallbacks"),
        context_window_fallbacks=fallbacks("context_window_fallbacks"),
        content_policy_fallbacks=fallbacks("content_policy_fallbacks"),
        default_fallbacks=default_fb,
        model_group_alias=alias_t,
        max_retry_wait=p.num_or(raw, "max_retry_wait", path, d.max_retry_wait),
        disable_cooldowns=bool(raw.get("disable_cooldowns", False)),
    )


def _fallbacks(p: ValueReader, value: Any, path: str) -> dict[str, tuple[str, ...]]:
    """LiteLLM's form: a list of one-key mappings, `[{"gpt-4o": ["claude-sonnet"]}]`."""
    if value is None:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    items = [value] if isinstance(value, dict) else p.seq(value, path)
    for i, entry in enumerate(items):
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{path}[{i}]", 'must be a mapping like {"gpt-4o": ["claude-sonnet"]}'
            )
        for k, v in entry.items():
            out[str(k)] = tuple(p.str_list(v, f"{path}[{i}].{k}"))
    return out
