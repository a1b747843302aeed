"""The upstream APIs litecursor speaks, and how LiteLLM's `provider/model` names map onto them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

from .base import AdapterOptions, HttpRequest, Provider, RequestDefaults, StreamDecoder, Target

__all__ = [
    "AdapterOptions",
    "HttpRequest",
    "Provider",
    "ProviderSpec",
    "RequestDefaults",
    "StreamDecoder",
    "Target",
    "UnknownProviderError",
    "get_provider",
    "infer_provider",
    "resolve_model",
]

# adapter name -> "module:Class"; imported on first use so a config only loads what it names
_ADAPTERS: dict[str, str] = {
    "openai_chat": "openai_chat:OpenAIChatProvider",
    "openai_responses": "openai_responses:OpenAIResponsesProvider",
    "azure_chat": "azure:AzureChatProvider",
    "azure_responses": "azure:AzureResponsesProvider",
    "anthropic": "anthropic:AnthropicProvider",
    "gemini": "gemini:GeminiProvider",
    "mock": "mock:MockProvider",
    "vertex_gemini": "vertex:VertexGeminiProvider",
    "vertex_anthropic": "vertex:VertexAnthropicProvider",
    "bedrock": "bedrock:BedrockProvider",
}


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What a `model:` prefix means: the adapter, its default base URL (None: `api_base`
    is required) and the environment variable LiteLLM reads the key from."""

    adapter: str
    api_base: str | None
    key_env: str | None


# LiteLLM provider prefixes. OpenAI-compatible servers all use the Chat Completions adapter.
_PREFIXES: dict[str, ProviderSpec] = {
    "openai": ProviderSpec("openai_chat", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "azure": ProviderSpec("azure_chat", None, "AZURE_API_KEY"),
    "anthropic": ProviderSpec("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    "gemini": ProviderSpec(
        "gemini", "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY"
    ),
    "mock": ProviderSpec("mock", "mock://local", None),
    # the cloud providers' URLs and credentials are worked out by config/clouds.py
    "vertex_ai": ProviderSpec("vertex_gemini", None, None),
    "bedrock": ProviderSpec("bedrock", None, "AWS_BEARER_TOKEN_BEDROCK"),
    "openai_compatible": ProviderSpec("openai_chat", None, None),
    "custom_openai": ProviderSpec("openai_chat", None, None),
    "hosted_vllm": ProviderSpec("openai_chat", None, "HOSTED_VLLM_API_KEY"),
    "vllm": ProviderSpec("openai_chat", None, None),
    "ollama": ProviderSpec("openai_chat", "http://localhost:11434/v1", None),
    "ollama_chat": ProviderSpec("openai_chat", "http://localhost:11434/v1", None),
    "lm_studio": ProviderSpec("openai_chat", "http://localhost:1234/v1", "LM_STUDIO_API_KEY"),
    "groq": ProviderSpec("openai_chat", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "deepseek": ProviderSpec("openai_chat", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "openrouter": ProviderSpec("openai_chat", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "together_ai": ProviderSpec("openai_chat", "https://api.together.xyz/v1", "TOGETHERAI_API_KEY"),
    "fireworks_ai": ProviderSpec(
        "openai_chat", "https://api.fireworks.ai/inference/v1", "FIREWORKS_AI_API_KEY"
    ),
    "mistral": ProviderSpec("openai_chat", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "xai": ProviderSpec("openai_chat", "https://api.x.ai/v1", "XAI_API_KEY"),
    "perplexity": ProviderSpec("openai_chat", "https://api.perplexity.ai", "PERPLEXITYAI_API_KEY"),
    "deepinfra": ProviderSpec(
        "openai_chat", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY"
    ),
    "cerebras": ProviderSpec("openai_chat", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    "moonshot": ProviderSpec("openai_chat", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY"),
}

# `openai/responses/<model>` and `azure/responses/<deployment>` select the Responses API
_RESPONSES_ADAPTERS = {"openai_chat": "openai_responses", "azure_chat": "azure_responses"}


class UnknownProviderError(ValueError):
    pass


def known_prefixes() -> list[str]:
    return sorted(_PREFIXES)


# well-known model names written without a provider prefix, as LiteLLM infers them
_WELL_KNOWN: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt-", "chatgpt-", "o1", "o3", "o4"), "openai"),
    (("claude-",), "anthropic"),
    (("gemini-",), "gemini"),
)


def infer_provider(model: str) -> str | None:
    """The provider prefix of a well-known model name without one (``gpt-4o`` -> openai,
    ``claude-3-5-sonnet-20241022`` -> anthropic, ``gemini-2.5-pro`` -> gemini), else None."""
    if "/" in model:
        return None
    for starts, provider in _WELL_KNOWN:
        if model.startswith(starts):
            return provider
    return None


def resolve_model(model: str) -> tuple[ProviderSpec, str]:
    """Split a LiteLLM model string into (provider spec, upstream model name).

    ``openai/gpt-4o`` -> Chat Completions, ``openai/responses/gpt-5`` -> Responses API,
    ``groq/llama-3.3-70b`` -> Chat Completions at Groq's base URL. A well-known name without
    a prefix (``gpt-4o``) is read as its provider's (`infer_provider`).
    """
    inferred = infer_provider(model)
    if inferred is not None:
        model = f"{inferred}/{model}"
    prefix, sep, rest = model.partition("/")
    if not sep or not rest:
        raise UnknownProviderError(
            f"'{model}' has no provider prefix and is not a well-known model name; write it "
            f"as provider/model, e.g. openai/{model}"
        )
    spec = _PREFIXES.get(prefix)
    if spec is None:
        raise UnknownProviderError(
            f"unknown provider '{prefix}' in '{model}'; supported: {', '.join(known_prefixes())}"
        )
    sub, sep2, name = rest.partition("/")
    if sub == "responses" and sep2 and spec.adapter in _RESPONSES_ADAPTERS:
        spec = ProviderSpec(_RESPONSES_ADAPTERS[spec.adapter], spec.api_base, spec.key_env)
        rest = name
    elif spec.adapter == "bedrock" and sep2 and sub in ("converse", "invoke"):
        if sub == "invoke":
            raise UnknownProviderError(
                f"'{model}': litecursor speaks Bedrock's Converse API only; "
                f"write bedrock/converse/{name} (or bedrock/{name})"
            )
        rest = name
    elif spec.adapter == "vertex_gemini":
        if sep2 and sub in ("gemini", "anthropic", "google"):
            rest = name  # LiteLLM's vertex_ai/gemini/<model> form, and publisher prefixes
        if rest.startswith("claude"):
            spec = ProviderSpec("vertex_anthropic", None, None)
        elif "/" in rest:
            raise UnknownProviderError(
                f"'{model}': Vertex AI partner models other than Claude are not supported; "
                "vertex_ai/ serves Gemini and Claude"
            )
    return spec, rest


@cache
def get_provider(adapter: str) -> Provider:
    path = _ADAPTERS.get(adapter)
    if path is None:
        raise UnknownProviderError(f"no adapter named '{adapter}'")
    module_name, _, cls_name = path.partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    provider: Provider = getattr(module, cls_name)()
    return provider
