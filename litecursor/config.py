"""config.yaml (LiteLLM's schema) -> typed, validated settings, once at start.

Supported: `model_list[]` (`model_name`, `litellm_params`, `model_info.id`), `general_settings`,
`litellm_settings`, `router_settings`, and litecursor's own `litecursor_settings`. Any string may
be `os.environ/NAME`. Keys LiteLLM knows that litecursor does not support yet are collected in
`Config.warnings` (shown once at start); keys nobody knows are errors, since they are typos.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_values import ConfigError, ValueReader
from .protocol.chat_out import ReasoningDisplay
from .protocol.providers import Target, UnknownProviderError, resolve_model

MASTER_KEY_ENV = "LITECURSOR_MASTER_KEY"
ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
)
REASONING_DISPLAYS: tuple[ReasoningDisplay, ...] = ("field", "think_tags", "hidden")


# router settings LiteLLM also accepts under litellm_settings
_LITELLM_ROUTER_KEYS = (
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
class Deployment:
    """One `model_list` entry: a public model name served by one upstream model."""

    id: str
    model_name: str
    litellm_model: str
    adapter: str
    target: Target
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    order: int | None = None
    max_parallel_requests: int | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    #: litecursor's own per-deployment limits (router_settings has the global ones)
    connect_timeout: float | None = None
    idle_timeout: float | None = None
    #: request fields never sent to this deployment (`additional_drop_params`)
    drop_params: frozenset[str] = frozenset()

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.model_name


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


@dataclass(frozen=True, slots=True)
class Config:
    deployments: tuple[Deployment, ...]
    master_key: str
    router: RouterSettings = field(default_factory=RouterSettings)
    max_request_size_mb: float = 32.0
    reasoning_display: ReasoningDisplay = "field"
    cors_allow_origins: tuple[str, ...] = ("*",)
    #: memory for reasoning replay (see replay.py); 0 turns it off
    reasoning_replay_mb: float = 64.0
    warnings: tuple[str, ...] = ()
    source: str = "<config>"

    @property
    def model_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for d in self.deployments:
            seen.setdefault(d.model_name, None)
        return list(seen)

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_size_mb * 1024 * 1024)


def load(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; raises ConfigError naming the file and the path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(path), f"cannot read: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(str(path), f"not valid YAML{where}: {problem}") from None
    try:
        return parse(data, environ=os.environ if environ is None else environ, source=str(path))
    except ConfigError as e:
        raise ConfigError(
            f"{path}: {e.path}" if e.path else str(path), str(e).split(": ", 1)[-1]
        ) from None


def parse(data: Any, *, environ: Mapping[str, str], source: str = "<config>") -> Config:
    data = {} if data is None else data
    p = _Parser(environ)
    root = p.obj(data, "")
    p.only(
        root,
        "",
        {
            "model_list",
            "general_settings",
            "litellm_settings",
            "router_settings",
            "litecursor_settings",
            "environment_variables",
        },
    )
    if "environment_variables" in root:
        p.warn("environment_variables is not supported; export the variables before starting")
    general = p.obj(root.get("general_settings") or {}, "general_settings")
    litellm = p.obj(root.get("litellm_settings") or {}, "litellm_settings")
    router_raw = p.obj(root.get("router_settings") or {}, "router_settings")
    lc = p.obj(root.get("litecursor_settings") or {}, "litecursor_settings")

    p.only(general, "general_settings", {"master_key", "max_request_size_mb"})
    master_key = p.opt_str(general, "master_key", "general_settings.master_key") or environ.get(
        MASTER_KEY_ENV
    )
    if not master_key:
        raise ConfigError(
            "general_settings.master_key",
            f"no master key: set it here (os.environ/NAME works) or export {MASTER_KEY_ENV}",
        )
    max_mb = (
        p.opt_num(general, "max_request_size_mb", "general_settings.max_request_size_mb") or 32.0
    )

    p.only(litellm, "litellm_settings", {"drop_params", *_LITELLM_ROUTER_KEYS})
    p.only(
        lc,
        "litecursor_settings",
        {"reasoning_display", "cors_allow_origins", "reasoning_replay_mb"},
    )
    replay_mb = p.opt_num(lc, "reasoning_replay_mb", "litecursor_settings.reasoning_replay_mb")
    raw_display = p.opt_str(lc, "reasoning_display", "litecursor_settings.reasoning_display")
    display = next((d for d in REASONING_DISPLAYS if d == (raw_display or "field")), None)
    if display is None:
        raise ConfigError(
            "litecursor_settings.reasoning_display",
            f"'{raw_display}' is not one of {', '.join(REASONING_DISPLAYS)}",
        )
    origins = lc.get("cors_allow_origins", ["*"])
    origins_t = tuple(p.str_list(origins, "litecursor_settings.cors_allow_origins"))

    raw_list = root.get("model_list")
    if raw_list is None:
        raise ConfigError("model_list", "missing: list at least one model")
    items = p.seq(raw_list, "model_list")
    if not items:
        raise ConfigError("model_list", "is empty: list at least one model")
    deployments = tuple(p.deployment(item, i) for i, item in enumerate(items))
    seen_ids: dict[str, int] = {}
    for i, d in enumerate(deployments):
        if d.id in seen_ids:
            raise ConfigError(
                f"model_list[{i}].model_info.id",
                f"'{d.id}' is already the id of model_list[{seen_ids[d.id]}]",
            )
        seen_ids[d.id] = i
    router = p.router(router_raw, litellm, {d.model_name for d in deployments})
    return Config(
        deployments=deployments,
        master_key=master_key,
        router=router,
        max_request_size_mb=float(max_mb),
        reasoning_display=display,
        cors_allow_origins=origins_t,
        reasoning_replay_mb=64.0 if replay_mb is None else float(replay_mb),
        warnings=tuple(p.warnings),
        source=source,
    )


class _Parser(ValueReader):
    """The sections of config.yaml, read into typed settings."""

    def deployment(self, raw: Any, i: int) -> Deployment:
        path = f"model_list[{i}]"
        item = self.obj(raw, path)
        self.only(item, path, {"model_name", "litellm_params", "model_info"})
        name = item.get("model_name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{path}.model_name", "must be a non-empty string")
        lp_path = f"{path}.litellm_params"
        lp = self.obj(item.get("litellm_params"), lp_path) if "litellm_params" in item else None
        if lp is None:
            raise ConfigError(lp_path, "missing: each model needs litellm_params.model")
        info = self.obj(item.get("model_info") or {}, f"{path}.model_info")
        for key in info:
            if key != "id":
                self.warn(f"{path}.model_info.{key} is not supported yet and is ignored")
        allowed = {
            "model",
            "api_key",
            "api_base",
            "base_url",
            "api_version",
            "timeout",
            "stream_timeout",
            "max_tokens",
            "temperature",
            "top_p",
            "extra_headers",
            "headers",
            "rpm",
            "tpm",
            "weight",
            "order",
            "max_parallel_requests",
            "drop_params",
            "connect_timeout",
            "idle_timeout",
            "additional_drop_params",
            "mock_delay",
            "thinking_budget",
            "stream_usage",
        }
        self.only(lp, lp_path, allowed)
        model = lp.get("model")
        if not isinstance(model, str) or not model:
            raise ConfigError(
                f"{lp_path}.model", "missing: write it as provider/model, e.g. openai/gpt-4o"
            )
        try:
            spec, upstream_model = resolve_model(model)
        except UnknownProviderError as e:
            raise ConfigError(f"{lp_path}.model", str(e)) from None
        api_base = (
            self.opt_str(lp, "api_base", f"{lp_path}.api_base")
            or self.opt_str(lp, "base_url", f"{lp_path}.base_url")
            or spec.api_base
        )
        if api_base is None:
            raise ConfigError(
                f"{lp_path}.api_base", f"required for '{model.split('/')[0]}/' models"
            )
        if not api_base.startswith(("http://", "https://", "mock://")):
            raise ConfigError(f"{lp_path}.api_base", f"'{api_base}' is not an http(s) URL")
        api_key = self.opt_str(lp, "api_key", f"{lp_path}.api_key")
        if api_key is None and spec.key_env:
            api_key = self.environ.get(spec.key_env)
            if (
                api_key is None
                and spec.api_base is not None
                and not spec.api_base.startswith("http://")
            ):
                self.warn(
                    f"{lp_path}: no api_key and {spec.key_env} is not set; "
                    "requests will go without credentials"
                )
        api_version = self.opt_str(lp, "api_version", f"{lp_path}.api_version")
        if spec.adapter.startswith("azure") and api_version is None:
            api_version = self.environ.get("AZURE_API_VERSION")
        headers = lp.get("extra_headers") or lp.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ConfigError(f"{lp_path}.extra_headers", "must map header names to strings")
        defaults: dict[str, Any] = {}
        max_tokens = self.opt_int(lp, "max_tokens", f"{lp_path}.max_tokens")
        if max_tokens is not None:
            defaults["max_tokens"] = max_tokens
        for key in ("temperature", "top_p"):
            v = self.opt_num(lp, key, f"{lp_path}.{key}")
            if v is not None:
                defaults[key] = v
        options: dict[str, Any] = {}
        for key in ("mock_delay", "thinking_budget"):
            v = self.opt_num(lp, key, f"{lp_path}.{key}")
            if v is not None:
                options[key] = v
        if "stream_usage" in lp:
            options["stream_usage"] = bool(lp["stream_usage"])
        drop = lp.get("additional_drop_params") or []
        drop_t = self.str_list(drop, f"{lp_path}.additional_drop_params")
        if isinstance(lp.get("drop_params"), list):
            drop_t += self.str_list(lp["drop_params"], f"{lp_path}.drop_params")
        target = Target(
            provider=model.split("/", 1)[0],
            model=upstream_model,
            api_base=api_base,
            api_key=api_key,
            api_version=api_version,
            headers=dict(headers),
            defaults=defaults,
            options=options,
        )
        dep_id = info.get("id")
        return Deployment(
            id=str(dep_id) if dep_id is not None else f"{name}#{i}",
            model_name=name,
            litellm_model=model,
            adapter=spec.adapter,
            target=target,
            rpm=self.opt_int(lp, "rpm", f"{lp_path}.rpm"),
            tpm=self.opt_int(lp, "tpm", f"{lp_path}.tpm"),
            weight=self.opt_num(lp, "weight", f"{lp_path}.weight"),
            order=self.opt_int(lp, "order", f"{lp_path}.order"),
            max_parallel_requests=self.opt_int(
                lp, "max_parallel_requests", f"{lp_path}.max_parallel_requests"
            ),
            timeout=self.opt_num(lp, "timeout", f"{lp_path}.timeout"),
            stream_timeout=self.opt_num(lp, "stream_timeout", f"{lp_path}.stream_timeout"),
            connect_timeout=self.opt_num(lp, "connect_timeout", f"{lp_path}.connect_timeout"),
            idle_timeout=self.opt_num(lp, "idle_timeout", f"{lp_path}.idle_timeout"),
            drop_params=frozenset(drop_t),
        )

    def router(
        self, raw: dict[str, Any], litellm: dict[str, Any], names: set[str]
    ) -> RouterSettings:
        path = "router_settings"
        self.only(
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
            },
        )
        strategy = (
            self.opt_str(raw, "routing_strategy", f"{path}.routing_strategy") or "simple-shuffle"
        )
        if strategy not in ROUTING_STRATEGIES:
            raise ConfigError(
                f"{path}.routing_strategy",
                f"'{strategy}' is not one of {', '.join(ROUTING_STRATEGIES)}",
            )
        if strategy == "usage-based-routing-v2":
            strategy = "usage-based-routing"
        if strategy == "cost-based-routing":
            self.warn(
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
        merged = {k: litellm[k] for k in _LITELLM_ROUTER_KEYS if k in litellm}
        merged.update(raw)
        if "request_timeout" in merged and "timeout" not in raw:
            merged["timeout"] = merged["request_timeout"]
        where = {k: path if k in raw else "litellm_settings" for k in merged}
        args = self.obj(raw.get("routing_strategy_args") or {}, f"{path}.routing_strategy_args")
        for key in args:
            if key != "lowest_latency_buffer":
                self.warn(f"{path}.routing_strategy_args.{key} is not supported yet and is ignored")
        buffer = self.opt_num(raw, "lowest_latency_buffer", f"{path}.lowest_latency_buffer")
        if buffer is None:
            buffer = self.opt_num(
                args, "lowest_latency_buffer", f"{path}.routing_strategy_args.lowest_latency_buffer"
            )

        def fallbacks(key: str) -> dict[str, tuple[str, ...]]:
            table = self._fallbacks(merged.get(key), f"{where.get(key, path)}.{key}")
            for k, targets in table.items():
                for t in targets:
                    _check_model(t, names, alias_t, f"{where[key]}.{key}.{k}")
            return table

        default_fb = tuple(
            self.str_list(
                merged.get("default_fallbacks") or [],
                f"{where.get('default_fallbacks', path)}.default_fallbacks",
            )
        )
        for t in default_fb:
            _check_model(t, names, alias_t, f"{where['default_fallbacks']}.default_fallbacks")
        return RouterSettings(
            routing_strategy=strategy,
            num_retries=self._int_or(
                merged, "num_retries", where.get("num_retries", path), d.num_retries
            ),
            retry_after=self._num_or(raw, "retry_after", path, d.retry_after),
            allowed_fails=self._int_or(raw, "allowed_fails", path, d.allowed_fails),
            cooldown_time=self._num_or(raw, "cooldown_time", path, d.cooldown_time),
            timeout=self._positive(merged, "timeout", where.get("timeout", path), d.timeout),
            stream_timeout=self.opt_num(raw, "stream_timeout", f"{path}.stream_timeout"),
            connect_timeout=self._positive(raw, "connect_timeout", path, d.connect_timeout),
            idle_timeout=self._positive(raw, "idle_timeout", path, d.idle_timeout),
            lowest_latency_buffer=d.lowest_latency_buffer if buffer is None else float(buffer),
            fallbacks=fallbacks("fallbacks"),
            context_window_fallbacks=fallbacks("context_window_fallbacks"),
            content_policy_fallbacks=fallbacks("content_policy_fallbacks"),
            default_fallbacks=default_fb,
            model_group_alias=alias_t,
            max_retry_wait=self._num_or(raw, "max_retry_wait", path, d.max_retry_wait),
            disable_cooldowns=bool(raw.get("disable_cooldowns", False)),
        )

    def _fallbacks(self, value: Any, path: str) -> dict[str, tuple[str, ...]]:
        """LiteLLM's form: a list of one-key mappings, `[{"gpt-4o": ["claude-sonnet"]}]`."""
        if value is None:
            return {}
        out: dict[str, tuple[str, ...]] = {}
        items = [value] if isinstance(value, dict) else self.seq(value, path)
        for i, entry in enumerate(items):
            if not isinstance(entry, dict):
                raise ConfigError(
                    f"{path}[{i}]", 'must be a mapping like {"gpt-4o": ["claude-sonnet"]}'
                )
            for k, v in entry.items():
                out[str(k)] = tuple(self.str_list(v, f"{path}[{i}].{k}"))
        return out
