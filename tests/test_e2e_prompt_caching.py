"""Automatic prompt caching end to end over TLS (`litecursor_settings.prompt_caching: auto`).

Anthropic: the strict fake caches as the real API does (breakpoints, the 20-block look-back,
the minimum length) and refuses a fifth breakpoint or a misplaced one; a Cursor agent loop
over three turns shows the breakpoints moving forward so each turn reads the previous turn's
cache, reported to Cursor as cached and written tokens. OpenAI: `prompt_cache_key` from
Cursor's conversation id.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import upstreams
from .fakes import anthropic_cache
from .fakes.common import Reply, ToolCallSpec
from .test_e2e_upstreams import wire
from .upstreams import MODEL, Serve

serve = upstreams.serve  # the fixture, where pytest looks for it

SYSTEM = "You are a coding agent in the user's editor. " * 400  # ~4,500 tokens, as Cursor's
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name}: " + "Use this tool carefully and only when needed. " * 40,
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
    for name in ("ReadFile", "Grep", "Shell")
]
CONVERSATION = "4f9d1a52-7c1e-4b0e-9d3b-2f6a8c0e1d77"


def body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "system", "content": SYSTEM}, *messages],
        "tools": TOOLS,
        "metadata": {"cursorConversationId": CONVERSATION},
        **extra,
    }


def step(n: int) -> list[dict[str, Any]]:
    """The agent's n-th tool call and its result, as Cursor replays them."""
    call = {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": "ReadFile", "arguments": f'{{"path": "src/m{n}.py"}}'},
    }
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": f"call_{n}",
            "content": f"# module {n}\n" + "x = 1\n" * 300,
        },
    ]


def marked(sent: dict[str, Any]) -> list[str]:
    out = [f"tools.{i}" for i, t in enumerate(sent.get("tools") or ()) if "cache_control" in t]
    out += [f"system.{i}" for i, b in enumerate(sent.get("system") or ()) if "cache_control" in b]
    for i, m in enumerate(sent["messages"]):
        out += [f"messages.{i}.{j}" for j, b in enumerate(m["content"]) if "cache_control" in b]
    return out


async def test_each_agent_turn_reads_the_previous_turns_cache(serve: Serve) -> None:
    fake, gw = await serve("anthropic")
    history = [{"role": "user", "content": "Read the modules and summarise them."}]
    usages: list[dict[str, Any]] = []
    marks: list[list[str]] = []
    for n in range(3):
        fake.replies.append(Reply(tool_calls=[ToolCallSpec(f"call_{n}", "ReadFile", "{}")]))
        status, payloads = await gw.chat(body(history))
        assert status == 200, payloads
        usages.append(payloads[-2]["usage"])
        marks.append(marked(fake.last.body))
        history += step(n)
    # turn 1 writes its whole prompt; each later turn reads exactly what the one before wrote
    first, second, third = usages
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert first["cache_creation_input_tokens"] > 4000
    for before, after in ((first, second), (second, third)):
        written = (
            before["prompt_tokens_details"]["cached_tokens"] + before["cache_creation_input_tokens"]
        )
        assert after["prompt_tokens_details"]["cached_tokens"] == written
        assert after["cache_creation_input_tokens"] > 0
        assert after["cache_read_input_tokens"] == written
    # the breakpoints: tools, system, then the newest block moving forward turn by turn, with
    # the previous turn's end marked too
    assert marks[0] == ["tools.2", "system.0", "messages.0.0"]
    assert marks[1] == ["tools.2", "system.0", "messages.0.0", "messages.2.0"]
    assert marks[2] == ["tools.2", "system.0", "messages.2.0", "messages.4.0"]


async def test_the_clients_own_breakpoints_are_kept_and_counted(serve: Serve) -> None:
    fake, gw = await serve("anthropic")
    mine = {"type": "ephemeral", "ttl": "1h"}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": SYSTEM, "cache_control": mine}]},
        {"role": "assistant", "content": "Understood."},
        {"role": "user", "content": [{"type": "text", "text": SYSTEM, "cache_control": mine}]},
        {"role": "assistant", "content": "Still understood."},
        {"role": "user", "content": "Go on."},
    ]
    status, _ = await gw.chat(body(messages))
    assert status == 200
    sent = fake.last.body
    assert len(marked(sent)) == 4
    assert sent["messages"][0]["content"][0]["cache_control"] == mine
    assert sent["messages"][2]["content"][0]["cache_control"] == mine


async def test_a_client_asking_for_five_breakpoints_gets_the_apis_refusal(serve: Serve) -> None:
    fake, gw = await serve("anthropic")
    fake.default_reply = Reply(text="never sent")
    mark = {"type": "ephemeral"}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": f"part {i}", "cache_control": mark}]}
        for i in range(5)
    ]
    status, err = await gw.chat(body(messages))
    assert status == 400
    assert (
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
        in err["error"]["message"]
    )


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "thinking", "thinking": "t", "signature": "s"}, "thinking blocks cannot"),
        ({"type": "text", "text": ""}, "empty text blocks"),
    ],
)
def test_the_fake_refuses_a_misplaced_breakpoint(block: dict[str, Any], problem: str) -> None:
    sent = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{**block, "cache_control": {"type": "ephemeral"}}]},
        ],
    }
    found = anthropic_cache.check(sent)
    assert found is not None and problem in found
    sent["messages"][1]["content"][0].pop("cache_control")
    assert anthropic_cache.check(sent) is None


async def test_prompt_caching_off_sends_no_breakpoints_and_no_cache_key(serve: Serve) -> None:
    for kind in ("anthropic", "openai"):
        fake, gw = await serve(kind, litecursor_settings={"prompt_caching": "off"})
        status, _ = await gw.chat(body([{"role": "user", "content": "hi"}]))
        assert status == 200
        assert "cache_control" not in str(fake.last.body)
        assert "prompt_cache_key" not in fake.last.body


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "azure-responses"])
async def test_openai_gets_cursors_conversation_id_as_its_prompt_cache_key(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat(body([{"role": "user", "content": "hi"}], user="u-hash"))
    assert status == 200
    sent = fake.last.body
    assert sent["prompt_cache_key"] == CONVERSATION and sent["user"] == "u-hash"
    # a key the client chose wins
    status, _ = await gw.chat(body([{"role": "user", "content": "hi"}], prompt_cache_key="mine"))
    assert status == 200 and fake.last.body["prompt_cache_key"] == "mine"


@pytest.mark.parametrize("kind", ["azure", "gemini"])
async def test_no_cache_key_where_the_api_has_none(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat(body([{"role": "user", "content": "hi"}]))
    assert status == 200 and "prompt_cache_key" not in str(fake.last.body)
    assert wire(kind) in ("chat", "gemini")
