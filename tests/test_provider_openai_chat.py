"""The OpenAI Chat adapter against every recorded file of tests/data/wire/openai-chat/."""

from __future__ import annotations

import json

import pytest

from litecursor.errors import (
    UpstreamAuthError,
    UpstreamBadRequestError,
    UpstreamContextWindowError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamRateLimitError,
)
from litecursor.protocol.inbound import parse_request
from litecursor.protocol.providers import Target, get_provider
from litecursor.protocol.providers.openai_chat import ChatStreamDecoder, build_chat_body
from litecursor.protocol.types import Finish, RefusalDelta, StreamError, Usage

from .paths import WIRE
from .wire import assert_split_invariant, calls, errors, finishes, text, usages

DIR = WIRE / "openai-chat"
PROVIDER = get_provider("openai_chat")
TARGET = Target(
    provider="openai", model="gpt-4o", api_base="https://api.openai.com/v1", api_key="sk-x"
)


def stream(name: str):
    return assert_split_invariant(ChatStreamDecoder, (DIR / name).read_bytes())


def test_every_sse_file_is_covered() -> None:
    covered = {
        "text-usage.sse",
        "tool-call-single-usage.sse",
        "tool-calls-parallel.sse",
        "tool-calls-parallel-obfuscation.sse",
        "refusal.sse",
        "finish-length.sse",
        "n3-choices.sse",
        "text-long-300-chunks.sse",
    }
    assert {p.name for p in DIR.glob("*.sse")} == covered


def test_text_with_usage() -> None:
    ev = stream("text-usage.sse")
    assert text(ev) and finishes(ev) == ["stop"]
    assert not errors(ev)
    (u,) = usages(ev)
    assert u.prompt_tokens > 0 and u.completion_tokens > 0 and u.cached_tokens == 0


def test_single_tool_call_arguments_are_joined() -> None:
    ev = stream("tool-call-single-usage.sse")
    ((cid, name, args),) = calls(ev)
    assert cid.startswith("call_") and name
    json.loads(args)
    assert finishes(ev) == ["tool_calls"]


@pytest.mark.parametrize("name", ["tool-calls-parallel.sse", "tool-calls-parallel-obfuscation.sse"])
def test_parallel_tool_calls_stay_apart(name: str) -> None:
    ev = stream(name)
    got = calls(ev)
    assert len(got) == 2 and got[0][0] != got[1][0]
    for _, _, args in got:
        json.loads(args)
    assert finishes(ev) == ["tool_calls"]


def test_parallel_calls_have_their_names_and_arguments() -> None:
    got = calls(stream("tool-calls-parallel.sse"))
    assert [c[1] for c in got] == ["GetWeatherArgs", "get_stock_price"]
    assert json.loads(got[0][2])["city"] == "Edinburgh"


def test_refusal_is_decoded() -> None:
    ev = stream("refusal.sse")
    refusal = "".join(e.text for e in ev if isinstance(e, RefusalDelta))
    assert refusal == "I'm sorry, I can't assist with that request."
    assert finishes(ev) == ["stop"]


def test_finish_length() -> None:
    ev = stream("finish-length.sse")
    assert finishes(ev) == ["length"] and text(ev) == '{"'


def test_only_choice_zero_is_read() -> None:
    ev = stream("n3-choices.sse")
    assert finishes(ev) == ["stop"]
    assert len(usages(ev)) == 1


