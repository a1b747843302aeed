"""The Anthropic Messages adapter: request building, stream and body decoding, errors, and its fake."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from yarl import URL

from litecursor.errors import (
    UpstreamAuthError,
    UpstreamBadRequestError,
    UpstreamContextWindowError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamProtocolError,
    UpstreamRateLimitError,
)
from litecursor.protocol.providers import get_provider
from litecursor.protocol.providers.anthropic import AnthropicProvider, tool_id
from litecursor.protocol.providers.anthropic_stream import AnthropicStreamDecoder
from litecursor.protocol.providers.base import AdapterOptions, RequestDefaults, Target
from litecursor.protocol.tools import custom_tool_parameters
from litecursor.protocol.types import (
    ChatRequest,
    Event,
    Finish,
    ImagePart,
    Message,
    RefusalDelta,
    StreamError,
    TextPart,
    Tool,
    ToolCall,
    ToolCallStart,
    ToolChoice,
    Usage,
)
from tests.fakes.anthropic_upstream import TOP_LEVEL, Invalid, make_app, validate
from tests.fakes.common import FakeUpstream, Reply, ToolCallSpec
from tests.paths import CURSOR_REQUESTS as CURSOR_REQUEST_DIR
from tests.paths import WIRE
from tests.wire import Summary, summarise

DIR = WIRE / "anthropic"
SSE_FILES = sorted(DIR.glob("*.sse"))
BODY_FILES = sorted(p for p in DIR.glob("*.json") if not p.name.startswith("error-"))
ERROR_FILES = sorted(DIR.glob("error-*.json"))
PROVIDER = AnthropicProvider()
TARGET = Target("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com", api_key="sk-ant-x")
ID_RE = r"^[a-zA-Z0-9_-]+$"
PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def chat(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="claude", messages=messages, **kw)


def body_of(req: ChatRequest, target: Target = TARGET) -> dict[str, Any]:
    return orjson.loads(PROVIDER.build_request(req, target).body)


def decode(chunks: list[bytes]) -> list[Event]:
    dec = AnthropicStreamDecoder()
    out: list[Event] = []
    for c in chunks:
        out += dec.feed(c)
    return out + dec.close()


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


# ---------------------------------------------------------------------------------------------
# Recorded streams
# ---------------------------------------------------------------------------------------------

LONG_TEXT_START = "Here are the basic steps for safely crossing the street:\n\n**At intersections"
LONG_TEXT_END = "Always prioritize safety over speed when crossing streets."
STREAMS: dict[str, dict[str, Any]] = {
    "refusal-no-content-blocks.sse": dict(
        finish="content_filter", usage=(97, 0, 0), reasoning_tokens=0
    ),
    "text-padded.sse": dict(text="- Captain\n- Scoop", usage=(17, 10, 0)),
    "text-then-tool-use-no-args.sse": dict(
        text="I'll update the issue list for you.",
        calls=(("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", "{}"),),
        finish="tool_calls",
        usage=(565, 48, 0),
    ),
    "text-thinking-text-3-blocks.sse": dict(
        text="\n\n1. **Captain Scoop**\n2. **Gullet**",
        reasoning="Brief answer with two pet pelican names.",
        usage=(34, 44, 0),
    ),
    "text.sse": dict(
        text="Hello! I'm doing well, thank you for asking. How are you doing today? "
        "Is there anything I can help you with?",
        usage=(12, 30, 0),
    ),
    "thinking-signature-then-text.sse": dict(
        text="925 ÷ 5 = 185",
        reasoning="The previous result was 925. Now I need to divide that by 5.\n\n925 ÷ 5 = 185",
        usage=(69, 53, 0),
    ),
    "thinking-then-text-long.sse": dict(
        text=(LONG_TEXT_START, LONG_TEXT_END),
        reasoning="This is a straightforward question about pedestrian safety. I should provide "
        "clear, helpful advice about how to safely cross a street. This is basic safety "
        "information that could help prevent accidents.",
        usage=(43, 282, 0),
    ),
    "thinking-then-tool-use.sse": dict(
        reasoning="The user wants me to:\n1. Use the fixed_version tool\n2. Tell them the version\n"
        "3. Make a short joke about it\n\nLet me first call the fixed_version tool to see what "
        "version it returns.",
        calls=(("toolu_01825dXWLSoJwCst1qTsiWdb", "fixed_version", "{}"),),
        finish="tool_calls",
        usage=(598, 92, 0),
        reasoning_tokens=53,
    ),
    "tool-use-fragmented-input-pings.sse": dict(
        calls=(("toolu_019Zvehfe1XQWweT1pm7okyt", "weather", '{"location": "San Francisco"}'),),
        finish="tool_calls",
        usage=(843, 28, 0),
    ),
    "tool-use-parallel.sse": dict(
        calls=(
            ("toolu_01LtHJmixrs9NcWQkK8hu8hj", "pelican_name_generator", "{}"),
            ("toolu_01N8a4jWyf116qKTMqKKmjyt", "pelican_name_generator", "{}"),
        ),
        finish="tool_calls",
        usage=(542, 62, 0),
    ),
}


def check(s: Summary, want: dict[str, Any]) -> None:
    text = want.get("text", "")
    if isinstance(text, tuple):
        assert s.text.startswith(text[0]) and s.text.endswith(text[1])
    else:
        assert s.text == text
    assert s.reasoning == want.get("reasoning", "")
    assert s.calls == want.get("calls", ())
    assert s.finish == want.get("finish", "stop")
    prompt, completion, cached = want["usage"]
    assert s.usage == Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cache_creation_tokens=0,
        reasoning_tokens=want.get("reasoning_tokens"),
    )
    assert not s.errors
    if s.reasoning:  # each thinking block ends in a signed record that can be replayed
        assert len(s.items) == 1
        assert s.items[0]["thinking"] == s.reasoning and s.items[0]["signature"].startswith("E")


def test_every_recorded_stream_has_expectations() -> None:
    assert {p.name for p in SSE_FILES} == set(STREAMS)


@pytest.mark.parametrize("path", SSE_FILES, ids=lambda p: p.name)
def test_recorded_stream_decodes_to_its_content(path: Path) -> None:
    check(summarise(decode([path.read_bytes()])), STREAMS[path.name])


@pytest.mark.parametrize("path", SSE_FILES, ids=lambda p: p.name)
def test_recorded_stream_gives_the_same_events_at_every_split(path: Path) -> None:
    data = path.read_bytes()
    whole = decode([data])
    assert decode([data[i : i + 1] for i in range(len(data))]) == whole
    for i in range(1, len(data)):
        assert decode([data[:i], data[i:]]) == whole, f"split at byte {i}"


@pytest.mark.parametrize("path", SSE_FILES, ids=lambda p: p.name)
def test_recorded_stream_ends_with_finish_then_usage(path: Path) -> None:
    events = decode([path.read_bytes()])
    assert isinstance(events[-2], Finish) and isinstance(events[-1], Usage)


def test_refusal_explanation_is_passed_on_as_refusal_text() -> None:
    events = decode([(DIR / "refusal-no-content-blocks.sse").read_bytes()])
    refusals = [e.text for e in events if isinstance(e, RefusalDelta)]
    assert len(refusals) == 1 and "Terms of Service" in refusals[0]


def test_stream_without_message_stop_is_reported_truncated() -> None:
    data = (DIR / "text.sse").read_bytes()
    events = decode([data[: data.index(b"event: message_stop")]])
    assert summarise(events).text.startswith("Hello!")
    assert isinstance(events[-1], StreamError) and events[-1].code == "upstream_stream_truncated"
    assert not any(isinstance(e, Usage) for e in events)


def test_stream_cut_mid_event_is_reported_truncated() -> None:
    data = (DIR / "tool-use-fragmented-input-pings.sse").read_bytes()
    events = decode([data[: len(data) // 2]])
    assert [e.code for e in events if isinstance(e, StreamError)] == ["upstream_stream_truncated"]


def test_overloaded_error_mid_stream_becomes_a_retryable_5xx_stream_error() -> None:
    data = (DIR / "text.sse").read_bytes()
    head = data[: data.index(b"event: content_block_stop")]
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = decode([head + sse(error)])
    assert summarise(events).text.startswith("Hello! I'm doing well")
    errors = [e for e in events if isinstance(e, StreamError)]
    assert len(errors) == 1, "an error event ends the stream: no truncation error after it"
    assert errors[0].code == "overloaded_error" and errors[0].status == 502
    assert "Overloaded" in errors[0].message


def test_rate_limit_error_mid_stream_keeps_status_429() -> None:
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    [err] = decode([sse(error)])
    assert isinstance(err, StreamError) and err.status == 429 and err.code == "rate_limit_error"


def _message(
    start_usage: dict[str, Any],
    *blocks: list[dict[str, Any]],
    stop_reason: str = "end_turn",
    end_usage: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The events of one message: start, the given content blocks, delta, stop."""
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"content": [], "usage": start_usage}}
    ]
    for b in blocks:
        events += b
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason},
        "usage": end_usage or {},
    }
    return [*events, delta, {"type": "message_stop"}]


