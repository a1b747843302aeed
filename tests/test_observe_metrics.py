"""GET /metrics: Prometheus text read with prometheus-client's own parser after real requests through the gateway."""

from __future__ import annotations

import asyncio
import http.client
import time
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.common import Faults
from tests.fakes.routing import ask, openai_model, start_openai
from tests.harness import MASTER_KEY, Gateway
from tests.processes import serving

METRICS_TOKEN = "scrape-token-0123456789"


async def scrape(gw: Gateway, key: str | None = MASTER_KEY) -> dict[tuple[str, frozenset], float]:
    """Every sample as {(name, labels): value}."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with gw.session.get(gw.base + "/metrics", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        return samples(await resp.text())


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(m: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return m.get((name, frozenset(labels.items())), 0.0)


#: per-token prices: the fake's 11 prompt and 7 completion tokens cost $0.25 a request
PRICES = {"input_cost_per_token": 0.01, "output_cost_per_token": 0.02}


@pytest.fixture
async def traffic(aiohttp_server: Any, gateway_factory: Any) -> tuple[Gateway, Any]:
    """`gpt-4o` on `a` (answers 429: cooled down at once) and `b`; `solo` on `c` (answers
    500); then a streamed and a plain request to gpt-4o, one to solo, one to no route."""
    (fa, ba), (fb, bb), (fc, bc) = [await start_openai(aiohttp_server) for _ in range(3)]
    gw = await gateway_factory(
        [
            openai_model("gpt-4o", ba, id="a", order=1, **PRICES),
            openai_model("gpt-4o", bb, id="b", order=2, **PRICES),
            openai_model("solo", bc, id="c", **PRICES),
        ],
        router_settings={"num_retries": 1},
        litecursor_settings={"metrics_token": METRICS_TOKEN},
    )
    fa.faults = Faults(status=429)
    fc.faults = Faults(status=500)
    assert (await ask(gw, "gpt-4o", stream=True)).deployment == "b"
    assert (await ask(gw, "gpt-4o")).deployment == "b"
    assert (await ask(gw, "solo")).status == 502
    async with gw.session.get(gw.base + "/nowhere", headers={"authorization": "Bearer x"}) as r:
        assert r.status == 401
    return gw, (fa, fb, fc)


async def test_requests_are_counted_by_model_group_deployment_route_and_status(traffic) -> None:
    gw, _ = traffic
    m = await scrape(gw)
    route = "/cursor/chat/completions"
    n = "litecursor_requests_total"
    assert value(m, n, model_group="gpt-4o", deployment="b", route=route, status="200") == 2
    assert value(m, n, model_group="solo", deployment="c", route=route, status="502") == 1
    # a path no route serves is one label value, whatever the path
    assert value(m, n, model_group="", deployment="", route="other", status="401") == 1


async def test_latency_and_time_to_first_token_are_histograms(traffic) -> None:
    gw, _ = traffic
    m = await scrape(gw)
    labels = {"model_group": "gpt-4o", "deployment": "b"}
    assert value(m, "litecursor_request_duration_seconds_count", **labels) == 2
    assert value(m, "litecursor_request_duration_seconds_sum", **labels) > 0
    assert value(m, "litecursor_request_duration_seconds_bucket", **labels, le="+Inf") == 2
    # only the streamed request has a time to first token
    assert value(m, "litecursor_time_to_first_token_seconds_count", **labels) == 1


async def test_tokens_and_spend_are_counted_by_key_and_model(traffic) -> None:
    gw, _ = traffic
    m = await scrape(gw)
    key = {"key_alias": "master", "model_group": "gpt-4o"}
    # the fake answers 11 prompt and 7 completion tokens each time
    assert value(m, "litecursor_tokens_total", **key, type="prompt") == 22
    assert value(m, "litecursor_tokens_total", **key, type="completion") == 14
    # priced by the keys feature from each answer's usage; a failure before any upstream byte
    # costs nothing
    assert value(m, "litecursor_spend_usd_total", **key) == pytest.approx(0.5)
    assert value(m, "litecursor_spend_usd_total", key_alias="master", model_group="solo") == 0


async def test_upstream_errors_and_cooldowns_are_counted(traffic) -> None:
    gw, _ = traffic
    m = await scrape(gw)
    errors = "litecursor_upstream_errors_total"
    assert value(m, errors, deployment="a", type="upstream_rate_limited") == 1
    # solo's one deployment was tried twice (num_retries: 1)
    assert value(m, errors, deployment="c", type="upstream_error") == 2
    assert (
        value(m, "litecursor_deployment_cooldowns_total", model_group="gpt-4o", deployment="a") == 1
    )
    until = value(
        m, "litecursor_deployment_cooldown_until_seconds", model_group="gpt-4o", deployment="a"
    )
    assert time.time() < until < time.time() + 61
    # solo's only deployment is never cooled (nothing else could serve it)
    assert (
        value(m, "litecursor_deployment_cooldowns_total", model_group="solo", deployment="c") == 0
    )


async def test_drop_counters_are_exposed_from_the_start(traffic) -> None:
    gw, _ = traffic
    m = await scrape(gw)
    assert ("litecursor_spend_rows_dropped_total", frozenset()) in m
    assert value(m, "litecursor_open_streams") == 0


async def test_open_streams_count_the_streams_in_progress(aiohttp_server, gateway_factory) -> None:
    fake, base = await start_openai(aiohttp_server)
    fake.faults = Faults(chunk_delay=0.3)
    gw = await gateway_factory([openai_model("gpt-4o", base)])
    streams = [asyncio.ensure_future(ask(gw, "gpt-4o", stream=True)) for _ in range(2)]
    async with asyncio.timeout(5):
        while len(fake.requests) < 2:
            await asyncio.sleep(0.02)
    assert value(await scrape(gw), "litecursor_open_streams") == 2
    await asyncio.gather(*streams)
    assert value(await scrape(gw), "litecursor_open_streams") == 0


async def test_metrics_need_the_master_key_or_the_metrics_token(traffic) -> None:
    gw, _ = traffic
    assert await scrape(gw, METRICS_TOKEN)
    for key, status in ((None, 401), ("wrong", 401)):
        headers = {"authorization": f"Bearer {key}"} if key else {}
        async with gw.session.get(gw.base + "/metrics", headers=headers) as resp:
            assert resp.status == status
    # the metrics token opens /metrics and nothing else
    async with gw.session.get(
        gw.base + "/v1/models", headers={"authorization": f"Bearer {METRICS_TOKEN}"}
    ) as resp:
        assert resp.status == 401


def _get(port: int, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": "Bearer sk-litecursor-dev-key", "Content-Type": "application/json"}
    conn.request("POST" if body else "GET", path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def test_several_processes_sharing_a_multiprocess_directory_are_summed(tmp_path) -> None:
    """What several workers do: each `litecursor serve` process writes its values under
    PROMETHEUS_MULTIPROC_DIR, and any one of them serves the sum."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    body = orjson.dumps({"model": "mock", "messages": [{"role": "user", "content": "hi"}]})
    with (
        serving("--insecure-http", env=env) as (_a, port_a),
        serving("--insecure-http", env=env) as (_b, port_b),
    ):
        for port, n in ((port_a, 2), (port_b, 3)):
            for _ in range(n):
                assert _get(port, "/v1/chat/completions", body)[0] == 200
        for port in (port_a, port_b):
            status, text = _get(port, "/metrics")
            assert status == 200
            m = samples(text.decode())
            requests = value(
                m,
                "litecursor_requests_total",
                model_group="mock",
                deployment="mock#0",
                route="/v1/chat/completions",
                status="200",
            )
            assert requests == 5
