"""The whole config.yaml (LiteLLM's schema) -> one typed, validated `Config`, once at start.

Supported: `model_list[]` (models.py), `general_settings`, `litellm_settings`, `router_settings`
(router.py) and litecursor's own `litecursor_settings`. Any string may be `os.environ/NAME`.
Keys LiteLLM knows that litecursor does not support yet are collected in `Config.warnings`
(shown once at start); keys nobody knows are errors, since they are typos.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..protocol.chat_out import ReasoningDisplay
from ..protocol.variants import parse_suffix
from .accounting import (
    GENERAL_KEYS,
    LITECURSOR_KEYS,
    LITELLM_KEYS,
    AccountingSettings,
    read_accounting,
)
from .limits import LIMIT_KEYS, Limits, read_limits
from .models import Deployment, read_deployment
from .observability import GENERAL_KEYS as OBSERVE_GENERAL_KEYS
from .observability import LITECURSOR_KEYS as OBSERVE_LITECURSOR_KEYS
from .observability import LITELLM_KEYS as OBSERVE_LITELLM_KEYS
from .observability import ObservabilitySettings, read_observability
from .requestlog import GENERAL_KEYS as LOG_GENERAL_KEYS
from .requestlog import LITECURSOR_KEYS as LOG_LITECURSOR_KEYS
from .requestlog import RequestLogSettings, read_request_log
from .router import LITELLM_ROUTER_KEYS, RouterSettings, read_router_settings
from .values import ConfigError, ValueReader

MASTER_KEY_ENV = "LITECURSOR_MASTER_KEY"
CursorErrors = Literal["status", "message"]
REASONING_DISPLAYS: tuple[ReasoningDisplay, ...] = ("field", "think_tags", "hidden")
PROMPT_CACHING = ("auto", "off")
CURSOR_ERRORS: tuple[CursorErrors, ...] = ("status", "message")


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
    #: Cursor variant names `/cursor/models` lists (`litecursor_settings.model_variants`)
    model_variants: tuple[str, ...] = ()
    #: how the /cursor routes tell of a 429 or 5xx: its status, or a message Cursor shows
    cursor_errors: CursorErrors = "status"
    #: keys, budgets, limits, spend (accounting.py)
    accounting: AccountingSettings = field(default_factory=AccountingSettings)
    #: alerts, request exports, the metrics token (observability.py)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    #: what the request log keeps, and for how long (requestlog.py)
    request_log: RequestLogSettings = field(default_factory=RequestLogSettings)
    #: the limits a client or an upstream cannot push the gateway past (README "Security")
    limits: Limits = field(default_factory=Limits)
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
    p = ValueReader(environ)
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

    p.only(
        general,
        "general_settings",
        {
            "master_key",
            "max_request_size_mb",
            *GENERAL_KEYS,
            *OBSERVE_GENERAL_KEYS,
            *LOG_GENERAL_KEYS,
        },
    )
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

    p.only(
        litellm,
        "litellm_settings",
        {"drop_params", *LITELLM_ROUTER_KEYS, *LITELLM_KEYS, *OBSERVE_LITELLM_KEYS},
    )
    p.only(
        lc,
        "litecursor_settings",
        {
            "reasoning_display",
            "cors_allow_origins",
            "reasoning_replay_mb",
            "prompt_caching",
            "model_variants",
            "cursor_errors",
            *LITECURSOR_KEYS,
            *OBSERVE_LITECURSOR_KEYS,
            *LOG_LITECURSOR_KEYS,
            *LIMIT_KEYS,
        },
    )
    raw_errors = p.opt_str(lc, "cursor_errors", "litecursor_settings.cursor_errors") or "status"
    cursor_errors = next((c for c in CURSOR_ERRORS if c == raw_errors), None)
    if cursor_errors is None:
        raise ConfigError(
            "litecursor_settings.cursor_errors",
            f"'{raw_errors}' is not one of {', '.join(CURSOR_ERRORS)}",
        )
    caching = p.opt_str(lc, "prompt_caching", "litecursor_settings.prompt_caching") or "auto"
    if caching not in PROMPT_CACHING:
        raise ConfigError(
            "litecursor_settings.prompt_caching",
            f"'{caching}' is not one of {', '.join(PROMPT_CACHING)}",
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
    deployments = tuple(
        read_deployment(p, item, i, prompt_caching=caching == "auto")
        for i, item in enumerate(items)
    )
    accounting = read_accounting(p, general, litellm, router_raw, lc)
    if accounting.deployment_parallel_requests is not None:  # each deployment's default
        deployments = tuple(
            d
            if d.max_parallel_requests is not None
            else dataclasses.replace(
                d, max_parallel_requests=accounting.deployment_parallel_requests
            )
            for d in deployments
        )
    seen_ids: dict[str, int] = {}
    for i, d in enumerate(deployments):
        if d.id in seen_ids:
            raise ConfigError(
                f"model_list[{i}].model_info.id",
                f"'{d.id}' is already the id of model_list[{seen_ids[d.id]}]",
            )
        seen_ids[d.id] = i
    router = read_router_settings(p, router_raw, litellm, {d.model_name for d in deployments})
    variants = _model_variants(p, lc.get("model_variants"), deployments)
    observability = read_observability(p, general, litellm, lc, source)
    return Config(
        deployments=deployments,
        master_key=master_key,
        router=router,
        max_request_size_mb=float(max_mb),
        reasoning_display=display,
        cors_allow_origins=origins_t,
        reasoning_replay_mb=64.0 if replay_mb is None else float(replay_mb),
        model_variants=variants,
        cursor_errors=cursor_errors,
        accounting=accounting,
        observability=observability,
        request_log=read_request_log(p, general, lc),
        limits=read_limits(p, lc),
        warnings=tuple(p.warnings),
        source=source,
    )


def _model_variants(
    p: ValueReader, raw: Any, deployments: tuple[Deployment, ...]
) -> tuple[str, ...]:
    """`model_variants: {gpt-5.4: [high, thinking-xhigh, fast]}` -> the full names to list."""
    if raw is None:
        return ()
    path = "litecursor_settings.model_variants"
    mapping = p.obj(raw, path)
    names = {d.model_name for d in deployments if not d.is_wildcard}
    out: list[str] = []
    for name, suffixes in mapping.items():
        if name not in names:
            raise ConfigError(
                f"{path}.{name}", f"'{name}' is not a model_name of model_list (wildcards excluded)"
            )
        for i, suffix in enumerate(p.str_list(suffixes, f"{path}.{name}")):
            if parse_suffix(suffix) is None:
                raise ConfigError(
                    f"{path}.{name}[{i}]",
                    f"'{suffix}' is not a variant suffix: [thinking-][minimal|low|medium|high|"
                    "xhigh-][fast], e.g. high, thinking, thinking-high, fast, thinking-xhigh-fast",
                )
            out.append(f"{name}-{suffix}")
    return tuple(out)