def _block(index: int, start: dict[str, Any], *deltas: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def test_tool_use_with_input_in_its_start_and_no_deltas_delivers_that_input() -> None:
    start = {"type": "tool_use", "id": "toolu_1", "name": "ReadFile", "input": {"path": "a.py"}}
    events = decode([sse(*_message({}, _block(0, start), stop_reason="tool_use"))])
    assert summarise(events).calls == (("toolu_1", "ReadFile", '{"path":"a.py"}'),)


def test_usage_counts_cache_reads_and_writes_inside_prompt_tokens() -> None:
    usage = {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}
    text = _block(0, {"type": "text", "text": ""}, {"type": "text_delta", "text": "hi"})
    events = decode([sse(*_message(usage, text, end_usage={"output_tokens": 50}))])
    assert summarise(events).usage == Usage(
        prompt_tokens=130, completion_tokens=50, cached_tokens=100, cache_creation_tokens=20
    )


def test_message_delta_usage_replaces_the_start_counts() -> None:
    usage = {"input_tokens": 10, "output_tokens": 1}
    events = decode([sse(*_message(usage, end_usage={"input_tokens": 12, "output_tokens": 40}))])
    assert summarise(events).usage == Usage(12, 40, cached_tokens=0, cache_creation_tokens=0)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reason_maps_to_finish_reason(stop_reason: str, finish: str) -> None:
    assert summarise(decode([sse(*_message({}, stop_reason=stop_reason))])).finish == finish


def test_redacted_thinking_is_kept_as_an_opaque_item() -> None:
    block = _block(0, {"type": "redacted_thinking", "data": "EmwKAhgB"})
    events = decode([sse(*_message({}, block))])
    assert summarise(events).items == ({"type": "redacted_thinking", "data": "EmwKAhgB"},)


def test_unreadable_event_is_a_protocol_error() -> None:
    events = decode([b"event: message_start\ndata: {not json\n\n"])
    assert events[0] == StreamError(UpstreamProtocolError(events[0].message))


def test_custom_tool_call_arrives_as_raw_text_through_open_decoder() -> None:
    req = chat(user("patch it"), tools=(Tool("ApplyPatch", kind="custom"),))
    args = orjson.dumps({"input": PATCH}).decode()
    start = {"type": "tool_use", "id": "toolu_9", "name": "ApplyPatch", "input": {}}
    deltas = [
        {"type": "input_json_delta", "partial_json": args[i : i + 7]}
        for i in range(0, len(args), 7)
    ]
    data = sse(*_message({}, _block(0, start, *deltas), stop_reason="tool_use"))
    dec = PROVIDER.open_decoder(req, TARGET)
    events = dec.feed(data) + dec.close()
    assert summarise(events).calls == (("toolu_9", "ApplyPatch", PATCH),)
    assert next(e for e in events if isinstance(e, ToolCallStart)).kind == "custom"


# ---------------------------------------------------------------------------------------------
# Whole bodies and errors
# ---------------------------------------------------------------------------------------------

BODIES: dict[str, dict[str, Any]] = {
    "text-then-tool-use-parallel-4.json": dict(
        text="I'll help you find out who is the youngest by retrieving information about each "
        "family member. I'll retrieve their entity information to compare their ages.",
        calls=tuple(
            (cid, "retrieve_entity_info", orjson.dumps({"name": name}).decode())
            for cid, name in [
                ("toolu_0167cfEnoQaPviGdVXA95zcu", "Alice"),
                ("toolu_01EEe2V5HD1Ac4rKiUR4HD2T", "Bob"),
                ("toolu_01XFyAjstT3966qvRynZyVPo", "Charlie"),
                ("toolu_013mnQZbgtK2oe3Mo3XKJsx3", "Daisy"),
            ]
        ),
        finish="tool_calls",
        usage=(423, 202, 0),
    ),
    "text.json": dict(
        text="Hello! I'm doing well, thanks for asking. How are you doing today? "
        "Is there anything I can help you with?",
        usage=(12, 29, 0),
    ),
    "thinking-then-text.json": dict(
        text="925 ÷ 5 = 185", reasoning="925 divided by 5 = 185", usage=(69, 33, 0)
    ),
    "tool-use.json": dict(
        calls=(("toolu_01PQjhxo3eirCdKNvCJrKc8f", "weather", '{"location":"San Francisco"}'),),
        finish="tool_calls",
        usage=(843, 28, 0),
    ),
}


def test_every_recorded_body_has_expectations() -> None:
    assert {p.name for p in BODY_FILES} == set(BODIES)


@pytest.mark.parametrize("path", BODY_FILES, ids=lambda p: p.name)
def test_recorded_body_decodes_to_its_content(path: Path) -> None:
    events = PROVIDER.decode_response(path.read_bytes(), chat(user("hi")), TARGET)
    check(summarise(events), BODIES[path.name])


ERRORS: dict[str, tuple[type[Exception], int, str, str]] = {
    "error-400-invalid-request.json": (
        UpstreamBadRequestError, 400, "invalid_request_error", "effort level 'xhigh'"
    ),
    "error-400-tool-use-without-result.json": (
        UpstreamBadRequestError, 400, "invalid_request_error", "toolu_issue8112_custom"
    ),
    "error-404-not-found.json": (UpstreamNotFoundError, 404, "not_found_error", "claude-sonet-4-5"),
    "error-400-prompt-too-long.json": (
        UpstreamContextWindowError, 400, "context_length_exceeded",
        "maximum context length is 200000 tokens. However, your messages resulted in 200251"
    ),
    "error-400-exceed-context-limit.json": (
        UpstreamContextWindowError, 400, "context_length_exceeded",
        "you requested 207653 tokens (143653 in the messages, 64000 in the completion)"
    ),
}  # fmt: skip


def test_every_recorded_error_has_expectations() -> None:
    assert {p.name for p in ERROR_FILES} == set(ERRORS)


@pytest.mark.parametrize("path", ERROR_FILES, ids=lambda p: p.name)
def test_recorded_error_maps_to_the_client_error(path: Path) -> None:
    status = int(path.name.split("-")[1])
    err = PROVIDER.decode_error(status, {}, path.read_bytes())
    cls, client_status, code, text = ERRORS[path.name]
    assert type(err) is cls and err.status == client_status
    assert err.code == code and text in err.message


def test_overloaded_529_is_a_retryable_upstream_error() -> None:
    body = orjson.dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    err = PROVIDER.decode_error(529, {}, body)
    assert isinstance(err, UpstreamError) and err.retryable and err.status == 502
    assert err.code == "overloaded_error" and err.upstream_status == 529


def test_rate_limit_keeps_retry_after() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})
    err = PROVIDER.decode_error(429, {"retry-after": "7"}, body)
    assert isinstance(err, UpstreamRateLimitError) and err.retry_after == 7.0


