"""Bedrock Converse: the event-stream framing and decoder on recorded streams, bodies, errors, requests."""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from dataclasses import replace
from typing import Any

import orjson
import pytest
from botocore.eventstream import EventStreamBuffer

from litecursor.config import parse
from litecursor.errors import (
    RateLimitError,
    UpstreamBadRequestError,
    UpstreamContextWindowError,
)
from litecursor.protocol.eventstream import (
    EventStreamDecoder,
    EventStreamMessage,
    EventStreamProtocolError,
)
from litecursor.protocol.providers import Target
from litecursor.protocol.providers.base import AdapterOptions
from litecursor.protocol.providers.bedrock import (
    BedrockProvider,
    build_converse_body,
    model_family,
    streams_tools,
)
from litecursor.protocol.providers.bedrock_stream import BedrockStreamDecoder, ConverseBodyDecoder
from litecursor.protocol.types import (
    ChatRequest,
    Message,
    StreamError,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)

from .fakes import bedrock_upstream
from .fakes.aws import event, exception
from .paths import WIRE
from .wire import assert_split_invariant, decode, summarise

DIR = WIRE / "bedrock"
STREAMS = sorted(p.name for p in DIR.glob("*.eventstream"))
CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
LLAMA = "us.meta.llama4-maverick-17b-instruct-v1:0"
PROVIDER = BedrockProvider()


def read(name: str) -> bytes:
    return (DIR / name).read_bytes()


def target(
    model: str = CLAUDE,
    api_base: str = "https://bedrock-runtime.us-east-1.amazonaws.com",
    **kw: Any,
) -> Target:
    return Target("bedrock", model, api_base, **kw)


# --- the framing ------------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_framing_agrees_with_botocore_on_every_recording(name: str) -> None:
    raw = read(name)
    dec = EventStreamDecoder()
    ours = dec.feed(raw) + dec.close()
    ref = EventStreamBuffer()
    ref.add_data(raw)
    theirs = [(dict(m.headers), m.payload) for m in ref]
    assert all(isinstance(m, EventStreamMessage) for m in ours)
    assert [
        (dict(m.headers), m.payload) for m in ours if isinstance(m, EventStreamMessage)
    ] == theirs


@pytest.mark.parametrize("name", STREAMS)
def test_a_flipped_bit_in_any_message_is_one_protocol_error(name: str) -> None:
    raw = read(name)
    ends, at = [], 0
    while at < len(raw):  # the offset where each message starts
        ends.append(at)
        at += int.from_bytes(raw[at : at + 4], "big")
    for start in ends:
        for where in (
            start + 9,
            start + 14,
            start + int.from_bytes(raw[start : start + 4], "big") - 1,
        ):
            bad = bytearray(raw)
            bad[where] ^= 0x01
            events = decode(BedrockStreamDecoder, [bytes(bad)])
            errs = [e for e in events if isinstance(e, StreamError)]
            assert len(errs) == 1 and errs[0].code == "upstream_protocol_error", where
            assert "malformed" in errs[0].message and events[-1] is errs[0]


def test_a_stream_cut_inside_a_message_is_reported_at_close() -> None:
    raw = read("text-nova.eventstream")
    dec = EventStreamDecoder()
    msgs = dec.feed(raw[:-5])
    (last,) = dec.close()
    assert isinstance(last, EventStreamProtocolError) and "ended inside a message" in last.message
    assert len(msgs) == 32
    assert dec.feed(b"more") == []  # stopped for good


def test_impossible_lengths_are_refused_before_buffering_them() -> None:
    prelude = (20 * 1024 * 1024).to_bytes(4, "big") + (0).to_bytes(4, "big")
    prelude += zlib.crc32(prelude).to_bytes(4, "big")
    (err,) = EventStreamDecoder().feed(prelude)
    assert isinstance(err, EventStreamProtocolError) and "over the limits" in err.message


