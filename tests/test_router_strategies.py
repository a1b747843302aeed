"""Router strategies: weighted shuffle, least busy, lowest latency, most headroom, order, and limits."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from litecursor.config import Deployment
from litecursor.protocol.providers import Target
from litecursor.router import strategies
from litecursor.router.state import DeploymentState

TARGET = Target("openai", "gpt-4o", "http://127.0.0.1:1/v1")


def dep(id: str, **kw: Any) -> Deployment:
    return Deployment(
        id=id,
        model_name="m",
        litellm_model="openai/gpt-4o",
        adapter="openai_chat",
        target=TARGET,
        **kw,
    )


def draw(
    strategy: str, candidates: list[strategies.Candidate], n: int = 4000, buffer: float = 0.0
) -> Counter[str]:
    rng = random.Random(7)
    return Counter(strategies.choose(strategy, candidates, rng, buffer).id for _ in range(n))


def fresh(*deployments: Deployment, **states: DeploymentState) -> list[strategies.Candidate]:
    return [(d, states.get(d.id, DeploymentState(d.id))) for d in deployments]


# --- the choice itself ------------------------------------------------------------------------


def test_simple_shuffle_follows_weights() -> None:
    counts = draw("simple-shuffle", fresh(dep("a", weight=3), dep("b", weight=1)))
    assert abs(counts["a"] / 4000 - 0.75) < 0.03


def test_simple_shuffle_uses_rpm_without_weights() -> None:
    counts = draw("simple-shuffle", fresh(dep("a", rpm=100), dep("b", rpm=900)))
    assert abs(counts["b"] / 4000 - 0.9) < 0.03


def test_simple_shuffle_uses_tpm_without_weights_or_rpm() -> None:
    counts = draw("simple-shuffle", fresh(dep("a", tpm=1000), dep("b", tpm=3000)))
    assert abs(counts["b"] / 4000 - 0.75) < 0.03


def test_simple_shuffle_is_even_without_any_weight() -> None:
    counts = draw("simple-shuffle", fresh(dep("a"), dep("b"), dep("c")))
    assert all(abs(counts[x] / 4000 - 1 / 3) < 0.03 for x in "abc")


def test_a_deployment_without_the_others_weight_counts_as_one() -> None:
    counts = draw("simple-shuffle", fresh(dep("a", weight=4), dep("b")))
    assert abs(counts["b"] / 4000 - 0.2) < 0.03


def test_least_busy_takes_the_fewest_in_flight() -> None:
    counts = draw(
        "least-busy",
        fresh(
            dep("a"),
            dep("b"),
            dep("c"),
            a=DeploymentState("a", in_flight=3),
            b=DeploymentState("b", in_flight=1),
            c=DeploymentState("c", in_flight=2),
        ),
    )
    assert counts == {"b": 4000}


def test_least_busy_spreads_ties() -> None:
    counts = draw("least-busy", fresh(dep("a"), dep("b")))
    assert min(counts.values()) > 1800


def test_latency_based_takes_the_fastest() -> None:
    counts = draw(
        "latency-based-routing",
        fresh(
            dep("a"),
            dep("b"),
            a=DeploymentState("a", latency=0.9),
            b=DeploymentState("b", latency=0.3),
        ),
    )
    assert counts == {"b": 4000}


def test_latency_based_measures_an_unmeasured_deployment_first() -> None:
    counts = draw(
        "latency-based-routing", fresh(dep("a"), dep("b"), a=DeploymentState("a", latency=0.2))
    )
    assert counts == {"b": 4000}


def test_latency_buffer_shares_among_those_close_to_the_fastest() -> None:
    candidates = fresh(
        dep("a"),
        dep("b"),
        dep("c"),
        a=DeploymentState("a", latency=1.0),
        b=DeploymentState("b", latency=1.4),
        c=DeploymentState("c", latency=2.0),
    )
    counts = draw("latency-based-routing", candidates, buffer=0.5)
    assert set(counts) == {"a", "b"} and min(counts.values()) > 1800


def test_usage_based_takes_the_most_headroom() -> None:
    counts = draw(
        "usage-based-routing",
        fresh(
            dep("a", rpm=10),
            dep("b", rpm=1000),
            a=DeploymentState("a", requests=2),
            b=DeploymentState("b", requests=100),
        ),
    )
    assert counts == {"b": 4000}  # a has used 20% of its rpm, b only 10%


def test_usage_based_counts_tokens_against_tpm() -> None:
    counts = draw(
        "usage-based-routing",
        fresh(
            dep("a", tpm=1000),
            dep("b", tpm=1000),
            a=DeploymentState("a", tokens=900),
            b=DeploymentState("b", tokens=100),
        ),
    )
    assert counts == {"b": 4000}


def test_order_keeps_only_the_lowest() -> None:
    candidates = fresh(dep("a", order=2), dep("b", order=1), dep("c"))
    assert [d.id for d, _ in strategies.preferred(candidates)] == ["b"]


def test_a_deployment_is_blocked_at_each_of_its_limits() -> None:
    now = 100.0
    assert strategies.blocked(
        dep("a", rpm=2), DeploymentState("a", requests=2, oldest_request=90.0), now
    ) == ("limit", 50.0)
    assert strategies.blocked(
        dep("a", tpm=50), DeploymentState("a", tokens=60, oldest_tokens=70.0), now
    ) == ("limit", 30.0)
    assert strategies.blocked(
        dep("a", max_parallel_requests=1), DeploymentState("a", in_flight=1), now
    ) == ("limit", 1.0)
    assert strategies.blocked(dep("a"), DeploymentState("a", cooldown_until=112.0), now) == (
        "cooling",
        12.0,
    )
    assert strategies.blocked(dep("a", rpm=3), DeploymentState("a", requests=2), now) is None
