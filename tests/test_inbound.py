"""Inbound translation: every dialect Cursor sends becomes the same typed request."""

from __future__ import annotations

import json

import pytest

from litecursor.errors import InvalidRequestError
from litecursor.protocol.inbound import parse_request
from litecursor.protocol.types import ImagePart, Message, TextPart, ToolCall, ToolChoice

from .paths import CURSOR_REQUESTS


def load(name: str) -> dict:
    return json.loads((CURSOR_REQUESTS / name).read_text())


@pytest.mark.parametrize("name", sorted(p.name for p in CURSOR_REQUESTS.glob("*.json")))
def test_every_recorded_cursor_body_parses(name: str) -> None:
    req = parse_request(load(name))
    assert req.messages and req.model


def test_agent_first_turn() -> None:
    req = parse_request(load("agent-first-turn.json"))
    assert req.dialect == "responses" and req.stream and req.include_usage
    assert req.reasoning_effort == "medium" and req.reasoning_summary == "auto"
    assert req.conversation_id == "0b1e7a52-5c3d-4f61-9e2a-7d8c9b0a1f23"
    assert [t.kind for t in req.tools if t.name == "ApplyPatch"] == ["custom"]
    assert req.tool("ApplyPatch").format["syntax"] == "lark"
    assert req.messages[0].role == "system"
    assert req.responses_extras.get("include") == ["reasoning.encrypted_content"]


def test_tool_result_turn_pairs_calls_with_outputs_and_keeps_reasoning() -> None:
    req = parse_request(load("agent-tool-result-turn.json"))
    roles = [m.role for m in req.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool"]
    first, second = req.messages[2], req.messages[4]
    assert first.reasoning and first.reasoning[0]["type"] == "reasoning"
    assert second.tool_calls[0].name == "ApplyPatch" and second.tool_calls[0].kind == "custom"
    assert second.tool_calls[0].arguments.startswith("*** Begin Patch")
    assert req.messages[3].tool_call_id == first.tool_calls[0].id


def test_instructions_come_before_system_items_in_order() -> None:
    req = parse_request(
        {
            "model": "m",
            "instructions": "A",
            "input": [
                {"role": "system", "content": "B"},
                {"role": "developer", "content": "C"},
                {"role": "user", "content": "hi"},
            ],
        }
    )
    assert [(m.role, m.text) for m in req.messages] == [
        ("system", "A"),
        ("system", "B"),
        ("system", "C"),
        ("user", "hi"),
    ]


def test_input_string_is_one_user_message() -> None:
    req = parse_request({"model": "m", "input": "hello"})
    assert req.messages == (Message("user", (TextPart("hello"),)),)


def test_assistant_text_and_following_calls_form_one_turn() -> None:
    req = parse_request(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "go"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Reading."}],
                },
                {"type": "function_call", "call_id": "a", "name": "R", "arguments": "{}"},
                {"type": "function_call", "call_id": "b", "name": "R", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "a",
                    "output": [{"type": "input_text", "text": "one"}],
                },
                {"type": "function_call_output", "call_id": "b", "output": "two"},
            ],
        }
    )
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "tool"]
    turn = req.messages[1]
    assert turn.text == "Reading." and [c.id for c in turn.tool_calls] == ["a", "b"]
    assert req.messages[2].text == "one"


def test_chat_dialect_legacy_capture() -> None:
    req = parse_request(load("chat-format-legacy.json"))
    assert req.dialect == "chat" and req.reasoning_effort == "minimal" and req.temperature == 0
    assistant = next(m for m in req.messages if m.role == "assistant")
    assert (
        assistant.text == "I'll count both patterns in parallel." and len(assistant.tool_calls) == 2
    )
    tools = [m for m in req.messages if m.role == "tool"]
    assert [t.tool_call_id for t in tools] == [c.id for c in assistant.tool_calls]


def test_tools_null_is_no_tools() -> None:
    req = parse_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "tools": None,
            "tool_choice": "auto",
        }
    )
    assert req.tools == () and req.tool_choice == ToolChoice("auto")


def test_nested_flat_custom_and_anthropic_tools_mix_in_one_list() -> None:
    req = parse_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {"type": "function", "function": {"name": "A", "parameters": {"type": "object"}}},
                {"type": "function", "name": "B", "parameters": {"type": "object"}},
                {
                    "type": "custom",
                    "name": "C",
                    "format": {"type": "grammar", "syntax": "lark", "definition": "x"},
                },
                {"name": "D", "input_schema": {"type": "object"}},
                {"type": "web_search"},
            ],
        }
    )
    assert [(t.name, t.kind) for t in req.tools] == [
        ("A", "function"),
        ("B", "function"),
        ("C", "custom"),
        ("D", "function"),
    ]


def test_claude_style_blocks_become_calls_and_tool_messages() -> None:
    req = parse_request(load("claude-name-anthropic-blocks.json"))
    assistant = next(m for m in req.messages if m.role == "assistant")
    call = assistant.tool_calls[0]
    assert call.id.startswith("toolu_") and json.loads(call.arguments) is not None
    tool = next(m for m in req.messages if m.role == "tool")
    assert tool.tool_call_id == call.id and tool.text


def test_tool_result_blocks_and_text_in_one_user_turn_keep_their_order() -> None:
    req = parse_request(
        {
            "model": "m",
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "r"}],
                        },
                        {"type": "text", "text": "and now?"},
                    ],
                },
            ],
        }
    )
    assert [(m.role, m.text) for m in req.messages] == [
        ("assistant", ""),
        ("tool", "r"),
        ("user", "and now?"),
    ]
    assert req.messages[0].tool_calls == (ToolCall("t1", "f", '{"a":1}'),)


def test_images_in_every_shape() -> None:
    req = parse_request(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x/a.png", "detail": "high"},
                        },
                        {"type": "input_image", "image_url": "data:image/png;base64,AAA"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": "BBB"},
                        },
                    ],
                }
            ],
        }
    )
    parts = req.messages[0].content
    assert parts == (
        ImagePart("https://x/a.png", "high"),
        ImagePart("data:image/png;base64,AAA"),
        ImagePart("data:image/jpeg;base64,BBB"),
    )
    assert parts[2].media_type == "image/jpeg" and parts[2].base64_data == "BBB"


def test_replayed_custom_call_is_recognised_by_tool_name() -> None:
    req = parse_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "patch"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {
                                "name": "ApplyPatch",
                                "arguments": "*** Begin Patch\n*** End Patch",
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "done"},
            ],
            "tools": [{"type": "custom", "name": "ApplyPatch"}],
        }
    )
    assert req.messages[1].tool_calls[0].kind == "custom"


def test_reasoning_effort_in_every_place() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert parse_request({**base, "reasoning_effort": "high"}).reasoning_effort == "high"
    assert parse_request({**base, "reasoning": {"effort": "low"}}).reasoning_effort == "low"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"model": "m", "input": [{"type": "function_call_output", "output": "x"}]},
            "input[0].call_id",
        ),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "model": "m",
                "messages": [
                    {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}
                ],
            },
            "messages[0].tool_calls[0].function",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "xml"},
            },
            "response_format.type",
        ),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": 5}}},
            "text.format.schema",
        ),
    ],
)
def test_malformed_fields_name_their_path(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequestError) as e:
        parse_request(body)
    assert e.value.param == param


def test_a_background_response_is_refused_and_background_false_is_fine() -> None:
    body = {"model": "m", "input": "hi", "background": True}
    with pytest.raises(InvalidRequestError) as e:
        parse_request(body)
    assert e.value.param == "background" and "not supported" in e.value.message
    assert parse_request({**body, "background": False}).responses_extras == {}