def test_the_fakes_frames_are_what_botocore_parses() -> None:
    raw = event("messageStart", b'{"role":"assistant"}') + exception("throttlingException", "slow")
    ref = EventStreamBuffer()
    ref.add_data(raw)
    parsed = [(m.headers[":message-type"], m.payload) for m in ref]
    assert parsed == [("event", b'{"role":"assistant"}'), ("exception", b'{"message":"slow"}')]


HI_BODY: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**HI_BODY, "maxTokens": 5}, 'Unknown parameter in input: "maxTokens"'),
        ({"messages": [{"role": "user", "content": [{"text": "hi", "cachePoint": {"type": "default"}}]}]},
         "tagged union"),
        ({"messages": [{"role": "user", "content": [{"image": {"format": "png"}}]}]},
         'Missing required parameter in messages[0].content[0].image: "source"'),
        ({"messages": [{"role": "system", "content": [{"text": "hi"}]}]}, "enum value set: [user, assistant]"),
        ({**HI_BODY, "inferenceConfig": {"temperature": 1.5}}, "inferenceConfig.temperature"),
        ({**HI_BODY, "inferenceConfig": {"maxTokens": 0}}, "valid min value: 1"),
        ({**HI_BODY, "system": [{"cachePoint": {"type": "ephemeral"}}]}, "enum value set: [default]"),
        ({**HI_BODY, "serviceTier": {"type": "fast"}}, "serviceTier.type"),
        ({**HI_BODY, "toolConfig": {"tools": [{"toolSpec": {"name": "get weather", "inputSchema": {"json": {"type": "object"}}}}]}},
         "toolSpec.name"),
    ],
)  # fmt: skip
def test_the_fake_refuses_what_the_converse_api_refuses(body: dict[str, Any], words: str) -> None:
    with pytest.raises(bedrock_upstream.Invalid, match=re.escape(words)):
        bedrock_upstream.validate(body, CLAUDE, stream=True)


def test_the_fake_takes_the_converse_apis_newer_members() -> None:
    body = {**HI_BODY, "serviceTier": {"type": "priority"}, "outputConfig": {},
            "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default", "ttl": "1h"}}]}  # fmt: skip
    bedrock_upstream.validate(body, CLAUDE, stream=True)


# --- the decoder on recorded streams ----------------------------------------------------

EXPECTED = {
    "text-nova.eventstream": ("The capital of France is Paris.", 0, "stop", (13, 82)),
    "text-then-tool-use.eventstream": ("<thinking> To find", 1, "tool_calls", (471, 91)),
    "text-after-tool-result.eventstream": (
        "The current temperature in Paris",
        0,
        "stop",
        (577, 18),
    ),
    "reasoning-signature-then-text.eventstream": ("Hello! It's nice", 0, "stop", None),
    "reasoning-redacted-then-text.eventstream": ("I notice you've sent", 0, "stop", (92, 253)),
    "empty-text-then-unsigned-reasoning.eventstream": (
        "Hello! How can I help",
        0,
        "stop",
        (70, 43),
    ),
    "server-tool-then-tool-use.eventstream": ("", 1, "tool_calls", (1002, 59)),
}


def test_every_recording_has_expectations() -> None:
    assert set(EXPECTED) == set(STREAMS)


@pytest.mark.parametrize("name", STREAMS)
def test_recorded_stream_decodes_the_same_at_every_split(name: str) -> None:
    events = assert_split_invariant(BedrockStreamDecoder, read(name))
    s = summarise(events)
    start, calls, finish, usage = EXPECTED[name]
    assert s.text.startswith(start) and not s.errors
    assert len(s.calls) == calls and s.finish == finish
    assert s.usage is not None
    if usage is not None:
        assert (s.usage.prompt_tokens, s.usage.completion_tokens) == usage


def test_tool_use_block_streams_as_a_call_with_its_arguments() -> None:
    s = summarise(decode(BedrockStreamDecoder, [read("text-then-tool-use.eventstream")]))
    assert s.calls == (("tooluse_lAG_zP8QRHmSYOwZzzaCqA", "get_temperature", '{"city":"Paris"}'),)


def test_server_tool_blocks_are_not_client_calls() -> None:
    s = summarise(decode(BedrockStreamDecoder, [read("server-tool-then-tool-use.eventstream")]))
    assert [c[1] for c in s.calls] == ["final_result"]
    assert json.loads(s.calls[0][2]) == {"result": 7006652.0}


