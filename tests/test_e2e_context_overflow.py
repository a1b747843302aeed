"""A conversation longer than the model takes, end to end over TLS: whatever each upstream says
(recorded and documented bodies, `tests/data/wire/`), Cursor gets OpenAI's own error, the
one it summarises the chat on: 400, `code: context_length_exceeded`, OpenAI's wording with the
numbers the upstream gave. `context_window_fallbacks` still run first."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from . import upstreams
from .fakes import openai_responses_upstream, openai_upstream
from .fakes.common import FakeUpstream, Reply
from .harness import text_of
from .paths import WIRE
from .upstreams import MODEL, UPSTREAM_KEY, Serve, start_upstream

serve = upstreams.serve  # the fixture, where pytest looks for it

OPENAI_WORDS = (
    "This model's maximum context length is {limit} tokens. However, your messages resulted in "
    "{total} tokens. Please reduce the length of the messages."
)
WITH_COMPLETION = (
    "This model's maximum context length is {limit} tokens. However, you requested {total} "
    "tokens ({messages} in the messages, {completion} in the completion). Please reduce the "
    "length of the messages or completion."
)

# (upstream kind, recorded error body, the message Cursor must get)
CASES = [
    (
        "openai",
        "openai-chat/error-400-context-length-exceeded.json",
        OPENAI_WORDS.format(limit=4097, total=4294),
    ),
    (
        "azure",
        "openai-chat/error-400-context-length-exceeded-azure.json",
        OPENAI_WORDS.format(limit=8192, total=10383),
    ),
    (
        "anthropic",
        "anthropic/error-400-prompt-too-long.json",
        OPENAI_WORDS.format(limit=200000, total=200251),
    ),
    (
        "anthropic",
        "anthropic/error-400-exceed-context-limit.json",
        WITH_COMPLETION.format(limit=200000, total=207653, messages=143653, completion=64000),
    ),
    (
        "gemini",
        "gemini/error-400-input-token-count.json",
        OPENAI_WORDS.format(limit=131072, total=132478),
    ),
    # the same models on other clouds answer with their provider's body
    (
        "vertex-claude",
        "anthropic/error-400-prompt-too-long.json",
        OPENAI_WORDS.format(limit=200000, total=200251),
    ),
    (
        "vertex-gemini",
        "gemini/error-400-input-token-count.json",
        OPENAI_WORDS.format(limit=131072, total=132478),
    ),
]
LONG = {
    "model": MODEL,
    "stream": True,
    "messages": [{"role": "user", "content": "a very long conversation"}],
}


def expected(message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


@pytest.mark.parametrize(("kind", "recording", "message"), CASES)
async def test_upstream_overflow_reaches_cursor_as_openais_error(
    serve: Serve, kind: str, recording: str, message: str
) -> None:
    fake, gw = await serve(kind, router_settings={"num_retries": 2})
    fake.faults.status, fake.faults.body = 400, (WIRE / recording).read_bytes()
    status, body = await gw.chat(LONG)
    assert (status, body) == (400, expected(message))
    assert len(fake.requests) == 1  # the client's fault: never retried


async def test_bedrock_overflow_without_numbers_is_openais_error(serve: Serve) -> None:
    fake, gw = await serve("bedrock")
    fake.faults.status = 400
    fake.faults.body = b'{"message":"Input is too long for requested model."}'
    fake.faults.headers = {"x-amzn-ErrorType": "ValidationException"}
    status, body = await gw.chat(LONG)
    assert (status, body) == (
        400,
        expected(
            "Your input exceeds the context window of this model. Please adjust your input "
            "and try again."
        ),
    )


@pytest.mark.parametrize("kind", ["openai-responses", "azure-responses"])
async def test_responses_overflow_reported_in_its_stream_becomes_a_400(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    opening = openai_responses_upstream.render_sse(Reply(), {"model": "gpt-5.1"})[:2]
    event = (WIRE / "openai-responses/error-event-context-length-exceeded.json").read_bytes()
    fake.replies.append(Reply(raw=b"".join([*opening, b"event: error\ndata: ", event, b"\n\n"])))
    status, body = await gw.chat(LONG)
    assert (status, body) == (
        400,
        expected(
            "Your input exceeds the context window of this model. Please adjust your input "
            "and try again."
        ),
    )


async def test_openai_compatible_server_overflow_keeps_its_numbers(
    aiohttp_server: Any, gateway_factory: Any
) -> None:
    fake = FakeUpstream()
    server = await aiohttp_server(openai_upstream.make_app(fake))
    fake.faults.status = 400
    fake.faults.body = (WIRE / "openai-chat/error-400-context-length-vllm.json").read_bytes()
    gw = await gateway_factory(
        [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": "hosted_vllm/Qwen/Qwen3-32B",
                    "api_base": str(server.make_url("/v1")),
                    "api_key": UPSTREAM_KEY,
                },
            }
        ]
    )
    status, body = await gw.chat(LONG)
    message = WITH_COMPLETION.format(limit=16384, total=19591, messages=9591, completion=10000)
    assert (status, body) == (400, expected(message))


async def test_openai_sdk_raises_bad_request_with_the_overflow_code(serve: Serve) -> None:
    fake, gw = await serve("anthropic")
    fake.faults.status = 400
    fake.faults.body = (WIRE / "anthropic/error-400-prompt-too-long.json").read_bytes()
    with pytest.raises(openai.BadRequestError) as raised:
        await gw.openai().chat.completions.create(
            model=MODEL, messages=LONG["messages"], stream=True
        )
    assert raised.value.status_code == 400 and raised.value.code == "context_length_exceeded"
    assert "maximum context length is 200000 tokens" in raised.value.message


async def test_context_window_fallbacks_run_before_the_overflow_reaches_cursor(
    aiohttp_server: Any, gateway_factory: Any
) -> None:
    small, small_params = await start_upstream(aiohttp_server, "anthropic")
    big, big_params = await start_upstream(aiohttp_server, "gemini")
    small.faults.status = 400
    small.faults.body = (WIRE / "anthropic/error-400-prompt-too-long.json").read_bytes()
    big.replies.append(Reply(text="Summarised and answered."))
    gw = await gateway_factory(
        [
            {"model_name": MODEL, "litellm_params": small_params},
            {"model_name": "big", "litellm_params": big_params},
        ],
        router_settings={"context_window_fallbacks": [{MODEL: ["big"]}]},
    )
    status, payloads = await gw.chat(LONG)
    assert status == 200 and text_of(payloads) == "Summarised and answered."
    assert len(small.requests) == 1 and len(big.requests) == 1


def test_every_overflow_recording_is_used() -> None:
    used = {c[1] for c in CASES} | {
        "openai-responses/error-event-context-length-exceeded.json",
        "openai-chat/error-400-context-length-vllm.json",
    }
    on_disk = {
        str(p.relative_to(WIRE))
        for p in WIRE.glob("*/*.json")
        if orjson.dumps(orjson.loads(p.read_bytes())).find(b"context") >= 0 and "error" in p.name
    }
    assert on_disk <= used, on_disk - used
