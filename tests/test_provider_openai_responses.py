"""The OpenAI Responses adapter: the request it builds, and how it reads streams, bodies and errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from yarl import URL

from litecursor.errors import (
    UpstreamBadRequestError,
    UpstreamContextWindowError,
    UpstreamError,
    UpstreamRateLimitError,
)
from litecursor.protocol.inbound import parse_request
from litecursor.protocol.providers import HttpRequest, RequestDefaults, Target
from litecursor.protocol.providers.base import short_call_id
from litecursor.protocol.providers.openai_responses import OpenAIResponsesProvider
from litecursor.protocol.providers.openai_responses_stream import ResponsesStreamDecoder
from litecursor.protocol.types import (
    ChatRequest,
    Event,
    Finish,
    ImagePart,
    Message,
    ReasoningDelta,
    ReasoningItem,
    RefusalDelta,
    ResponseFormat,
    StreamError,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    Usage,
)
from tests.fakes import openai_responses_upstream
from tests.fakes.common import FakeUpstream, Reply, ToolCallSpec
from tests.paths import CURSOR_REQUESTS, WIRE

P = OpenAIResponsesProvider()
RESP = WIRE / "openai-responses"
LONG_ID = "call_" + "x" * 70 + "\nfc_0123"  # Cursor composites: over 64 chars, with a newline


def target(**kw: Any) -> Target:
    base: dict[str, Any] = {
        "provider": "openai", "model": "gpt-5", "api_base": "https://api.openai.com/v1",
        "api_key": "sk-test",
    }  # fmt: skip
    base.update(kw)
    return Target(**base)


def user(text: str) -> Message:
    return Message("user", (TextPart(text),))


def request(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=messages or (user("hi"),), **kw)


def body_of(req: ChatRequest, tgt: Target | None = None) -> dict[str, Any]:
    return orjson.loads(P.build_request(req, tgt or target()).body)


def decode(data: bytes, req: ChatRequest | None = None) -> list[Event]:
    dec = P.stream_decoder(req or request(), target())
    return dec.feed(data) + dec.close()


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


def joined(events: list[Event], kind: type) -> str:
    if kind is ToolCallDelta:
        return "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    return "".join(e.text for e in events if isinstance(e, kind))


COMPLETED = {"type": "response.completed", "response": {"status": "completed", "usage": None}}

# ---------------------------------------------------------------------------------------------
# the request
# ---------------------------------------------------------------------------------------------


def test_request_posts_to_responses_with_bearer_key_and_target_headers() -> None:
    http = P.build_request(request(), target(headers={"x-org": "o1"}))
    assert (http.method, http.url) == ("POST", "https://api.openai.com/v1/responses")
    assert http.headers["authorization"] == "Bearer sk-test"
    assert http.headers["x-org"] == "o1"
    assert orjson.loads(http.body)["model"] == "gpt-5"


def test_empty_api_base_means_openai() -> None:
    assert (
        P.build_request(request(), target(api_base="")).url == "https://api.openai.com/v1/responses"
    )


def test_leading_system_messages_become_instructions_in_order() -> None:
    b = body_of(
        request(Message("system", (TextPart("A"),)), Message("system", (TextPart("B"),)), user("q"))
    )
    assert b["instructions"] == "A\n\nB"
    assert b["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]}
    ]


def test_later_system_message_becomes_developer_item_in_its_place() -> None:
    b = body_of(request(user("one"), Message("system", (TextPart("be brief"),)), user("two")))
    assert "instructions" not in b
    roles = [(i["role"], i["content"][0]["text"]) for i in b["input"]]
    assert roles == [("user", "one"), ("developer", "be brief"), ("user", "two")]


def test_user_images_become_input_image_parts() -> None:
    m = Message("user", (TextPart("see"), ImagePart("data:image/png;base64,AAA", "low")))
    parts = body_of(request(m))["input"][0]["content"]
    assert parts == [
        {"type": "input_text", "text": "see"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "low"},
    ]


def test_assistant_text_then_calls_become_message_and_function_call_items() -> None:
    a = Message("assistant", (TextPart("Reading."),), (ToolCall("c1", "ReadFile", '{"path":"a"}'),))
    items = body_of(request(user("q"), a, Message("tool", (TextPart("data"),), tool_call_id="c1")))[
        "input"
    ]
    assert items[1] == {"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Reading."}]}  # fmt: skip
    assert items[2] == {
        "type": "function_call",
        "call_id": "c1",
        "name": "ReadFile",
        "arguments": '{"path":"a"}',
    }
    assert items[3] == {"type": "function_call_output", "call_id": "c1", "output": "data"}


def test_custom_calls_become_custom_tool_call_items_with_raw_input_and_matching_outputs() -> None:
    tools = (Tool("ApplyPatch", kind="custom"), Tool("Shell", parameters={"type": "object"}))
    a = Message("assistant", (), (
        ToolCall("c1", "ApplyPatch", "*** Begin Patch\n*** End Patch\n", "custom"),
        ToolCall("c2", "ApplyPatch", '{"input": "*** Begin Patch\\n"}'),  # replayed as a function
        ToolCall("c3", "Shell", '{"command":"ls"}'),
    ))  # fmt: skip
    outs = [Message("tool", (TextPart(f"ok{i}"),), tool_call_id=f"c{i}") for i in (1, 2, 3)]
    items = body_of(request(user("q"), a, *outs, tools=tools))["input"]
    assert items[1] == {"type": "custom_tool_call", "call_id": "c1", "name": "ApplyPatch",
                        "input": "*** Begin Patch\n*** End Patch\n"}  # fmt: skip
    assert items[2]["type"] == "custom_tool_call" and items[2]["input"] == "*** Begin Patch\n"
    assert items[3]["type"] == "function_call"
    assert [i["type"] for i in items[4:]] == [
        "custom_tool_call_output", "custom_tool_call_output", "function_call_output"]  # fmt: skip


def test_output_for_a_call_not_in_history_is_matched_by_tool_name() -> None:
    tools = (Tool("ApplyPatch", kind="custom"),)
    out = Message("tool", (TextPart("done"),), tool_call_id="gone", name="ApplyPatch")
    assert (
        body_of(request(user("q"), out, tools=tools))["input"][1]["type"]
        == "custom_tool_call_output"
    )


def test_tool_output_with_an_image_becomes_a_part_list() -> None:
    a = Message("assistant", (), (ToolCall("c1", "Shot", "{}"),))
    out = Message("tool", (TextPart("here"), ImagePart("https://x/y.png")), tool_call_id="c1")
    assert body_of(request(user("q"), a, out))["input"][2]["output"] == [
        {"type": "input_text", "text": "here"},
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
    ]


def test_reasoning_items_go_verbatim_right_before_their_turn() -> None:
    rs = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"}
    a = Message("assistant", (TextPart("answer"),), reasoning=(rs,))
    items = body_of(request(user("q"), a))["input"]
    assert items[1] == rs
    assert items[2]["role"] == "assistant"


def test_other_upstreams_reasoning_is_not_replayed() -> None:
    thinking = {"type": "thinking", "thinking": "hm", "signature": "sig"}
    gemini = {
        "provider": "gemini",
        "type": "thought_signature",
        "signature": "s",
        "tool_call_id": "c",
    }
    a = Message("assistant", (TextPart("answer"),), reasoning=(thinking, gemini))
    items = body_of(request(user("q"), a))["input"]
    assert [i.get("type") for i in items] == ["message", "message"]


def test_reasoning_with_nothing_after_it_is_dropped() -> None:
    rs = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"}
    items = body_of(request(user("q"), Message("assistant", reasoning=(rs,)), user("again")))[
        "input"
    ]
    assert [i["type"] for i in items] == ["message", "message"]


def test_tools_are_flat_functions_and_native_custom_tools() -> None:
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: x"}
    tools = (
        Tool("Shell", "Run", {"type": "object", "properties": {}}, strict=True),
        Tool("Read", parameters=None),
        Tool("ApplyPatch", "Patch files", kind="custom", format=grammar),
    )
    assert body_of(request(tools=tools))["tools"] == [
        {"type": "function", "name": "Shell", "description": "Run",
         "parameters": {"type": "object", "properties": {}}, "strict": True},
        # the API's default strict=true would reject ordinary schemas
        {"type": "function", "name": "Read", "parameters": {"type": "object", "properties": {}},
         "strict": False},
        {"type": "custom", "name": "ApplyPatch", "description": "Patch files", "format": grammar},
    ]  # fmt: skip


def test_tool_choice_names_a_function_or_custom_tool_flat() -> None:
    tools = (Tool("Shell"), Tool("ApplyPatch", kind="custom"))
    b = body_of(
        request(tools=tools, tool_choice=ToolChoice("required", "Shell"), parallel_tool_calls=False)
    )
    assert b["tool_choice"] == {"type": "function", "name": "Shell"}
    assert b["parallel_tool_calls"] is False
    b = body_of(request(tools=tools, tool_choice=ToolChoice("required", "ApplyPatch")))
    assert b["tool_choice"] == {"type": "custom", "name": "ApplyPatch"}
    assert body_of(request(tools=tools, tool_choice=ToolChoice("none")))["tool_choice"] == "none"


def test_tool_choice_and_parallel_calls_are_left_out_without_tools() -> None:
    b = body_of(request(tool_choice=ToolChoice("auto"), parallel_tool_calls=True))
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & b.keys()


def test_max_output_tokens_from_request_else_defaults_and_never_below_16() -> None:
    assert (
        body_of(request(max_tokens=500), target(defaults=RequestDefaults(max_tokens=9)))[
            "max_output_tokens"
        ]
        == 500
    )
    assert (
        body_of(request(), target(defaults=RequestDefaults(max_tokens=900)))["max_output_tokens"]
        == 900
    )
    assert body_of(request(max_tokens=1))["max_output_tokens"] == 16
    assert "max_output_tokens" not in body_of(request())


def test_temperature_and_top_p_from_request_else_defaults() -> None:
    b = body_of(
        request(temperature=0.2), target(defaults=RequestDefaults(temperature=1.0, top_p=0.9))
    )
    assert (b["temperature"], b["top_p"]) == (0.2, 0.9)


def test_sampling_parameters_are_left_out_for_a_reasoning_request() -> None:
    b = body_of(request(temperature=0, top_p=1, reasoning_effort="minimal"))
    assert "temperature" not in b and "top_p" not in b
    assert body_of(request(temperature=0, reasoning_effort="none"))["temperature"] == 0


def test_reasoning_summary_defaults_to_auto_when_effort_is_set() -> None:
    assert body_of(request(reasoning_effort="high"))["reasoning"] == {
        "effort": "high",
        "summary": "auto",
    }
    b = body_of(request(reasoning_effort="low", reasoning_summary="detailed"))
    assert b["reasoning"] == {"effort": "low", "summary": "detailed"}
    assert body_of(request(reasoning_effort="none"))["reasoning"] == {"effort": "none"}
    assert "reasoning" not in body_of(request())


def test_verbosity_and_json_schema_go_in_text() -> None:
    rf = ResponseFormat("json_schema", "Answer", {"type": "object"}, strict=True)
    assert body_of(request(verbosity="low", response_format=rf))["text"] == {
        "verbosity": "low",
        "format": {
            "type": "json_schema",
            "name": "Answer",
            "schema": {"type": "object"},
            "strict": True,
        },
    }
    assert body_of(request(response_format=ResponseFormat("json_object")))["text"] == {
        "format": {"type": "json_object"}
    }


def test_responses_extras_are_forwarded_and_store_defaults_to_false() -> None:
    extras = {"include": ["reasoning.encrypted_content"], "truncation": "disabled",
              "prompt_cache_retention": "24h"}  # fmt: skip
    b = body_of(request(responses_extras=extras))
    assert b["include"] == ["reasoning.encrypted_content"]
    assert (b["truncation"], b["prompt_cache_retention"], b["store"]) == ("disabled", "24h", False)
    assert body_of(request(responses_extras={"store": True}))["store"] is True


def test_prompt_cache_key_is_the_clients_else_the_conversation_id() -> None:
    assert body_of(request(conversation_id="conv-1"))["prompt_cache_key"] == "conv-1"
    b = body_of(request(conversation_id="conv-1", prompt_cache_key="k"))
    assert b["prompt_cache_key"] == "k"
    assert "prompt_cache_key" not in body_of(request())


def test_fast_service_tier_becomes_priority() -> None:
    assert body_of(request(service_tier="fast"))["service_tier"] == "priority"
    assert body_of(request(service_tier="flex"))["service_tier"] == "flex"


def test_user_is_cut_to_64_characters() -> None:
    assert body_of(request(user="u" * 100))["user"] == "u" * 64


def test_stream_options_and_metadata_are_never_sent() -> None:
    b = body_of(request(stream=True, include_usage=True, metadata={"cursorConversationId": "c"}))
    assert b["stream"] is True
    assert "stream_options" not in b and "metadata" not in b


def test_long_call_ids_are_shortened_the_same_way_in_call_and_output() -> None:
    a = Message("assistant", (), (ToolCall(LONG_ID, "Shell", "{}"),))
    items = body_of(
        request(user("q"), a, Message("tool", (TextPart("ok"),), tool_call_id=LONG_ID))
    )["input"]
    short = items[1]["call_id"]
    assert len(short) <= 64 and "\n" not in short
    assert items[2]["call_id"] == short == short_call_id(LONG_ID)
    assert short_call_id("call_short") == "call_short"
    assert short_call_id(LONG_ID + "2") != short


def test_a_shortened_call_id_coming_back_is_restored() -> None:
    a = Message("assistant", (), (ToolCall(LONG_ID, "Shell", "{}"),))
    req = request(user("q"), a, Message("tool", (TextPart("ok"),), tool_call_id=LONG_ID))
    item = {
        "type": "function_call",
        "call_id": short_call_id(LONG_ID),
        "name": "Shell",
        "arguments": "{}",
    }
    events = decode(
        sse({"type": "response.output_item.added", "output_index": 0, "item": item}, COMPLETED), req
    )
    assert events[0] == ToolCallStart(0, LONG_ID, "Shell")
    body = orjson.dumps({"status": "completed", "output": [item]})
    assert P.decode_body(body, req, target())[0] == ToolCallStart(0, LONG_ID, "Shell")


# ---------------------------------------------------------------------------------------------
# the stream: every recorded file, whole and split anywhere
# ---------------------------------------------------------------------------------------------

SSE_FILES = sorted(p.name for p in RESP.glob("*.sse"))


@pytest.mark.parametrize("name", SSE_FILES)
def test_recorded_stream_decodes_the_same_whole_split_and_byte_by_byte(name: str) -> None:
    data = (RESP / name).read_bytes()
    whole = decode(data)
    dec = ResponsesStreamDecoder()
    bytewise: list[Event] = []
    for i in range(len(data)):
        bytewise += dec.feed(data[i : i + 1])
    assert bytewise + dec.close() == whole
    for k in range(len(data) + 1):
        dec = ResponsesStreamDecoder()
        assert dec.feed(data[:k]) + dec.feed(data[k:]) + dec.close() == whole, f"split at byte {k}"
    CHECKS[name](whole)


def check_text(events: list[Event]) -> None:
    assert joined(events, TextDelta) == "The capital of France is Paris."
    assert events[-2:] == [Finish("stop"), Usage(278, 9, cached_tokens=0, reasoning_tokens=0)]


def check_text_obfuscation(events: list[Event]) -> None:
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["2", "+", "2", " =", " ", "4"]
    assert events[-2:] == [Finish("stop"), Usage(20, 10, cached_tokens=0, reasoning_tokens=0)]


def check_function_call(events: list[Event]) -> None:
    assert events[0] == ToolCallStart(0, "call_kL0PCQV7M2WMoVX8V8OtYSAL", "get_capital")
    assert joined(events, ToolCallDelta) == '{"country":"France"}'
    assert events[-2:] == [
        Finish("tool_calls"),
        Usage(255, 16, cached_tokens=0, reasoning_tokens=0),
    ]


def check_reasoning_encrypted(events: list[Event]) -> None:
    item = events[0]
    assert isinstance(item, ReasoningItem)
    assert item.data["id"] == "rs_0050471a34b36ae60068c97bac4dcc819595fd0f80d6b3c405"
    assert item.data["encrypted_content"].startswith("gAAAAABoyXvx")  # the `.done` copy, complete
    assert events[1] == ToolCallStart(1, "call_CWXgs68YprAjp6t0371hiPOI", "final_result")
    assert joined(events, ToolCallDelta) == '{"result":6666}'
    assert not any(isinstance(e, ReasoningDelta) for e in events)
    assert events[-2:] == [
        Finish("tool_calls"),
        Usage(53, 469, cached_tokens=0, reasoning_tokens=448),
    ]


def check_reasoning_summary(events: list[Event]) -> None:
    text = joined(events, ReasoningDelta)
    assert text.startswith(
        "**Calculating step-by-step using calculator**\n\nI'll compute 12 plus 7"
    )
    assert text.endswith("reporting the final product.")
    first_call = next(i for i, e in enumerate(events) if isinstance(e, ToolCallStart))
    assert isinstance(events[first_call - 1], ReasoningItem)
    assert events[first_call] == ToolCallStart(1, "call_AB6AaRZ1FYZB2RwS6A5vbdqn", "calculator")
    assert orjson.loads(joined(events, ToolCallDelta)) == {"a": 12, "b": 7, "op": "add"}
    assert events[-1] == Usage(134, 28, cached_tokens=0, reasoning_tokens=0)


def check_error_event(events: list[Event]) -> None:
    assert len(events) == 1  # `error` and then `response.failed`: reported once
    err = events[0]
    assert isinstance(err, StreamError)
    assert err.code == "insufficient_quota" and err.status == 429
    assert "You exceeded your current quota" in err.message


CHECKS = {
    "text.sse": check_text,
    "text-obfuscation-sequence-numbers.sse": check_text_obfuscation,
    "function-call.sse": check_function_call,
    "reasoning-encrypted-then-function-call.sse": check_reasoning_encrypted,
    "reasoning-summary-then-function-call.sse": check_reasoning_summary,
    "error-event-insufficient-quota.sse": check_error_event,
}


def test_every_recorded_stream_has_content_checks() -> None:
    assert set(SSE_FILES) == set(CHECKS)


# ---------------------------------------------------------------------------------------------
# the stream: cases no recording covers
# ---------------------------------------------------------------------------------------------


def added(index: int, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def done(index: int, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "response.output_item.done", "output_index": index, "item": item}


def test_custom_tool_call_streams_raw_input_as_a_custom_call() -> None:
    item = {"type": "custom_tool_call", "call_id": "c1", "name": "ApplyPatch", "input": ""}
    events = decode(sse(
        added(0, item),
        {"type": "response.custom_tool_call_input.delta", "output_index": 0, "delta": "*** Begin"},
        {"type": "response.custom_tool_call_input.delta", "output_index": 0, "delta": " Patch"},
        {"type": "response.custom_tool_call_input.done", "output_index": 0, "input": "*** Begin Patch"},
        done(0, {**item, "input": "*** Begin Patch"}),
        COMPLETED,
    ))  # fmt: skip
    assert events == [
        ToolCallStart(0, "c1", "ApplyPatch", "custom"),
        ToolCallDelta(0, "*** Begin"),
        ToolCallDelta(0, " Patch"),
        Finish("tool_calls"),
    ]


def test_arguments_sent_only_with_done_events_are_delivered_once() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": ""}
    via_args_done = decode(sse(
        added(0, call),
        {"type": "response.function_call_arguments.done", "output_index": 0, "arguments": '{"a":1}'},
        done(0, {**call, "arguments": '{"a":1}'}),
        COMPLETED,
    ))  # fmt: skip
    via_item_done = decode(
        sse(added(0, call), done(0, {**call, "arguments": '{"a":1}'}), COMPLETED)
    )
    expected = [ToolCallStart(0, "c1", "f"), ToolCallDelta(0, '{"a":1}'), Finish("tool_calls")]
    assert via_args_done == via_item_done == expected


def test_call_seen_only_as_a_finished_item_is_still_announced() -> None:
    call = {"type": "function_call", "call_id": "c9", "name": "g", "arguments": "{}"}
    assert decode(sse(done(2, call), COMPLETED)) == [
        ToolCallStart(2, "c9", "g"), ToolCallDelta(2, "{}"), Finish("tool_calls")]  # fmt: skip


def test_refusal_deltas_become_refusal_events() -> None:
    events = decode(
        sse({"type": "response.refusal.delta", "output_index": 0, "delta": "I can't"}, COMPLETED)
    )
    assert events == [RefusalDelta("I can't"), Finish("stop")]


def test_message_text_sent_only_in_the_finished_item_is_delivered() -> None:
    msg = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hi"}],
    }
    assert decode(sse(added(0, {**msg, "content": []}), done(0, msg), COMPLETED)) == [
        TextDelta("Hi"), Finish("stop")]  # fmt: skip


def test_separate_summary_parts_are_separated_by_a_blank_line() -> None:
    def delta(i: int, text: str) -> dict[str, Any]:
        return {"type": "response.reasoning_summary_text.delta", "output_index": 0,
                "summary_index": i, "delta": text}  # fmt: skip

    events = decode(sse(delta(0, "**Plan**"), delta(0, " it"), delta(1, "**Do**"), COMPLETED))
    assert joined(events, ReasoningDelta) == "**Plan** it\n\n**Do**"


def test_raw_reasoning_text_deltas_are_reasoning() -> None:
    ev = {
        "type": "response.reasoning_text.delta",
        "output_index": 0,
        "content_index": 0,
        "delta": "think",
    }
    assert decode(sse(ev, COMPLETED)) == [ReasoningDelta("think"), Finish("stop")]


def test_summary_only_in_the_finished_reasoning_item_is_delivered_with_the_item() -> None:
    rs = {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA",
          "summary": [{"type": "summary_text", "text": "A"}, {"type": "summary_text", "text": "B"}]}  # fmt: skip
    assert decode(sse(done(0, rs), COMPLETED)) == [
        ReasoningDelta("A\n\nB"),
        ReasoningItem(rs),
        Finish("stop"),
    ]


def test_reasoning_item_without_encrypted_content_is_not_kept() -> None:
    rs = {"type": "reasoning", "id": "rs_1", "summary": []}
    assert decode(sse(done(0, rs), COMPLETED)) == [Finish("stop")]


def test_incomplete_for_max_output_tokens_is_a_length_finish_with_usage() -> None:
    usage = {"input_tokens": 5, "output_tokens": 16}
    ev = {"type": "response.incomplete", "response": {
        "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "usage": usage}}  # fmt: skip
    assert decode(sse(ev)) == [Finish("length"), Usage(5, 16)]


def test_incomplete_for_content_filter_is_a_content_filter_finish() -> None:
    ev = {
        "type": "response.incomplete",
        "response": {"incomplete_details": {"reason": "content_filter"}},
    }
    assert decode(sse(ev)) == [Finish("content_filter")]


def test_failed_response_alone_is_one_stream_error() -> None:
    ev = {"type": "response.failed", "response": {"status": "failed",
          "error": {"code": "server_error", "message": "The server had an error"}}}  # fmt: skip
    assert decode(sse(ev)) == [
        StreamError(UpstreamError("The server had an error", code="server_error"))
    ]


def test_error_event_in_the_documented_flat_form() -> None:
    ev = {"type": "error", "code": "rate_limit_exceeded", "message": "Slow down", "param": None}
    assert decode(sse(ev)) == [
        StreamError(
            UpstreamRateLimitError(
                "openai error (429): Slow down", code="rate_limit_exceeded", upstream_status=429
            )
        )
    ]


def test_stream_without_a_terminal_event_ends_in_a_truncation_error() -> None:
    events = decode(sse({"type": "response.output_text.delta", "output_index": 0, "delta": "Hel"}))
    assert events[0] == TextDelta("Hel")
    assert isinstance(events[1], StreamError) and events[1].code == "upstream_stream_truncated"


def test_events_after_the_terminal_event_are_ignored() -> None:
    late = {"type": "response.output_text.delta", "output_index": 0, "delta": "late"}
    assert decode(sse(COMPLETED, late)) == [Finish("stop")]


def test_unreadable_event_is_a_protocol_error() -> None:
    events = decode(b"event: response.output_text.delta\ndata: {not json\n\n" + sse(COMPLETED))
    assert isinstance(events[0], StreamError) and events[0].code == "upstream_protocol_error"
    assert events[1] == Finish("stop")


def test_event_line_names_an_event_whose_payload_has_no_type() -> None:
    data = b'event: error\ndata: {"message": "boom", "code": "server_error"}\n\n'
    assert decode(data) == [StreamError(UpstreamError("boom", code="server_error"))]


def test_events_without_event_lines_are_read_by_their_type() -> None:
    data = b"data: " + orjson.dumps(
        {"type": "response.output_text.delta", "output_index": 0, "delta": "x"}
    )
    assert decode(data + b"\n\n" + b"data: " + orjson.dumps(COMPLETED) + b"\n\n") == [
        TextDelta("x"),
        Finish("stop"),
    ]


# ---------------------------------------------------------------------------------------------
# whole bodies and errors
# ---------------------------------------------------------------------------------------------


def test_body_with_reasoning_and_text() -> None:
    events = P.decode_body(
        (RESP / "reasoning-summary-then-text.json").read_bytes(), request(), target()
    )
    assert isinstance(events[0], ReasoningDelta) and events[0].text.startswith(
        "**Reporting final result**\n\n"
    )
    assert isinstance(events[1], ReasoningItem) and events[1].data["encrypted_content"].startswith(
        "gAAAAABpPMlc"
    )
    assert events[2] == TextDelta("12 + 7 = 19\n19 × 3 = 57\n57 × 10 = 570\n\nFinal result: 570")
    assert events[3:] == [Finish("stop"), Usage(865, 163, cached_tokens=0, reasoning_tokens=128)]


def test_body_with_a_function_call() -> None:
    events = P.decode_body((RESP / "function-call.json").read_bytes(), request(), target())
    assert events == [
        ToolCallStart(0, "call_heVrRaKZEJbsRvHvaEf5BLUI", "get_weather"),
        ToolCallDelta(0, '{"location":"San Francisco, CA","unit":"fahrenheit"}'),
        Finish("tool_calls"),
        Usage(461, 26, cached_tokens=0, reasoning_tokens=0),
    ]


def test_body_with_custom_call_and_incomplete_status() -> None:
    body = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"type": "custom_tool_call", "call_id": "c1", "name": "ApplyPatch", "input": "*** Begin"}]}  # fmt: skip
    assert P.decode_body(orjson.dumps(body), request(), target()) == [
        ToolCallStart(0, "c1", "ApplyPatch", "custom"), ToolCallDelta(0, "*** Begin"), Finish("length")]  # fmt: skip


def test_quota_error_is_a_rate_limit_with_its_code() -> None:
    err = P.decode_error(
        429, {"retry-after": "3"}, (RESP / "error-429-insufficient-quota.json").read_bytes()
    )
    assert isinstance(err, UpstreamRateLimitError)
    assert (err.status, err.code, err.retry_after) == (429, "insufficient_quota", 3.0)
    assert "exceeded your current quota" in err.message


def test_unsupported_temperature_is_a_bad_request_naming_the_param() -> None:
    err = P.decode_error(400, {}, (RESP / "error-400-unsupported-temperature.json").read_bytes())
    assert isinstance(err, UpstreamBadRequestError)
    assert (err.status, err.param) == (400, "temperature")
    assert "Unsupported parameter: 'temperature'" in err.message


def test_orphan_reasoning_item_error_is_a_bad_request_on_input() -> None:
    err = P.decode_error(
        400, {}, (RESP / "error-400-reasoning-item-without-following.json").read_bytes()
    )
    assert isinstance(err, UpstreamBadRequestError) and err.param == "input"
    assert "without its required following item" in err.message


def test_overflow_error_event_before_any_output_is_openais_400() -> None:
    event = (RESP / "error-event-context-length-exceeded.json").read_bytes()
    (err,) = ResponsesStreamDecoder().feed(b"event: error\ndata: " + event + b"\n\n")
    assert isinstance(err, StreamError)
    raised = err.error
    assert isinstance(raised, UpstreamContextWindowError) and raised.status == 400
    assert raised.code == "context_length_exceeded"
    assert raised.message.startswith("Your input exceeds the context window of this model.")


def test_every_recorded_body_is_covered() -> None:
    covered = {"reasoning-summary-then-text.json", "function-call.json", "error-429-insufficient-quota.json",
               "error-400-unsupported-temperature.json", "error-400-reasoning-item-without-following.json",
               "error-event-context-length-exceeded.json"}  # fmt: skip
    assert {p.name for p in RESP.glob("*.json")} == covered


# ---------------------------------------------------------------------------------------------
# against the fake upstream
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def upstream(aiohttp_client: Any) -> tuple[FakeUpstream, Any]:
    fake = FakeUpstream()
    client = await aiohttp_client(openai_responses_upstream.make_app(fake))
    return fake, client


async def send(client: Any, http: HttpRequest) -> tuple[int, bytes]:
    resp = await client.post(URL(http.url).path_qs, data=http.body, headers=dict(http.headers))
    return resp.status, await resp.read()


async def post_json(
    client: Any, body: dict[str, Any], key: str | None = "sk-test"
) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    resp = await client.post("/v1/responses", json=body, headers=headers)
    return resp.status, await resp.json()


def agent_turn(stream: bool = True) -> ChatRequest:
    """A Cursor-like turn: reasoning, a long call id, a custom call replayed, outputs."""
    rs = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"}
    tools = (
        Tool("Shell", parameters={"type": "object", "properties": {}}),
        Tool("ApplyPatch", kind="custom"),
    )
    return request(
        Message("system", (TextPart("You are an agent."),)),
        user("fix it"),
        Message("assistant", (), (ToolCall(LONG_ID, "Shell", '{"command":"ls"}'),), reasoning=(rs,)),
        Message("tool", (TextPart("a.py"),), tool_call_id=LONG_ID),
        Message("assistant", (TextPart("Patching."),), (ToolCall("c2", "ApplyPatch", "*** Begin Patch\n"),)),
        Message("tool", (TextPart("Done"),), tool_call_id="c2"),
        tools=tools, stream=stream, include_usage=True, user="u" * 80, conversation_id="conv",
        metadata={"cursorConversationId": "conv"}, reasoning_effort="medium", temperature=0,
        service_tier="fast", max_tokens=1,
    )  # fmt: skip


async def test_fake_accepts_an_agent_turn_and_streams_a_reply_that_decodes(upstream: Any) -> None:
    fake, client = upstream
    fake.replies.append(Reply(reasoning="Think first.", text="Hello there.",
                              tool_calls=[ToolCallSpec("call_9", "Shell", '{"command":"pwd"}')]))  # fmt: skip
    req = agent_turn()
    status, data = await send(client, P.build_request(req, target()))
    assert status == 200, data
    events = decode(data, req)
    assert joined(events, ReasoningDelta) == "Think first."
    assert any(isinstance(e, ReasoningItem) and e.data["encrypted_content"] for e in events)
    assert joined(events, TextDelta) == "Hello there."
    assert ToolCallStart(2, "call_9", "Shell") in events
    assert joined(events, ToolCallDelta) == '{"command":"pwd"}'
    assert events[-2:] == [Finish("tool_calls"), Usage(11, 7, cached_tokens=0, reasoning_tokens=0)]
    assert fake.last.path == "/v1/responses"


async def test_fake_answers_a_non_streaming_request_with_a_response_object(upstream: Any) -> None:
    fake, client = upstream
    fake.replies.append(
        Reply(
            text="Plain.", tool_calls=[ToolCallSpec("c1", "ApplyPatch", "*** Begin", custom=True)]
        )
    )
    req = agent_turn(stream=False)
    status, data = await send(client, P.build_request(req, target()))
    assert status == 200, data
    assert P.decode_body(data, req, target()) == [
        TextDelta("Plain."), ToolCallStart(1, "c1", "ApplyPatch", "custom"), ToolCallDelta(1, "*** Begin"),
        Finish("tool_calls"), Usage(11, 7, cached_tokens=0, reasoning_tokens=0)]  # fmt: skip


@pytest.mark.parametrize("name", ["agent-first-turn.json", "agent-tool-result-turn.json"])
async def test_fake_accepts_what_the_adapter_makes_of_cursor_bodies(
    upstream: Any, name: str
) -> None:
    _, client = upstream
    cursor_body = orjson.loads((CURSOR_REQUESTS / name).read_bytes())
    status, data = await send(client, P.build_request(parse_request(cursor_body), target()))
    assert status == 200, data


async def test_fake_streams_custom_calls_and_length_finish(upstream: Any) -> None:
    fake, client = upstream
    fake.replies.append(Reply(tool_calls=[ToolCallSpec("c1", "ApplyPatch", "*** Begin Patch\n", custom=True)],
                              finish="length"))  # fmt: skip
    status, data = await send(client, P.build_request(request(stream=True), target()))
    assert status == 200, data
    events = decode(data)
    assert events[0] == ToolCallStart(0, "c1", "ApplyPatch", "custom")
    assert joined(events, ToolCallDelta) == "*** Begin Patch\n"
    assert events[-2] == Finish("length")


async def test_fake_stream_error_decodes_to_one_error(upstream: Any) -> None:
    fake, client = upstream
    fake.replies.append(Reply(text="partial", stream_error="overloaded"))
    _, data = await send(client, P.build_request(request(stream=True), target()))
    events = decode(data)
    assert events[:-1] == [TextDelta("par"), TextDelta("tia"), TextDelta("l")]
    assert events[-1] == StreamError(UpstreamError("overloaded", code="server_error"))


async def test_fake_sends_a_raw_reply_verbatim(upstream: Any) -> None:
    fake, client = upstream
    raw = (RESP / "text.sse").read_bytes()
    fake.replies.append(Reply(raw=raw))
    assert await send(client, P.build_request(request(stream=True), target())) == (200, raw)


async def test_fake_status_fault_is_decoded_as_an_upstream_error(upstream: Any) -> None:
    fake, client = upstream
    fake.faults.status, fake.faults.body = (
        429,
        (RESP / "error-429-insufficient-quota.json").read_bytes(),
    )
    status, data = await send(client, P.build_request(request(), target()))
    assert isinstance(P.decode_error(status, {}, data), UpstreamRateLimitError)


async def test_fake_requires_a_bearer_key_and_records_the_request_anyway(upstream: Any) -> None:
    fake, client = upstream
    status, data = await post_json(client, {"model": "gpt-5", "input": "hi"}, key=None)
    assert status == 401 and "didn't provide an API key" in data["error"]["message"]
    assert fake.last.body == {"model": "gpt-5", "input": "hi"}


BAD_BODIES = [
    ({"stream_options": {"include_usage": True}}, "Unknown parameter: 'stream_options.include_usage'.",
     "stream_options.include_usage"),
    ({"messages": []}, "Unknown parameter: 'messages'.", "messages"),
    ({"metadata": {"n": 1}}, "Invalid type for 'metadata.n': expected a string, but got an integer instead.",
     "metadata.n"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
     "Missing required parameter: 'tools[0].name'.", "tools[0].name"),
    ({"input": [{"type": "function_call", "call_id": "c" * 65, "name": "f", "arguments": "{}"}]},
     "Invalid 'input[0].call_id': string too long. Expected a string with maximum length 64, but got a "
     "string with length 65 instead.", "input[0].call_id"),
    ({"input": [{"type": "function_call_output", "call_id": "call_1", "output": "x"}]},
     "No tool call found for function call output with call_id call_1.", "input"),
    ({"input": [{"type": "custom_tool_call", "call_id": "c1", "name": "A", "input": "x"},
                {"type": "function_call_output", "call_id": "c1", "output": "x"}]},
     "No tool call found for function call output with call_id c1.", "input"),
    ({"input": [{"type": "reasoning", "id": "rs_9", "summary": []}, {"role": "user", "content": "q"}]},
     "Item 'rs_9' of type 'reasoning' was provided without its required following item.", "input"),
    ({"user": "u" * 65}, "Invalid 'user': string too long. Expected a string with maximum length 64, but got "
     "a string with length 65 instead.", "user"),
    ({"input": [{"role": "assistant", "content": None}]},
     "Invalid type for 'input[0].content': expected one of an array of objects or string, but got null instead.",
     "input[0].content"),
    ({"input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]},
     "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.", "input[0].content[0]"),
    ({"max_output_tokens": 1}, "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
     "but got 1 instead.", "max_output_tokens"),
    ({"service_tier": "fast"}, "Invalid value: 'fast'. Supported values are: 'auto', 'default', 'flex', 'scale', "
     "and 'priority'.", "service_tier"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "message", "param"), BAD_BODIES)
async def test_fake_rejects_what_the_real_api_rejects(upstream: Any, extra: dict[str, Any], message: str,
                                                     param: str) -> None:  # fmt: skip
    _, client = upstream
    status, data = await post_json(client, {"model": "gpt-5", "input": "hi", **extra})
    assert status == 400
    assert data["error"]["message"] == message
    assert (data["error"]["type"], data["error"]["param"]) == ("invalid_request_error", param)


async def test_fake_accepts_valid_metadata_and_obfuscation_option(upstream: Any) -> None:
    _, client = upstream
    body = {
        "model": "gpt-5",
        "input": "hi",
        "metadata": {"k": "v"},
        "stream_options": {"include_obfuscation": False},
    }
    status, _ = await post_json(client, body)
    assert status == 200


async def test_fake_rejection_maps_to_a_bad_request_with_the_param(upstream: Any) -> None:
    _, client = upstream
    resp = await client.post("/v1/responses", json={"model": "m", "input": "x", "messages": []},
                             headers={"authorization": "Bearer k"})  # fmt: skip
    err = P.decode_error(resp.status, dict(resp.headers), await resp.read())
    assert isinstance(err, UpstreamBadRequestError) and err.param == "messages"
