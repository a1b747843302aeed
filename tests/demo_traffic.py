"""Generated request-log rows that look like a team's traffic: for the admin page's screenshots and the request-log benchmark.

Deterministic (a seeded random generator): a handful of developers with their own keys, each
with a working day, a favourite model, streamed agent turns with prompt caching, and now and
then an upstream error, a retry or a client that went away.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from litecursor.store import SpendRow
from litecursor.store.records import Attempt

HOUR = 3600.0
DAY = 86400.0

#: model group -> (deployment, provider, $ per 1M input, per 1M cached input, per 1M output)
MODELS = {
    "gpt-5": ("gpt-5#azure-east", "azure", 1.25, 0.125, 10.0),
    "claude-sonnet-4-5": ("claude-sonnet-4-5#anthropic", "anthropic", 3.0, 0.3, 15.0),
    "gemini-2.5-pro": ("gemini-2.5-pro#vertex", "vertex_ai", 1.25, 0.31, 10.0),
    "gpt-4.1-mini": ("gpt-4.1-mini#openai", "openai", 0.4, 0.1, 1.6),
}
ERRORS = [
    (429, "rate_limit_error", "upstream rate limit: Too many requests, retry after 20 s"),
    (
        502,
        "upstream_error",
        "upstream answered 500: The server had an error processing your request",
    ),
    (504, "timeout_error", "no first byte from the upstream within stream_timeout (30 s)"),
]


@dataclass(frozen=True)
class Developer:
    key_hash: str
    alias: str
    user_id: str | None
    team_id: str | None
    #: requests per working hour, and the model used most
    rate: float
    model: str


def rows_for(
    developers: list[Developer], start: float, end: float, seed: int = 7, scale: float = 1.0
) -> Iterator[SpendRow]:
    """Rows from `start` to `end`, oldest first; `scale` multiplies every developer's rate."""
    rnd = random.Random(seed)
    n = 0
    hour = start // HOUR * HOUR
    while hour < end:
        local = (hour % DAY) / HOUR
        weekday = int(hour // DAY + 4) % 7 < 5  # 1970-01-01 was a Thursday
        busy = (1.0 if 8 <= local < 19 else 0.08) * (1.0 if weekday else 0.15)
        for dev in developers:
            for _ in range(_poisson(rnd, dev.rate * busy * scale)):
                t = hour + rnd.random() * HOUR
                if t < start or t >= end:
                    continue
                n += 1
                yield _row(rnd, dev, n, t)
        hour += HOUR


def _poisson(rnd: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # the normal approximation: fast for the benchmark's big rates
        return max(0, round(rnd.gauss(mean, mean**0.5)))
    k, p, limit = 0, 1.0, 2.718281828459045 ** (-mean)
    while True:
        p *= rnd.random()
        if p <= limit:
            return k
        k += 1


def _row(rnd: random.Random, dev: Developer, n: int, t: float) -> SpendRow:
    model = dev.model if rnd.random() < 0.7 else rnd.choice(list(MODELS))
    deployment, provider, p_in, p_cached, p_out = MODELS[model]
    prompt = int(rnd.lognormvariate(9.6, 0.6))  # ~15k tokens: an agent turn with context
    cached = int(prompt * rnd.uniform(0.5, 0.95)) if rnd.random() < 0.8 else 0
    completion = int(rnd.lognormvariate(6.2, 0.8))
    stream = rnd.random() < 0.92
    latency = rnd.lognormvariate(8.3, 0.5)
    ttft = min(latency, rnd.lognormvariate(6.6, 0.4))
    status, error_type, error, upstream = 200, None, None, None
    attempts = [Attempt(deployment, None, latency - 2, offset_ms=1.5)]
    retries = 0
    roll = rnd.random()
    if roll < 0.02:
        status, error_type, error = rnd.choice(ERRORS)
        upstream = {429: 429, 502: 500, 504: None}[status]
        attempts = [Attempt(deployment, upstream or status, latency, error, 1.0)]
        prompt = cached = completion = 0
    elif roll < 0.05:
        # a first try refused, the retry answered
        retries = 1
        first = rnd.uniform(80, 400)
        # the retry starts once the refusal is in, after a pause; its first byte comes after
        latency += first + 40
        ttft += first + 40
        attempts = [
            Attempt(deployment, 429, first, "rate limited", 1.0),
            Attempt(deployment, None, latency - first - 42, offset_ms=first + 41),
        ]
    elif roll < 0.06:
        status = 499  # the developer pressed stop
        completion //= 3
    cost = ((prompt - cached) * p_in + cached * p_cached + completion * p_out) / 1e6
    return SpendRow(
        request_id=f"demo-{n:07d}",
        start_time=t,
        end_time=t + latency / 1000,
        key_hash=dev.key_hash,
        key_alias=dev.alias,
        user_id=dev.user_id,
        team_id=dev.team_id,
        end_user=f"cursor-user-{zlib.crc32(dev.alias.encode()) % 10000:04d}",
        model=model,
        model_group=model,
        deployment=deployment,
        provider=provider,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        reasoning_tokens=completion // 4 if model.startswith("gpt-5") else 0,
        spend=cost,
        latency_ms=latency,
        ttft_ms=ttft if status != 502 else None,
        status=status,
        error_type=error_type,
        error_message=error,
        route="/cursor/chat/completions",
        client_ip="34.203.118.22",
        user_agent="cursor-server/1.7",
        stream=stream,
        upstream_status=upstream,
        attempts=tuple(attempts),
        retries=retries,
    )
