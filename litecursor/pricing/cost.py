"""What a request costs: its usage priced per token. Pure: no I/O, no clock, no lookups.

Usage arrives normalised by the decoders (`protocol.types.Usage`): `prompt_tokens` includes the
cached reads and the cache writes, `completion_tokens` includes the reasoning tokens. Each part
is priced at its own rate, falling back to the plain input or output rate where a model has none.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ..protocol.types import Usage

#: LiteLLM's threshold for "above 200k tokens" prices (Gemini 2.5 Pro, Claude Sonnet 4 1M)
TIER_TOKENS = 200_000
#: characters per token when a cut stream's tokens must be estimated from its text: the usual
#: rule of thumb for English and code with OpenAI's and Anthropic's tokenizers
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per token; None: not priced separately (the plain rate applies)."""

    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    cache_read_input_token_cost: float | None = None
    cache_creation_input_token_cost: float | None = None
    output_cost_per_reasoning_token: float | None = None
    input_cost_per_token_above_200k_tokens: float | None = None
    output_cost_per_token_above_200k_tokens: float | None = None
    cache_read_input_token_cost_above_200k_tokens: float | None = None
    cache_creation_input_token_cost_above_200k_tokens: float | None = None

    def merged(self, overrides: dict[str, float]) -> Price:
        return replace(self, **overrides) if overrides else self

    def tier(self, prompt_tokens: int) -> Price:
        """The rates that apply to a request of this size."""
        if prompt_tokens <= TIER_TOKENS or self.input_cost_per_token_above_200k_tokens is None:
            return self
        return replace(
            self,
            input_cost_per_token=self.input_cost_per_token_above_200k_tokens,
            output_cost_per_token=self.output_cost_per_token_above_200k_tokens
            or self.output_cost_per_token,
            cache_read_input_token_cost=self.cache_read_input_token_cost_above_200k_tokens
            or self.cache_read_input_token_cost,
            cache_creation_input_token_cost=self.cache_creation_input_token_cost_above_200k_tokens
            or self.cache_creation_input_token_cost,
        )


PRICE_FIELDS = frozenset(f.name for f in fields(Price))
#: the per-deployment overrides `litellm_params` may carry (LiteLLM's names)
OVERRIDE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)


def cost(usage: Usage, price: Price) -> float:
    """The cost of `usage` at `price`, in US dollars."""
    p = price.tier(usage.prompt_tokens)
    cached = usage.cached_tokens or 0
    written = usage.cache_creation_tokens or 0
    plain_in = max(0, usage.prompt_tokens - cached - written)
    reasoning = min(usage.reasoning_tokens or 0, usage.completion_tokens)
    read_rate = (
        p.input_cost_per_token
        if p.cache_read_input_token_cost is None
        else p.cache_read_input_token_cost
    )
    write_rate = (
        p.input_cost_per_token
        if p.cache_creation_input_token_cost is None
        else p.cache_creation_input_token_cost
    )
    reasoning_rate = (
        p.output_cost_per_token
        if p.output_cost_per_reasoning_token is None
        else p.output_cost_per_reasoning_token
    )
    return (
        plain_in * p.input_cost_per_token
        + cached * read_rate
        + written * write_rate
        + (usage.completion_tokens - reasoning) * p.output_cost_per_token
        + reasoning * reasoning_rate
    )


def tokens_in_text(chars: int) -> int:
    """An estimate of the tokens in `chars` characters of text (rounded up)."""
    return -(-chars // CHARS_PER_TOKEN)


def estimate_usage(prompt_chars: int, completion_chars: int) -> Usage:
    """Usage estimated from the text sent and received, for a stream cut before the
    upstream said what it used."""
    return Usage(
        prompt_tokens=tokens_in_text(prompt_chars),
        completion_tokens=tokens_in_text(completion_chars),
    )


def price_from_entry(entry: dict[str, Any]) -> Price:
    """A `Price` from a LiteLLM-format entry (unknown fields ignored; costs must be numbers)."""
    values: dict[str, float] = {}
    for name in PRICE_FIELDS:
        v = entry.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ValueError(f"{name} must be a number of dollars per token, not {v!r}")
        values[name] = float(v)
    return Price(**values)
