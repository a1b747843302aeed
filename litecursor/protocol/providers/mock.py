"""`mock/<anything>`: an offline, deterministic model for demos and tests.

It is a tiny OpenAI Chat Completions server that lives in-process: the gateway builds the same
Chat Completions request for it as for any OpenAI-compatible upstream, the upstream client's
mock transport hands that request to `respond` instead of the network (the way httpx's
`MockTransport` stands in for one), and the answer goes through the same decoder and encoder.
Behaviour, from the last message:
- a user line `/tool NAME {json args}` (one line per call; several lines = parallel calls) calls
  that tool; for a custom tool (ApplyPatch) the rest of the line (and the lines after it up to
  the next `/tool`) is the raw input, answered the way function-only upstreams answer custom
  tools (`{"input": "<raw>"}`);
- a tool result is acknowledged: `Tool NAME returned: <first 200 characters>`;
- anything else is streamed back word by word.
With a reasoning effort set it first "thinks" a short line. Usage counts words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from ...errors import InvalidRequestError, LitecursorError
from ..inbound import parse_request
from ..tools import custom_tool_parameters
from ..types import ChatRequest, Message
from .base import HttpRequest, Target
from .openai_chat import OpenAIChatProvider, build_chat_body

_TOOL_LINE = re.compile(r"^/tool\s+([A-Za-z0-9_.\-]+)\s*(.*)$")
MOCK_URL = "mock://local/chat/completions"
#: the header that carries `litellm_params.mock_delay` to the transport
DELAY_HEADER = "x-mock-delay"
_CUSTOM_PARAMETERS = custom_tool_parameters()


class MockProvider(OpenAIChatProvider):
    name = "mock"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        headers = {"content-type": "application/json"}
        if target.options.mock_delay:
            headers[DELAY_HEADER] = repr(target.options.mock_delay)
        return HttpRequest("POST", MOCK_URL, headers, orjson.dumps(build_chat_body(req, target)))


@dataclass(frozen=True, slots=True)
class MockAnswer:
    """What the mock server answers: a status, a content type and the body in pieces (one
    piece per SSE chunk when streaming), paced by `delay` seconds."""

    status: int
    content_type: str
    pieces: list[bytes]
    delay: float = 0.0


def respond(http: HttpRequest) -> MockAnswer:
    """The mock server's answer to a Chat Completions request."""
    delay = float(http.headers.get(DELAY_HEADER, 0) or 0)
    try:
        body = orjson.loads(http.body)
        req = parse_request(body)
        answer = _answer(req)
    except (orjson.JSONDecodeError, LitecursorError) as e:
        message = e.message if isinstance(e, LitecursorError) else f"not JSON: {e}"
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
        return MockAnswer(400, "application/json", [orjson.dumps({"error": error})])
    model = str(body.get("model", "mock"))
    if req.stream:
        return MockAnswer(200, "text/event-stream", _render_stream(model, answer), delay)
    return MockAnswer(200, "application/json", [orjson.dumps(_render_body(model, answer))], delay)


class _Answer:
    __slots__ = ("calls", "completion_tokens", "prompt_tokens", "reasoning", "words")

    def __init__(self) -> None:
        self.reasoning = ""
        self.words: list[str] = []
        self.calls: list[tuple[str, str, str]] = []  # (id, name, arguments)
        self.prompt_tokens = 0
        self.completion_tokens = 0


def _answer(req: ChatRequest) -> _Answer:
    a = _Answer()
    a.prompt_tokens = sum(len(m.text.split()) for m in req.messages) + 1
    last = req.messages[-1]
    if req.reasoning_effort not in (None, "none"):
        a.reasoning = f"The user wants a reply to: {last.text[:60]}"
    if last.role == "tool":
        name = _tool_name(req.messages, last)
        a.words = f"Tool {name} returned: {last.text[:200]}".split(" ")
    else:
        a.calls = _tool_calls(req, last)
        if not a.calls:
            a.words = (last.text or "(empty message)").split(" ")
    a.completion_tokens = len(a.words) + len(a.calls) + len(a.reasoning.split())
    return a


def _tool_name(messages: tuple[Message, ...], result: Message) -> str:
    for m in messages:
        for c in m.tool_calls:
            if c.id == result.tool_call_id:
                return c.name
    return result.name or result.tool_call_id or "tool"


def _tool_calls(req: ChatRequest, last: Message) -> list[tuple[str, str, str]]:
    if last.role != "user" or "/tool" not in last.text:
        return []
    calls: list[tuple[str, str, str]] = []
    lines = last.text.splitlines()
    i = 0
    while i < len(lines):
        match = _TOOL_LINE.match(lines[i].strip())
        i += 1
        if not match:
            continue
        name, rest = match.groups()
        tool = req.tool(name)
        if tool is None:
            raise InvalidRequestError(
                f"mock: the request has no tool named '{name}' "
                f"(tools: {', '.join(t.name for t in req.tools) or 'none'})",
                param="tools",
            )
        if tool.kind == "custom" or tool.parameters == _CUSTOM_PARAMETERS:
            body = [rest] if rest else []
            while i < len(lines) and not _TOOL_LINE.match(lines[i].strip()):
                body.append(lines[i])
                i += 1
            # a custom tool reaches a Chat upstream as a function with one string parameter
            args = orjson.dumps({"input": "\n".join(body)}).decode()
        else:
            args = rest or "{}"
            try:
                orjson.loads(args)
            except orjson.JSONDecodeError:
                args = orjson.dumps({"input": rest}).decode()
        calls.append((f"call_mock_{len(calls)}", name, args))
    return calls


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    obj = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _usage(a: _Answer) -> dict[str, int]:
    return {
        "prompt_tokens": a.prompt_tokens,
        "completion_tokens": a.completion_tokens,
        "total_tokens": a.prompt_tokens + a.completion_tokens,
    }


def _render_stream(model: str, a: _Answer) -> list[bytes]:
    out = [_chunk(model, {"role": "assistant", "content": ""})]
    if a.reasoning:
        out.append(_chunk(model, {"reasoning_content": a.reasoning}))
    for i, word in enumerate(a.words):
        out.append(_chunk(model, {"content": word if i == 0 else " " + word}))
    for i, (call_id, name, args) in enumerate(a.calls):
        out.append(
            _chunk(
                model,
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                },
            )
        )
        half = len(args) // 2
        for piece in (args[:half], args[half:]):
            if piece:
                out.append(
                    _chunk(model, {"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
                )
    out.append(_chunk(model, {}, "tool_calls" if a.calls else "stop"))
    usage = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [],
        "usage": _usage(a),
    }
    out.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


def _render_body(model: str, a: _Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": " ".join(a.words) or None}
    if a.reasoning:
        message["reasoning_content"] = a.reasoning
    if a.calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for cid, name, args in a.calls
        ]
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if a.calls else "stop"}
        ],
        "usage": _usage(a),
    }