def test_rejected_key_is_an_auth_error_that_does_not_quote_the_key() -> None:
    body = b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}'
    err = PROVIDER.decode_error(401, {}, body)
    assert isinstance(err, UpstreamAuthError) and "sk-ant" not in err.message


# ---------------------------------------------------------------------------------------------
# Building the request
# ---------------------------------------------------------------------------------------------


def test_provider_is_registered_as_anthropic() -> None:
    assert isinstance(get_provider("anthropic"), AnthropicProvider)
    assert AnthropicProvider.name == "anthropic"


@pytest.mark.parametrize(
    "base",
    ["https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1"],
)
def test_url_is_v1_messages_with_or_without_v1_in_the_base(base: str) -> None:
    req = PROVIDER.build_request(chat(user("hi")), replace(TARGET, api_base=base))
    assert req.method == "POST" and req.url == "https://api.anthropic.com/v1/messages"


def test_headers_carry_key_version_and_configured_extras() -> None:
    target = replace(TARGET, headers={"anthropic-beta": "x"})
    headers = PROVIDER.build_request(chat(user("hi")), target).headers
    assert headers["x-api-key"] == "sk-ant-x" and headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json" and headers["anthropic-beta"] == "x"
    assert "authorization" not in headers


def test_api_version_overrides_the_version_header() -> None:
    target = replace(TARGET, api_version="2024-01-01")
    assert (
        PROVIDER.build_request(chat(user("hi")), target).headers["anthropic-version"]
        == "2024-01-01"
    )


