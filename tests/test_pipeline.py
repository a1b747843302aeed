"""A request's life: each listener point fires when it should, and `finish` exactly once per request, with its outcome."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from litecursor.config import Deployment
from litecursor.errors import (
    AuthenticationError,
    ModelNotFoundError,
    PermissionDeniedError,
    UpstreamBadRequestError,
    UpstreamError,
)
from litecursor.pipeline import Call, Identity, Outcome
from litecursor.protocol.types import ChatRequest
from litecursor.server.keys import PIPELINE

from .conftest import GatewayFactory
from .fakes.common import FakeUpstream, Reply
from .fakes.routing import openai_model, start_openai
from .harness import MASTER_KEY, Gateway

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


class Recorder:
    """Every point's calls, in order."""

    def __init__(self) -> None:
        self.admitted: list[tuple[Call, ChatRequest]] = []
        self.attempts: list[tuple[str, ChatRequest]] = []
        self.finished: list[tuple[Call, Outcome]] = []
        self.done = asyncio.Event()

    async def admit(self, call: Call, req: ChatRequest) -> None:
        self.admitted.append((call, req))

    def before_upstream(self, call: Call, d: Deployment, req: ChatRequest) -> ChatRequest:
        self.attempts.append((d.id, req))
        return req

    def finish(self, call: Call, outcome: Outcome) -> None:
        self.finished.append((call, outcome))
        self.done.set()

    def only(self) -> tuple[Call, Outcome]:
        assert len(self.finished) == 1, self.finished
        return self.finished[0]


def listen(gw: Gateway, *listeners: object) -> None:
    for listener in listeners:
        gw.app[PIPELINE].add(listener)


@pytest.fixture
async def upstream(aiohttp_server: Any) -> tuple[FakeUpstream, str]:
    return await start_openai(aiohttp_server)


@pytest.fixture
async def gw(gateway_factory: GatewayFactory, upstream: tuple[FakeUpstream, str]) -> Gateway:
    _, base = upstream
    return await gateway_factory(
        [openai_model("gpt-4o", base, id="a")], router_settings={"num_retries": 0}
    )


async def test_a_streamed_answer_finishes_once_with_usage_and_its_first_byte(gw: Gateway) -> None:
    rec = Recorder()
    listen(gw, rec)
    status, payloads = await gw.chat({**CHAT, "stream": True})
    assert status == 200 and payloads[-1] == "[DONE]"
    call, out = rec.only()
    assert (out.status, out.error, out.client_gone, out.ok) == (200, None, False, True)
    assert out.deployment is not None and out.deployment.id == "a" and out.model_group == "gpt-4o"
    assert [(a.deployment_id, a.status, a.error) for a in out.attempts] == [("a", None, None)]
    assert out.usage is not None and (out.usage.prompt_tokens, out.usage.completion_tokens) == (
        11,
        7,
    )
    assert out.first_byte_at is not None and call.started < out.first_byte_at <= out.ended_at
    assert call.identity is not None and call.identity.is_master
    assert (call.requested_model, call.stream, call.route) == (
        "gpt-4o",
        True,
        "/cursor/chat/completions",
    )
    assert len(rec.admitted) == 1 and len(rec.attempts) == 1


async def test_a_plain_answer_finishes_once_with_usage(gw: Gateway) -> None:
    rec = Recorder()
    listen(gw, rec)
    status, body = await gw.chat(CHAT)
    assert status == 200 and body["object"] == "chat.completion"
    call, out = rec.only()
    assert (out.status, out.error, call.stream) == (200, None, False)
    assert out.usage is not None and out.usage.total_tokens == 18
    assert out.first_byte_at is not None


async def test_an_upstream_error_before_the_first_byte_is_the_outcome(
    gw: Gateway, upstream: tuple[FakeUpstream, str]
) -> None:
    fake, _ = upstream
    fake.faults.status = 400
    fake.faults.body = b'{"error": {"message": "bad thing", "type": "invalid_request_error"}}'
    rec = Recorder()
    listen(gw, rec)
    status, _ = await gw.chat({**CHAT, "stream": True})
    assert status == 400
    _, out = rec.only()
    assert out.status == 400 and isinstance(out.error, UpstreamBadRequestError)
    assert out.first_byte_at is None and out.usage is None
    assert [(a.deployment_id, a.status) for a in out.attempts] == [("a", 400)]
    assert out.upstream_status == 400 and not out.ok