def test_signed_reasoning_becomes_a_replayable_thinking_item() -> None:
    s = summarise(decode(BedrockStreamDecoder, [read("reasoning-signature-then-text.eventstream")]))
    (item,) = s.items
    assert item["type"] == "thinking" and item["signature"].startswith("Eu0CCkgIBxAB")
    assert item["thinking"] == s.reasoning and s.reasoning.startswith("The user has greeted me")


def test_redacted_reasoning_is_kept_for_replay_and_not_shown() -> None:
    s = summarise(decode(BedrockStreamDecoder, [read("reasoning-redacted-then-text.eventstream")]))
    assert [i["type"] for i in s.items] == ["redacted_thinking", "redacted_thinking"]
    assert s.reasoning == ""


def test_unsigned_reasoning_streams_but_leaves_nothing_to_replay() -> None:
    s = summarise(
        decode(BedrockStreamDecoder, [read("empty-text-then-unsigned-reasoning.eventstream")])
    )
    assert s.reasoning.startswith("The user just says") and s.items == ()


def test_a_stream_without_its_metadata_is_truncated() -> None:
    raw = read("text-nova.eventstream")
    last = 0  # where the last message (the metadata) starts
    while last + (size := int.from_bytes(raw[last : last + 4], "big")) < len(raw):
        last += size
    s = summarise(decode(BedrockStreamDecoder, [raw[:last]]))
    assert s.finish == "stop" and s.usage is None
    assert s.errors[0].code == "upstream_stream_truncated"


@pytest.mark.parametrize(
    ("kind", "message", "status", "code"),
    [
        ("throttlingException", "Too many requests, please wait before trying again.", 429, "throttlingException"),
        ("validationException", "Input is too long for requested model.", 400, "context_length_exceeded"),
        ("modelStreamErrorException", "The model is overloaded", 502, "modelStreamErrorException"),
        ("serviceUnavailableException", "Bedrock is unable to process your request.", 502, "serviceUnavailableException"),
    ],
)  # fmt: skip
def test_exception_in_the_stream_maps_like_the_same_error_before_it(
    kind: str, message: str, status: int, code: str
) -> None:
    body = event("messageStart", b'{"role":"assistant"}') + exception(kind, message)
    (err,) = [e for e in decode(BedrockStreamDecoder, [body]) if isinstance(e, StreamError)]
    if code == "context_length_exceeded":  # OpenAI's words; Bedrock's kept for the logs
        assert isinstance(err.error, UpstreamContextWindowError) and err.status == status
        assert err.code == code and message in err.error.upstream_message
        return
    assert err.status == status and message in err.message
    assert err.code == kind


# --- whole bodies and errors ------------------------------------------------------------


def converse(name: str) -> list[Any]:
    return PROVIDER.decode_response(read(name), ChatRequest("m", ()), target())


def test_converse_body_with_reasoning_text_and_a_call() -> None:
    s = summarise(converse("converse-reasoning-then-tool-use.json"))
    assert s.reasoning.startswith("The user is asking") and s.items[0]["signature"].startswith(
        "ErcB"
    )
    assert s.text.startswith("I'll need to check") and s.finish == "tool_calls"
    assert s.calls == (("tooluse_W9DaUFg4Tj2cRPpndqxWSg", "get_user_country", "{}"),)


def test_cache_writes_and_reads_count_in_the_prompt() -> None:
    written = summarise(converse("converse-cache-write.json")).usage
    read_back = summarise(converse("converse-cache-read.json")).usage
    assert written == Usage(
        prompt_tokens=1517, completion_tokens=5, cached_tokens=0, cache_creation_tokens=1503
    )
    assert read_back is not None and read_back.cached_tokens == 1504
    assert (
        read_back.prompt_tokens
        == 1504 + json.loads(read("converse-cache-read.json"))["usage"]["inputTokens"]
    )