@pytest.mark.parametrize(
    ("req_max", "defaults", "want"),
    [(100, RequestDefaults(), 100), (None, RequestDefaults(max_tokens=300), 300),
     (None, RequestDefaults(), 8192)],
)  # fmt: skip
def test_max_tokens_is_always_set(
    req_max: int | None, defaults: RequestDefaults, want: int
) -> None:
    body = body_of(chat(user("hi"), max_tokens=req_max), replace(TARGET, defaults=defaults))
    assert body["max_tokens"] == want


def test_body_has_only_messages_api_fields() -> None:
    req = chat(
        Message("system", (TextPart("be brief"),)),
        user("hi"),
        stream=True,
        include_usage=True,
        seed=1,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        temperature=0.2,
        top_p=0.9,
        stop=("END", " "),
        verbosity="low",
        service_tier="fast",
        user="u-hash",
        conversation_id="conv",
        metadata={"cursorConversationId": "conv"},
        responses_extras={"store": False},
    )
    body = body_of(req)
    assert set(body) <= TOP_LEVEL
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9 and body["stream"] is True
    assert body["stop_sequences"] == ["END"], "whitespace-only stop sequences are refused"
    assert body["metadata"] == {"user_id": "u-hash"}
    validate(body)


def test_temperature_above_one_is_clamped_to_the_api_range() -> None:
    assert body_of(chat(user("hi"), temperature=1.6))["temperature"] == 1.0


def test_system_messages_become_system_blocks_in_order() -> None:
    req = chat(
        Message("system", (TextPart("one"),)), user("hi"), Message("system", (TextPart("two"),))
    )
    body = body_of(req)
    assert [b["text"] for b in body["system"]] == ["one", "two"]
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_consecutive_same_role_turns_are_merged() -> None:
    req = chat(
        user("a"),
        user("b"),
        Message("assistant", (TextPart("c"),)),
        Message("assistant", (TextPart("d"),)),
        user("e"),
    )
    messages = body_of(req)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [b["text"] for b in messages[0]["content"]] == ["a", "b"]
    assert [b["text"] for b in messages[1]["content"]] == ["c", "d"]


def agent_history() -> tuple[Message, ...]:
    calls = (
        ToolCall("call_a", "ReadFile", '{"path": "a.py"}'),
        ToolCall("call_b", "Grep", '{"pattern": "x"}'),
    )
    return (
        user("look"),
        Message("assistant", (TextPart("Reading."),), tool_calls=calls),
        Message("tool", (TextPart("print(1)"),), tool_call_id="call_a", name="ReadFile"),
        Message("tool", (TextPart("no match"),), tool_call_id="call_b", name="Grep"),
        user("thanks"),
    )


def test_tool_calls_and_results_become_paired_blocks() -> None:
    messages = body_of(chat(*agent_history()))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"type": "text", "text": "Reading."},
        {"type": "tool_use", "id": "call_a", "name": "ReadFile", "input": {"path": "a.py"}},
        {"type": "tool_use", "id": "call_b", "name": "Grep", "input": {"pattern": "x"}},
    ]
    results = messages[2]["content"]
    assert results[0] == {"type": "tool_result", "tool_use_id": "call_a", "content": "print(1)"}
    assert results[1] == {"type": "tool_result", "tool_use_id": "call_b", "content": "no match"}
    assert results[2]["text"] == "thanks"