def test_long_stream_keeps_every_fragment() -> None:
    body = (DIR / "text-long-300-chunks.sse").read_bytes()
    expected = "".join(
        (json.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for line in body.split(b"\n")
        if line.startswith(b"data: {")
    )
    ev = stream("text-long-300-chunks.sse")
    assert text(ev) == expected and len(expected) > 300


def test_stream_without_finish_or_done_is_an_error() -> None:
    body = (DIR / "text-usage.sse").read_bytes()
    cut = body[: body.index(b'"finish_reason":"stop"')]
    cut = cut[: cut.rindex(b"\n\n") + 2]
    dec = ChatStreamDecoder()
    ev = dec.feed(cut) + dec.close()
    assert [e.code for e in ev if isinstance(e, StreamError)] == ["upstream_stream_truncated"]


def test_error_object_in_stream_becomes_stream_error() -> None:
    dec = ChatStreamDecoder()
    ev = (
        dec.feed(b'data: {"error": {"message": "overloaded", "code": "server_error"}}\n\n')
        + dec.close()
    )
    assert errors(ev) == [StreamError(UpstreamError("overloaded", code="server_error"))]


# --- non-streaming bodies ----------------------------------------------------------------


def test_text_json_body() -> None:
    ev = PROVIDER.decode_body((DIR / "text.json").read_bytes(), None, TARGET)
    assert text(ev) and ev[-2] == Finish("stop")
    assert isinstance(ev[-1], Usage) and ev[-1].prompt_tokens > 0


def test_parallel_tool_calls_json_body() -> None:
    ev = PROVIDER.decode_body((DIR / "tool-calls-parallel.json").read_bytes(), None, TARGET)
    assert [c[1] for c in calls(ev)] == ["GetWeatherArgs", "get_stock_price"]
    assert finishes(ev) == ["tool_calls"]


def test_refusal_json_body() -> None:
    ev = PROVIDER.decode_body((DIR / "refusal.json").read_bytes(), None, TARGET)
    assert any(isinstance(e, RefusalDelta) for e in ev)


# --- errors ------------------------------------------------------------------------------


def test_400_passes_the_upstream_message_on() -> None:
    err = PROVIDER.decode_error(
        400, {}, (DIR / "error-400-unsupported-parameter.json").read_bytes()
    )
    assert isinstance(err, UpstreamBadRequestError) and err.status == 400
    assert "max_tokens" in err.message and err.param == "max_tokens"


@pytest.mark.parametrize(
    ("name", "limit", "said"),
    [
        ("error-400-context-length-exceeded.json", 4097, "your messages resulted in 4294 tokens"),
        ("error-400-context-length-exceeded-azure.json", 8192, "resulted in 10383 tokens"),
        ("error-400-context-length-vllm.json", 16384, "(9591 in the messages, 10000 in the"),
    ],
)
def test_context_overflow_is_openais_error(name: str, limit: int, said: str) -> None:
    err = PROVIDER.decode_error(400, {}, (DIR / name).read_bytes())
    assert isinstance(err, UpstreamContextWindowError) and err.status == 400
    assert (err.code, err.error_type, err.param) == (
        "context_length_exceeded",
        "invalid_request_error",
        "messages",
    )
    assert err.message.startswith(f"This model's maximum context length is {limit} tokens.")
    assert said in err.message


def test_404_model_not_found() -> None:
    err = PROVIDER.decode_error(404, {}, (DIR / "error-404-model-not-found.json").read_bytes())
    assert isinstance(err, UpstreamNotFoundError) and err.status == 404


def test_401_never_echoes_the_key() -> None:
    body = b'{"error": {"message": "Incorrect API key provided: sk-secret123.", "type": "invalid_request_error", "code": "invalid_api_key"}}'
    err = PROVIDER.decode_error(401, {}, body)
    assert isinstance(err, UpstreamAuthError) and err.status == 502
    assert "sk-secret123" not in err.message


def test_429_keeps_retry_after() -> None:
    err = PROVIDER.decode_error(
        429,
        {"retry-after": "7"},
        (WIRE / "openai-responses" / "error-429-insufficient-quota.json").read_bytes(),
    )
    assert isinstance(err, UpstreamRateLimitError) and err.status == 429
    assert err.headers["retry-after"] == "7"


def test_5xx_and_non_json_bodies() -> None:
    err = PROVIDER.decode_error(503, {}, b"<html>Service Unavailable</html>")
    assert (
        isinstance(err, UpstreamError)
        and err.status == 502
        and "Service Unavailable" in err.message
    )


# --- request building ----------------------------------------------------------------------


def _req(body: dict) -> dict:
    return build_chat_body(parse_request(body), TARGET)


def test_only_set_fields_are_sent() -> None:
    body = _req({"model": "x", "messages": [{"role": "user", "content": "hi"}]})
    assert body == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_streaming_asks_for_usage() -> None:
    body = _req({"model": "x", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert body["stream_options"] == {"include_usage": True}


def test_openai_gets_max_completion_tokens_others_max_tokens() -> None:
    req = parse_request(
        {"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert build_chat_body(req, TARGET)["max_completion_tokens"] == 5
    groq = Target(provider="groq", model="m", api_base="https://api.groq.com/openai/v1")
    assert build_chat_body(req, groq)["max_tokens"] == 5


def test_user_is_capped_and_fast_tier_mapped() -> None:
    body = _req(
        {
            "model": "x",
            "user": "u" * 80,
            "service_tier": "fast",
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    assert len(body["user"]) == 64 and body["service_tier"] == "priority"


def test_responses_shape_becomes_chat_messages() -> None:
    body = _req(
        {
            "model": "x",
            "instructions": "be brief",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "read it"}]},
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "ReadFile",
                    "arguments": '{"path":"a"}',
                },
                {"type": "function_call_output", "call_id": "c1", "output": "contents"},
            ],
            "tools": [{"type": "function", "name": "ReadFile", "parameters": {"type": "object"}}],
        }
    )
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "read it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "ReadFile", "arguments": '{"path":"a"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "contents"},
    ]
    assert body["tools"] == [
        {"type": "function", "function": {"name": "ReadFile", "parameters": {"type": "object"}}}
    ]


def test_custom_tool_becomes_a_function_with_one_string_and_history_is_wrapped() -> None:
    body = _req(
        {
            "model": "x",
            "input": [
                {"role": "user", "content": "patch it"},
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "ApplyPatch",
                    "arguments": "*** Begin Patch\n*** End Patch",
                },
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
            "tools": [
                {
                    "type": "custom",
                    "name": "ApplyPatch",
                    "description": "Apply a patch",
                    "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
                }
            ],
        }
    )
    fn = body["tools"][0]["function"]
    assert fn["parameters"]["properties"]["input"]["type"] == "string"
    assert "start: x" in fn["description"]
    args = body["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(args) == {"input": "*** Begin Patch\n*** End Patch"}


def test_images_become_image_url_parts() -> None:
    body = _req(
        {
            "model": "x",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is this"},
                        {
                            "type": "input_image",
                            "image_url": "data:image/png;base64,AAAA",
                            "detail": "low",
                        },
                    ],
                }
            ],
        }
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]


def test_build_request_url_and_auth() -> None:
    req = parse_request({"model": "x", "messages": [{"role": "user", "content": "hi"}]})
    http = PROVIDER.build_request(req, TARGET)
    assert http.url == "https://api.openai.com/v1/chat/completions"
    assert http.headers["authorization"] == "Bearer sk-x"
