"""Every body Cursor sends (`tests/data/cursor/requests/`), to every upstream kind, end to end over TLS.

The fakes refuse what the real APIs refuse (unknown parameters, wrong tool shapes, over-long
call ids, orphan tool results), so a 200 with the scripted answer means the translated request
was one the real API would take. Each body goes through a raw SSE client; chat-shaped bodies
also go through the openai SDK (its chat API cannot send a Responses `input`).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from . import upstreams
from .fakes.common import Reply, ToolCallSpec
from .harness import finish_reasons, text_of, tool_calls_of
from .paths import CURSOR_REQUESTS
from .upstreams import KIND_NAMES, KINDS, MODEL, Serve, assert_chat_stream

serve = upstreams.serve  # the fixture, where pytest looks for it

BODIES = {p.stem: orjson.loads(p.read_bytes()) for p in sorted(CURSOR_REQUESTS.glob("*.json"))}
CHAT_BODIES = [name for name, body in BODIES.items() if "messages" in body]

# what the upstream answers to each body: (text, tool call or None); the tools exist in the body
ANSWERS: dict[str, tuple[str, tuple[str, dict[str, Any]] | None]] = {
    "agent-first-turn": ("Reading the CLI first.", ("ReadFile", {"path": "src/cli.py"})),
    "agent-tool-result-turn": ("Added the --verbose flag.", None),
    "chat-ask-mode-mixed-tools": ("Searching for callers.", ("Grep", {"pattern": "retry_with"})),
    "chat-format-legacy": ("Each appears once, in README.md.", None),
    "claude-name-anthropic-blocks": ("Opening one.", ("ReadFile", {"path": "mcps/a.json"})),
    "with-image": ("A page with a single pixel.", None),
}


def test_every_cursor_body_has_an_answer() -> None:
    assert set(ANSWERS) == set(BODIES) and len(BODIES) >= 6


def reply_for(name: str) -> Reply:
    text, call = ANSWERS[name]
    calls = [ToolCallSpec("call_up_1", call[0], json.dumps(call[1]))] if call else []
    return Reply(text=text, tool_calls=calls, pieces=2)


def body_for(name: str) -> dict[str, Any]:
    return {**BODIES[name], "model": MODEL}


def conversation_texts(body: dict[str, Any]) -> list[str]:
    """The texts of the conversation (messages, tool results), wherever the dialect keeps them."""
    out: list[str] = []

    def add(content: Any) -> None:
        if isinstance(content, str):
            out.append(content)
            return
        for part in content or ():
            if part.get("type") in ("text", "input_text", "output_text"):
                out.append(part["text"])
            elif part.get("type") == "tool_result":
                add(part.get("content"))

    for item in body.get("messages") or body["input"]:
        kind = item.get("type", "message")
        if kind == "message":
            add(item.get("content"))
        elif kind.endswith("_output"):
            add(item["output"])
    return [t for t in out if t]


def assert_nothing_lost(body: dict[str, Any], sent: Any) -> None:
    wire = orjson.dumps(sent).decode()
    for text in conversation_texts(body):
        assert orjson.dumps(text).decode()[1:-1] in wire, (
            f"{text[:60]!r} never reached the upstream"
        )


def assert_answer(
    name: str, text: str, calls: dict[int, dict[str, str]], finishes: list[str]
) -> None:
    expected_text, call = ANSWERS[name]
    assert text == expected_text
    if call is None:
        assert calls == {} and finishes == ["stop"]
    else:
        assert list(calls) == [0] and calls[0]["id"]
        assert (calls[0]["name"], json.loads(calls[0]["arguments"])) == call
        assert finishes == ["tool_calls"]


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("name", list(BODIES))
async def test_cursor_body_streams_back_as_chat_completions(
    serve: Serve, kind: str, name: str
) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(reply_for(name))
    status, payloads = await gw.chat(body_for(name))
    assert status == 200, payloads
    assert_chat_stream(payloads)
    assert_answer(name, text_of(payloads), tool_calls_of(payloads), finish_reasons(payloads))
    assert len(fake.requests) == 1  # accepted the first time, no retry hid a refusal
    assert_nothing_lost(BODIES[name], fake.last.body)


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("name", CHAT_BODIES)
async def test_cursor_chat_body_streams_through_the_openai_sdk(
    serve: Serve, kind: str, name: str
) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(reply_for(name))
    body = body_for(name)
    rest = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
    stream = await gw.openai().chat.completions.create(
        model=MODEL, messages=body["messages"], stream=True, extra_body=rest
    )
    chunks = [c async for c in stream]
    assert len({c.id for c in chunks}) == 1 and {c.object for c in chunks} == {
        "chat.completion.chunk"
    }
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] = tc.id or entry["id"]
            entry["name"] = (tc.function.name if tc.function else None) or entry["name"]
            entry["arguments"] += (tc.function.arguments if tc.function else None) or ""
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert_answer(name, text, calls, finishes)
    assert_nothing_lost(BODIES[name], fake.last.body)


@pytest.mark.parametrize("kind", KIND_NAMES)
async def test_replayed_reasoning_item_reaches_only_a_responses_upstream(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    name = "agent-tool-result-turn"
    fake.replies.append(reply_for(name))
    status, _ = await gw.chat(body_for(name))
    assert status == 200
    blob = next(
        i["encrypted_content"] for i in BODIES[name]["input"] if i.get("type") == "reasoning"
    )
    sent = fake.last.body
    if kind.endswith("responses"):
        kinds = [i.get("type") for i in sent["input"]]
        at = kinds.index("reasoning")
        assert sent["input"][at]["encrypted_content"] == blob and kinds[at + 1] == "function_call"
    else:
        assert blob not in orjson.dumps(sent).decode()


@pytest.mark.parametrize("kind", KIND_NAMES)
async def test_fields_an_upstream_rejects_are_not_sent(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(reply_for("agent-first-turn"))
    status, payloads = await gw.chat(body_for("agent-first-turn"))
    assert status == 200 and payloads[-2]["usage"]  # usage still reaches Cursor
    sent = fake.last.body
    user = BODIES["agent-first-turn"]["user"]
    assert "cursorConversationId" not in orjson.dumps(sent).decode()
    if KINDS[kind].wire == "responses":
        assert "stream_options" not in sent and sent["user"] == user[:64]
    elif KINDS[kind].wire == "chat":
        assert sent["user"] == user[:64] and "metadata" not in sent
    elif KINDS[kind].wire == "anthropic":
        assert sent["metadata"] == {"user_id": user}
    else:
        assert "user" not in sent and "metadata" not in sent
