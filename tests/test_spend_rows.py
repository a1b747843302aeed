"""One spend row per request, for every endpoint, field by field: answered, refused, failed,
retried and fallen back, cut by the upstream, left by the client; cost from the upstream's own
usage, or estimated from the text when it never said."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from litecursor.server.keys import ACCOUNTING, STORE
from litecursor.store import SpendRow, open_store
from litecursor.store.tokens import hash_key
from litecursor.tls import client_context

from .conftest import GatewayFactory
from .fakes.common import FakeUpstream, Reply
from .fakes.routing import openai_model, start_openai
from .harness import Gateway
from .services import free_port

CLI = [sys.executable, "-m", "litecursor"]
PRICES = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def upstreams(aiohttp_server: Any) -> list[tuple[FakeUpstream, str]]:
    return [await start_openai(aiohttp_server) for _ in range(2)]


@pytest.fixture
async def gw(gateway_factory: GatewayFactory, upstreams: list[tuple[FakeUpstream, str]]) -> Gateway:
    (_, a), (_, b) = upstreams
    return await gateway_factory(
        [
            openai_model("gpt-4o", a, id="a", **PRICES),
            openai_model("backup", b, id="b", **PRICES),
        ],
        router_settings={"num_retries": 1, "fallbacks": [{"gpt-4o": ["backup"]}], "retry_after": 0},
    )


async def row(gw: Gateway, request_id: str) -> SpendRow:
    for _ in range(50):  # the finish point runs right after the answer's last byte
        await gw.app[ACCOUNTING].writer.flush()
        found = await gw.app[STORE].spend_row(request_id)
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no row for {request_id}")


async def make_key(gw: Gateway, **body: Any) -> str:
    async with await gw.post("/key/generate", body) as r:
        return str((await r.json())["key"])


async def test_a_streamed_answer_is_one_row_with_every_column(gw: Gateway) -> None:
    key = await make_key(gw, key_alias="alice")
    body = {
        **CHAT,
        "stream": True,
        "user": "cursor-hash",
        "metadata": {"cursorConversationId": "conv-1"},
    }
    status, _ = await gw.chat(
        body, key=key, headers={"x-request-id": "req-stream-1", "user-agent": "Cursor/2.0"}
    )
    assert status == 200
    r = await row(gw, "req-stream-1")
    assert (r.key_alias, r.end_user, r.model, r.model_group) == (
        "alice",
        "cursor-hash",
        "gpt-4o",
        "gpt-4o",
    )
    assert r.key_hash is not None and len(r.key_hash) == 64 and key not in str(r)
    assert (r.deployment, r.provider, r.status, r.stream) == ("a", "openai", 200, True)
    assert (r.prompt_tokens, r.completion_tokens) == (11, 7) and not r.estimated
    assert r.spend == pytest.approx(11 * 1e-6 + 7 * 2e-6)
    assert r.route == "/cursor/chat/completions" and r.client_ip == "127.0.0.1"
    assert r.user_agent == "Cursor/2.0" and r.conversation_id == "conv-1"
    assert r.ttft_ms is not None and 0 < r.ttft_ms <= (r.latency_ms or 0)
    assert [(a.deployment, a.status) for a in r.attempts] == [("a", None)]
    assert (r.retries, r.fallbacks, r.error_type, r.upstream_status) == (0, 0, None, None)
    assert r.end_time >= r.start_time


async def test_every_endpoint_gets_a_row_and_health_probes_none(gw: Gateway) -> None:
    headers = {"authorization": "Bearer sk-test-master"}
    for rid, path in (
        ("req-models", "/v1/models"),
        ("req-nope", "/nope"),
        ("req-health", "/health"),
    ):
        async with gw.session.get(gw.base + path, headers={**headers, "x-request-id": rid}):
            pass
    async with await gw.post("/key/generate", {}, headers={"x-request-id": "req-admin"}):
        pass
    status, _ = await gw.chat(CHAT, key="sk-wrong-" + "x" * 40, headers={"x-request-id": "req-401"})
    assert status == 401
    models, nope, admin, denied = [
        await row(gw, r) for r in ("req-models", "req-nope", "req-admin", "req-401")
    ]
    assert (models.route, models.status, models.spend, models.key_hash) == (
        "/v1/models",
        200,
        0,
        None,
    )
    assert (nope.status, nope.error_type) == (404, "not_found")
    assert (admin.route, admin.status) == ("/key/generate", 200)
    assert (denied.status, denied.error_type, denied.model) == (401, "invalid_api_key", None)
    await gw.app[ACCOUNTING].writer.flush()
    assert await gw.app[STORE].spend_row("req-health") is None


async def test_a_failure_before_any_upstream_byte_costs_nothing_and_shows_its_attempts(
    gw: Gateway, upstreams: list[tuple[FakeUpstream, str]]
) -> None:
    for fake, _ in upstreams:
        fake.faults.status = 500
    status, _ = await gw.chat({**CHAT, "stream": True}, headers={"x-request-id": "req-fail"})
    assert status == 502
    r = await row(gw, "req-fail")
    assert (r.status, r.spend, r.prompt_tokens, r.estimated) == (502, 0, 0, False)
    assert [(a.deployment, a.status) for a in r.attempts] == [
        ("a", 500),
        ("a", 500),
        ("b", 500),
        ("b", 500),
    ]
    assert (r.retries, r.fallbacks, r.upstream_status) == (2, 1, 500)
    assert r.error_type == "upstream_error" and r.error_message and "500" in r.error_message
    assert r.model_group == "backup" and r.deployment == "b"


async def test_a_retried_and_fallen_back_answer_counts_both(
    gw: Gateway, upstreams: list[tuple[FakeUpstream, str]]
) -> None:
    upstreams[0][0].faults.status = 503
    status, _ = await gw.chat(CHAT, headers={"x-request-id": "req-fallback"})
    assert status == 200
    r = await row(gw, "req-fallback")
    assert (r.retries, r.fallbacks, r.deployment, r.status) == (1, 1, "b", 200)
    assert r.spend > 0 and not r.estimated


async def test_a_stream_the_upstream_cuts_is_charged_from_its_text_marked_estimated(
    gw: Gateway, upstreams: list[tuple[FakeUpstream, str]]
) -> None:
    fake, _ = upstreams[0]
    fake.replies.append(Reply(text="x" * 400, pieces=4))
    fake.faults.cut_after = 3  # the role and two text chunks, then the connection drops
    status, payloads = await gw.chat({**CHAT, "stream": True}, headers={"x-request-id": "req-cut"})
    assert status == 200 and "error" in payloads[-1]
    r = await row(gw, "req-cut")
    assert r.estimated and r.completion_tokens == 50  # 200 characters of text, 4 a token
    assert r.prompt_tokens > 0 and r.spend == pytest.approx(r.prompt_tokens * 1e-6 + 50 * 2e-6)
    assert (r.status, r.error_type) == (200, "upstream_connection_error")


async def test_a_client_that_leaves_mid_stream_is_charged_for_what_was_sent(
    gw: Gateway, upstreams: list[tuple[FakeUpstream, str]]
) -> None:
    fake, _ = upstreams[0]
    fake.faults.chunk_delay = 0.3
    fake.replies.append(Reply(text="y" * 80, pieces=8))
    resp = await gw.post(
        "/cursor/chat/completions", {**CHAT, "stream": True}, headers={"x-request-id": "req-gone"}
    )
    assert resp.status == 200
    await resp.content.readany()
    resp.close()
    await asyncio.wait_for(fake.disconnected.wait(), 10)
    r = await row(gw, "req-gone")
    assert r.status == 499 and r.metadata == {"client_gone": True}
    assert r.estimated and r.completion_tokens >= 3 and r.spend > 0


async def test_non_streamed_answers_carry_their_cost(gw: Gateway) -> None:
    async with await gw.post("/v1/chat/completions", CHAT) as resp:
        assert resp.status == 200
        assert resp.headers["x-litecursor-response-cost"] == "0.000025"  # 11 + 7 tokens
        rid = resp.headers["x-request-id"]
    assert (await row(gw, rid)).spend == pytest.approx(0.000025)


@pytest.mark.parametrize("graceful", [None, 0.3])
async def test_sigterm_while_a_stream_runs_keeps_its_row(
    aiohttp_server: Any, dev_certs: Any, tmp_path: Path, graceful: float | None
) -> None:
    """The real `litecursor serve`, stopped mid-stream: it finishes the stream (or, past
    `--graceful-timeout`, ends it and charges what was used), then writes the row and exits."""
    fake, base = await start_openai(aiohttp_server)
    fake.faults.chunk_delay = 0.25 if graceful is None else 0.6
    fake.replies.append(Reply(text="z" * 60, pieces=6))
    config = tmp_path / "config.yaml"
    config.write_text(
        orjson.dumps(
            {
                "model_list": [openai_model("gpt-4o", base, **PRICES)],
                "general_settings": {"master_key": "sk-test-master"},
            }
        ).decode()
    )
    port = free_port()
    more = [] if graceful is None else ["--graceful-timeout", str(graceful)]
    with (tmp_path / "serve.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *CLI, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
            "--cert", str(dev_certs.cert), "--key", str(dev_certs.key), *more, stderr=log,
        )  # fmt: skip
    try:
        await wait_port(port, proc)
        connector = aiohttp.TCPConnector(ssl=client_context(dev_certs.ca))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(
                f"https://127.0.0.1:{port}/cursor/chat/completions",
                json={**CHAT, "stream": True},
                headers={"authorization": "Bearer sk-test-master", "x-request-id": "req-sigterm"},
            ) as resp,
        ):
            assert resp.status == 200
            await resp.content.readany()
            proc.send_signal(signal.SIGTERM)
            body = await resp.read()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    store = open_store(str(tmp_path / "litecursor.db"))
    await store.open()
    try:
        r = await store.spend_row("req-sigterm")
    finally:
        await store.close()
    assert r is not None and r.status == 200 and r.spend > 0
    if graceful is None:
        assert b"[DONE]" in body and not r.estimated  # the stream under way was finished
    else:
        assert b"shutting_down" in body and b"[DONE]" not in body
        assert r.estimated and r.error_type == "shutting_down"


async def wait_port(port: int, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.returncode is None, await proc.stderr.read() if proc.stderr else b""
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError("litecursor serve did not listen")


async def test_a_row_never_keeps_the_provider_key_an_upstream_echoes(
    gw: Gateway, upstreams: list[tuple[FakeUpstream, str]]
) -> None:
    for fake, _ in upstreams:
        fake.faults.status = 400
        fake.faults.body = (
            b'{"error": {"message": "Incorrect API key provided: sk-upstream-secret.", '
            b'"type": "invalid_request_error"}}'
        )
    status, _ = await gw.chat(CHAT, headers={"x-request-id": "req-echo"})
    assert status == 400
    r = await row(gw, "req-echo")
    assert r.error_message and "[redacted]" in r.error_message
    assert "sk-upstream-secret" not in str(r)


async def test_an_error_mid_stream_is_charged_for_the_text_before_it(
    gw: Gateway, upstreams: list[tuple[FakeUpstream, str]]
) -> None:
    fake, _ = upstreams[0]
    fake.replies.append(Reply(text="w" * 40, stream_error="The server had an error"))
    status, payloads = await gw.chat({**CHAT, "stream": True}, headers={"x-request-id": "req-mid"})
    assert status == 200 and "error" in payloads[-1]
    r = await row(gw, "req-mid")
    assert r.estimated and r.completion_tokens == 10 and r.spend > 0
    assert r.error_message is not None and "The server had an error" in r.error_message


async def test_disable_spend_logs_keeps_the_budgets_but_writes_no_row(
    gateway_factory: GatewayFactory, upstreams: list[tuple[FakeUpstream, str]]
) -> None:
    gw = await gateway_factory(
        [openai_model("gpt-4o", upstreams[0][1], **PRICES)],
        general_settings={"master_key": "sk-test-master", "disable_spend_logs": True},
    )
    key = await make_key(gw, max_budget=1)
    status, _ = await gw.chat(CHAT, key=key, headers={"x-request-id": "req-off"})
    assert status == 200
    await gw.app[ACCOUNTING].writer.flush()
    assert await gw.app[STORE].spend_row("req-off") is None
    record = await gw.app[STORE].get_key(hash_key(key))
    assert record is not None and record.budget.spend == pytest.approx(0.000025)