async def test_an_error_mid_stream_is_the_outcome_of_a_200(
    gw: Gateway, upstream: tuple[FakeUpstream, str]
) -> None:
    fake, _ = upstream
    fake.replies.append(Reply(text="partial answer", stream_error="The server had an error"))
    rec = Recorder()
    listen(gw, rec)
    status, payloads = await gw.chat({**CHAT, "stream": True})
    assert status == 200 and "error" in payloads[-1]
    _, out = rec.only()
    assert out.status == 200 and isinstance(out.error, UpstreamError)
    assert "The server had an error" in out.error.message
    assert out.first_byte_at is not None and not out.ok
    assert out.attempts[0].status is not None


async def test_a_client_that_goes_away_mid_stream_finishes_once_as_gone(
    gw: Gateway, upstream: tuple[FakeUpstream, str]
) -> None:
    fake, _ = upstream
    fake.faults.chunk_delay = 0.2
    fake.replies.append(Reply(text="one two three four five six seven eight", pieces=8))
    rec = Recorder()
    listen(gw, rec)
    resp = await gw.post("/cursor/chat/completions", {**CHAT, "stream": True})
    assert resp.status == 200
    await resp.content.readany()  # the first chunk, then hang up
    resp.close()
    await asyncio.wait_for(rec.done.wait(), 10)
    await asyncio.sleep(0.3)  # a second finish would have arrived by now
    _, out = rec.only()
    assert out.client_gone and out.first_byte_at is not None and not out.ok
    assert [a.error for a in out.attempts] == ["cancelled"]
    await asyncio.wait_for(fake.disconnected.wait(), 10)  # and the upstream was let go


async def test_an_unknown_model_finishes_once_as_404_without_an_attempt(gw: Gateway) -> None:
    rec = Recorder()
    listen(gw, rec)
    status, _ = await gw.chat({**CHAT, "model": "nope"})
    assert status == 404
    call, out = rec.only()
    assert isinstance(out.error, ModelNotFoundError) and out.status == 404
    assert out.attempts == () and out.deployment is None and call.requested_model == "nope"
    assert rec.admitted == []  # refused before admission


async def test_a_wrong_key_finishes_once_as_401_with_no_identity(gw: Gateway) -> None:
    rec = Recorder()
    listen(gw, rec)
    status, _ = await gw.chat(CHAT, key="sk-wrong")
    assert status == 401
    call, out = rec.only()
    assert isinstance(out.error, AuthenticationError) and call.identity is None
    assert rec.admitted == [] and rec.attempts == []


async def test_admit_may_refuse_and_nothing_reaches_an_upstream(
    gw: Gateway, upstream: tuple[FakeUpstream, str]
) -> None:
    fake, _ = upstream

    class Refuse:
        async def admit(self, call: Call, req: ChatRequest) -> None:
            raise PermissionDeniedError(f"not {req.model}")

    rec = Recorder()
    listen(gw, Refuse(), rec)
    status, body = await gw.chat(CHAT)
    assert status == 403 and body["error"]["message"] == "not gpt-4o"
    _, out = rec.only()
    assert out.status == 403 and out.attempts == () and fake.requests == []


async def test_a_listener_that_breaks_never_breaks_the_request(gw: Gateway) -> None:
    class Broken:
        async def admit(self, call: Call, req: ChatRequest) -> None:
            raise RuntimeError("admit bug")

        def before_upstream(self, call: Call, d: Deployment, req: ChatRequest) -> ChatRequest:
            raise RuntimeError("before bug")

        def finish(self, call: Call, outcome: Outcome) -> None:
            raise RuntimeError("finish bug")

    rec = Recorder()
    listen(gw, Broken(), rec)
    status, payloads = await gw.chat({**CHAT, "stream": True})
    assert status == 200 and payloads[-1] == "[DONE]"
    _, out = rec.only()
    assert out.ok


