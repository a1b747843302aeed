"""Reasoning replay: an upstream's opaque reasoning comes back to it next turn, though Cursor drops it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from litecursor.config import parse
from litecursor.protocol.types import ChatRequest, Message, TextPart, ToolCall
from litecursor.replay import ReasoningReplay

from .fakes.anthropic_upstream import SIGNATURE as ANTHROPIC_SIGNATURE
from .fakes.common import Reply, ToolCallSpec
from .fakes.gemini_upstream import SIGNATURE as GEMINI_SIGNATURE
from .upstreams import MODEL, serve  # noqa: F401  (fixture)


def deployments(*keys: str):
    cfg = parse(
        {
            "model_list": [
                {
                    "model_name": f"m{i}",
                    "litellm_params": {"model": "openai/responses/gpt-5", "api_key": k},
                }
                for i, k in enumerate(keys)
            ],
            "general_settings": {"master_key": "k"},
        },
        environ={},
    )
    return cfg.deployments


def history(call_id: str = "call_1") -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=(
            Message("user", (TextPart("go"),)),
            Message("assistant", tool_calls=(ToolCall(call_id, "ReadFile", "{}"),)),
            Message("tool", (TextPart("data"),), tool_call_id=call_id),
        ),
    )


ITEM = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"}


def test_remembered_reasoning_is_put_back_on_its_turn() -> None:
    (d,) = deployments("sk-a")
    replay = ReasoningReplay()
    replay.remember(d, ["call_1"], [ITEM])
    req = replay.restore(history(), d)
    assert req.messages[1].reasoning == (ITEM,)
    assert req.messages[0] == history().messages[0]


def test_nothing_is_restored_for_unknown_calls() -> None:
    (d,) = deployments("sk-a")
    replay = ReasoningReplay()
    replay.remember(d, ["call_other"], [ITEM])
    req = history()
    assert replay.restore(req, d) is req


def test_other_credentials_never_get_the_reasoning() -> None:
    a, b = deployments("sk-a", "sk-b")
    replay = ReasoningReplay()
    replay.remember(a, ["call_1"], [ITEM])
    assert replay.restore(history(), b).messages[1].reasoning == ()


def test_reasoning_the_client_sent_itself_is_kept() -> None:
    (d,) = deployments("sk-a")
    replay = ReasoningReplay()
    replay.remember(d, ["call_1"], [ITEM])
    own = {"type": "reasoning", "id": "rs_own", "encrypted_content": "x"}
    msgs = list(history().messages)
    msgs[1] = Message("assistant", tool_calls=msgs[1].tool_calls, reasoning=(own,))
    req = ChatRequest(model="m", messages=tuple(msgs))
    assert replay.restore(req, d).messages[1].reasoning == (own,)


def test_memory_is_bounded_oldest_first() -> None:
    (d,) = deployments("sk-a")
    size = len(json.dumps([ITEM], separators=(",", ":")))
    replay = ReasoningReplay(max_bytes=size * 3)
    for i in range(10):
        replay.remember(d, [f"call_{i}"], [ITEM])
    assert len(replay) == 3
    assert replay.restore(history("call_9"), d).messages[1].reasoning == (ITEM,)
    assert replay.restore(history("call_0"), d).messages[1].reasoning == ()


def test_a_smaller_limit_drops_the_oldest_turns_and_zero_forgets_all() -> None:
    (d,) = deployments("sk-a")
    size = len(json.dumps([ITEM], separators=(",", ":")))
    replay = ReasoningReplay(max_bytes=size * 5)
    for i in range(5):
        replay.remember(d, [f"call_{i}"], [ITEM])
    replay.resize(size * 2)  # a reloaded config's reasoning_replay_mb
    assert len(replay) == 2
    assert replay.restore(history("call_4"), d).messages[1].reasoning == (ITEM,)
    assert replay.restore(history("call_2"), d).messages[1].reasoning == ()
    replay.resize(0)
    assert len(replay) == 0


def test_calls_of_one_turn_share_one_copy() -> None:
    (d,) = deployments("sk-a")
    size = len(json.dumps([ITEM], separators=(",", ":")))
    replay = ReasoningReplay(max_bytes=size)
    replay.remember(d, ["a", "b", "c"], [ITEM])
    assert len(replay) == 3  # three ids, one turn's bytes: still within the bound


def test_zero_bytes_turns_it_off() -> None:
    (d,) = deployments("sk-a")
    replay = ReasoningReplay(max_bytes=0)
    replay.remember(d, ["call_1"], [ITEM])
    assert len(replay) == 0


# --- end to end: two agent turns, the client replaying history as Cursor does -------------

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "ReadFile",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


async def two_turns(serve: Any, kind: str, **sections: Any) -> tuple[Any, str]:  # noqa: F811
    fake, gw = await serve(kind, **sections)
    fake.replies.append(
        Reply(
            reasoning="I should read the file.",
            tool_calls=[ToolCallSpec("call_x1", "ReadFile", '{"path": "a.py"}')],
        )
    )
    fake.replies.append(Reply(text="Done."))
    first = [{"role": "user", "content": "read a.py"}]
    status, payloads = await gw.chat(
        {
            "model": MODEL,
            "stream": True,
            "messages": first,
            "tools": TOOLS,
            "reasoning_effort": "high",
        }
    )
    assert status == 200
    call = next(
        tc
        for p in payloads
        if isinstance(p, dict) and p.get("choices")
        for tc in p["choices"][0]["delta"].get("tool_calls") or []
        if tc.get("id")
    )
    second = [
        *first,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": "ReadFile", "arguments": '{"path": "a.py"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "print(1)"},
    ]
    status, payloads = await gw.chat(
        {
            "model": MODEL,
            "stream": True,
            "messages": second,
            "tools": TOOLS,
            "reasoning_effort": "high",
        }
    )
    assert status == 200 and payloads[-1] == "[DONE]"
    return fake.last.body, call["id"]


async def test_responses_upstream_gets_its_encrypted_reasoning_back(serve: Any) -> None:  # noqa: F811
    body, call_id = await two_turns(serve, "openai-responses")
    kinds = [i.get("type") for i in body["input"]]
    r = kinds.index("reasoning")
    assert body["input"][r]["encrypted_content"] == "gAAAAfake-blob"
    assert kinds[r + 1] == "function_call" and body["input"][r + 1]["call_id"] == call_id
    assert "reasoning.encrypted_content" in body["include"]


async def test_anthropic_keeps_thinking_on_through_the_tool_loop(serve: Any) -> None:  # noqa: F811
    body, _ = await two_turns(serve, "anthropic")
    assert body["thinking"]["type"] == "enabled"
    assistant = next(m for m in body["messages"] if m["role"] == "assistant")
    assert assistant["content"][0]["type"] == "thinking"
    assert assistant["content"][0]["signature"] == ANTHROPIC_SIGNATURE


async def test_gemini_gets_its_real_thought_signature_back(serve: Any) -> None:  # noqa: F811
    body, _ = await two_turns(serve, "gemini")
    model_turn = next(c for c in body["contents"] if c["role"] == "model")
    call_part = next(p for p in model_turn["parts"] if "functionCall" in p)
    assert call_part["thoughtSignature"] == GEMINI_SIGNATURE


@pytest.mark.parametrize("kind", ["anthropic", "openai-responses"])
async def test_replay_can_be_turned_off(serve: Any, kind: str) -> None:  # noqa: F811
    body, _ = await two_turns(serve, kind, litecursor_settings={"reasoning_replay_mb": 0})
    dumped = json.dumps(body)
    assert ANTHROPIC_SIGNATURE not in dumped and "gAAAAfake-blob" not in dumped