def test_tool_results_go_before_text_in_their_turn() -> None:
    history = agent_history()
    req = chat(history[0], history[1], history[4], history[2], history[3])
    content = body_of(req)["messages"][2]["content"]
    assert [b["type"] for b in content] == ["tool_result", "tool_result", "text"]


@pytest.mark.parametrize(
    ("arguments", "want"),
    [
        ("", {}),
        ('{"a": 1}', {"a": 1}),
        ("{broken", {"input": "{broken"}),
        ("[1, 2]", {"input": [1, 2]}),
    ],
)
def test_replayed_arguments_become_an_input_object(arguments: str, want: dict[str, Any]) -> None:
    req = chat(
        user("x"), Message("assistant", tool_calls=(ToolCall("c1", "T", arguments),)), user("y")
    )
    body = body_of(req)
    assert body["messages"][1]["content"][0]["input"] == want
    validate(body)


@pytest.mark.parametrize(
    "raw",
    ["call_1\nfc_2", "call.with.dots", "x" * 200, "", "工具"],
    ids=["newline", "dots", "long", "empty", "unicode"],
)
def test_unusable_call_ids_are_sanitised_the_same_in_use_and_result(raw: str) -> None:
    req = chat(
        user("x"),
        Message("assistant", tool_calls=(ToolCall(raw, "T", "{}"),)),
        Message("tool", (TextPart("ok"),), tool_call_id=raw),
    )
    body = body_of(req)
    use, result = body["messages"][1]["content"][0], body["messages"][2]["content"][0]
    assert use["id"] == result["tool_use_id"] == tool_id(raw)
    assert result["content"] == "ok" and "is_error" not in result, "the real result is kept"
    assert re.match(ID_RE, use["id"]) and len(use["id"]) <= 64
    validate(body)


def test_sanitised_ids_stay_distinct_and_clean_ids_are_kept() -> None:
    assert tool_id("a.b") != tool_id("a,b")
    assert tool_id("toolu_01ABC-x") == "toolu_01ABC-x"


def test_unanswered_tool_call_gets_an_error_result() -> None:
    req = chat(
        user("x"), Message("assistant", tool_calls=(ToolCall("c1", "T", "{}"),)), user("never mind")
    )
    body = body_of(req)
    first = body["messages"][2]["content"][0]
    assert first["type"] == "tool_result" and first["tool_use_id"] == "c1" and first["is_error"]
    validate(body)


def test_tool_call_as_last_message_gets_an_error_result() -> None:
    req = chat(user("x"), Message("assistant", tool_calls=(ToolCall("c1", "T", "{}"),)))
    body = body_of(req)
    assert body["messages"][-1]["role"] == "user"
    validate(body)


def test_stray_tool_result_becomes_text() -> None:
    req = chat(
        user("x"),
        Message("assistant", (TextPart("hm"),)),
        Message("tool", (TextPart("42"),), tool_call_id="gone"),
    )
    body = body_of(req)
    block = body["messages"][2]["content"][0]
    assert block["type"] == "text" and "gone" in block["text"] and "42" in block["text"]
    validate(body)


def test_history_starting_with_assistant_gets_a_user_turn_first() -> None:
    body = body_of(chat(Message("assistant", (TextPart("Hello"),)), user("hi")))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    validate(body)


def test_images_become_base64_or_url_sources() -> None:
    req = chat(
        Message(
            "user",
            (
                TextPart("what is this"),
                ImagePart("data:image/png;base64,iVBORw0KGgo="),
                ImagePart("https://example.com/cat.jpg"),
            ),
        )
    )
    body = body_of(req)
    content = body["messages"][0]["content"]
    assert content[1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }
    assert content[2]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}
    validate(body)


def test_function_tools_use_input_schema() -> None:
    schema = {"type": "object", "properties": {"path": {"type": "string"}}}
    req = chat(user("x"), tools=(Tool("ReadFile", "Read a file", schema, strict=True),))
    tools = body_of(req)["tools"]
    assert tools == [
        {
            "name": "ReadFile",
            "description": "Read a file",
            "input_schema": schema,
        }
    ]


def test_custom_tool_is_a_single_string_parameter_tool_and_its_calls_are_wrapped() -> None:
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: BEGIN"}
    tools = (Tool("ApplyPatch", "Apply a patch", kind="custom", format=grammar),)
    call = ToolCall("c1", "ApplyPatch", PATCH, kind="function")  # replayed as a function envelope
    req = chat(
        user("x"),
        Message("assistant", tool_calls=(call,)),
        Message("tool", (TextPart("done"),), tool_call_id="c1"),
        tools=tools,
    )
    body = body_of(req)
    tool = body["tools"][0]
    assert tool["input_schema"] == custom_tool_parameters()
    assert "start: BEGIN" in tool["description"]
    assert body["messages"][1]["content"][0]["input"] == {"input": PATCH}
    validate(body)


