"""Per upstream kind, end to end over TLS: what Cursor sends reaches each API in its own form,
and what each API answers reaches Cursor as Chat Completions. Then the offline `mock/` model
answering every dialect.

Requests are checked on `fake.last.body`, the request the strict fake accepted; answers are
scripted `Reply`s each fake renders in its API's wire format.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from . import upstreams
from .fakes.common import Reply, ToolCallSpec
from .harness import STOCK, WEATHER, finish_reasons, text_of, tool_calls_of
from .upstreams import KIND_NAMES, KINDS, MODEL, Serve, assert_chat_stream

serve = upstreams.serve  # the fixture, where pytest looks for it
per_kind = pytest.mark.parametrize("kind", KIND_NAMES)

GRAMMAR = {
    "type": "grammar",
    "syntax": "lark",
    "definition": 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF',
}
APPLY_PATCH = {
    "type": "custom",
    "name": "ApplyPatch",
    "description": "Edit files by sending a patch in the V4A format.",
    "format": GRAMMAR,
}
PATCH = (
    "*** Begin Patch\n*** Update File: src/cli.py\n@@\n     parser = argparse.ArgumentParser()\n"
    '+    parser.add_argument("--verbose", action="store_true")\n*** End Patch\n'
)
PIXEL_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5E"
    "rkJggg=="
)
PIXEL = "data:image/png;base64," + PIXEL_B64


def chat(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": messages, "stream": True, **extra}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def wire(kind: str) -> str:
    return KINDS[kind].wire


def bare(block: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic block without the prompt-cache mark the adapter may add to it."""
    return {k: v for k, v in block.items() if k != "cache_control"}


def tool_call_deltas(payloads: list[Any]) -> list[dict[str, Any]]:
    return [
        tc
        for c in payloads
        if isinstance(c, dict) and c.get("choices")
        for tc in c["choices"][0]["delta"].get("tool_calls") or ()
    ]


def reasoning_of(payloads: list[Any]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("reasoning_content") or ""
        for c in payloads
        if isinstance(c, dict) and c.get("choices")
    )


# --- what the upstream received, in its own terms ---------------------------------------


