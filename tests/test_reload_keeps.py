"""A reload swaps the config, not what the running gateway knows: replay, cooldowns, key limits, metrics.

Each test runs the production runtime (`ops.runtime.Runtime`, as `litecursor serve` does) in
this process, does something that leaves state behind, reloads (a new generation of the app for
the config on disk), and checks the state is still there.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from litecursor.config import load
from litecursor.ops.runtime import Runtime, ServeSettings

from .fakes.anthropic_upstream import SIGNATURE
from .fakes.common import Reply, ToolCallSpec
from .fakes.routing import closed_port
from .harness import MASTER_KEY, sse_payloads
from .upstreams import start_upstream

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "ReadFile",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


class Served:
    def __init__(self, runtime: Runtime, session: aiohttp.ClientSession) -> None:
        self.runtime = runtime
        self.session = session
        self.base = f"http://127.0.0.1:{runtime.port}"

    async def reload(self) -> None:
        first = self.runtime.current
        result = await self.runtime.reload("test")
        assert result.ok, result.message
        assert self.runtime.current is not first

    async def post(self, path: str, body: Any, key: str = MASTER_KEY) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
        async with self.session.post(
            self.base + path, data=orjson.dumps(body), headers=headers
        ) as r:
            return r.status, await r.read()

    async def get(self, path: str) -> bytes:
        async with self.session.get(self.base + path, headers=AUTH) as r:
            assert r.status == 200, await r.text()
            return await r.read()


Start = Callable[[dict[str, Any]], Awaitable[Served]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """`await start(config)`: the runtime serving `config` (written to a file it reloads)."""
    runtimes: list[Runtime] = []
    # a connection per request: a reload closes the old config's idle kept-alive ones
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))

    async def run(data: dict[str, Any]) -> Served:
        path = tmp_path / "config.yaml"
        data.setdefault("general_settings", {})["master_key"] = MASTER_KEY
        path.write_text(yaml.safe_dump(data))
        settings = ServeSettings(
            config_path=str(path), host="127.0.0.1", port=0, graceful_timeout=5
        )
        runtime = Runtime(settings, load(str(path), {}))
        await runtime.start()
        runtimes.append(runtime)
        return Served(runtime, session)

    try:
        yield run
    finally:
        await session.close()
        for runtime in runtimes:
            await runtime.stop()


def mock(name: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": "mock/echo", **params}}


async def test_reasoning_kept_for_replay_comes_back_after_a_reload(
    start: Start, aiohttp_server: Any
) -> None:
    fake, params = await start_upstream(aiohttp_server, "anthropic")
    fake.replies.append(
        Reply(
            reasoning="I should read the file.",
            tool_calls=[ToolCallSpec("call_x1", "ReadFile", '{"path": "a.py"}')],
        )
    )
    fake.replies.append(Reply(text="Done."))
    served = await start({"model_list": [{"model_name": "claude", "litellm_params": params}]})
    first = [{"role": "user", "content": "read a.py"}]
    request = {"model": "claude", "stream": True, "tools": TOOLS, "reasoning_effort": "high"}
    status, raw = await served.post("/v1/chat/completions", {**request, "messages": first})
    assert status == 200, raw
    call = next(
        tc
        for p in sse_payloads(raw)
        if isinstance(p, dict) and p.get("choices")
        for tc in p["choices"][0]["delta"].get("tool_calls") or []
        if tc.get("id")
    )
    await served.reload()
    # the client sends the turn back without its thinking, as Cursor does
    second = [
        *first,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call["id"], "type": "function", "function": call["function"]}],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "print(1)"},
    ]
    status, raw = await served.post("/v1/chat/completions", {**request, "messages": second})
    assert status == 200, raw
    assistant = next(m for m in fake.last.body["messages"] if m["role"] == "assistant")
    assert assistant["content"][0]["type"] == "thinking"
    assert assistant["content"][0]["signature"] == SIGNATURE


async def test_a_cooling_deployment_is_still_cooling_after_a_reload(start: Start) -> None:
    broken = {
        "model_name": "m",
        "litellm_params": {
            "model": "openai/gpt-4o",
            "api_base": f"http://127.0.0.1:{closed_port()}/v1",
            "api_key": "sk-upstream",
        },
        "model_info": {"id": "broken"},
    }
    served = await start(
        {
            "model_list": [broken, {**mock("m"), "model_info": {"id": "working"}}],
            "router_settings": {
                "allowed_fails": 0,
                "cooldown_time": 120,
                "num_retries": 1,
                "routing_strategy": "simple-shuffle",
            },
        }
    )

    async def cooling() -> dict[str, float]:
        health = orjson.loads(await served.get("/health/deployments"))
        return {d["id"]: d["cooldown_remaining_s"] for d in health["deployments"]}

    for _ in range(20):  # until the shuffle has tried the broken one
        status, raw = await served.post(
            "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        )
        assert status == 200, raw
        if (await cooling())["broken"] > 0:
            break
    assert (await cooling())["broken"] > 60
    await served.reload()
    assert (await cooling())["broken"] > 60


async def test_a_keys_parallel_requests_count_across_a_reload(start: Start, tmp_path: Path) -> None:
    served = await start(
        {
            "model_list": [mock("m", mock_delay=0.05)],
            "general_settings": {"database_url": str(tmp_path / "lc.db")},
        }
    )
    status, raw = await served.post("/key/generate", {"max_parallel_requests": 1})
    assert status == 200, raw
    key = orjson.loads(raw)["key"]
    words = " ".join(f"w{i}" for i in range(40))  # 2 s of stream
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": words}]}
    headers = {"Authorization": f"Bearer {key}"}
    async with served.session.post(
        served.base + "/v1/chat/completions", json=body, headers=headers
    ) as held:
        assert held.status == 200
        await held.content.readuntil(b"\n\n")
        await served.reload()
        # the held stream runs on the old config; its slot still counts on the new one
        status, raw = await served.post("/v1/chat/completions", body, key=key)
        assert status == 429, raw
        assert b"parallel" in raw
        await held.read()
    await asyncio.sleep(0.1)
    status, raw = await served.post("/v1/chat/completions", {**body, "stream": False}, key=key)
    assert status == 200, raw


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{name}(?:\{{(.*)\}})? (\S+)$", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total


async def test_counters_go_on_counting_and_open_streams_are_seen_across_a_reload(
    start: Start,
) -> None:
    served = await start({"model_list": [mock("m", mock_delay=0.05)]})
    chat = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    for _ in range(3):
        assert (await served.post("/v1/chat/completions", chat))[0] == 200
    before = (await served.get("/metrics")).decode()
    assert metric(before, "litecursor_requests_total", model_group="m", status="200") == 3
    words = " ".join(f"w{i}" for i in range(40))
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": words}]}
    async with served.session.post(
        served.base + "/v1/chat/completions", json=body, headers=AUTH
    ) as held:
        await held.content.readuntil(b"\n\n")
        await served.reload()
        during = (await served.get("/metrics")).decode()
        assert metric(during, "litecursor_open_streams") == 1  # the old config's stream
        await held.read()
    assert (await served.post("/v1/chat/completions", chat))[0] == 200
    after = (await served.get("/metrics")).decode()
    assert metric(after, "litecursor_requests_total", model_group="m", status="200") == 5
    assert metric(after, "litecursor_open_streams") == 0
