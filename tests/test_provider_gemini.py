"""The Gemini adapter: request building, stream and body decoding, errors, and its fake."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from litecursor.errors import (
    UpstreamAuthError,
    UpstreamBadRequestError,
    UpstreamContextWindowError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamRateLimitError,
)
from litecursor.protocol.providers import get_provider
from litecursor.protocol.providers.base import AdapterOptions, RequestDefaults, Target
from litecursor.protocol.providers.gemini import (
    DUMMY_THOUGHT_SIGNATURE,
    GeminiArrayStreamDecoder,
    GeminiProvider,
    GeminiStreamDecoder,
)
from litecursor.protocol.providers.gemini_schema import gemini_schema
from litecursor.protocol.providers.gemini_stream import decode_generate_content
from litecursor.protocol.types import (
    ChatRequest,
    Event,
    Finish,
    ImagePart,
    Message,
    ReasoningDelta,
    ResponseFormat,
    StreamError,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallStart,
    ToolChoice,
    Usage,
)
from tests.fakes.common import FakeUpstream, Reply, ToolCallSpec
from tests.fakes.gemini_upstream import SIGNATURE, Invalid, make_app, validate
from tests.paths import WIRE
from tests.wire import Summary, assert_split_invariant, decode, summarise

DIR = WIRE / "gemini"
PROVIDER = GeminiProvider()
BASE = "https://generativelanguage.googleapis.com/v1beta"
TARGET = Target("gemini", "gemini-2.5-flash", BASE, api_key="AIza-test-key")
PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def chat(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="gemini", messages=messages, **kw)


def body_of(req: ChatRequest, target: Target = TARGET) -> dict[str, Any]:
    return orjson.loads(PROVIDER.build_request(req, target).body)


def sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks)


def feed(body: bytes) -> list[Event]:
    return decode(GeminiStreamDecoder, [body])


def cand(*parts: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, "index": 0}
    if finish:
        c["finishReason"] = finish
    return {"candidates": [c], "responseId": "r1", **extra}


# ---------------------------------------------------------------------------------------------
# Recorded traffic: every file in wire/gemini
# ---------------------------------------------------------------------------------------------


def usage(prompt: int, answer: int, thoughts: int | None = None) -> Usage:
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=answer + (thoughts or 0),
        reasoning_tokens=thoughts,
    )


STREAMS: dict[str, dict[str, Any]] = {
    "function-call-single-chunk.sse": dict(
        calls=(("call_1lpeaMTxIpW1nvgP-O3vwQY_0", "get_capital", '{"country":"France"}'),),
        finish="tool_calls",
        usage=usage(52, 5),
    ),
    "function-call-thought-signature.sse": dict(
        calls=(("call_QUVVadTSNJ6_qtsPvN7J8Q0_0", "get_country", "{}"),),
        finish="tool_calls",
        usage=usage(29, 10, 202),
        signatures=(("EpwICpkIAXLI", "call_QUVVadTSNJ6_qtsPvN7J8Q0_0"),),
    ),
    "text-thought-signature.sse": dict(
        text='There are **3** "r"s in strawberry.\n\nst**r**awbe**rr**y',
        usage=usage(9, 23, 185),
        signatures=(("EqsFCqgFAb4", None),),
    ),
    "text.sse": dict(text="\n".join(str(i) for i in range(1, 31)), usage=usage(18, 80, 35)),
    "thought-parts-then-text.sse": dict(
        text=("This is a great question! Safely crossing", "a driver might not see you."),
        reasoning=(
            "**Clarifying User Goals**\n\n",
            "regardless of specific circumstances or locations.\n\n\n",
        ),
        usage=usage(34, 469, 787),
        signatures=(("CiIB0e2Kb6Sy", None),),
    ),
    "vertex-streamed-function-call-args-parallel.sse": dict(
        calls=(
            ("call_dqHOab6xGLzWodAPkPuViA4_0", "getWeather", '{"location":"Boston"}'),
            ("call_dqHOab6xGLzWodAPkPuViA4_1", "getWeather", '{"location":"San Francisco"}'),
        ),
        finish="tool_calls",
        usage=usage(26, 23, 132),
        signatures=(("CiMBjz1rX25K", "call_dqHOab6xGLzWodAPkPuViA4_0"),),
    ),
}
BODIES: dict[str, dict[str, Any]] = {
    "finish-max-tokens-no-parts.json": dict(finish="length", usage=usage(15, 0, 2)),
    "finish-max-tokens.json": dict(
        text="The capital of France is", finish="length", usage=usage(15, 5)
    ),
    "finish-safety.json": dict(finish="content_filter", usage=usage(14, 0)),
    "function-call.json": dict(
        calls=(("call_m36LaZGyCLz1xs0PtNSB-QU_0", "weather", '{"location":"San Francisco"}'),),
        finish="tool_calls",
        usage=usage(29, 15, 893),
        signatures=(("EskgCsYgAb4+", "call_m36LaZGyCLz1xs0PtNSB-QU_0"),),
    ),
    "function-calls-parallel-3.json": dict(
        calls=tuple((f"call_wOd8abGuO5rgz7IP5tLEGA_{i}", "generate_topic", "{}") for i in range(3)),
        finish="tool_calls",
        usage=usage(83, 30, 190),
        signatures=(("Es8FCswFAXLI", "call_wOd8abGuO5rgz7IP5tLEGA_0"),),
    ),
    "prompt-blocked-model-armor.json": dict(finish="content_filter", usage=None),
    "text.json": dict(
        text="There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.",
        usage=usage(9, 28, 244),
        signatures=(("EtoFCtcFAb4+", None),),
    ),
    "stream-json-array-thought-then-function-call.json": dict(
        reasoning=("**Generating Pelican Names**\n\n", "It's a quick plan.\n\n\n"),
        calls=(("call_OYpyaqycKd2V_uMP65TsgA0_0", "pelican_name_generator", "{}"),),
        finish="tool_calls",
        usage=usage(32, 12, 42),
        signatures=(("ClgBEU0yD8z3", "call_OYpyaqycKd2V_uMP65TsgA0_0"),),
    ),
}
CHUNK_FILES = [
    "text-thought-signature.chunks.txt",
    "vertex-streamed-function-call-args-parallel.chunks.txt",
]
ERRORS = {
    "error-400-invalid-argument.json": (400, UpstreamBadRequestError, "INVALID_ARGUMENT"),
    "error-404-not-found.json": (404, UpstreamNotFoundError, "NOT_FOUND"),
    "error-429-resource-exhausted-stub.json": (429, UpstreamRateLimitError, "RESOURCE_EXHAUSTED"),
    "error-400-input-token-count.json": (
        400,
        UpstreamContextWindowError,
        "context_length_exceeded",
    ),
}


def check(s: Summary, want: dict[str, Any]) -> None:
    for field in ("text", "reasoning"):
        expected, got = want.get(field, ""), getattr(s, field)
        if isinstance(expected, tuple):
            assert got.startswith(expected[0]) and got.endswith(expected[1])
        else:
            assert got == expected
    assert s.calls == want.get("calls", ())
    assert s.finish == want.get("finish", "stop")
    assert s.usage == want["usage"]
    signatures = want.get("signatures", ())
    assert len(s.items) == len(signatures)
    for item, (prefix, call_id) in zip(s.items, signatures, strict=True):
        assert item["provider"] == "gemini" and item["type"] == "thought_signature"
        assert item["signature"].startswith(prefix)
        assert item.get("tool_call_id") == call_id
    assert not s.errors


def test_every_wire_file_is_covered() -> None:
    covered = {*STREAMS, *BODIES, *CHUNK_FILES, *ERRORS}
    assert {p.name for p in DIR.iterdir()} == covered


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_sse_stream_decodes_the_same_at_every_split(name: str) -> None:
    events = assert_split_invariant(GeminiStreamDecoder, (DIR / name).read_bytes())
    check(summarise(events), STREAMS[name])


def test_thought_parts_arrive_as_separate_reasoning_deltas() -> None:
    events = feed((DIR / "thought-parts-then-text.sse").read_bytes())
    assert sum(isinstance(e, ReasoningDelta) for e in events) == 4
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(not isinstance(e, ReasoningDelta) for e in events[first_text:])


@pytest.mark.parametrize("name", sorted(BODIES))
def test_generate_content_body_decodes(name: str) -> None:
    events = PROVIDER.decode_body((DIR / name).read_bytes(), chat(user("hi")), TARGET)
    check(summarise(events), BODIES[name])


def test_json_array_stream_decodes_the_same_at_every_split() -> None:
    name = "stream-json-array-thought-then-function-call.json"
    body = (DIR / name).read_bytes()
    events = assert_split_invariant(GeminiArrayStreamDecoder, body)
    check(summarise(events), BODIES[name])
    assert events == decode_generate_content(orjson.loads(body))


@pytest.mark.parametrize("name", CHUNK_FILES)
def test_chunk_lines_decode_like_their_sse_neighbour(name: str) -> None:
    lines = [orjson.loads(x) for x in (DIR / name).read_bytes().splitlines() if x.strip()]
    from_sse = feed((DIR / name.replace(".chunks.txt", ".sse")).read_bytes())
    assert decode_generate_content(lines) == from_sse
    check(summarise(from_sse), STREAMS[name.replace(".chunks.txt", ".sse")])


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_body_maps_to_client_error(name: str) -> None:
    status, cls, code = ERRORS[name]
    body = (DIR / name).read_bytes()
    err = PROVIDER.decode_error(status, {}, body)
    assert type(err) is cls
    assert err.code == code
    if cls is UpstreamContextWindowError:  # OpenAI's words, Gemini's numbers
        assert "maximum context length is 131072 tokens" in err.message
        assert "resulted in 132478 tokens" in err.message
    else:
        assert orjson.loads(body)["error"]["message"] in err.message


def test_retry_info_delay_becomes_retry_after() -> None:
    err = PROVIDER.decode_error(
        429, {}, (DIR / "error-429-resource-exhausted-stub.json").read_bytes()
    )
    assert isinstance(err, UpstreamRateLimitError)
    assert err.retry_after == pytest.approx(34.4)
    assert err.headers["retry-after"] == "35"


def test_retry_after_header_wins_over_retry_info() -> None:
    body = (DIR / "error-429-resource-exhausted-stub.json").read_bytes()
    err = PROVIDER.decode_error(429, {"retry-after": "3"}, body)
    assert isinstance(err, UpstreamRateLimitError) and err.retry_after == 3


def test_invalid_api_key_is_the_gateways_credentials_problem() -> None:
    body = orjson.dumps({"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                   "message": "API key not valid. Please pass a valid API key.",
                                   "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                                "reason": "API_KEY_INVALID"}]}})  # fmt: skip
    assert isinstance(PROVIDER.decode_error(400, {}, body), UpstreamAuthError)


def test_error_wrapped_in_a_list_and_non_json_errors_are_read() -> None:
    listed = orjson.dumps(
        [{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]
    )
    err = PROVIDER.decode_error(503, {}, listed)
    assert isinstance(err, UpstreamError) and "The model is overloaded." in err.message
    assert "Bad Gateway" in PROVIDER.decode_error(502, {}, b"<html>Bad Gateway</html>").message


# ---------------------------------------------------------------------------------------------
# Stream behaviour beyond the recordings
# ---------------------------------------------------------------------------------------------


def test_stream_without_finish_reason_is_truncated() -> None:
    events = feed(sse(cand({"text": "Hel"})))
    assert events[0] == TextDelta("Hel")
    assert isinstance(events[-1], StreamError) and events[-1].code == "upstream_stream_truncated"


def test_stream_cut_mid_chunk_is_truncated() -> None:
    body = sse(cand({"text": "Hel"}), cand({"text": "lo"}, finish="STOP"))
    events = feed(body[:-30])
    assert summarise(events).text == "Hel"
    assert events[-1].code == "upstream_stream_truncated"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
     ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
     ("SPII", "content_filter"), ("IMAGE_SAFETY", "content_filter"), ("STOP", "stop"),
     ("SOMETHING_NEW", "stop")],
)  # fmt: skip
def test_finish_reason_maps(reason: str, finish: str) -> None:
    assert summarise(feed(sse(cand({"text": "x"}, finish=reason)))).finish == finish


def test_malformed_function_call_ends_with_an_error_carrying_the_finish_message() -> None:
    chunk = cand(finish="MALFORMED_FUNCTION_CALL")
    chunk["candidates"][0]["finishMessage"] = "Malformed function call: x("
    chunk["usageMetadata"] = {"promptTokenCount": 5, "candidatesTokenCount": 0}
    events = feed(sse(chunk))
    s = summarise(events)
    assert s.finish is None and s.usage == usage(5, 0)
    assert [e.message for e in s.errors] == [
        "gemini stopped with finishReason MALFORMED_FUNCTION_CALL: Malformed function call: x("
    ]
    assert s.errors[0].code == "upstream_finish_malformed_function_call"


def test_blocked_prompt_in_a_stream_is_a_content_filter_finish() -> None:
    events = feed(
        sse({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7}})
    )
    assert events == [Finish("content_filter"), usage(7, 0)]


def test_error_chunk_mid_stream_becomes_a_stream_error() -> None:
    err = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    events = feed(sse(cand({"text": "Hi"}), err))
    s = summarise(events)
    assert s.text == "Hi" and s.finish is None and len(s.errors) == 1
    assert "The model is overloaded." in s.errors[0].message
    assert s.errors[0].status == 502 and s.errors[0].code == "UNAVAILABLE"


def test_unreadable_chunk_is_a_protocol_error() -> None:
    events = feed(b"data: {not json\r\n\r\n" + sse(cand({"text": "x"}, finish="STOP")))
    assert events[0].code == "upstream_protocol_error"


def test_usage_is_emitted_once_with_the_last_counts() -> None:
    chunks = [cand({"text": "a"}), cand({"text": "b"}, finish="STOP")]
    chunks[0]["usageMetadata"] = {"promptTokenCount": 4, "candidatesTokenCount": 1}
    chunks[1]["usageMetadata"] = {"promptTokenCount": 4, "candidatesTokenCount": 2,
                                  "thoughtsTokenCount": 3, "cachedContentTokenCount": 2}  # fmt: skip
    events = feed(sse(*chunks))
    assert [e for e in events if isinstance(e, Usage)] == [
        Usage(prompt_tokens=4, completion_tokens=5, cached_tokens=2, reasoning_tokens=3)
    ]
    assert isinstance(events[-2], Finish) and isinstance(events[-1], Usage)


def test_streamed_partial_args_build_nested_arguments() -> None:
    def fc(**kw: Any) -> dict[str, Any]:
        return {"functionCall": kw}

    body = sse(
        cand(fc(name="edit", willContinue=True)),
        cand(fc(partialArgs=[{"jsonPath": "$.path", "stringValue": "a/b", "willContinue": True}],
                willContinue=True)),
        cand(fc(partialArgs=[{"jsonPath": "$.path", "stringValue": ".py"},
                             {"jsonPath": "$.opts.count", "numberValue": 3},
                             {"jsonPath": "$.opts.dry", "boolValue": False},
                             {"jsonPath": "$.lines[1]", "stringValue": "two"},
                             {"jsonPath": "$['odd key']", "nullValue": None}], willContinue=True)),
        cand(fc(), finish="STOP"),
    )  # fmt: skip
    s = summarise(assert_split_invariant(GeminiStreamDecoder, body))
    assert s.finish == "tool_calls"
    ((call_id, name, args),) = s.calls
    assert (call_id, name) == ("call_r1_0", "edit")
    assert orjson.loads(args) == {
        "path": "a/b.py",
        "opts": {"count": 3, "dry": False},
        "lines": [None, "two"],
        "odd key": None,
    }


def test_upstream_function_call_id_is_kept() -> None:
    s = summarise(
        feed(
            sse(
                cand({"functionCall": {"id": "fc-9", "name": "f", "args": {"a": 1}}}, finish="STOP")
            )
        )
    )
    assert s.calls == (("fc-9", "f", '{"a":1}'),)


def test_json_array_decoder_tracks_braces_and_escapes_inside_strings() -> None:
    tricky = 'a {b} "c" \\ [d] ,\r\n'
    body = b"[" + orjson.dumps(cand({"text": tricky}), option=orjson.OPT_INDENT_2) + b"\n,\r\n"
    body += orjson.dumps(cand({"text": "}"}, finish="STOP"), option=orjson.OPT_INDENT_2) + b"\n]"
    s = summarise(assert_split_invariant(GeminiArrayStreamDecoder, body))
    assert s.text == tricky + "}" and s.finish == "stop"


def test_json_array_decoder_reports_a_truncated_array() -> None:
    body = b"[" + orjson.dumps(cand({"text": "x"})) + b'\n,\r\n{"candidates": [{'
    events = decode(GeminiArrayStreamDecoder, [body])
    assert events[0] == TextDelta("x") and events[-1].code == "upstream_stream_truncated"


def test_custom_tool_call_is_unwrapped_to_raw_text() -> None:
    req = chat(user("patch"), tools=(Tool("ApplyPatch", "Apply a patch", kind="custom"),))
    dec = PROVIDER.open_decoder(req, TARGET)
    body = sse(
        cand({"functionCall": {"name": "ApplyPatch", "args": {"input": PATCH}}}, finish="STOP")
    )
    events = dec.feed(body) + dec.close()
    start = next(e for e in events if isinstance(e, ToolCallStart))
    assert start.kind == "custom"
    assert summarise(events).calls == ((start.id, "ApplyPatch", PATCH),)


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


def test_streaming_request_url_headers_and_no_key_in_url() -> None:
    target = Target(
        "gemini", "gemini-2.5-pro", BASE, api_key="AIza-secret", headers={"x-extra": "1"}
    )
    http = PROVIDER.build_request(chat(user("hi"), stream=True), target)
    assert http.method == "POST"
    assert http.url == f"{BASE}/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert http.headers["x-goog-api-key"] == "AIza-secret"
    assert http.headers["x-extra"] == "1" and http.headers["content-type"] == "application/json"
    assert "AIza-secret" not in http.url


def test_non_streaming_request_uses_generate_content() -> None:
    http = PROVIDER.build_request(chat(user("hi")), TARGET)
    assert http.url == f"{BASE}/models/gemini-2.5-flash:generateContent"


def test_adapter_is_registered_as_gemini() -> None:
    assert isinstance(get_provider("gemini"), GeminiProvider)


def test_minimal_body_has_only_contents() -> None:
    assert body_of(chat(user("hi"))) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_system_text_goes_to_system_instruction_in_order() -> None:
    req = chat(
        Message("system", (TextPart("one"),)), user("hi"), Message("system", (TextPart("two"),))
    )
    body = body_of(req)
    assert body["systemInstruction"] == {"parts": [{"text": "one"}, {"text": "two"}]}
    assert [c["role"] for c in body["contents"]] == ["user"]


def test_consecutive_turns_of_one_role_are_merged() -> None:
    body = body_of(chat(user("a"), user("b"), Message("assistant", (TextPart("c"),)), user("d")))
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}]},
        {"role": "user", "parts": [{"text": "d"}]},
    ]


def test_images_become_inline_data_or_a_text_note() -> None:
    msg = Message("user", (TextPart("look"), ImagePart("data:image/png;base64,iVBORw0K"),
                           ImagePart("data:image/svg+xml,%3Csvg%2F%3E"), ImagePart("https://x.test/a.png")))  # fmt: skip
    parts = body_of(chat(msg))["contents"][0]["parts"]
    assert parts == [
        {"text": "look"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
        {"inlineData": {"mimeType": "image/svg+xml", "data": "PHN2Zy8+"}},
        {"text": "[image: https://x.test/a.png]"},
    ]


def history(*extra: Message, calls: tuple[ToolCall, ...] | None = None, **kw: Any) -> ChatRequest:
    calls = calls or (
        ToolCall("call_a", "grep", '{"pattern":"foo"}'),
        ToolCall("call_b", "read_file", '{"path":"x"}'),
    )
    return chat(
        user("count"), Message("assistant", (TextPart("Looking."),), tool_calls=calls), *extra, **kw
    )


def test_assistant_tool_calls_become_function_calls_with_a_dummy_signature_on_the_first() -> None:
    model = body_of(history())["contents"][1]
    assert model == {
        "role": "model",
        "parts": [
            {"text": "Looking."},
            {"functionCall": {"name": "grep", "args": {"pattern": "foo"}},
             "thoughtSignature": DUMMY_THOUGHT_SIGNATURE},
            {"functionCall": {"name": "read_file", "args": {"path": "x"}}},
        ],
    }  # fmt: skip


def test_real_signature_from_reasoning_items_is_replayed() -> None:
    item = {
        "provider": "gemini",
        "type": "thought_signature",
        "signature": "SIG",
        "tool_call_id": "c1",
    }
    msg = Message("assistant", tool_calls=(ToolCall("c1", "f", "{}"),), reasoning=(item,))
    parts = body_of(chat(user("x"), msg))["contents"][1]["parts"]
    assert parts == [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "SIG"}]


def test_invalid_or_non_object_call_arguments_do_not_crash() -> None:
    calls = (ToolCall("c1", "f", "{broken"), ToolCall("c2", "g", "[1, 2]"), ToolCall("c3", "h", ""))
    parts = body_of(history(calls=calls))["contents"][1]["parts"][1:]
    assert [p["functionCall"]["args"] for p in parts] == [
        {"arguments": "{broken"},
        {"value": [1, 2]},
        {},
    ]


def test_custom_tool_call_in_history_is_wrapped() -> None:
    calls = (ToolCall("c1", "ApplyPatch", PATCH, kind="custom"),)
    parts = body_of(history(calls=calls))["contents"][1]["parts"]
    assert parts[1]["functionCall"] == {"name": "ApplyPatch", "args": {"input": PATCH}}


def test_tool_results_become_function_responses_named_from_the_call_id() -> None:
    req = history(
        Message("tool", (TextPart('{"count": 3}'),), tool_call_id="call_a"),
        Message("tool", (TextPart("file text"),), tool_call_id="call_b", name="read_file"),
        user("thanks"),
    )
    contents = body_of(req)["contents"]
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "grep", "response": {"count": 3}}},
            {"functionResponse": {"name": "read_file", "response": {"output": "file text"}}},
            {"text": "thanks"},
        ],
    }


def test_tool_result_for_an_unknown_call_becomes_text() -> None:
    parts = body_of(chat(user("x"), Message("tool", (TextPart("42"),), tool_call_id="nope")))[
        "contents"
    ][0]["parts"]
    assert parts == [{"text": "x"}, {"text": "Result of tool call nope:\n42"}]


def test_same_call_id_in_two_turns_resolves_to_the_latest_call() -> None:
    req = chat(
        user("a"),
        Message("assistant", tool_calls=(ToolCall("call_0", "first", "{}"),)),
        Message("tool", (TextPart("1"),), tool_call_id="call_0"),
        Message("assistant", tool_calls=(ToolCall("call_0", "second", "{}"),)),
        Message("tool", (TextPart("2"),), tool_call_id="call_0"),
    )
    contents = body_of(req)["contents"]
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "first"
    assert contents[4]["parts"][0]["functionResponse"]["name"] == "second"


def test_tools_become_function_declarations_with_clean_schemas() -> None:
    params = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "path": {"type": "string", "format": "uri", "examples": ["a"]},
            "when": {"type": "string", "format": "date-time"},
            "limit": {"type": ["integer", "null"], "default": 10, "exclusiveMinimum": 0},
            "tags": {"type": "array", "items": {"type": "string", "const": "x"}, "uniqueItems": True},
            "meta": {"type": "object", "patternProperties": {"^x": {"type": "string"}},
                     "properties": {"k": {"type": "string"}}, "additionalProperties": {"type": "string"}},
        },
        "required": ["path", "ghost"],
        "strict": True,
    }  # fmt: skip
    req = chat(user("x"), tools=(Tool("ReadFile", "Read a file", params, strict=True), Tool("Now")))
    assert body_of(req)["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "ReadFile",
                    "description": "Read a file",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "path": {"type": "string"},
                            "when": {"type": "string", "format": "date-time"},
                            "limit": {"type": "integer", "nullable": True, "default": 10},
                            "tags": {"type": "array", "items": {"type": "string", "enum": ["x"]}},
                            "meta": {"type": "object", "properties": {"k": {"type": "string"}}},
                        },
                        "required": ["path"],
                    },
                },
                {"name": "Now"},
            ]
        }
    ]


def test_refs_are_inlined_and_cycles_cut() -> None:
    schema = {
        "type": "object",
        "$defs": {"Node": {"type": "object", "properties": {"name": {"type": "string"},
                                                             "child": {"$ref": "#/$defs/Node"}}}},
        "properties": {"root": {"$ref": "#/$defs/Node", "description": "the root"}},
    }  # fmt: skip
    out = gemini_schema(schema)
    root = out["properties"]["root"]
    assert root["description"] == "the root" and root["properties"]["name"] == {"type": "string"}
    depth, node = 0, root
    while "properties" in node:
        node, depth = node["properties"]["child"], depth + 1
    assert node == {"type": "object"} and 3 < depth < 12
    assert "$ref" not in orjson.dumps(out).decode() and "$defs" not in orjson.dumps(out).decode()


def test_union_keywords_become_any_of_and_nullable() -> None:
    schema = {
        "properties": {
            "a": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "b": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "c": {"type": ["string", "number"]},
            "d": {"allOf": [{"properties": {"x": {"type": "string"}}, "required": ["x"]},
                            {"properties": {"y": {"type": "integer"}}}]},
            "e": {"enum": [1, 2, None]},
        }
    }  # fmt: skip
    props = gemini_schema(schema)["properties"]
    assert props["a"] == {"type": "string", "nullable": True}
    assert props["b"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert props["c"] == {"anyOf": [{"type": "string"}, {"type": "number"}]}
    assert props["d"] == {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "integer"}},
                          "required": ["x"]}  # fmt: skip
    assert props["e"] == {"description": "Allowed values: 1, 2.", "nullable": True}


def test_custom_tool_is_a_function_with_one_string_parameter() -> None:
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
    req = chat(
        user("x"), tools=(Tool("ApplyPatch", "Apply a patch.", kind="custom", format=grammar),)
    )
    (decl,) = body_of(req)["tools"][0]["functionDeclarations"]
    assert decl["name"] == "ApplyPatch"
    assert decl["parameters"]["properties"]["input"]["type"] == "string"
    assert decl["parameters"]["required"] == ["input"]
    assert "start: /.+/" in decl["description"] and "Apply a patch." in decl["description"]


@pytest.mark.parametrize(
    ("choice", "config"),
    [(ToolChoice("auto"), {"mode": "AUTO"}), (ToolChoice("none"), {"mode": "NONE"}),
     (ToolChoice("required"), {"mode": "ANY"}),
     (ToolChoice("required", "grep"), {"mode": "ANY", "allowedFunctionNames": ["grep"]})],
)  # fmt: skip
def test_tool_choice_becomes_function_calling_config(
    choice: ToolChoice, config: dict[str, Any]
) -> None:
    body = body_of(chat(user("x"), tools=(Tool("grep", parameters={"properties": {"p": {"type": "string"}}}),),
                        tool_choice=choice))  # fmt: skip
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_generation_config_carries_only_accepted_fields() -> None:
    req = chat(user("x"), max_tokens=100, temperature=0.2, top_p=0.9, seed=7,
               stop=("a", "b", "c", "d", "e", "f"), presence_penalty=0.5, frequency_penalty=0.1,
               parallel_tool_calls=True, user="u", metadata={"k": "v"})  # fmt: skip
    body = body_of(req)
    assert set(body) == {"contents", "generationConfig"}
    assert body["generationConfig"] == {
        "maxOutputTokens": 100, "temperature": 0.2, "topP": 0.9, "seed": 7,
        "stopSequences": ["a", "b", "c", "d", "e"],
    }  # fmt: skip


def test_target_defaults_fill_unset_parameters() -> None:
    target = Target(
        "gemini",
        "gemini-2.5-flash",
        BASE,
        defaults=RequestDefaults(max_tokens=50, temperature=1.0, top_k=40),
    )
    gen = body_of(chat(user("x"), temperature=0.0), target)["generationConfig"]
    assert gen == {"maxOutputTokens": 50, "temperature": 0.0, "topK": 40}


def test_json_formats_set_response_mime_type_and_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "additionalProperties": False,
    }
    gen = body_of(
        chat(user("x"), response_format=ResponseFormat("json_schema", "r", schema, True))
    )["generationConfig"]
    assert gen == {"responseMimeType": "application/json",
                   "responseSchema": {"type": "object", "properties": {"n": {"type": "integer"}}}}  # fmt: skip
    gen = body_of(chat(user("x"), response_format=ResponseFormat("json_object")))[
        "generationConfig"
    ]
    assert gen == {"responseMimeType": "application/json"}


@pytest.mark.parametrize(
    ("effort", "model", "budget", "include"),
    [("none", "gemini-2.5-flash", 0, False), ("none", "gemini-2.5-pro", 128, False),
     ("minimal", "gemini-2.5-flash", 512, True), ("low", "gemini-2.5-flash", 1024, True),
     ("medium", "gemini-3-pro-preview", 8192, True), ("high", "gemini-2.5-flash", 24576, True),
     ("xhigh", "gemini-2.5-flash", 24576, True), ("xhigh", "gemini-2.5-pro", 32768, True),
     ("auto", "gemini-2.5-flash", -1, True)],
)  # fmt: skip
def test_reasoning_effort_becomes_a_thinking_budget(
    effort: str, model: str, budget: int, include: bool
) -> None:
    target = Target("gemini", model, BASE)
    gen = body_of(chat(user("x"), reasoning_effort=effort), target)["generationConfig"]
    assert gen == {"thinkingConfig": {"thinkingBudget": budget, "includeThoughts": include}}


def test_no_effort_sends_no_thinking_config_and_options_override() -> None:
    assert "generationConfig" not in body_of(chat(user("x")))
    target = Target(
        "gemini",
        "gemini-2.5-flash",
        BASE,
        options=AdapterOptions(thinking_budget=300),
    )
    gen = body_of(chat(user("x"), reasoning_effort="high"), target)["generationConfig"]
    assert gen["thinkingConfig"] == {"thinkingBudget": 300, "includeThoughts": True}
    off = replace(target, options=AdapterOptions(thinking_budget=0))
    gen = body_of(chat(user("x"), reasoning_effort="high"), off)["generationConfig"]
    assert gen["thinkingConfig"] == {"thinkingBudget": 0, "includeThoughts": False}


@pytest.mark.parametrize("model", ["gemini-2.0-flash", "gemini-1.5-pro"])
def test_models_that_cannot_think_get_no_thinking_config(model: str) -> None:
    target = Target("gemini", model, BASE)
    assert "generationConfig" not in body_of(chat(user("x"), reasoning_effort="high"), target)


def test_context_overflow_maps_to_context_window_error() -> None:
    message = (
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    )
    body = orjson.dumps({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})
    err = PROVIDER.decode_error(400, {}, body)
    assert isinstance(err, UpstreamContextWindowError) and err.status == 400


def test_built_bodies_pass_the_fakes_validation() -> None:
    req = history(
        Message("tool", (TextPart("3"),), tool_call_id="call_a"),
        Message("tool", (TextPart("x"),), tool_call_id="call_b"),
        tools=(Tool("grep", parameters={"type": "object", "additionalProperties": False,
                                        "properties": {"pattern": {"type": ["string", "null"]}}}),
               Tool("ApplyPatch", kind="custom"), Tool("Now", parameters={"type": "object", "properties": {}})),
        tool_choice=ToolChoice("auto"), reasoning_effort="medium", stop=("x",),
        response_format=ResponseFormat("json_object"),
    )  # fmt: skip
    validate(body_of(req), "gemini-3-pro-preview")


def history_kw(**kw: Any) -> ChatRequest:
    return chat(user("x"), **kw)


# ---------------------------------------------------------------------------------------------
# The fake, over loopback
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def gemini(aiohttp_client: Any) -> tuple[Any, FakeUpstream]:
    fake = FakeUpstream()
    client = await aiohttp_client(make_app(fake, api_key="AIza-test-key"))
    return client, fake


async def send(
    client: Any, req: ChatRequest, target: Target = TARGET, *, url: str | None = None
) -> tuple[int, bytes]:
    target = Target(
        target.provider, target.model, "/v1beta", api_key=target.api_key, options=target.options
    )
    http = PROVIDER.build_request(req, target)
    resp = await client.post(url or http.url, headers=dict(http.headers), data=http.body)
    return resp.status, await resp.read()


REPLY = Reply(
    text="Two calls.",
    reasoning="Thinking about it.",
    tool_calls=[ToolCallSpec("x", "grep", '{"pattern": "foo"}'), ToolCallSpec("y", "ls", "{}")],
    prompt_tokens=20,
    completion_tokens=30,
    reasoning_tokens=12,
    cached_tokens=4,
)
WANT = Usage(prompt_tokens=20, completion_tokens=30, cached_tokens=4, reasoning_tokens=12)


async def test_fake_accepts_the_adapters_stream_request_and_renders_sse(gemini: Any) -> None:
    client, fake = gemini
    fake.replies.append(REPLY)
    status, body = await send(client, history(Message("tool", (TextPart("1"),), tool_call_id="call_a"),
                                              stream=True, reasoning_effort="low",
                                              tools=(Tool("grep", parameters={"type": "object", "properties": {"pattern": {"type": "string"}}}),)))  # fmt: skip
    assert status == 200, body
    assert (
        fake.last.query == {"alt": "sse"} and fake.last.headers["x-goog-api-key"] == "AIza-test-key"
    )
    assert b"\r\n\r\n" in body and b"\n\n" not in body.replace(b"\r\n", b"")
    s = summarise(assert_split_invariant(GeminiStreamDecoder, body))
    assert (s.text, s.reasoning, s.finish, s.usage) == (
        "Two calls.",
        "Thinking about it.",
        "tool_calls",
        WANT,
    )
    assert [(n, orjson.loads(a)) for _, n, a in s.calls] == [
        ("grep", {"pattern": "foo"}),
        ("ls", {}),
    ]
    assert s.items[0]["signature"] == SIGNATURE


async def test_fake_renders_a_json_array_without_alt_sse(gemini: Any) -> None:
    client, fake = gemini
    fake.replies.append(REPLY)
    url = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    status, body = await send(client, history_kw(stream=True), url=url)
    assert status == 200 and body.startswith(b"[{") and b"\n,\r\n" in body and body.endswith(b"\n]")
    s = summarise(assert_split_invariant(GeminiArrayStreamDecoder, body))
    assert (s.text, s.finish, s.usage) == ("Two calls.", "tool_calls", WANT)


async def test_fake_generate_content_body_decodes(gemini: Any) -> None:
    client, fake = gemini
    fake.replies.append(REPLY)
    status, body = await send(client, history_kw())
    assert status == 200
    s = summarise(PROVIDER.decode_body(body, history_kw(), TARGET))
    assert (s.text, s.reasoning, s.finish, s.usage, len(s.calls)) == (
        "Two calls.",
        "Thinking about it.",
        "tool_calls",
        WANT,
        2,
    )


async def test_fake_stream_error_ends_the_stream_with_an_error_chunk(gemini: Any) -> None:
    client, fake = gemini
    fake.replies.append(Reply(text="partial", stream_error="Internal error encountered."))
    status, body = await send(client, history_kw(stream=True))
    s = summarise(feed(body))
    assert status == 200 and s.text == "partial" and s.finish is None
    assert [e.message for e in s.errors] == ["gemini error (500): Internal error encountered."]


async def test_fake_sends_raw_replies_verbatim(gemini: Any) -> None:
    client, fake = gemini
    raw = (DIR / "text.sse").read_bytes()
    fake.replies.append(Reply(raw=raw))
    status, body = await send(client, history_kw(stream=True))
    assert status == 200 and body == raw


async def test_fake_status_fault_decodes_to_rate_limit(gemini: Any) -> None:
    client, fake = gemini
    fake.faults.status, fake.faults.body = (
        429,
        (DIR / "error-429-resource-exhausted-stub.json").read_bytes(),
    )
    status, body = await send(client, history_kw(stream=True))
    err = PROVIDER.decode_error(status, {}, body)
    assert isinstance(err, UpstreamRateLimitError) and err.retry_after == pytest.approx(34.4)


async def test_fake_rejects_a_missing_key_with_403(gemini: Any) -> None:
    client, fake = gemini
    status, body = await send(client, history_kw(), Target("gemini", "gemini-2.5-flash", BASE))
    assert status == 403 and orjson.loads(body)["error"]["status"] == "PERMISSION_DENIED"
    assert len(fake.requests) == 1
    assert isinstance(PROVIDER.decode_error(status, {}, body), UpstreamAuthError)


async def test_fake_rejects_a_wrong_key_as_api_key_invalid(gemini: Any) -> None:
    client, _ = gemini
    status, body = await send(
        client, history_kw(), Target("gemini", "gemini-2.5-flash", BASE, api_key="bad")
    )
    assert status == 400
    assert orjson.loads(body)["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert isinstance(PROVIDER.decode_error(status, {}, body), UpstreamAuthError)


async def post_raw(
    client: Any, body: dict[str, Any], model: str = "gemini-2.5-flash"
) -> dict[str, Any]:
    resp = await client.post(f"/v1beta/models/{model}:generateContent",
                             headers={"x-goog-api-key": "AIza-test-key"}, data=orjson.dumps(body))  # fmt: skip
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["status"] == "INVALID_ARGUMENT" and err["code"] == 400
    return err


USER = {"role": "user", "parts": [{"text": "hi"}]}


async def test_fake_rejects_unknown_fields_like_the_real_api(gemini: Any) -> None:
    client, fake = gemini
    err = await post_raw(client, {"contents": [USER], "foo": 1})
    assert err["message"] == 'Invalid JSON payload received. Unknown name "foo": Cannot find field.'
    assert fake.last.body == {"contents": [USER], "foo": 1}


async def test_fake_rejects_schema_keywords_gemini_does_not_know(gemini: Any) -> None:
    client, _ = gemini
    decl = {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}},
                                        "additionalProperties": False}}  # fmt: skip
    err = await post_raw(client, {"contents": [USER], "tools": [{"functionDeclarations": [decl]}]})
    assert err["message"] == (
        'Invalid JSON payload received. Unknown name "additionalProperties" at '
        "'tools[0].function_declarations[0].parameters': Cannot find field."
    )


async def test_fake_rejects_a_nameless_function_response(gemini: Any) -> None:
    client, _ = gemini
    turn = {"role": "user", "parts": [{"functionResponse": {"response": {"output": "1"}}}]}
    err = await post_raw(client, {"contents": [USER, turn]})
    assert "function_response.name: Name cannot be empty" in err["message"]


async def test_fake_rejects_roles_other_than_user_and_model(gemini: Any) -> None:
    client, _ = gemini
    err = await post_raw(client, {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})
    assert err["message"] == "Please use a valid role: user, model."


async def test_fake_rejects_an_empty_object_parameters_schema(gemini: Any) -> None:
    client, _ = gemini
    decl = {"name": "f", "parameters": {"type": "object", "properties": {}}}
    err = await post_raw(client, {"contents": [USER], "tools": [{"functionDeclarations": [decl]}]})
    assert "should be non-empty for OBJECT type" in err["message"]


async def test_fake_requires_thought_signatures_for_gemini_3(gemini: Any) -> None:
    client, _ = gemini
    call = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
    err = await post_raw(client, {"contents": [USER, call]}, model="gemini-3-pro-preview")
    assert "missing a `thought_signature`" in err["message"]
    status, _ = await send(client, history(Message("tool", (TextPart("1"),), tool_call_id="call_a")),
                           Target("gemini", "gemini-3-pro-preview", BASE, api_key="AIza-test-key"))  # fmt: skip
    assert status == 200


def test_fake_validation_accepts_snake_case_field_names() -> None:
    validate({"contents": [USER], "system_instruction": {"parts": [{"text": "s"}]},
              "generation_config": {"max_output_tokens": 5}}, "gemini-2.5-flash")  # fmt: skip
    with pytest.raises(Invalid):
        validate({"contents": [USER], "generation_config": {"max_tokens": 5}}, "gemini-2.5-flash")
