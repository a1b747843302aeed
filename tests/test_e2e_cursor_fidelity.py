"""Bodies real clients send that a peer gateway's Cursor test cases found mishandled, end to end
over TLS to every upstream kind: `messages` beside `input`, Chat-shaped custom-tool grammars,
tool results separated from their calls, system text after the first turn, empty text parts.

The fakes refuse what the real APIs refuse (a custom tool's format in the other dialect's
shape, a late system message or an empty text part at an OpenAI-compatible server), so a 200
means the translated request was one the real API takes.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from . import upstreams
from .fakes import openai_responses_upstream, openai_upstream
from .fakes.common import FakeUpstream, Reply
from .harness import WEATHER, text_of
from .test_e2e_upstreams import (
    GRAMMAR,
    PIXEL,
    sent_calls,
    sent_results,
    sent_tools,
    sent_user_parts,
    wire,
)
from .upstreams import KIND_NAMES, KINDS, MODEL, UPSTREAM_KEY, Serve, assert_chat_stream

serve = upstreams.serve  # the fixture, where pytest looks for it
per_kind = pytest.mark.parametrize("kind", KIND_NAMES)


def sent_text(body: Any) -> str:
    return orjson.dumps(body).decode()


async def vllm(aiohttp_server: Any, gateway_factory: Any) -> tuple[FakeUpstream, Any]:
    """A gateway in front of an OpenAI-compatible server that applies its chat template's rules."""
    fake = FakeUpstream()
    server = await aiohttp_server(openai_upstream.make_vllm_app(fake))
    params = {
        "model": "hosted_vllm/Qwen/Qwen3-Coder-30B",
        "api_base": str(server.make_url("/v1")),
        "api_key": UPSTREAM_KEY,
    }
    gw = await gateway_factory([{"model_name": MODEL, "litellm_params": params}])
    return fake, gw


# --- 1. `messages` beside `input`: decided by content ------------------------------------

INPUT = [{"role": "user", "content": [{"type": "input_text", "text": "What is 2+2?"}]}]


@per_kind
@pytest.mark.parametrize("messages", [[], None])
async def test_empty_messages_beside_input_are_ignored(
    serve: Serve, kind: str, messages: Any
) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(Reply(text="4."))
    body = {"model": MODEL, "stream": True, "messages": messages, "input": INPUT}
    status, payloads = await gw.chat(body)
    assert status == 200, payloads
    assert_chat_stream(payloads)
    assert text_of(payloads) == "4." and "What is 2+2?" in sent_text(fake.last.body)


async def test_openai_sdk_user_sends_responses_items_with_an_empty_messages_list(
    serve: Serve,
) -> None:
    fake, gw = await serve("anthropic")
    fake.replies.append(Reply(text="4."))
    stream = await gw.openai().chat.completions.create(
        model=MODEL, messages=[], stream=True, extra_body={"input": INPUT}
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "4."


@per_kind
async def test_messages_and_input_both_with_items_are_merged_messages_first(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    body = {
        "model": MODEL,
        "stream": True,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Remember the number 7."},
            {"role": "assistant", "content": "Noted: 7."},
        ],
        "input": [{"role": "user", "content": "Which number did I give you?"}],
    }
    status, payloads = await gw.chat(body)
    assert status == 200, payloads
    sent = sent_text(fake.last.body)
    order = [sent.index(t) for t in ("Remember the number 7.", "Noted: 7.", "Which number")]
    assert order == sorted(order) and "Be brief." in sent


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [], "input": []},
        {"messages": None, "input": None},
        {"messages": [], "input": ""},
    ],
)
async def test_a_body_with_neither_messages_nor_input_is_refused(
    serve: Serve, body: dict[str, Any]
) -> None:
    fake, gw = await serve("openai")
    status, err = await gw.chat({"model": MODEL, **body})
    assert status == 400 and "no conversation" in err["error"]["message"]
    assert fake.requests == []


# --- 2. custom tools with a Chat-shaped grammar ----------------------------------------

CHAT_APPLY_PATCH = {
    "type": "custom",
    "custom": {
        "name": "ApplyPatch",
        "description": "Edit files by sending a patch in the V4A format.",
        "format": {
            "type": "grammar",
            "grammar": {"definition": GRAMMAR["definition"], "syntax": "lark"},
        },
    },
}


@per_kind
async def test_chat_shaped_custom_tool_grammar_reaches_every_upstream(
    serve: Serve, kind: str
) -> None:
    fake, gw = await serve(kind)
    body = {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": "Add a flag."}],
        "tools": [CHAT_APPLY_PATCH, WEATHER],
    }
    status, payloads = await gw.chat(body)
    assert status == 200, payloads
    tool = sent_tools(kind, fake.last.body)[0]
    if KINDS[kind].native_custom_tools:
        assert tool["format"] == GRAMMAR  # the Responses API's flat shape
    else:
        assert GRAMMAR["definition"] in tool["description"]
        assert "lark grammar" in tool["description"]