def test_max_tokens_is_a_length_finish_and_llama_calls_decode() -> None:
    assert summarise(converse("converse-max-tokens.json")).finish == "length"
    s = summarise(converse("converse-tool-use-llama4.json"))
    assert s.finish == "tool_calls" and s.calls[0][1] == "get_file"


def test_a_converse_body_read_as_a_stream_gives_the_same_events() -> None:
    raw = read("converse-reasoning-then-tool-use.json")
    assert decode(ConverseBodyDecoder, [raw[:10], raw[10:]]) == converse(
        "converse-reasoning-then-tool-use.json"
    )
    assert decode(ConverseBodyDecoder, [b"{not json"])[0].code == "upstream_protocol_error"


def test_errors_map_to_the_openai_statuses() -> None:
    bad = PROVIDER.decode_error(400, {}, read("error-400-invalid-model.json"))
    assert isinstance(bad, UpstreamBadRequestError) and bad.status == 400
    assert "model identifier is invalid" in bad.message
    throttled = PROVIDER.decode_error(429, {"retry-after": "3"}, read("error-429-throttling.json"))
    assert isinstance(throttled, RateLimitError) and throttled.status == 429
    assert throttled.code == "ThrottlingException" and throttled.retry_after == 3


def test_context_overflow_is_context_length_exceeded() -> None:
    body = b'{"message": "The model returned the following errors: prompt is too long: 212000 tokens > 200000 maximum"}'
    err = PROVIDER.decode_error(
        400,
        {
            "x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
        },
        body,
    )
    assert isinstance(err, UpstreamContextWindowError)
    assert err.to_dict()["error"]["code"] == "context_length_exceeded" and err.status == 400


def test_access_denied_is_the_gateways_credentials_problem() -> None:
    err = PROVIDER.decode_error(403, {}, b'{"__type": "AccessDeniedException", "message": "no"}')
    assert err.status == 502 and err.code == "upstream_auth_error"


# --- requests ---------------------------------------------------------------------------

WEATHER = Tool(
    "get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}
)


def chat(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest("m", messages, stream=True, **kw)


#: a system prompt over the 1,024-token minimum a cache point needs (as Cursor's always is)
SYSTEM = "Be brief and precise. " * 250


def loop(reasoning: tuple[dict[str, Any], ...] = ()) -> ChatRequest:
    return chat(
        Message("system", (TextPart(SYSTEM),)),
        Message("user", (TextPart("Paris?"),)),
        Message(
            "assistant",
            tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),),
            reasoning=reasoning,
        ),
        Message("tool", (TextPart(""),), tool_call_id="call_1"),
        tools=(WEATHER,),
        reasoning_effort="high",
    )


def test_claude_gets_cache_points_after_tools_system_and_the_newest_block() -> None:
    long_tools = (replace(WEATHER, description="Weather, in detail. " * 250),)
    body = build_converse_body(replace(loop(), tools=long_tools), target())
    assert body["system"] == [{"text": SYSTEM}, {"cachePoint": {"type": "default"}}]
    assert body["toolConfig"]["tools"][-1] == {"cachePoint": {"type": "default"}}
    assert body["messages"][-1]["content"][-1] == {"cachePoint": {"type": "default"}}
    assert orjson.dumps(body).count(b"cachePoint") <= 4


def test_families_without_caching_get_no_cache_points_and_caching_can_be_off() -> None:
    assert b"cachePoint" not in orjson.dumps(build_converse_body(loop(), target(LLAMA)))
    off = target(options=AdapterOptions(prompt_caching=False))
    assert b"cachePoint" not in orjson.dumps(build_converse_body(loop(), off))


def test_thinking_is_off_in_a_tool_loop_without_its_signed_reasoning() -> None:
    body = build_converse_body(loop(), target())
    assert "additionalModelRequestFields" not in body


def test_replayed_signed_reasoning_leads_the_turn_and_keeps_thinking_on() -> None:
    item = {"type": "thinking", "thinking": "Look it up.", "signature": "c2ln"}
    body = build_converse_body(loop((item,)), target())
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {
        "reasoningContent": {"reasoningText": {"text": "Look it up.", "signature": "c2ln"}}
    }
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 4096}
    }
    assert body["inferenceConfig"]["maxTokens"] > 4096


