"""What a request costs: the answering deployment's price applied to the upstream's usage, or to an estimate.

`bill` is pure: a finished turn is priced from the upstream's own usage (cached reads, cache
writes and reasoning tokens at their own rates); a turn cut before the upstream said it was done
is priced from what it did say plus an estimate from the text sent and received, and marked
estimated; a request that got nothing from the upstream costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..config import Deployment
from ..pricing import Price, PriceTable, cost, tokens_in_text
from ..protocol.types import ChatRequest, ImagePart, Usage

#: output tokens assumed at admission when the request sets no `max_tokens`: what a budget
#: reserves for a request before its real cost is known
ESTIMATED_OUTPUT_TOKENS = 1024
#: characters an image counts for in an estimate (about 765 tokens: a 1024x1024 image at high
#: detail on OpenAI's scale), instead of the length of its base64 data
IMAGE_CHARS = 765 * 4


@dataclass(frozen=True, slots=True)
class Bill:
    """What a request is charged: the usage priced (None: nothing was used) and its cost."""

    usage: Usage | None
    cost: float
    #: some of the tokens were estimated from the text (the upstream never said them all)
    estimated: bool = False


FREE = Bill(None, 0.0)


def prompt_chars(req: ChatRequest, body_bytes: int) -> int:
    """The characters a request's prompt is estimated from: its body, with each image counted
    as a typical image's tokens rather than as its base64 data."""
    image_chars = 0
    images = 0
    for m in req.messages:
        for p in m.content:
            if type(p) is ImagePart:
                image_chars += len(p.url)
                images += 1
    if not images:
        return body_bytes
    return max(0, body_bytes - image_chars) + images * IMAGE_CHARS


def bill(usage: Usage | None, done: bool, chars: int, prompt: int, price: Price | None) -> Bill:
    """The charge for a turn: `usage` as the upstream reported it, `done` whether it said the
    turn was over, `chars` the characters it produced, `prompt` the prompt's characters."""
    if usage is None and chars == 0:
        return FREE  # nothing came back from the upstream: nothing to charge
    if usage is not None and done:
        return Bill(usage, cost(usage, price) if price is not None else 0.0)
    completion = tokens_in_text(chars)
    if usage is None:
        used = Usage(prompt_tokens=tokens_in_text(prompt), completion_tokens=completion)
    else:  # what the upstream said so far (its prompt, often), the rest from the text
        used = Usage(
            prompt_tokens=usage.prompt_tokens or tokens_in_text(prompt),
            completion_tokens=max(usage.completion_tokens, completion),
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
        )
    return Bill(used, cost(used, price) if price is not None else 0.0, estimated=True)


class Prices:
    """Each deployment's price, from the table and its own overrides, looked up once."""

    def __init__(self, table: PriceTable) -> None:
        self._table = table
        self._of: dict[tuple[str, str], Price | None] = {}
        self._rates: dict[tuple[str, ...], tuple[float, float]] = {}

    def reload(self, table: PriceTable) -> None:
        """New prices (an admin imported some): forget what was looked up."""
        self._table = table
        self._of.clear()
        self._rates.clear()

    def of(self, d: Deployment) -> Price | None:
        """The deployment's price; None when neither the table nor its config has one."""
        key = (d.id, d.litellm_model)  # a wildcard deployment serves many models under one id
        try:
            return self._of[key]
        except KeyError:
            pass
        base = self._table.lookup(d.litellm_model, d.base_model)
        overrides = dict(d.price_overrides)
        price = None if base is None and not overrides else (base or Price()).merged(overrides)
        if len(self._of) > 10_000:  # wildcards: a bounded cache, not one entry per name forever
            self._of.clear()
        self._of[key] = price
        return price

    def estimate(
        self, deployments: Iterable[Deployment], prompt: int, max_tokens: int | None
    ) -> float:
        """What a request may cost before a deployment is chosen: its prompt and `max_tokens`
        (else `ESTIMATED_OUTPUT_TOKENS`) at the dearest input and output rates of the group."""
        ds = tuple(deployments)
        key = tuple(d.litellm_model for d in ds)
        rates = self._rates.get(key)
        if rates is None:
            prices = [p for d in ds if (p := self.of(d)) is not None]
            rates = (
                max((p.input_cost_per_token for p in prices), default=0.0),
                max((p.output_cost_per_token for p in prices), default=0.0),
            )
            if len(self._rates) > 10_000:
                self._rates.clear()
            self._rates[key] = rates
        out = max_tokens if max_tokens is not None else ESTIMATED_OUTPUT_TOKENS
        return tokens_in_text(prompt) * rates[0] + out * rates[1]

    def unpriced(self, deployments: Iterable[Deployment]) -> list[str]:
        """Deployments with no price (their requests cost 0 and budgets never trip on them)."""
        return [
            d.id
            for d in deployments
            if not d.is_wildcard and not d.litellm_model.startswith("mock/") and self.of(d) is None
        ]
