"""config.yaml (LiteLLM's schema) -> typed, validated settings, once at start.

Supported: `model_list[]` (`model_name`, `litellm_params`, `model_info.id`), `general_settings`,
`litellm_settings`, `router_settings`, and litecursor's own `litecursor_settings`. Any string may
be `os.environ/NAME`. Keys LiteLLM knows that litecursor does not support yet are collected in
`Config.warnings` (shown once at start); keys nobody knows are errors, since they are typos.
`router_settings` is read in `config_router.py`, the typed value reads in `config_values.py`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_router import LITELLM_ROUTER_KEYS, RouterSettings, read_router_settings
from .config_values import ConfigError, ValueReader
from .protocol.chat_out import ReasoningDisplay
from .protocol.providers import Target, UnknownProviderError, resolve_model

MASTER_KEY_ENV = "LITECURSOR_MASTER_KEY"
REASONING_DISPLAYS: tuple[ReasoningDisplay, ...] = ("field", "think_tags", "hidden")


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

    p.only(litellm, "litellm_settings", {"drop_params", *LITELLM_ROUTER_KEYS})
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
    router = read_router_settings(p, router_raw, litellm, {d.model_name for d in deployments})
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