def sent_user_parts(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of the last user turn, as the upstream's own objects."""
    match wire(kind):
        case "chat":
            content = body["messages"][-1]["content"]
            return [{"type": "text", "text": content}] if isinstance(content, str) else content
        case "responses":
            return body["input"][-1]["content"]
        case "anthropic":
            return [bare(b) for b in body["messages"][-1]["content"]]
        case "bedrock":
            return [b for b in body["messages"][-1]["content"] if "cachePoint" not in b]
        case _:
            return body["contents"][-1]["parts"]


def sent_calls(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls replayed in history, as the upstream's own objects."""
    match wire(kind):
        case "chat":
            return [c for m in body["messages"] for c in m.get("tool_calls") or ()]
        case "responses":
            return [
                i for i in body["input"] if i.get("type") in ("function_call", "custom_tool_call")
            ]
        case "anthropic":
            return [
                bare(b) for m in body["messages"] for b in m["content"] if b["type"] == "tool_use"
            ]
        case "bedrock":
            return [b["toolUse"] for m in body["messages"] for b in m["content"] if "toolUse" in b]
        case _:
            return [
                p["functionCall"]
                for c in body["contents"]
                for p in c["parts"]
                if "functionCall" in p
            ]


def sent_results(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results in history, as the upstream's own objects."""
    match wire(kind):
        case "chat":
            return [m for m in body["messages"] if m["role"] == "tool"]
        case "responses":
            return [i for i in body["input"] if str(i.get("type")).endswith("_output")]
        case "anthropic":
            return [
                bare(b)
                for m in body["messages"]
                for b in m["content"]
                if b["type"] == "tool_result"
            ]
        case "bedrock":
            return [
                b["toolResult"] for m in body["messages"] for b in m["content"] if "toolResult" in b
            ]
        case _:
            return [
                p["functionResponse"]
                for c in body["contents"]
                for p in c["parts"]
                if "functionResponse" in p
            ]


def sent_tools(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    match wire(kind):
        case "chat":
            return [t["function"] for t in body["tools"]]
        case "gemini":
            return body["tools"][0]["functionDeclarations"]
        case "bedrock":
            return [
                {"name": t["toolSpec"]["name"], "description": t["toolSpec"].get("description"),
                 "parameters": t["toolSpec"]["inputSchema"]["json"]}
                for t in body["toolConfig"]["tools"] if "toolSpec" in t
            ]  # fmt: skip
        case _:
            return body["tools"]


# --- text, system prompt, tools --------------------------------------------------------


@per_kind
async def test_text_streams_as_content(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(Reply(text="The quick brown fox.", pieces=4))
    status, payloads = await gw.chat(chat(user("Say something.")))
    assert status == 200
    assert_chat_stream(payloads)
    assert text_of(payloads) == "The quick brown fox." and finish_reasons(payloads) == ["stop"]
    assert sent_user_parts(kind, fake.last.body) == [
        {
            "chat": {"type": "text", "text": "Say something."},
            "responses": {"type": "input_text", "text": "Say something."},
            "anthropic": {"type": "text", "text": "Say something."},
            "gemini": {"text": "Say something."},
            "bedrock": {"text": "Say something."},
        }[wire(kind)]
    ]


@per_kind
async def test_system_prompt_goes_where_the_upstream_wants_it(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    messages = [{"role": "system", "content": "You are terse."}, *user("hi")]
    status, _ = await gw.chat(chat(messages))
    assert status == 200
    sent = fake.last.body
    match wire(kind):
        case "chat":
            assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
        case "responses":
            assert sent["instructions"] == "You are terse." and len(sent["input"]) == 1
        case "anthropic":
            assert [bare(b) for b in sent["system"]] == [{"type": "text", "text": "You are terse."}]
            assert [m["role"] for m in sent["messages"]] == ["user"]
        case "bedrock":
            assert [b for b in sent["system"] if "text" in b] == [{"text": "You are terse."}]
            assert [m["role"] for m in sent["messages"]] == ["user"]
        case _:
            assert sent["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
            assert [c["role"] for c in sent["contents"]] == ["user"]


@per_kind
async def test_tool_call_streams_as_a_function_call(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(
        Reply(tool_calls=[ToolCallSpec("call_w1", "get_weather", '{"city": "Paris"}')])
    )
    status, payloads = await gw.chat(chat(user("Weather in Paris?"), tools=[WEATHER]))
    assert status == 200
    assert_chat_stream(payloads)
    first = tool_call_deltas(payloads)[0]
    assert first["index"] == 0 and first["type"] == "function" and first["id"]
    assert first["function"]["name"] == "get_weather"
    call = tool_calls_of(payloads)[0]
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    if wire(kind) != "gemini":  # Gemini's calls carry no id; the gateway makes one
        assert call["id"] == "call_w1"
    assert finish_reasons(payloads) == ["tool_calls"]
    assert [t["name"] for t in sent_tools(kind, fake.last.body)] == ["get_weather"]


@per_kind
async def test_parallel_tool_calls_keep_their_order_and_ids(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(
        Reply(
            tool_calls=[
                ToolCallSpec("call_a", "get_weather", '{"city": "Oslo"}'),
                ToolCallSpec("call_b", "get_stock", '{"ticker": "ACME"}'),
            ]
        )
    )
    status, payloads = await gw.chat(chat(user("Oslo weather and ACME?"), tools=[WEATHER, STOCK]))
    assert status == 200
    assert_chat_stream(payloads)
    calls = tool_calls_of(payloads)
    assert [(i, c["name"], json.loads(c["arguments"])) for i, c in calls.items()] == [
        (0, "get_weather", {"city": "Oslo"}),
        (1, "get_stock", {"ticker": "ACME"}),
    ]
    assert len({c["id"] for c in calls.values()}) == 2 and all(c["id"] for c in calls.values())
    assert finish_reasons(payloads) == ["tool_calls"]


@per_kind
async def test_tool_result_turn_reaches_the_upstream_in_its_form(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(Reply(text="It is sunny in Paris."))
    messages = [
        *user("Weather in Paris?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny, 21 C"},
    ]
    status, payloads = await gw.chat(chat(messages, tools=[WEATHER]))
    assert status == 200 and text_of(payloads) == "It is sunny in Paris."
    sent = fake.last.body
    call, result = {
        "chat": (
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
        ),
        "responses": (
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"},
        ),
        "anthropic": (
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny, 21 C"},
        ),
        "gemini": (
            {"name": "get_weather", "args": {"city": "Paris"}},
            {"name": "get_weather", "response": {"output": "sunny, 21 C"}},
        ),
        "bedrock": (
            {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"toolUseId": "call_1", "content": [{"text": "sunny, 21 C"}]},
        ),
    }[wire(kind)]
    assert sent_calls(kind, sent) == [call] and sent_results(kind, sent) == [result]


# --- the custom ApplyPatch tool ----------------------------------------------------------


def apply_patch_call(kind: str, call_id: str = "call_p1") -> ToolCallSpec:
    """How the upstream calls ApplyPatch: natively on Responses, as `{"input": ...}` elsewhere."""
    if KINDS[kind].native_custom_tools:
        return ToolCallSpec(call_id, "ApplyPatch", PATCH, custom=True)
    return ToolCallSpec(call_id, "ApplyPatch", json.dumps({"input": PATCH}))


@per_kind
async def test_custom_tool_is_declared_natively_or_as_a_one_string_function(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat(chat(user("Add a flag."), tools=[APPLY_PATCH]))
    assert status == 200
    (tool,) = sent_tools(kind, fake.last.body)
    assert tool["name"] == "ApplyPatch"
    if KINDS[kind].native_custom_tools:
        assert tool == APPLY_PATCH
        return
    schema = tool.get("parameters") or tool.get("input_schema")
    assert (
        schema["required"] == ["input"]
        and str(schema["properties"]["input"]["type"]).lower() == "string"
    )
    assert GRAMMAR["definition"] in tool["description"]


@per_kind
async def test_apply_patch_round_trip_over_two_turns(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    turn1 = [{"role": "system", "content": "You edit code."}, *user("Add a --verbose flag.")]
    fake.replies.append(Reply(text="Patching.", tool_calls=[apply_patch_call(kind)]))
    status, payloads = await gw.chat(chat(turn1, tools=[APPLY_PATCH, WEATHER]))
    assert status == 200
    assert_chat_stream(payloads)
    assert all(d.get("type", "function") == "function" for d in tool_call_deltas(payloads))
    call = tool_calls_of(payloads)[0]
    assert call["name"] == "ApplyPatch" and call["arguments"] == PATCH  # raw text, not JSON
    assert finish_reasons(payloads) == ["tool_calls"]

    # turn 2: Cursor replays the call as a function envelope with the raw text, plus its output
    fake.replies.append(Reply(text="Done."))
    turn2 = [
        *turn1,
        {
            "role": "assistant",
            "content": "Patching.",
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": "ApplyPatch", "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "Success. Updated src/cli.py"},
    ]
    status, payloads = await gw.chat(chat(turn2, tools=[APPLY_PATCH, WEATHER]))
    assert status == 200 and text_of(payloads) == "Done."
    sent = fake.last.body
    (replayed,) = sent_calls(kind, sent)
    (result,) = sent_results(kind, sent)
    match wire(kind):
        case "responses":
            assert replayed == {
                "type": "custom_tool_call",
                "call_id": call["id"],
                "name": "ApplyPatch",
                "input": PATCH,
            }
            assert result == {
                "type": "custom_tool_call_output",
                "call_id": call["id"],
                "output": "Success. Updated src/cli.py",
            }
        case "chat":
            assert replayed["function"]["name"] == "ApplyPatch"
            assert json.loads(replayed["function"]["arguments"]) == {"input": PATCH}
            assert result["tool_call_id"] == call["id"]
        case "anthropic":
            assert replayed == {
                "type": "tool_use",
                "id": call["id"],
                "name": "ApplyPatch",
                "input": {"input": PATCH},
            }
            assert result["tool_use_id"] == call["id"]
        case "bedrock":
            assert replayed == {
                "toolUseId": call["id"],
                "name": "ApplyPatch",
                "input": {"input": PATCH},
            }
            assert result["toolUseId"] == call["id"]
        case _:
            assert replayed == {"name": "ApplyPatch", "args": {"input": PATCH}}
            assert result["name"] == "ApplyPatch"


# --- histories the real APIs would refuse as Cursor sends them --------------------------

READ_FILE_FLAT = {
    "type": "function",
    "name": "ReadFile",
    "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}
# Cursor's ids are opaque: over 64 characters, even with a newline inside (README, open question 8)
LONG_ID = "call_Q2x8HnV4kLmP0sRt7wYz1AbC\nfc_68a1b2c3d4e5f60718293a4b5c6d7e8f901122334455667788"


def agent_turn(*items: dict[str, Any]) -> dict[str, Any]:
    """A Responses-shaped Agent body whose history ends with `items`."""
    return {
        "model": MODEL,
        "stream": True,
        "tools": [READ_FILE_FLAT],
        "input": [{"role": "user", "content": "Read a.py"}, *items],
    }


def read_call(call_id: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "call_id": call_id,
        "name": "ReadFile",
        "arguments": '{"path":"a.py"}',
    }


def read_output(call_id: str, output: str = "print(1)") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def paired_ids(kind: str, sent: dict[str, Any]) -> list[tuple[str, str]]:
    """(call id, result id) of each replayed call and its result, as sent."""
    calls, results = sent_calls(kind, sent), sent_results(kind, sent)
    match wire(kind):
        case "chat":
            return [(c["id"], r["tool_call_id"]) for c, r in zip(calls, results, strict=True)]
        case "responses":
            return [(c["call_id"], r["call_id"]) for c, r in zip(calls, results, strict=True)]
        case "anthropic":
            return [(c["id"], r["tool_use_id"]) for c, r in zip(calls, results, strict=True)]
        case "bedrock":
            return [(c["toolUseId"], r["toolUseId"]) for c, r in zip(calls, results, strict=True)]
        case _:  # Gemini pairs by name
            return [(c["name"], r["name"]) for c, r in zip(calls, results, strict=True)]


@per_kind
async def test_text_after_a_call_stays_in_the_calls_turn(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    said = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Reading it now."}],
    }
    status, payloads = await gw.chat(agent_turn(read_call("c1"), said, read_output("c1")))
    assert status == 200, payloads
    sent = fake.last.body
    assert len(paired_ids(kind, sent)) == 1 and all(a == b for a, b in paired_ids(kind, sent))
    assert "Reading it now." in orjson.dumps(sent).decode()


@per_kind
async def test_unanswered_call_gets_a_placeholder_result(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    stop = {"role": "user", "content": "Never mind, stop."}
    status, payloads = await gw.chat(agent_turn(read_call("c1"), stop))
    assert status == 200, payloads
    sent = fake.last.body
    assert len(paired_ids(kind, sent)) == 1
    assert "No result was recorded" in orjson.dumps(sent_results(kind, sent)).decode()


@per_kind
async def test_result_without_its_call_is_kept_as_user_text(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    status, payloads = await gw.chat(agent_turn(read_output("c9", "orphaned output")))
    assert status == 200, payloads
    sent = fake.last.body
    assert sent_results(kind, sent) == [] and "orphaned output" in orjson.dumps(sent).decode()


@per_kind
async def test_long_call_ids_with_newlines_are_accepted_and_stay_paired(
    serve: Serve, kind: str
) -> None:
    assert len(LONG_ID) > 64
    fake, gw = await serve(kind)
    fake.replies.append(Reply(text="It prints 1."))
    status, payloads = await gw.chat(agent_turn(read_call(LONG_ID), read_output(LONG_ID)))
    assert status == 200, payloads
    assert text_of(payloads) == "It prints 1."
    ((call_id, result_id),) = paired_ids(kind, fake.last.body)
    assert call_id == result_id and len(call_id) <= 64


# --- images, reasoning ------------------------------------------------------------------


@per_kind
async def test_image_data_url_reaches_the_upstream_in_its_form(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(Reply(text="A single pixel."))
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": PIXEL}},
    ]
    status, payloads = await gw.chat(chat([{"role": "user", "content": content}]))
    assert status == 200 and text_of(payloads) == "A single pixel."
    image = sent_user_parts(kind, fake.last.body)[1]
    assert (
        image
        == {
            "chat": {"type": "image_url", "image_url": {"url": PIXEL}},
            "responses": {"type": "input_image", "image_url": PIXEL, "detail": "auto"},
            "anthropic": {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PIXEL_B64},
            },
            "gemini": {"inlineData": {"mimeType": "image/png", "data": PIXEL_B64}},
            "bedrock": {"image": {"format": "png", "source": {"bytes": PIXEL_B64}}},
        }[wire(kind)]
    )


def thinking() -> Reply:
    return Reply(reasoning="Weighing both options.", text="Option B.", pieces=2)


@per_kind
async def test_reasoning_streams_as_reasoning_content(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(thinking())
    status, payloads = await gw.chat(chat(user("A or B?"), reasoning_effort="high"))
    assert status == 200
    assert_chat_stream(payloads)
    assert reasoning_of(payloads) == "Weighing both options." and text_of(payloads) == "Option B."
    deltas = [c["choices"][0]["delta"] for c in payloads[:-1] if c["choices"]]
    first_reasoning = next(i for i, d in enumerate(deltas) if d.get("reasoning_content"))
    first_text = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert first_reasoning < first_text


@per_kind
async def test_reasoning_effort_reaches_the_upstream_as_its_control(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat(chat(user("A or B?"), reasoning_effort="high"))
    assert status == 200
    sent = fake.last.body
    match wire(kind):
        case "chat":
            assert sent["reasoning_effort"] == "high"
        case "responses":
            assert sent["reasoning"] == {"effort": "high", "summary": "auto"}
        case "anthropic":
            assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}
            assert sent["max_tokens"] > 4096
        case "bedrock" if kind == "bedrock":  # Claude thinks
            thinking = {"type": "enabled", "budget_tokens": 4096}
            assert sent["additionalModelRequestFields"] == {"thinking": thinking}
            assert sent["inferenceConfig"]["maxTokens"] > 4096
        case "bedrock":  # Llama has no reasoning control: nothing is sent
            assert "additionalModelRequestFields" not in sent
        case _:
            assert sent["generationConfig"]["thinkingConfig"] == {
                "thinkingBudget": 24576,
                "includeThoughts": True,
            }


@per_kind
async def test_think_tags_put_reasoning_inside_content(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind, litecursor_settings={"reasoning_display": "think_tags"})
    fake.replies.append(thinking())
    status, payloads = await gw.chat(chat(user("A or B?"), reasoning_effort="high"))
    assert status == 200
    assert_chat_stream(payloads)
    assert text_of(payloads) == "<think>\nWeighing both options.\n</think>\n\nOption B."
    assert reasoning_of(payloads) == ""


# --- errors, usage, non-streaming --------------------------------------------------------


@per_kind
async def test_error_mid_stream_is_a_final_error_chunk_without_done(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(Reply(text="partial answer", stream_error="The model is overloaded"))
    status, payloads = await gw.chat(chat(user("hi")))
    assert status == 200
    assert text_of(payloads) == "partial answer"
    last = payloads[-1]
    assert last["choices"] == [] and "overloaded" in last["error"]["message"]
    assert "[DONE]" not in payloads and finish_reasons(payloads) == []
    assert all("error" not in c for c in payloads[:-1])


@per_kind
async def test_usage_chunk_carries_cached_and_reasoning_tokens(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(
        Reply(text="ok", prompt_tokens=20, completion_tokens=9, cached_tokens=5, reasoning_tokens=3)
    )
    status, payloads = await gw.chat(chat(user("hi")))  # no stream_options: /cursor adds usage
    assert status == 200
    assert_chat_stream(payloads)
    writes = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 5}
    expected = {
        "prompt_tokens": 20,
        "completion_tokens": 9,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 3},
        **(writes if wire(kind) in ("anthropic", "bedrock") else {}),  # they report writes
    }
    if wire(kind) == "bedrock":  # Converse's usage does not count reasoning tokens apart
        del expected["completion_tokens_details"]
    assert payloads[-2]["usage"] == expected


@per_kind
async def test_non_streaming_answer_is_one_completion_with_tool_calls(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(
        Reply(
            text="Checking.",
            tool_calls=[ToolCallSpec("call_w1", "get_weather", '{"city": "Rome"}')],
        )
    )
    r = await gw.openai().chat.completions.create(
        model=MODEL, messages=user("Rome?"), tools=[WEATHER]
    )
    assert r.object == "chat.completion" and r.model == MODEL
    message = r.choices[0].message
    assert message.content == "Checking." and r.choices[0].finish_reason == "tool_calls"
    (tc,) = message.tool_calls
    assert tc.type == "function" and tc.id and tc.function.name == "get_weather"
    assert json.loads(tc.function.arguments) == {"city": "Rome"}
    assert r.usage.prompt_tokens == 11 and r.usage.completion_tokens == 7
    if wire(kind) == "gemini":
        assert fake.last.path.endswith(":generateContent")
    elif wire(kind) == "bedrock":
        assert fake.last.path.endswith("/converse")
    else:
        assert "stream" not in fake.last.body


@per_kind
async def test_non_streaming_custom_call_carries_the_raw_text(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(Reply(tool_calls=[apply_patch_call(kind)]))
    status, body = await gw.chat(
        {**chat(user("Add a flag."), tools=[APPLY_PATCH]), "stream": False}
    )
    assert status == 200 and body["object"] == "chat.completion"
    (tc,) = body["choices"][0]["message"]["tool_calls"]
    assert tc["type"] == "function" and tc["function"] == {"name": "ApplyPatch", "arguments": PATCH}


# --- the mock model, in every dialect ---------------------------------------------------


@pytest.fixture
async def mock_gw(gateway_factory: Any) -> Any:
    return await gateway_factory([{"model_name": MODEL, "litellm_params": {"model": "mock/echo"}}])


async def test_mock_echoes_a_chat_body(mock_gw: Any) -> None:
    status, payloads = await mock_gw.chat(chat(user("hello from chat")))
    assert status == 200
    assert_chat_stream(payloads)
    assert text_of(payloads) == "hello from chat" and finish_reasons(payloads) == ["stop"]


async def test_mock_calls_a_tool_from_a_responses_body(mock_gw: Any) -> None:
    body = {
        "model": MODEL,
        "stream": True,
        "tools": [READ_FILE_FLAT],
        "input": [
            {"role": "system", "content": "You are the agent."},
            {
                "role": "user",
                "content": [{"type": "input_text", "text": '/tool ReadFile {"path": "a.py"}'}],
            },
        ],
    }
    status, payloads = await mock_gw.chat(body)
    assert status == 200
    assert_chat_stream(payloads)
    (call,) = tool_calls_of(payloads).values()
    assert call["name"] == "ReadFile" and json.loads(call["arguments"]) == {"path": "a.py"}
    assert finish_reasons(payloads) == ["tool_calls"]


async def test_mock_gives_a_custom_tool_its_raw_text(mock_gw: Any) -> None:
    patch = PATCH.rstrip("\n")
    body = {
        "model": MODEL,
        "stream": True,
        "tools": [READ_FILE_FLAT, APPLY_PATCH],
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": f"/tool ApplyPatch {patch}"}],
            }
        ],
    }
    status, payloads = await mock_gw.chat(body)
    assert status == 200
    assert_chat_stream(payloads)
    (call,) = tool_calls_of(payloads).values()
    assert call == {"id": call["id"], "name": "ApplyPatch", "arguments": patch}


async def test_mock_makes_parallel_calls_from_several_tool_lines(mock_gw: Any) -> None:
    text = '/tool get_weather {"city": "Oslo"}\n/tool get_stock {"ticker": "ACME"}'
    status, payloads = await mock_gw.chat(chat(user(text), tools=[WEATHER, STOCK]))
    assert status == 200
    calls = tool_calls_of(payloads)
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_stock", {"ticker": "ACME"}),
    ]


CLAUDE_TOOLS = [
    {
        "name": "LS",
        "description": "List a directory.",
        "input_schema": {
            "type": "object",
            "properties": {"target_directory": {"type": "string"}},
            "required": ["target_directory"],
        },
    }
]


async def test_mock_calls_a_bare_anthropic_tool(mock_gw: Any) -> None:
    status, payloads = await mock_gw.chat(
        chat(user('/tool LS {"target_directory": "mcps"}'), tools=CLAUDE_TOOLS)
    )
    assert status == 200
    assert_chat_stream(payloads)
    (call,) = tool_calls_of(payloads).values()
    assert call["name"] == "LS" and json.loads(call["arguments"]) == {"target_directory": "mcps"}


async def test_mock_acknowledges_an_anthropic_tool_result_block(mock_gw: Any) -> None:
    messages = [
        {"role": "system", "content": "You are the agent."},
        *user("List the folder."),
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Listing."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "LS",
                    "input": {"target_directory": "mcps"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [{"type": "text", "text": "mcps/ tools/ create_issue.json"}],
                }
            ],
        },
    ]
    status, payloads = await mock_gw.chat(chat(messages, tools=CLAUDE_TOOLS))
    assert status == 200
    assert_chat_stream(payloads)
    assert text_of(payloads) == "Tool LS returned: mcps/ tools/ create_issue.json"


async def test_mock_answers_without_streaming_through_the_sdk(mock_gw: Any) -> None:
    r = await mock_gw.openai().chat.completions.create(
        model=MODEL, messages=user('/tool get_weather {"city": "Rome"}'), tools=[WEATHER]
    )
    (tc,) = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls" and tc.function.name == "get_weather"
    assert orjson.loads(tc.function.arguments) == {"city": "Rome"}
