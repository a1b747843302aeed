"""`litecursor_settings.cursor_errors: message`, end to end over TLS: on the /cursor routes a 429
or 5xx reaches Cursor as a short assistant message in a normal stream (Cursor shows any 429 or
5xx as "User API Key Rate limit exceeded"), while the request's outcome keeps the failure and
its real status. Other routes, other errors and the default are unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from litecursor.pipeline import Call, Outcome
from litecursor.server.keys import PIPELINE

from . import upstreams
from .fakes.anthropic_upstream import error_body
from .fakes.common import Reply
from .harness import Gateway, text_of
from .paths import WIRE
from .upstreams import MODEL, Serve, start_upstream


def assert_told(payloads: list[Any]) -> None:
    """A well-formed answer that used no tokens: one finish (stop), a usage chunk, [DONE]."""
    assert payloads[-1] == "[DONE]" and payloads[-2]["choices"] == []
    assert payloads[-2]["usage"]["completion_tokens"] == 0
    chunks = payloads[:-2]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert all("error" not in c for c in chunks)


serve = upstreams.serve  # the fixture, where pytest looks for it

MESSAGE = {
    "litecursor_settings": {"cursor_errors": "message"},
    "router_settings": {"num_retries": 0},
}
OVERLOADED = orjson.dumps(error_body("overloaded_error", "Overloaded"))
ASK = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


class Outcomes:
    def __init__(self) -> None:
        self.seen: list[Outcome] = []
        self.done = asyncio.Event()

    def finish(self, call: Call, outcome: Outcome) -> None:
        self.seen.append(outcome)
        self.done.set()

    async def only(self) -> Outcome:
        await asyncio.wait_for(self.done.wait(), 5)
        assert len(self.seen) == 1, self.seen
        return self.seen[0]


def recorded(gw: Gateway) -> Outcomes:
    outcomes = Outcomes()
    gw.app[PIPELINE].add(outcomes)
    return outcomes


async def test_an_upstream_529_is_a_message_cursor_shows_and_a_502_in_the_outcome(
    serve: Serve,
) -> None:
    fake, gw = await serve("anthropic", **MESSAGE)
    fake.faults.status, fake.faults.body = 529, OVERLOADED
    outcomes = recorded(gw)
    status, payloads = await gw.chat(ASK)
    assert status == 200
    assert_told(payloads)
    assert text_of(payloads) == "litecursor: anthropic error (529): Overloaded"
    outcome = await outcomes.only()
    assert outcome.status == 502 and outcome.error is not None
    assert outcome.error.code == "overloaded_error" and outcome.upstream_status == 529


async def test_cooling_deployments_are_explained_with_the_wait(
    aiohttp_server: Any, gateway_factory: Any
) -> None:
    fakes = []
    models = []
    for _ in range(2):  # two deployments, so they cool down
        fake, params = await start_upstream(aiohttp_server, "anthropic")
        fake.faults.status, fake.faults.body = 529, OVERLOADED
        fakes.append(fake)
        models.append({"model_name": "claude", "litellm_params": params})
    gw = await gateway_factory(
        models,
        litecursor_settings={"cursor_errors": "message"},
        router_settings={"num_retries": 1, "allowed_fails": 1, "cooldown_time": 30},
    )
    await gw.chat({**ASK, "model": "claude"})  # both fail and cool down
    outcomes = recorded(gw)
    status, payloads = await gw.chat({**ASK, "model": "claude"})
    assert status == 200
    assert_told(payloads)
    text = text_of(payloads)
    assert text.startswith("litecursor: no deployment of model group 'claude' can take")
    assert "cooling down" in text and "retry in" in text
    outcome = await outcomes.only()
    assert outcome.status == 429 and outcome.error is not None


async def test_a_stream_broken_after_it_started_ends_with_the_message(serve: Serve) -> None:
    fake, gw = await serve("anthropic", **MESSAGE)
    fake.replies.append(Reply(text="Partial answer", stream_error="Overloaded"))
    outcomes = recorded(gw)
    status, payloads = await gw.chat(ASK)
    assert status == 200
    assert_told(payloads)  # the upstream broke before it reported usage
    assert text_of(payloads).startswith("Partial answer\n\nlitecursor: ")
    outcome = await outcomes.only()
    assert outcome.error is not None and outcome.status == outcome.error.status >= 500


async def test_a_context_overflow_stays_openais_error(serve: Serve) -> None:
    fake, gw = await serve("anthropic", **MESSAGE)
    fake.faults.status = 400
    fake.faults.body = (WIRE / "anthropic/error-400-prompt-too-long.json").read_bytes()
    status, body = await gw.chat(ASK)
    assert status == 400 and body["error"]["code"] == "context_length_exceeded"


async def test_other_routes_and_the_default_keep_the_status(serve: Serve) -> None:
    fake, gw = await serve("anthropic", **MESSAGE)
    fake.faults.status, fake.faults.body = 529, OVERLOADED
    status, body = await gw.chat(ASK, path="/v1/chat/completions")
    assert status == 502 and body["error"]["code"] == "overloaded_error"
    fake2, gw2 = await serve("anthropic", router_settings={"num_retries": 0})
    fake2.faults.status, fake2.faults.body = 529, OVERLOADED
    status, body = await gw2.chat(ASK)
    assert status == 502


async def test_a_non_streaming_request_gets_the_message_as_its_answer(serve: Serve) -> None:
    fake, gw = await serve("openai", **MESSAGE)
    fake.faults.status = 429
    fake.faults.headers = {"retry-after": "7"}
    answer = await gw.openai().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    content = answer.choices[0].message.content or ""
    assert content.startswith("litecursor: openai error (429)") and content.endswith("retry in 7 s")
    assert answer.choices[0].finish_reason == "stop"