async def test_before_upstream_runs_per_attempt_and_may_change_the_request(
    gateway_factory: GatewayFactory, aiohttp_server: Any
) -> None:
    bad, bad_base = await start_openai(aiohttp_server)
    good, good_base = await start_openai(aiohttp_server)
    bad.faults.status = 500
    gw = await gateway_factory(
        # `order` makes the failing deployment the first choice: the retry must reach the other
        [
            openai_model("gpt-4o", bad_base, id="bad", order=1),
            openai_model("gpt-4o", good_base, id="good", order=2),
        ],
        router_settings={"num_retries": 1},
    )

    class Cap:
        def before_upstream(self, call: Call, d: Deployment, req: ChatRequest) -> ChatRequest:
            return replace(req, max_tokens=42)

    rec = Recorder()
    listen(gw, Cap(), rec)
    status, _ = await gw.chat(CHAT)
    assert status == 200
    assert [d for d, _ in rec.attempts] == ["bad", "good"]
    assert all(r.max_tokens == 42 for _, r in rec.attempts)
    assert [r.body["max_completion_tokens"] for r in bad.requests + good.requests] == [42, 42]
    _, out = rec.only()
    assert [(a.deployment_id, a.status) for a in out.attempts] == [("bad", 500), ("good", None)]
    assert out.deployment is not None and out.deployment.id == "good"


async def test_a_listener_can_name_the_caller_and_add_answer_headers(gw: Gateway) -> None:
    class Keys:
        async def authenticate(self, call: Call, token: str) -> Identity | None:
            return Identity("key-1", kind="key", alias="dev") if token == "sk-dev" else None

        async def admit(self, call: Call, req: ChatRequest) -> None:
            call.headers["x-ratelimit-remaining-requests"] = "9"

    rec = Recorder()
    listen(gw, Keys(), rec)
    async with await gw.post("/cursor/chat/completions", CHAT, key="sk-dev") as resp:
        assert resp.status == 200
        assert resp.headers["x-ratelimit-remaining-requests"] == "9"
    call, _ = rec.only()
    assert call.identity == Identity("key-1", kind="key", alias="dev")
    async with await gw.post("/cursor/chat/completions", CHAT, key=MASTER_KEY) as resp:
        assert resp.status == 200  # the master key still works beside it


async def test_list_models_lets_listeners_narrow_the_list_in_turn_and_survives_a_broken_one(
    gateway_factory: GatewayFactory, upstream: tuple[FakeUpstream, str]
) -> None:
    _, base = upstream
    gw = await gateway_factory([openai_model(n, base) for n in ("a", "b", "c")])
    seen: list[Identity | None] = []

    class NoB:
        def list_models(self, call: Call, names: list[str]) -> list[str]:
            seen.append(call.identity)
            return [n for n in names if n != "b"]

    class Broken:
        def list_models(self, call: Call, names: list[str]) -> list[str]:
            raise RuntimeError("list bug")

    class NoC:
        def list_models(self, call: Call, names: list[str]) -> list[str]:
            return [n for n in names if n != "c"]

    listen(gw, NoB(), Broken(), NoC())
    assert [m.id async for m in gw.openai("/v1").models.list()] == ["a"]
    assert seen and seen[0] is not None and seen[0].is_master  # called once the caller is known


@pytest.mark.parametrize("stream", [False, True])
async def test_answered_comes_once_before_finish_and_its_headers_reach_a_plain_answer(
    gw: Gateway, stream: bool
) -> None:
    seen: list[tuple[str, int, bool, int]] = []

    class Pricer:
        def answered(self, call: Call) -> None:
            usage = call.usage
            seen.append(
                (
                    "answered",
                    usage.total_tokens if usage else 0,
                    call.upstream_done,
                    call.output_chars,
                )
            )
            call.headers["x-priced"] = "yes"

        def finish(self, call: Call, outcome: Outcome) -> None:
            seen.append(("finish", 0, False, 0))

    listen(gw, Pricer())
    async with await gw.post("/cursor/chat/completions", {**CHAT, "stream": stream}) as resp:
        assert resp.status == 200
        await resp.read()
        # a stream's headers went out before the answer was complete
        assert resp.headers.get("x-priced") == (None if stream else "yes")
    for _ in range(20):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.05)
    assert seen[0][:3] == ("answered", 18, True) and seen[0][3] > 0
    assert [s[0] for s in seen] == ["answered", "finish"]


async def test_the_client_request_id_is_kept_when_it_is_a_plain_token(gw: Gateway) -> None:
    rec = Recorder()
    listen(gw, rec)
    async with await gw.post("/cursor/chat/completions", CHAT, headers={"x-request-id": "abc-1"}):
        pass
    async with await gw.post(
        "/cursor/chat/completions", CHAT, headers={"x-request-id": "a b\tc"}
    ) as resp:
        forged = resp.headers["x-request-id"]
    assert rec.finished[0][0].request_id == "abc-1"
    assert forged != "a b\tc" and len(forged) == 32
