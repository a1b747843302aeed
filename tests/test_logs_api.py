"""`GET /logs`, `GET /logs/{id}` and the admin page's JSON (overview, developers) over HTTPS, on rows in a real store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from litecursor.server.keys import STORE
from litecursor.store import SpendRow, Store
from litecursor.store.records import Attempt

from .harness import MASTER_KEY, Gateway, make_config, run_gateway

HOUR = 3600.0


@dataclass
class Logged:
    gw: Gateway
    store: Store
    alice_key: str
    alice: str  # hash
    bob: str
    idle: str
    now: float

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.gw.session.get(
            self.gw.base + path,
            params={k: str(v) for k, v in params.items()},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
        ) as r:
            return r.status, await r.json()


def row(n: int, at: float, **kw: Any) -> SpendRow:
    base: dict[str, Any] = dict(
        request_id=f"req-{n:03d}",
        start_time=at,
        end_time=at + 0.5,
        model="gpt-4o",
        model_group="gpt-4o",
        deployment="gpt-4o#0",
        provider="openai",
        prompt_tokens=1000,
        completion_tokens=100,
        cached_tokens=600,
        spend=0.002,
        latency_ms=500.0,
        ttft_ms=120.0,
        route="/cursor/chat/completions",
        client_ip="203.0.113.7",
        user_agent="cursor-server",
        stream=True,
        attempts=(Attempt("gpt-4o#0", None, 480.0, offset_ms=3.0),),
        request_body='{"model": "gpt-4o"}',
        response_body='{"choices": []}',
    )
    base.update(kw)
    return SpendRow(**base)


@pytest.fixture
async def logged(tmp_path: Path, dev_certs: Any) -> AsyncIterator[Logged]:
    models = [{"model_name": "gpt-4o", "litellm_params": {"model": "mock/echo"}}]
    # the rows here are written by the test; the gateway's own (of these API calls) are off
    general = {
        "master_key": MASTER_KEY,
        "database_url": str(tmp_path / "litecursor.db"),
        "disable_spend_logs": True,
    }
    async with run_gateway(make_config(models, general_settings=general), dev_certs) as gw:
        store = gw.app[STORE]
        now = time.time()
        alice_key, alice = await store.create_key(
            {"key_alias": "alice", "user_id": "u-alice"}, {"max_budget": 10.0}, now
        )
        _, bob = await store.create_key({"key_alias": "bob"}, {}, now)
        _, idle = await store.create_key({"key_alias": "idle"}, {}, now)
        a = {"key_hash": alice.token, "key_alias": "alice", "user_id": "u-alice"}
        b = {"key_hash": bob.token, "key_alias": "bob"}
        t = now - 30  # all within the current hour or the one before
        await store.write_spend(
            [
                row(1, t - 50, **a),
                row(2, t - 40, **a, model_group="claude", model="claude"),
                row(3, t - 30, **b, status=429, error_type="rate_limit_error",
                    error_message="Rate limit: 100% of 10 rpm", spend=0.0, stream=False,
                    attempts=(Attempt("gpt-4o#0", 429, 12.0, "rate limited", 1.0),
                              Attempt("gpt-4o#1", 429, 10.0, "rate limited", 20.0)), retries=1),
                row(4, t - 20, route="/v1/chat/completions", key_alias="master"),
                # refused: no key at all
                row(6, t - 5, status=401, error_type="invalid_api_key",
                    error_message="invalid API key", spend=0.0, model=None, model_group=None,
                    stream=False),
                row(5, t - 10, **b, status=200, error_type="upstream_error",
                    error_message="stream cut after the first byte"),
            ]
        )  # fmt: skip
        yield Logged(gw, store, alice_key, alice.token, bob.token, idle.token, now)


async def ids(logged: Logged, **params: Any) -> list[str]:
    status, body = await logged.get("/logs", **params)
    assert status == 200, body
    return [r["request_id"] for r in body["data"]]


async def test_the_log_lists_requests_newest_first_with_every_field(logged: Logged) -> None:
    status, body = await logged.get("/logs")
    assert status == 200 and body["next_cursor"] is None
    assert [r["request_id"] for r in body["data"]] == [f"req-00{i}" for i in (6, 5, 4, 3, 2, 1)]
    r = body["data"][3]
    assert r["status"] == 429 and r["error_message"] == "Rate limit: 100% of 10 rpm"
    assert r["key_alias"] == "bob" and r["key_hash"] == logged.bob
    assert (r["route"], r["client_ip"], r["user_agent"]) == (
        "/cursor/chat/completions",
        "203.0.113.7",
        "cursor-server",
    )
    assert r["stream"] is False and r["retries"] == 1 and r["total_tokens"] == 1100
    assert r["attempts"] == [
        {"deployment": "gpt-4o#0", "status": 429, "latency_ms": 12.0, "start_ms": 1.0,
         "error": "rate limited"},
        {"deployment": "gpt-4o#1", "status": 429, "latency_ms": 10.0, "start_ms": 20.0,
         "error": "rate limited"},
    ]  # fmt: skip
    assert r["start_time"].endswith("Z")
    # a page never carries the prompts and answers
    assert all("request_body" not in x for x in body["data"])


async def test_cursor_paging_walks_the_whole_log_once(logged: Logged) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        status, body = await logged.get("/logs", **params)
        assert status == 200
        seen += [r["request_id"] for r in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["req-006", "req-005", "req-004", "req-003", "req-002", "req-001"]


async def test_each_filter(logged: Logged) -> None:
    assert await ids(logged, key="alice") == ["req-002", "req-001"]
    assert await ids(logged, key=logged.alice_key) == ["req-002", "req-001"]
    assert await ids(logged, key=logged.bob) == ["req-005", "req-003"]
    assert await ids(logged, key="master") == ["req-004"]
    assert await ids(logged, key="none") == ["req-006"]
    assert await ids(logged, user="u-alice") == ["req-002", "req-001"]
    assert await ids(logged, model="claude") == ["req-002"]
    assert await ids(logged, status="error") == ["req-006", "req-005", "req-003"]
    assert await ids(logged, status="ok") == ["req-004", "req-002", "req-001"]
    assert await ids(logged, status=429) == ["req-003"]
    assert await ids(logged, q="FIRST BYTE") == ["req-005"]
    assert await ids(logged, q="100%") == ["req-003"]
    t = logged.now - 30
    assert await ids(logged, start=t - 35, end=t - 15) == ["req-004", "req-003"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t - 35)) + "Z"
    assert await ids(logged, start=iso, key="bob") == ["req-005", "req-003"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"status": "sometimes"}, "status"),
        ({"start": "yesterday"}, "start"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"api_key": "x"}, "api_key"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    logged: Logged, params: dict[str, Any], param: str
) -> None:
    status, body = await logged.get("/logs", **params)
    assert status == 400 and body["error"]["param"] == param


async def test_an_unknown_alias_is_a_404(logged: Logged) -> None:
    status, body = await logged.get("/logs", key="nobody")
    assert status == 404 and "nobody" in body["error"]["message"]


async def test_one_request_has_its_prompt_and_answer(logged: Logged) -> None:
    status, r = await logged.get("/logs/req-001")
    assert status == 200 and r["request_body"] == '{"model": "gpt-4o"}'
    assert r["response_body"] == '{"choices": []}' and r["ttft_ms"] == 120.0
    status, err = await logged.get("/logs/nope")
    assert status == 404 and err["error"]["code"] == "request_not_found"


async def test_the_log_needs_a_key(logged: Logged) -> None:
    async with logged.gw.session.get(logged.gw.base + "/logs") as r:
        assert r.status == 401


async def test_the_overview_adds_up_the_period(logged: Logged) -> None:
    status, o = await logged.get("/ui/api/overview", range="24h")
    assert status == 200 and o["bucket"] == "hour" and len(o["series"]) == 24
    t = o["totals"]
    assert (t["requests"], t["errors"], t["streamed"]) == (6, 3, 4)
    assert t["prompt_tokens"] == 6000 and t["cached_tokens"] == 3600
    assert t["spend"] == pytest.approx(0.008)
    assert sum(b["requests"] for b in o["series"]) == 6
    top = {(k["key_alias"], k["kind"]): k["requests"] for k in o["top_keys"]}
    assert top == {("alice", "key"): 2, ("bob", "key"): 2, (None, "master"): 1, (None, "none"): 1}
    assert [m["model"] for m in o["top_models"]] == ["gpt-4o", "claude"]
    assert o["deployments"] == {"healthy": 1, "cooling_down": 0} and o["open_streams"] == 0
    status, o = await logged.get("/ui/api/overview", range="30d", tz=-300)
    assert status == 200 and o["bucket"] == "day" and len(o["series"]) == 30
    assert o["series"][-1]["t"] % 86400 == 5 * 3600  # midnight five hours west of UTC
    status, err = await logged.get("/ui/api/overview", range="1y")
    assert status == 400 and err["error"]["param"] == "range"


async def test_developers_lists_every_key_idle_ones_too(logged: Logged) -> None:
    status, d = await logged.get("/ui/api/developers")
    assert status == 200
    by = {x["key_alias"] if x["kind"] == "key" else x["kind"]: x for x in d["developers"]}
    assert set(by) == {"alice", "bob", "idle", "master", "none"}
    assert by["none"]["id"] == "none" and by["none"]["errors"] == 1
    alice = by["alice"]
    assert (alice["requests"], alice["user_id"], alice["cached_tokens"]) == (2, "u-alice", 1200)
    assert alice["budget"]["max_budget"] == 10.0 and alice["last_seen"] is not None
    assert {m["model"] for m in alice["top_models"]} == {"gpt-4o", "claude"}
    assert by["idle"]["requests"] == 0 and by["idle"]["last_seen"] is None
    assert by["bob"]["errors"] == 2
    status, d = await logged.get("/ui/api/developers", by="user")
    users = {x["id"]: x for x in d["developers"]}
    assert users["u-alice"]["requests"] == 2 and users["u-alice"]["keys"] == 1
    assert users[None]["requests"] == 4


async def test_one_developer_with_its_series_and_models(logged: Logged) -> None:
    status, d = await logged.get(f"/ui/api/developers/{logged.alice}", range="24h")
    assert status == 200 and d["bucket"] == "hour"
    dev = d["developer"]
    assert dev["key_alias"] == "alice" and dev["requests"] == 2 and dev["errors"] == 0
    assert sum(b["requests"] for b in d["series"]) == 2
    status, d = await logged.get("/ui/api/developers/master")
    assert status == 200 and d["developer"]["kind"] == "master" and d["developer"]["requests"] == 1
    status, _ = await logged.get("/ui/api/developers/" + "0" * 64)
    assert status == 404
    status, err = await logged.get("/ui/api/developers/alice")
    assert status == 400 and err["error"]["param"] == "id"
