"""The request log after real requests, field by field: streamed, not streamed, failed before and after the first byte, retried, fallen back, cancelled by the client; and no secret anywhere."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import orjson
import pytest
from openai import AsyncOpenAI

from litecursor.store.tokens import hash_key

from .fakes.common import FakeUpstream, Reply
from .fakes.routing import UPSTREAM_KEY, closed_port, openai_model, start_openai
from .harness import MASTER_KEY, Gateway, make_config, run_gateway

USER = [{"role": "user", "content": "hello there"}]


@dataclass
class Logged:
    gw: Gateway
    fake: FakeUpstream
    backup: FakeUpstream
    key: str
    db: Path
    access: io.StringIO

    def client(self, **kw: Any) -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=self.key,
            base_url=self.gw.base + "/v1",
            http_client=httpx.AsyncClient(verify=self.gw.ssl, timeout=30),
            max_retries=0,
            **kw,
        )

    async def row(self, request_id: str) -> dict[str, Any]:
        """The request's row, once the spend writer has written it (within a second)."""
        deadline = time.monotonic() + 10
        while True:
            async with self.gw.session.get(
                f"{self.gw.base}/logs/{request_id}",
                headers={"Authorization": f"Bearer {MASTER_KEY}"},
            ) as r:
                if r.status == 200:
                    return dict(await r.json())
            assert time.monotonic() < deadline, f"no row for {request_id}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def logged(
    aiohttp_server: Any, dev_certs: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Logged]:
    caplog.set_level(logging.INFO)
    fake, base = await start_openai(aiohttp_server)
    backup, backup_base = await start_openai(aiohttp_server)
    fake.default_reply = Reply(
        text="Hello from the fake upstream.", prompt_tokens=1200, completion_tokens=40,
        cached_tokens=1000, pieces=4,
    )  # fmt: skip
    db = tmp_path / "litecursor.db"
    config = make_config(
        [
            openai_model("gpt-4o", base, id="primary"),
            openai_model("gpt-4o", base, id="secondary"),
            openai_model("gpt-4o-backup", backup_base, id="backup"),
            openai_model("broken", f"http://127.0.0.1:{closed_port()}/v1", id="broken"),
        ],
        general_settings={
            "master_key": MASTER_KEY,
            "database_url": str(db),
            "store_prompts_in_spend_logs": True,
        },
        router_settings={
            "num_retries": 1,
            "retry_after": 0,
            "routing_strategy": "simple-shuffle",
            "fallbacks": [{"broken": ["gpt-4o-backup"]}],
        },
    )
    access = io.StringIO()
    async with run_gateway(config, dev_certs, access_stream=access) as gw:
        async with gw.session.post(
            gw.base + "/key/generate",
            data=orjson.dumps({"key_alias": "alice", "user_id": "alice@example.com"}),
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
        ) as r:
            assert r.status == 200, await r.text()
            key = (await r.json())["key"]
        yield Logged(gw, fake, backup, key, db, access)


def attempt_fields(row: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(a["deployment"], a["status"]) for a in row["attempts"]]


async def test_a_streamed_request_is_logged_field_by_field(logged: Logged) -> None:
    client = logged.client()
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
        user="cursor-user-hash-1",
        extra_headers={"x-request-id": "req-streamed-1"},
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello from the fake upstream."
    row = await logged.row("req-streamed-1")
    assert row["request_id"] == "req-streamed-1"
    assert (row["status"], row["stream"], row["route"]) == (200, True, "/v1/chat/completions")
    assert row["key_hash"] == hash_key(logged.key) and row["key_alias"] == "alice"
    assert (row["user_id"], row["end_user"]) == ("alice@example.com", "cursor-user-hash-1")
    assert (row["model"], row["model_group"], row["provider"]) == ("gpt-4o", "gpt-4o", "openai")
    assert row["deployment"] in ("primary", "secondary")
    assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) == (
        1200,
        40,
        1000,
    )
    assert row["total_tokens"] == 1240 and row["spend"] > 0 and row["estimated"] is False
    assert row["client_ip"] == "127.0.0.1" and "OpenAI/Python" in row["user_agent"]
    assert row["upstream_status"] is None and (row["retries"], row["fallbacks"]) == (0, 0)
    assert row["error_type"] is None and row["error_message"] is None
    [attempt] = row["attempts"]
    assert attempt["status"] is None and attempt["deployment"] == row["deployment"]
    assert (
        0 <= attempt["start_ms"] < attempt["start_ms"] + attempt["latency_ms"] <= row["latency_ms"]
    )
    assert 0 < row["ttft_ms"] <= row["latency_ms"]
    # the prompt as sent, and the answer as one completion
    assert orjson.loads(row["request_body"])["messages"] == USER
    answer = orjson.loads(row["response_body"])
    assert answer["choices"][0]["message"]["content"] == "Hello from the fake upstream."