@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "grammar", "grammar": {"definition": "start: x", "syntax": "lark"}},
        {"type": "grammar", "syntax": "lark"},
        {"type": "grammar", "syntax": "ebnf", "definition": "start: x"},
        {"type": "json"},
    ],
)
def test_responses_fake_refuses_a_custom_format_the_api_refuses(fmt: dict[str, Any]) -> None:
    tool = {"type": "custom", "name": "ApplyPatch", "format": fmt}
    body = {"model": "gpt-5.1", "input": "hi", "tools": [tool]}
    assert openai_responses_upstream.validate(body) is not None


@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "grammar", "syntax": "lark", "definition": "start: x"},
        {"type": "grammar", "grammar": {"definition": "start: x"}},
        {"type": "text", "grammar": {}},
    ],
)
def test_chat_fake_refuses_a_custom_format_the_api_refuses(fmt: dict[str, Any]) -> None:
    tool = {"type": "custom", "custom": {"name": "ApplyPatch", "format": fmt}}
    body = {"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    assert openai_upstream.validate_chat(body) is not None


def test_fakes_take_custom_formats_in_their_own_dialect() -> None:
    flat = {"type": "custom", "name": "ApplyPatch", "format": GRAMMAR}
    assert (
        openai_responses_upstream.validate({"model": "m", "input": "hi", "tools": [flat]}) is None
    )
    nested = CHAT_APPLY_PATCH
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [nested]}
    assert openai_upstream.validate_chat(chat) is None


# --- 3. a tool result separated from its call --------------------------------------------


@per_kind
async def test_result_separated_from_its_call_is_moved_next_to_it(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    fake.replies.append(Reply(text="Paris is sunny."))
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "user", "content": "And be quick about it."},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    status, payloads = await gw.chat(
        {"model": MODEL, "stream": True, "messages": messages, "tools": [WEATHER]}
    )
    assert status == 200, payloads
    sent = fake.last.body
    (result,) = sent_results(kind, sent)
    assert "sunny, 21 C" in sent_text(result) and "No result was recorded" not in sent_text(sent)
    assert len(sent_calls(kind, sent)) == 1
    text = sent_text(sent)
    assert text.index("sunny, 21 C") < text.index("And be quick about it.")


# --- 4. system text after the first turn ------------------------------------------------

LATE_SYSTEM = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "system", "content": "The user prefers French."},
    {"role": "user", "content": "How are you?"},
]


async def test_late_system_text_is_hoisted_for_an_openai_compatible_server(
    aiohttp_server: Any, gateway_factory: Any
) -> None:
    fake, gw = await vllm(aiohttp_server, gateway_factory)
    status, payloads = await gw.chat({"model": MODEL, "stream": True, "messages": LATE_SYSTEM})
    assert status == 200, payloads
    sent = fake.last.body["messages"]
    assert sent[0] == {
        "role": "system",
        "content": "You are terse.\n\nThe user prefers French.",
    }
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize("kind", ["openai", "azure"])
async def test_chat_upstreams_get_one_leading_system_message(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat({"model": MODEL, "stream": True, "messages": LATE_SYSTEM})
    assert status == 200
    roles = [m["role"] for m in fake.last.body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


# --- 5. empty text parts ----------------------------------------------------------------

EMPTY_BESIDE_IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": ""},
            {"type": "image_url", "image_url": {"url": PIXEL}},
            {"type": "text", "text": "What is this?"},
        ],
    }
]


@per_kind
async def test_empty_text_parts_are_dropped(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    status, _ = await gw.chat({"model": MODEL, "stream": True, "messages": EMPTY_BESIDE_IMAGE})
    assert status == 200
    parts = sent_user_parts(kind, fake.last.body)
    assert len(parts) == 2 and "What is this?" in sent_text(parts)
    assert all(p.get("text", "x") for p in parts)
    if wire(kind) == "responses":
        assert all(p["type"] != "input_text" or p["text"] for p in parts)


async def test_empty_text_part_beside_an_image_reaches_an_openai_compatible_server(
    aiohttp_server: Any, gateway_factory: Any
) -> None:
    fake, gw = await vllm(aiohttp_server, gateway_factory)
    status, payloads = await gw.chat(
        {"model": MODEL, "stream": True, "messages": EMPTY_BESIDE_IMAGE}
    )
    assert status == 200, payloads
    assert [p["type"] for p in fake.last.body["messages"][0]["content"]] == ["image_url", "text"]


def empty_parts(body: Any) -> list[Any]:
    """Every text part or block with empty text, whatever the upstream's shape."""
    found: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if v.get("type") in ("text", "input_text", "output_text") and v.get("text") == "":
                found.append(v)
            if set(v) == {"text"} and v["text"] == "":  # a Gemini part
                found.append(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(body)
    return found


@per_kind
async def test_an_empty_message_sends_no_empty_part(serve: Serve, kind: str) -> None:
    fake, gw = await serve(kind)
    messages = [
        {"role": "user", "content": [{"type": "text", "text": ""}]},
        {"role": "assistant", "content": "Yes?"},
        {"role": "user", "content": "What is 2+2?"},
    ]
    status, payloads = await gw.chat({"model": MODEL, "stream": True, "messages": messages})
    assert status == 200, payloads
    assert empty_parts(fake.last.body) == []