def test_empty_tool_output_is_not_blank_and_status_is_claudes_only() -> None:
    body = build_converse_body(loop(), target(LLAMA))
    (result,) = [
        b["toolResult"] for m in body["messages"] for b in m["content"] if "toolResult" in b
    ]
    assert result == {"toolUseId": "call_1", "content": [{"text": "(no output)"}]}


def test_non_claude_models_send_no_thinking_nor_default_max_tokens() -> None:
    body = build_converse_body(
        dataclasses.replace(loop(), messages=loop().messages[:2]), target(LLAMA)
    )
    assert "additionalModelRequestFields" not in body and "inferenceConfig" not in body


def test_model_ids_are_one_percent_encoded_path_segment() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
    http = PROVIDER.build_request(chat(Message("user", (TextPart("hi"),))), target(arn))
    assert http.url.endswith(
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse-stream"
    )
    assert model_family(arn) == "" and model_family(CLAUDE) == "anthropic"


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("us-east-1", "https://bedrock-runtime.us-east-1.amazonaws.com"),
        ("us-gov-west-1", "https://bedrock-runtime.us-gov-west-1.amazonaws.com"),
        # the China regions are a partition of their own, under amazonaws.com.cn
        ("cn-north-1", "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"),
        ("cn-northwest-1", "https://bedrock-runtime.cn-northwest-1.amazonaws.com.cn"),
    ],
)
def test_the_runtime_endpoint_follows_the_region(region: str, url: str) -> None:
    params = {"model": f"bedrock/{CLAUDE}", "aws_region_name": region, "api_key": "k"}
    config = parse({"model_list": [{"model_name": "m", "litellm_params": params}],
                    "general_settings": {"master_key": "k"}}, environ={})  # fmt: skip
    assert config.deployments[0].target.api_base == url
    http = PROVIDER.build_request(chat(Message("user", (TextPart("hi"),))), target(api_base=url))
    assert http.url == f"{url}/model/{CLAUDE.replace(':', '%3A')}/converse-stream"


def test_a_bedrock_api_key_is_a_bearer_token() -> None:
    http = PROVIDER.build_request(
        chat(Message("user", (TextPart("hi"),))), target(api_key="bedrock-key")
    )
    assert http.headers["authorization"] == "Bearer bedrock-key"


def test_tools_to_a_model_that_cannot_stream_them_go_through_converse() -> None:
    req = chat(Message("user", (TextPart("Paris?"),)), tools=(WEATHER,))
    assert not streams_tools(target(LLAMA)) and streams_tools(target(CLAUDE))
    assert PROVIDER.build_request(req, target(LLAMA)).url.endswith("/converse")
    assert isinstance(PROVIDER.stream_decoder(req, target(LLAMA)), ConverseBodyDecoder)
    no_tools = chat(Message("user", (TextPart("hi"),)))
    assert PROVIDER.build_request(no_tools, target(LLAMA)).url.endswith("/converse-stream")


def test_a_refusal_of_streamed_tools_retargets_to_converse_and_nothing_else_does() -> None:
    req = chat(Message("user", (TextPart("Paris?"),)), tools=(WEATHER,))
    body = b'{"message": "This model doesn\'t support tool use in streaming mode."}'
    refusal = PROVIDER.decode_error(400, {}, body)
    model = "deepseek.v3-v1:0"  # not on the list
    better = PROVIDER.retarget(refusal, req, target(model))
    assert better is not None and better.options.stream_tools is False
    assert PROVIDER.build_request(req, better).url.endswith("/converse")
    assert isinstance(PROVIDER.stream_decoder(req, better), ConverseBodyDecoder)
    assert PROVIDER.retarget(refusal, req, better) is None  # once
    assert PROVIDER.retarget(refusal, dataclasses.replace(req, stream=False), target(model)) is None
    other = PROVIDER.decode_error(400, {}, b'{"message": "Malformed input request"}')
    assert PROVIDER.retarget(other, req, target(model)) is None