async def test_a_request_not_streamed_is_logged(logged: Logged) -> None:
    done = await logged.client().chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=USER,
    )
    request_id = done.headers["x-request-id"]
    row = await logged.row(request_id)
    assert (row["status"], row["stream"], row["error_message"]) == (200, False, None)
    assert row["prompt_tokens"] == 1200 and row["spend"] > 0
    assert row["ttft_ms"] is not None and len(row["attempts"]) == 1


async def test_a_failure_before_the_first_byte_is_logged_with_the_upstreams_status(
    logged: Logged,
) -> None:
    logged.fake.faults.status = 500
    with pytest.raises(openai.APIStatusError) as e:
        await logged.client().chat.completions.create(
            model="gpt-4o",
            messages=USER,
            stream=True,
            extra_headers={"x-request-id": "req-failed-1"},
        )
    assert e.value.status_code == 502
    row = await logged.row("req-failed-1")
    assert (row["status"], row["upstream_status"], row["ttft_ms"]) == (502, 500, None)
    assert row["error_type"] and row["error_message"] and row["spend"] == 0
    # both tries failed: the first and its retry
    assert [s for _, s in attempt_fields(row)] == [500, 500] and row["retries"] == 1


async def test_a_failure_after_the_first_byte_is_logged_as_a_failed_200(logged: Logged) -> None:
    logged.fake.faults.cut_after = 2
    client = logged.client()
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        stream=True,
        extra_headers={"x-request-id": "req-cut-1"},
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
    row = await logged.row("req-cut-1")
    assert row["status"] == 200 and row["ttft_ms"] is not None
    assert row["error_message"] and row["retries"] == 0
    # the text it did send is charged, estimated
    assert row["estimated"] is True and row["completion_tokens"] > 0
    # it is a failed request in the log's filters
    async with logged.gw.session.get(
        logged.gw.base + "/logs",
        params={"status": "error"},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    ) as r:
        assert "req-cut-1" in [x["request_id"] for x in (await r.json())["data"]]


async def test_a_retried_request_shows_both_attempts(logged: Logged) -> None:
    logged.fake.faults.status = 429
    logged.fake.faults.times = 1
    done = await logged.client().chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=USER,
        extra_headers={"x-request-id": "req-retried-1"},
    )
    assert done.http_response.status_code == 200
    row = await logged.row("req-retried-1")
    assert row["status"] == 200 and (row["retries"], row["fallbacks"]) == (1, 0)
    first, second = row["attempts"]
    assert (first["status"], second["status"]) == (429, None)
    assert second["start_ms"] >= first["start_ms"] + first["latency_ms"]
    assert row["deployment"] == second["deployment"]


async def test_a_fallen_back_request_shows_the_group_that_answered(logged: Logged) -> None:
    done = await logged.client().chat.completions.with_raw_response.create(
        model="broken",
        messages=USER,
        extra_headers={"x-request-id": "req-fallback-1"},
    )
    assert done.http_response.status_code == 200
    row = await logged.row("req-fallback-1")
    assert (row["model"], row["model_group"], row["deployment"]) == (
        "broken",
        "gpt-4o-backup",
        "backup",
    )
    assert row["fallbacks"] == 1 and attempt_fields(row)[-1] == ("backup", None)
    assert attempt_fields(row)[0][0] == "broken" and attempt_fields(row)[0][1] is not None


async def test_a_request_the_client_cancelled_is_logged_as_499(logged: Logged) -> None:
    logged.fake.faults.chunk_delay = 0.3
    client = logged.client()
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        stream=True,
        extra_headers={"x-request-id": "req-cancelled-1"},
    )
    async for _ in stream:
        break  # the developer pressed stop after the first chunk
    await stream.close()
    row = await logged.row("req-cancelled-1")
    assert row["status"] == 499 and row["ttft_ms"] is not None
    assert row["attempts"][-1]["error"] == "cancelled"


async def test_no_secret_is_stored_or_logged(
    logged: Logged, caplog: pytest.LogCaptureFixture
) -> None:
    """The master key, the provider's key, the developer's key and the Authorization header
    appear nowhere: not in the database file, not in the server log, even when a prompt
    holds them."""
    prompt = f"debug this: curl -H 'Authorization: Bearer {MASTER_KEY}' {UPSTREAM_KEY} {logged.key}"
    await logged.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": prompt}],
        extra_headers={"x-request-id": "req-secrets-1"},
    )
    logged.fake.faults.status = 401  # a provider that echoes the key it was sent
    logged.fake.faults.body = orjson.dumps(
        {
            "error": {
                "message": f"Incorrect API key provided: {UPSTREAM_KEY}",
                "type": "invalid_request_error",
            }
        }
    )
    with pytest.raises(openai.APIStatusError):
        await logged.client().chat.completions.create(
            model="gpt-4o",
            messages=USER,
        )
    row = await logged.row("req-secrets-1")
    assert "[redacted]" in row["request_body"]
    await asyncio.sleep(1.5)  # the failed request's row too
    data = b"".join(p.read_bytes() for p in logged.db.parent.glob("litecursor.db*"))
    server_log = logged.access.getvalue() + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (MASTER_KEY, UPSTREAM_KEY, logged.key):
        assert secret.encode() not in data, secret
        assert secret not in server_log, secret