@pytest.mark.parametrize(
    ("choice", "parallel", "want"),
    [
        (None, None, None),
        (ToolChoice("auto"), None, {"type": "auto"}),
        (ToolChoice("none"), None, {"type": "none"}),
        (ToolChoice("required"), None, {"type": "any"}),
        (ToolChoice("required", "ReadFile"), None, {"type": "tool", "name": "ReadFile"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (ToolChoice("none"), False, {"type": "none"}),
    ],
)
def test_tool_choice_mapping(
    choice: ToolChoice | None, parallel: bool | None, want: dict | None
) -> None:
    req = chat(
        user("x"),
        tools=(Tool("ReadFile", parameters={"type": "object"}),),
        tool_choice=choice,
        parallel_tool_calls=parallel,
    )
    body = body_of(req)
    assert body.get("tool_choice") == want
    validate(body)


def test_history_with_tool_calls_but_no_tools_declares_them_and_forbids_calls() -> None:
    body = body_of(chat(*agent_history()))
    assert {t["name"] for t in body["tools"]} == {"ReadFile", "Grep"}
    assert body["tool_choice"] == {"type": "none"}
    validate(body)


@pytest.mark.parametrize(
    ("effort", "budget"), [("low", 1024), ("medium", 2048), ("high", 4096), ("minimal", 1024)]
)
def test_reasoning_effort_turns_on_thinking_with_its_budget(effort: str, budget: int) -> None:
    body = body_of(chat(user("x"), reasoning_effort=effort, temperature=0.0, top_p=0.5))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] > budget
    assert "temperature" not in body and "top_p" not in body
    validate(body)


def test_no_effort_or_effort_none_means_no_thinking() -> None:
    assert "thinking" not in body_of(chat(user("x")))
    assert "thinking" not in body_of(chat(user("x"), reasoning_effort="none"))


def test_configured_budget_overrides_the_table_and_turns_thinking_on() -> None:
    target = replace(TARGET, options=AdapterOptions(thinking_budget=5000))
    assert (
        body_of(chat(user("x"), reasoning_effort="low"), target)["thinking"]["budget_tokens"]
        == 5000
    )
    assert body_of(chat(user("x")), target)["thinking"]["budget_tokens"] == 5000
    assert "thinking" not in body_of(chat(user("x"), reasoning_effort="none"), target)
    assert "thinking" not in body_of(
        chat(user("x")), replace(TARGET, options=AdapterOptions(thinking_budget=0))
    )


def test_small_max_tokens_is_raised_above_the_budget() -> None:
    body = body_of(chat(user("x"), reasoning_effort="high", max_tokens=1000))
    assert body["max_tokens"] == 4096 + 1000
    validate(body)


def test_thinking_is_left_off_mid_tool_loop_without_a_replayed_thinking_block() -> None:
    body = body_of(chat(*agent_history()[:4], reasoning_effort="high", temperature=0.3))
    assert "thinking" not in body and body["temperature"] == 0.3
    validate(body)


def test_thinking_stays_on_when_the_thinking_block_is_replayed() -> None:
    history = list(agent_history()[:4])
    signed = {"type": "thinking", "thinking": "plan", "signature": "EqQBCkYIARgCIkA"}
    history[1] = replace(
        history[1], reasoning=(signed, {"type": "reasoning", "encrypted_content": "x"})
    )
    body = body_of(chat(*history, reasoning_effort="high"))
    assert body["thinking"]["budget_tokens"] == 4096
    assert body["messages"][1]["content"][0] == signed
    validate(body)


def test_thinking_is_left_off_when_a_tool_call_is_forced() -> None:
    req = chat(
        user("x"),
        tools=(Tool("T", parameters={"type": "object"}),),
        tool_choice=ToolChoice("required"),
        reasoning_effort="high",
    )
    body = body_of(req)
    assert "thinking" not in body
    validate(body)


LONG = "lorem ipsum dolor sit amet " * 200  # about 1,350 tokens: over the 1,024 minimum
EPHEMERAL = {"type": "ephemeral"}


def marks(body: dict[str, Any]) -> list[str]:
    """Where the breakpoints are: tools.i, system.i, messages.i.content.j."""
    out = [f"tools.{i}" for i, t in enumerate(body.get("tools") or ()) if "cache_control" in t]
    out += [f"system.{i}" for i, b in enumerate(body.get("system") or ()) if "cache_control" in b]
    for i, m in enumerate(body["messages"]):
        out += [
            f"messages.{i}.content.{j}" for j, b in enumerate(m["content"]) if "cache_control" in b
        ]
    return out


def long_tools() -> tuple[Tool, ...]:
    return (
        Tool("ReadFile", LONG, {"type": "object"}),
        Tool("Grep", "Search files.", {"type": "object"}),
    )


def test_prompt_cache_breakpoints_on_tools_system_previous_turn_and_newest_block() -> None:
    req = chat(Message("system", (TextPart(LONG),)), *agent_history(), tools=long_tools())
    body = body_of(req)
    # newest block, the previous turn's end (the user turn before the last assistant turn),
    # the system prompt, the tools
    assert marks(body) == ["tools.1", "system.0", "messages.0.content.0", "messages.2.content.2"]
    assert all(b["cache_control"] == EPHEMERAL for b in body["tools"][-1:] + body["system"])
    validate(body)
    no_cache = body_of(req, replace(TARGET, options=AdapterOptions(prompt_caching=False)))
    assert marks(no_cache) == []


def test_a_prefix_under_the_minimum_cacheable_length_gets_no_breakpoint() -> None:
    assert marks(body_of(chat(Message("system", (TextPart("sys"),)), *agent_history()))) == []
    # a short system prompt and tools, but a long conversation: only the messages are marked
    req = chat(Message("system", (TextPart("sys"),)), user(LONG), *agent_history())
    assert marks(body_of(req)) == ["messages.0.content.1", "messages.2.content.2"]


def test_haiku_needs_a_longer_prefix() -> None:
    req = chat(Message("system", (TextPart(LONG),)), user("hi"))
    assert marks(body_of(req)) == ["system.0", "messages.0.content.0"]
    haiku = replace(TARGET, model="claude-haiku-4-5")
    assert marks(body_of(req, haiku)) == []


def test_client_breakpoints_are_kept_and_counted_within_four() -> None:
    mine = {"type": "ephemeral", "ttl": "1h"}
    req = chat(
        Message("system", (TextPart(LONG, mine),)),
        Message("user", (TextPart(LONG, mine), TextPart("and this"))),
        Message("assistant", (TextPart("ok"),)),
        Message("user", (TextPart(LONG, mine),)),
        Message("assistant", (TextPart("ok"),)),
        user("next"),
        tools=long_tools(),
    )
    body = body_of(req)
    assert body["system"][0]["cache_control"] == mine
    assert len(marks(body)) == 4  # the client's three and the newest block
    assert marks(body)[-1] == "messages.4.content.0"
    validate(body)


def test_breakpoints_never_go_on_thinking_blocks() -> None:
    signed = {"type": "thinking", "thinking": LONG, "signature": "c2ln"}
    req = chat(
        user(LONG),
        Message(
            "assistant", (), tool_calls=(ToolCall("call_a", "ReadFile", "{}"),), reasoning=(signed,)
        ),
        Message("tool", (TextPart("print(1)"),), tool_call_id="call_a"),
        tools=long_tools(),
    )
    body = body_of(req)
    for i, m in enumerate(body["messages"]):
        for b in m["content"]:
            assert b["type"] != "thinking" or "cache_control" not in b, (i, b)
    validate(body)


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    body = body_of(chat(user("x"), Message("assistant", (TextPart("The answer is "),))))
    assert body["messages"][-1]["content"][-1]["text"] == "The answer is"


# ---------------------------------------------------------------------------------------------
# The fake upstream
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def upstream(aiohttp_client: Any) -> tuple[FakeUpstream, Any]:
    fake = FakeUpstream()
    client = await aiohttp_client(make_app(fake))
    return fake, client


async def send(client: Any, req: ChatRequest) -> Any:
    target = replace(TARGET, api_base=str(client.make_url("")))
    http = PROVIDER.build_request(req, target)
    return await client.post(URL(http.url).path, data=http.body, headers=dict(http.headers))


def cursor_agent_request(**kw: Any) -> ChatRequest:
    odd = "call_Qx1\nfc_68ab" + "z" * 80
    tools = (
        Tool("ReadFile", "Read", {"type": "object", "properties": {"path": {"type": "string"}}}),
        Tool("ApplyPatch", "Patch", kind="custom"),
    )
    return chat(
        Message("system", (TextPart("You are an agent."),)),
        user("fix it"),
        Message(
            "assistant",
            (TextPart("Looking."),),
            tool_calls=(ToolCall(odd, "ReadFile", '{"path": "a"}'),),
        ),
        Message("tool", (TextPart("x = 1"),), tool_call_id=odd),
        Message("assistant", tool_calls=(ToolCall("call_2", "ApplyPatch", PATCH, kind="custom"),)),
        Message("tool", (TextPart("Done"),), tool_call_id="call_2"),
        Message("assistant", (TextPart("Patched."),)),  # the tool loop ended: thinking may go on
        user("and now?"),
        tools=tools,
        **kw,
    )


async def test_fake_accepts_the_adapters_agent_request_and_streams_the_reply(upstream: Any) -> None:
    fake, client = upstream
    fake.replies.append(
        Reply(
            text="Patched.",
            reasoning="Think first.",
            tool_calls=[
                ToolCallSpec("toolu_1", "ReadFile", '{"path": "b.py"}'),
                ToolCallSpec("toolu_2", "ApplyPatch", PATCH, custom=True),
            ],
            prompt_tokens=120,
            cached_tokens=100,
            completion_tokens=9,
        )
    )
    req = cursor_agent_request(stream=True, reasoning_effort="medium")
    resp = await send(client, req)
    assert resp.status == 200, await resp.text()
    assert fake.last.body["thinking"]["budget_tokens"] == 2048
    dec = PROVIDER.open_decoder(req, TARGET)
    events = dec.feed(await resp.read()) + dec.close()
    s = summarise(events)
    assert (s.text, s.reasoning, s.finish) == ("Patched.", "Think first.", "tool_calls")
    assert s.calls == (
        ("toolu_1", "ReadFile", '{"path": "b.py"}'),
        ("toolu_2", "ApplyPatch", PATCH),
    )
    assert s.usage == Usage(120, 9, cached_tokens=100, cache_creation_tokens=0)
    assert not s.errors


async def test_fake_answers_without_stream_as_one_message(upstream: Any) -> None:
    fake, client = upstream
    fake.replies.append(
        Reply(text="Hi there", finish="length", prompt_tokens=5, completion_tokens=2)
    )
    req = chat(user("hi"))
    resp = await send(client, req)
    assert resp.status == 200 and resp.content_type == "application/json"
    s = summarise(PROVIDER.decode_response(await resp.read(), req, TARGET))
    assert (s.text, s.finish, s.usage) == (
        "Hi there",
        "length",
        Usage(5, 2, cached_tokens=0, cache_creation_tokens=0),
    )


async def test_fake_stream_error_arrives_as_an_overloaded_stream_error(upstream: Any) -> None:
    fake, client = upstream
    fake.replies.append(Reply(text="partial", stream_error="Overloaded"))
    resp = await send(client, chat(user("hi"), stream=True))
    s = summarise(decode([await resp.read()]))
    assert s.text == "partial" and s.finish is None
    assert [(e.code, e.status) for e in s.errors] == [("overloaded_error", 502)]


async def test_fake_sends_a_raw_reply_verbatim(upstream: Any) -> None:
    fake, client = upstream
    raw = (DIR / "text-padded.sse").read_bytes()
    fake.replies.append(Reply(raw=raw))
    resp = await send(client, chat(user("hi"), stream=True))
    assert await resp.read() == raw


async def test_fake_status_fault_decodes_to_a_retryable_error(upstream: Any) -> None:
    fake, client = upstream
    fake.faults.status = 529
    fake.faults.body = (
        b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    )
    resp = await send(client, chat(user("hi")))
    err = PROVIDER.decode_error(resp.status, resp.headers, await resp.read())
    assert resp.status == 529 and err.retryable and err.code == "overloaded_error"


def _good_body() -> dict[str, Any]:
    return {"model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


def _with(**changes: Any) -> dict[str, Any]:
    body = _good_body()
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return body


USE = {"type": "tool_use", "id": "toolu_1", "name": "T", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
TOOL = {"name": "T", "input_schema": {"type": "object"}}
BAD_BODIES = {
    "unknown-param": (_with(seed=1), "seed: Extra inputs are not permitted"),
    "missing-max-tokens": (_with(max_tokens=None), "max_tokens: Field required"),
    "function-wrapper-tool": (
        _with(tools=[{"type": "function", "function": {"name": "T", "parameters": {}}}]),
        "Input tag 'function'",
    ),
    "tool-without-input-schema": (_with(tools=[{"name": "T"}]), "input_schema: Field required"),
    "bad-tool-id": (
        _with(tools=[TOOL], messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": [{**USE, "id": "call.1"}]}, {"role": "user", "content": [{**RESULT, "tool_use_id": "call.1"}]}]),
        "String should match pattern",
    ),
    "tool-use-without-result": (
        _with(tools=[TOOL], messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": [USE]}, {"role": "user", "content": "go on"}]),
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
    ),
    "roles-not-alternating": (
        _with(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
        "roles must alternate",
    ),
    "first-message-assistant": (
        _with(messages=[{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]),
        'first message must use the "user" role',
    ),
    "temperature-with-thinking": (
        _with(max_tokens=5000, temperature=0.5, thinking={"type": "enabled", "budget_tokens": 1024}),
        "`temperature` may only be set to 1 when thinking is enabled",
    ),
    "thinking-mid-tool-loop": (
        _with(max_tokens=5000, thinking={"type": "enabled", "budget_tokens": 1024}, tools=[TOOL], messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": [USE]}, {"role": "user", "content": [RESULT]}]),
        "Expected `thinking` or `redacted_thinking`, but found `tool_use`",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_fake_rejects_what_the_api_rejects(upstream: Any, name: str) -> None:
    fake, client = upstream
    body, message = BAD_BODIES[name]
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    resp = await client.post("/v1/messages", data=orjson.dumps(body), headers=headers)
    data = await resp.json()
    assert resp.status == 400 and data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error" and message in data["error"]["message"]
    assert fake.last.body == body, "the request is recorded before it is judged"
    with pytest.raises(Invalid):
        validate(body)


async def test_fake_accepts_the_good_body(upstream: Any) -> None:
    _, client = upstream
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    resp = await client.post("/v1/messages", data=orjson.dumps(_good_body()), headers=headers)
    assert resp.status == 200


async def test_fake_requires_an_api_key(upstream: Any) -> None:
    _, client = upstream
    resp = await client.post(
        "/v1/messages", data=orjson.dumps(_good_body()), headers={"anthropic-version": "2023-06-01"}
    )
    assert resp.status == 401 and (await resp.json())["error"]["type"] == "authentication_error"


async def test_fake_requires_a_version_header(upstream: Any) -> None:
    _, client = upstream
    resp = await client.post(
        "/v1/messages", data=orjson.dumps(_good_body()), headers={"x-api-key": "k"}
    )
    assert resp.status == 400 and "anthropic-version" in (await resp.json())["error"]["message"]


CURSOR_REQUESTS = sorted(CURSOR_REQUEST_DIR.glob("*.json"))


@pytest.mark.parametrize("path", CURSOR_REQUESTS, ids=lambda p: p.name)
def test_cursor_example_requests_translate_to_bodies_the_api_accepts(path: Path) -> None:
    from litecursor.protocol.inbound import parse_request

    body = body_of(parse_request(orjson.loads(path.read_bytes())))
    validate(body)
    assert body["messages"][-1]["role"] == "user"
