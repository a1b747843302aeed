"""Which deployments of a group can take a request now, and which one does (LiteLLM's strategies)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ..config import Deployment
from .state import WINDOW, DeploymentState

Candidate = tuple[Deployment, DeploymentState]

#: what a full `max_parallel_requests` deployment suggests as retry-after: requests end fast
PARALLEL_WAIT = 1.0


def blocked(d: Deployment, s: DeploymentState, now: float) -> tuple[str, float] | None:
    """Why `d` cannot take a request now and for how long (seconds), or None when it can."""
    if s.cooling(now):
        return "cooling", s.cooldown_until - now
    waits: list[float] = []
    if d.max_parallel_requests is not None and s.in_flight >= d.max_parallel_requests:
        waits.append(PARALLEL_WAIT)
    if d.rpm is not None and s.requests >= d.rpm:
        waits.append(_frees(s.oldest_request, now))
    if d.tpm is not None and s.tokens >= d.tpm:
        waits.append(_frees(s.oldest_tokens, now))
    return ("limit", max(waits)) if waits else None


def _frees(oldest: float | None, now: float) -> float:
    return max(0.0, (oldest if oldest is not None else now) + WINDOW - now)


def preferred(candidates: list[Candidate]) -> list[Candidate]:
    """Only the lowest `order` among those that have one; deployments without an order are
    used when no ordered one can take the request (LiteLLM's `order`)."""
    orders = [d.order for d, _ in candidates if d.order is not None]
    if not orders:
        return candidates
    lowest = min(orders)
    return [c for c in candidates if c[0].order == lowest]


def choose(
    strategy: str, candidates: Sequence[Candidate], rng: random.Random, latency_buffer: float = 0.0
) -> Deployment:
    if len(candidates) == 1:
        return candidates[0][0]
    pick = _STRATEGIES.get(strategy, simple_shuffle)
    return pick(candidates, rng, latency_buffer)


def simple_shuffle(candidates: Sequence[Candidate], rng: random.Random, _: float) -> Deployment:
    """Random, weighted by `weight`, else by `rpm`, else by `tpm`, else equal. A deployment
    without the weight the others have counts as 1."""
    deployments = [d for d, _ in candidates]
    for attr in ("weight", "rpm", "tpm"):
        values = [getattr(d, attr) for d in deployments]
        if any(v is not None for v in values):
            weights = [1.0 if v is None else float(v) for v in values]
            if sum(weights) > 0:
                return rng.choices(deployments, weights=weights)[0]
    return rng.choice(deployments)


def least_busy(candidates: Sequence[Candidate], rng: random.Random, _: float) -> Deployment:
    """Fewest requests in flight; ties at random."""
    low = min(s.in_flight for _, s in candidates)
    return rng.choice([d for d, s in candidates if s.in_flight == low])


def lowest_latency(
    candidates: Sequence[Candidate], rng: random.Random, buffer: float
) -> Deployment:
    """Lowest recent time-to-first-token; a deployment never measured counts as 0 so it gets
    measured. With `lowest_latency_buffer` (e.g. 0.5) every deployment within that fraction
    of the best is a candidate, chosen at random, so the fastest is not the only one used."""
    latencies = [(d, s.latency or 0.0) for d, s in candidates]
    best = min(lat for _, lat in latencies)
    limit = best * (1.0 + buffer)
    return rng.choice([d for d, lat in latencies if lat <= limit])


def usage_based(candidates: Sequence[Candidate], rng: random.Random, _: float) -> Deployment:
    """Most headroom: the lowest share of its `rpm`/`tpm` used this minute (0 without limits),
    then the fewest tokens, then the fewest requests; ties at random."""
    keyed = [(_used(d, s), s.tokens, s.requests, d) for d, s in candidates]
    low = min(k[:3] for k in keyed)
    return rng.choice([k[3] for k in keyed if k[:3] == low])


def _used(d: Deployment, s: DeploymentState) -> float:
    shares = [0.0]
    if d.rpm:
        shares.append(s.requests / d.rpm)
    if d.tpm:
        shares.append(s.tokens / d.tpm)
    return max(shares)


_STRATEGIES: dict[str, Callable[[Sequence[Candidate], random.Random, float], Deployment]] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": lowest_latency,
    "usage-based-routing": usage_based,
}
