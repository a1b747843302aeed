"""`model_list` entries -> `Deployment`s: the upstream, its credentials, limits and typed options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..clouds.settings import CloudAuth
from ..protocol.providers import (
    AdapterOptions,
    RequestDefaults,
    Target,
    UnknownProviderError,
    infer_provider,
    resolve_model,
)
from .clouds import AWS_KEYS, CLOUD_ADAPTERS, VERTEX_KEYS, read_cloud
from .values import ConfigError, ValueReader

#: `litellm_params` keys litecursor reads; LiteLLM's others are warned about (values.py)
LITELLM_PARAMS = frozenset(
    {
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
        "top_k",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "reasoning_effort",
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
        "safety_settings",
        "stream_usage",
        "stream_tools",
        *VERTEX_KEYS,
        *AWS_KEYS,
        # prices overriding the shipped table (LiteLLM's names; pricing/cost.py)
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "output_cost_per_reasoning_token",
    }
)
PRICE_PARAMS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


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
    #: Vertex AI / Bedrock credentials, applied to each request right before it is sent
    auth: CloudAuth | None = None
    #: `model:` had no provider prefix; the provider was inferred from the well-known name
    provider_inferred: bool = False
    #: per-token prices set in `litellm_params`, over the price table's
    price_overrides: Mapping[str, float] = field(default_factory=dict)
    #: the model whose price applies (`model_info.base_model`: Azure deployments have own names)
    base_model: str | None = None

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.model_name


def read_deployment(p: ValueReader, raw: Any, i: int, *, prompt_caching: bool = True) -> Deployment:
    """`model_list[i]`, validated: every value an adapter reads is typed here, at start."""
    path = f"model_list[{i}]"
    item = p.obj(raw, path)
    p.only(item, path, {"model_name", "litellm_params", "model_info"})
    name = item.get("model_name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}.model_name", "must be a non-empty string")
    lp_path = f"{path}.litellm_params"
    lp = p.obj(item.get("litellm_params"), lp_path) if "litellm_params" in item else None
    if lp is None:
        raise ConfigError(lp_path, "missing: each model needs litellm_params.model")
    info = p.obj(item.get("model_info") or {}, f"{path}.model_info")
    for key in info:
        if key not in ("id", "base_model"):
            p.warn(f"{path}.model_info.{key} is not supported yet and is ignored")
    p.only(lp, lp_path, set(LITELLM_PARAMS))
    model = lp.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError(
            f"{lp_path}.model", "missing: write it as provider/model, e.g. openai/gpt-4o"
        )
    try:
        spec, upstream_model = resolve_model(model)
    except UnknownProviderError as e:
        raise ConfigError(f"{lp_path}.model", str(e)) from None
    inferred = infer_provider(model)
    if inferred is not None:  # `gpt-4o` is served as `openai/gpt-4o`
        model = f"{inferred}/{model}"
    api_base = (
        p.opt_str(lp, "api_base", f"{lp_path}.api_base")
        or p.opt_str(lp, "base_url", f"{lp_path}.base_url")
        or spec.api_base
    )
    auth: CloudAuth | None = None
    if spec.adapter in CLOUD_ADAPTERS:
        cloud = read_cloud(p, lp, lp_path, spec.adapter, upstream_model, api_base)
        api_base, auth = cloud.api_base, cloud.auth
    if api_base is None:
        raise ConfigError(f"{lp_path}.api_base", f"required for '{model.split('/')[0]}/' models")
    if not api_base.startswith(("http://", "https://", "mock://")):
        raise ConfigError(f"{lp_path}.api_base", f"'{api_base}' is not an http(s) URL")
    api_key = p.opt_str(lp, "api_key", f"{lp_path}.api_key")
    if spec.adapter in CLOUD_ADAPTERS:
        api_key = cloud.api_key
    elif api_key is None and spec.key_env:
        api_key = p.environ.get(spec.key_env)
        if (
            api_key is None
            and spec.api_base is not None
            and not spec.api_base.startswith("http://")
        ):
            p.warn(
                f"{lp_path}: no api_key and {spec.key_env} is not set; "
                "requests will go without credentials"
            )
    api_version = p.opt_str(lp, "api_version", f"{lp_path}.api_version")
    if spec.adapter.startswith("azure") and api_version is None:
        api_version = p.environ.get("AZURE_API_VERSION")
    headers = lp.get("extra_headers") or lp.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{lp_path}.extra_headers", "must map header names to strings")
    drop = p.str_list(lp.get("additional_drop_params") or [], f"{lp_path}.additional_drop_params")
    if isinstance(lp.get("drop_params"), list):
        drop += p.str_list(lp["drop_params"], f"{lp_path}.drop_params")
    target = Target(
        provider=model.split("/", 1)[0],
        model=upstream_model,
        api_base=api_base,
        api_key=api_key,
        api_version=api_version,
        headers=dict(headers),
        defaults=_defaults(p, lp, lp_path),
        options=_options(p, lp, lp_path, prompt_caching),
    )
    dep_id = info.get("id")
    return Deployment(
        id=str(dep_id) if dep_id is not None else f"{name}#{i}",
        model_name=name,
        litellm_model=model,
        adapter=spec.adapter,
        target=target,
        rpm=p.opt_int(lp, "rpm", f"{lp_path}.rpm"),
        tpm=p.opt_int(lp, "tpm", f"{lp_path}.tpm"),
        weight=p.opt_num(lp, "weight", f"{lp_path}.weight"),
        order=p.opt_int(lp, "order", f"{lp_path}.order"),
        max_parallel_requests=p.opt_int(
            lp, "max_parallel_requests", f"{lp_path}.max_parallel_requests"
        ),
        timeout=p.opt_num(lp, "timeout", f"{lp_path}.timeout"),
        stream_timeout=p.opt_num(lp, "stream_timeout", f"{lp_path}.stream_timeout"),
        connect_timeout=p.opt_num(lp, "connect_timeout", f"{lp_path}.connect_timeout"),
        idle_timeout=p.opt_num(lp, "idle_timeout", f"{lp_path}.idle_timeout"),
        drop_params=frozenset(drop),
        auth=auth,
        provider_inferred=inferred is not None,
        price_overrides={
            k: float(v)
            for k in PRICE_PARAMS
            if (v := p.opt_num(lp, k, f"{lp_path}.{k}")) is not None
        },
        base_model=p.opt_str(info, "base_model", f"{path}.model_info.base_model"),
    )


def _defaults(p: ValueReader, lp: dict[str, Any], path: str) -> RequestDefaults:
    def num(key: str, positive: bool = True) -> float | None:
        return p.opt_num(lp, key, f"{path}.{key}", positive=positive)

    effort = p.opt_str(lp, "reasoning_effort", f"{path}.reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise ConfigError(
            f"{path}.reasoning_effort", f"'{effort}' is not one of {', '.join(REASONING_EFFORTS)}"
        )
    return RequestDefaults(
        max_tokens=p.opt_int(lp, "max_tokens", f"{path}.max_tokens"),
        temperature=num("temperature"),
        top_p=num("top_p"),
        top_k=p.opt_int(lp, "top_k", f"{path}.top_k"),
        seed=p.opt_int(lp, "seed", f"{path}.seed"),
        presence_penalty=num("presence_penalty", positive=False),
        frequency_penalty=num("frequency_penalty", positive=False),
        reasoning_effort=effort,
    )


def _options(p: ValueReader, lp: dict[str, Any], path: str, prompt_caching: bool) -> AdapterOptions:
    safety = lp.get("safety_settings")
    if safety is not None:
        items = p.seq(safety, f"{path}.safety_settings")
        for j, s in enumerate(items):
            if not isinstance(s, dict):
                raise ConfigError(
                    f"{path}.safety_settings[{j}]",
                    "must be a mapping like {category: HARM_CATEGORY_..., threshold: BLOCK_...}",
                )
    stream_usage = lp.get("stream_usage", True)
    if not isinstance(stream_usage, bool):
        raise ConfigError(f"{path}.stream_usage", "must be true or false")
    stream_tools = lp.get("stream_tools")
    if stream_tools is not None and not isinstance(stream_tools, bool):
        raise ConfigError(f"{path}.stream_tools", "must be true or false")
    return AdapterOptions(
        thinking_budget=p.opt_int(lp, "thinking_budget", f"{path}.thinking_budget"),
        safety_settings=None if safety is None else tuple(safety),
        stream_usage=stream_usage,
        prompt_caching=prompt_caching,
        mock_delay=p.opt_num(lp, "mock_delay", f"{path}.mock_delay") or 0.0,
        stream_tools=stream_tools,
    )
