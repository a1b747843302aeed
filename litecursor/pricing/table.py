"""The price table: the shipped prices, those an admin imported, and per-deployment overrides."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import orjson

from .cost import Price, price_from_entry

#: a date at the end of a model name: `claude-sonnet-4-5-20250929`, `gpt-4o-2024-08-06`
_DATED = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
#: LiteLLM's `litellm_provider` values and the `model:` prefixes they correspond to
_PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "azure": "azure",
}


class PriceFileError(ValueError):
    """A price file that is not in LiteLLM's format."""


def shipped() -> dict[str, Price]:
    """The table inside the package (`prices.json`, with its sources and date)."""
    raw = resources.files(__package__).joinpath("prices.json").read_bytes()
    return parse_litellm(orjson.loads(raw))


def parse_litellm(data: Any) -> dict[str, Price]:
    """LiteLLM's `model_prices_and_context_window.json`: model name -> entry. Entries without
    a token price (images, audio, embeddings) are skipped; names are qualified with their
    provider (`openai/gpt-4o`) so they match `litellm_params.model`."""
    if not isinstance(data, dict):
        raise PriceFileError("expected a JSON object mapping model names to prices")
    out: dict[str, Price] = {}
    for name, entry in data.items():
        if name.startswith("_") or name == "sample_spec" or not isinstance(entry, dict):
            continue
        if "input_cost_per_token" not in entry and "output_cost_per_token" not in entry:
            continue
        try:
            price = price_from_entry(entry)
        except ValueError as e:
            raise PriceFileError(f"{name}: {e}") from None
        out[qualified(name, entry.get("litellm_provider"))] = price
    return out


def qualified(name: str, provider: Any) -> str:
    prefix = _PROVIDERS.get(provider) if isinstance(provider, str) else None
    if prefix is None or name.startswith(f"{prefix}/"):
        return name
    return f"{prefix}/{name}"


def to_entries(prices: Mapping[str, Price]) -> dict[str, dict[str, float]]:
    """Prices as LiteLLM-format entries (only the fields that are set)."""
    out = {}
    for name, p in prices.items():
        out[name] = {k: v for k in p.__slots__ if (v := getattr(p, k)) is not None}
    return out


class PriceTable:
    """Model -> price, the later sources winning: shipped, then imported."""

    def __init__(self, *layers: Mapping[str, Price]) -> None:
        self._prices: dict[str, Price] = {}
        for layer in layers:
            self._prices.update(layer)

    def __len__(self) -> int:
        return len(self._prices)

    def lookup(self, litellm_model: str, base_model: str | None = None) -> Price | None:
        """The price of a deployment: its `model_info.base_model` when given (Azure deployments
        have names of their own), else its `litellm_params.model`, with or without the provider
        prefix and a date suffix."""
        for name in _candidates(base_model) if base_model else ():
            if name in self._prices:
                return self._prices[name]
        for name in _candidates(litellm_model):
            if name in self._prices:
                return self._prices[name]
        return None


def _candidates(model: str) -> Iterable[str]:
    """`azure/responses/gpt-5` -> azure/responses/gpt-5, azure/gpt-5, gpt-5 (and undated)."""
    provider, _, rest = model.partition("/")
    names = [model]
    if rest:
        bare = rest.split("/", 1)[1] if rest.startswith("responses/") else rest
        names += [f"{provider}/{bare}", bare]
    for n in list(names):
        undated = _DATED.sub("", n)
        if undated != n:
            names.append(undated)
    return names
