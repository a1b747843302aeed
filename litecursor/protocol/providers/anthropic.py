"""Anthropic Messages API (`POST /v1/messages`): the adapter and its request building."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from ..history import MISSING_RESULT
from ..tools import INPUT_PARAM, custom_tool_description, custom_tool_parameters
from ..types import (
    ChatRequest,
    Event,
    ImagePart,
    Message,
    TextPart,
)
from .anthropic_cache import mark_cache
from .anthropic_stream import AnthropicStreamDecoder, decode_message
from .base import HttpRequest, Provider, Target, join_url, json_body

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 8192
MIN_THINKING_BUDGET = 1024  # the API rejects a smaller budget
#: reasoning effort -> thinking budget. low/medium/high are LiteLLM's defaults, so a config moved
#: from LiteLLM thinks as much as before; "minimal" is raised to the API's minimum.
#: `litellm_params.thinking_budget` in a deployment overrides the table (0 turns thinking off).
THINKING_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 2048,
    "high": 4096,
    "xhigh": 8192,
    "max": 16384,
}

_THINKING_TYPES = ("thinking", "redacted_thinking")
_ID_OK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ID_BAD = re.compile(r"[^A-Za-z0-9_-]+")
_PLACEHOLDER_USER = "Continue."


def tool_id(raw: str) -> str:
    """An id Anthropic accepts (``^[a-zA-Z0-9_-]+$``). Cursor's ids may hold other characters
    (even newlines) or be long; the same input always gives the same output, so a tool_use and
    its tool_result stay paired, and the hash keeps two cleaned ids from colliding."""
    if _ID_OK.fullmatch(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
    stem = _ID_BAD.sub("_", raw)[:40].strip("_")
    return f"{stem}_{digest}" if stem else f"call_{digest}"


def tool_input(arguments: str) -> dict[str, Any]:
    """A replayed call's JSON arguments as the object `input` must be. Text that is not a JSON
    object (a model's broken output) is kept whole under `input` rather than failing the turn."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {INPUT_PARAM: arguments}
    return value if isinstance(value, dict) else {INPUT_PARAM: value}


def _image(p: ImagePart) -> dict[str, Any] | None:
    if p.url.startswith("data:"):
        data = p.base64_data
        if data is None:
            return None  # only base64 data URLs can be sent
        source = {"type": "base64", "media_type": p.media_type or "image/png", "data": data}
    elif p.url.startswith(("http://", "https://")):
        source = {"type": "url", "url": p.url}
    else:
        return None
    return {"type": "image", "source": source}


def _parts(m: Message) -> list[dict[str, Any]]:
    """Text and image blocks; the API refuses empty text blocks."""
    blocks: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, TextPart):
            if p.cache_control is not None:  # the client's own breakpoint
                blocks.append({"type": "text", "text": p.text, "cache_control": p.cache_control})
            elif p.text:
                blocks.append({"type": "text", "text": p.text})
        elif (block := _image(p)) is not None:
            blocks.append(block)
        else:
            blocks.append({"type": "text", "text": "[image omitted: not a base64 or http(s) URL]"})
    return blocks


def _assistant(m: Message, custom: frozenset[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if m.reasoning:  # signed thinking blocks this API produced, replayed by a client or a cache
        blocks += [b for r in m.reasoning if (b := _thinking_block(r)) is not None]
    blocks += _parts(m)
    for tc in m.tool_calls:
        is_custom = tc.kind == "custom" or tc.name in custom
        args = {INPUT_PARAM: tc.arguments} if is_custom else tool_input(tc.arguments)
        blocks.append({"type": "tool_use", "id": tool_id(tc.id), "name": tc.name, "input": args})
    return blocks


def _thinking_block(r: dict[str, Any]) -> dict[str, Any] | None:
    if r.get("type") == "thinking" and r.get("signature"):
        return {
            "type": "thinking",
            "thinking": r.get("thinking") or "",
            "signature": r["signature"],
        }
    if r.get("type") == "redacted_thinking" and r.get("data"):
        return {"type": "redacted_thinking", "data": r["data"]}
    return None  # other upstreams' reasoning (OpenAI encrypted items) means nothing here


def _tool_result(m: Message) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id(m.tool_call_id or "")}
    content = m.content
    if len(content) == 1 and isinstance(content[0], TextPart):  # the usual result: one text
        if content[0].text:
            block["content"] = content[0].text
    elif any(isinstance(p, ImagePart) for p in content):
        block["content"] = _parts(m)
    else:
        text = m.text
        if text:
            block["content"] = text
    return block


def _turns(req: ChatRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, alternating user/assistant turns) from the chat history."""
    custom = req.custom_tool_names
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for m in req.messages:
        if m.role == "system":
            if m.text:
                system.append({"type": "text", "text": m.text})
                mark = next(
                    (
                        p.cache_control
                        for p in m.content
                        if isinstance(p, TextPart) and p.cache_control
                    ),
                    None,
                )
                if mark is not None:
                    system[-1]["cache_control"] = mark
            continue
        if m.role == "tool":
            role, blocks = "user", [_tool_result(m)]
        elif m.role == "assistant":
            role, blocks = "assistant", _assistant(m, custom)
        else:
            role, blocks = "user", _parts(m)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, _pair_tool_results(turns)


def _pair_tool_results(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tool_use must be answered by a tool_result at the start of the very next user turn,
    and every tool_result must answer a tool_use of the turn before, or the API says 400.
    Histories break this (interrupted calls, results replayed late), so: missing results are
    filled in, stray results become text, and results go first in their turn."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # tool_use ids of the assistant turn just before
    for turn in turns:
        if turn["role"] == "assistant":
            if pending:
                out.append({"role": "user", "content": _missing(pending)})
            pending = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
            out.append(turn)
            continue
        results: dict[str, dict[str, Any]] = {}
        rest: list[dict[str, Any]] = []
        for b in turn["content"]:
            if b["type"] != "tool_result":
                rest.append(b)
            elif b["tool_use_id"] in pending and b["tool_use_id"] not in results:
                results[b["tool_use_id"]] = b
            else:
                rest.append({"type": "text", "text": _stray_text(b)})
        content = [results.get(i) or _missing([i])[0] for i in pending] + rest
        pending = []
        if content:
            out.append({"role": "user", "content": content})
    if pending:
        out.append({"role": "user", "content": _missing(pending)})
    if not out or out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": _PLACEHOLDER_USER}]})
    return out


def _missing(ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"type": "tool_result", "tool_use_id": i, "content": MISSING_RESULT, "is_error": True}
        for i in ids
    ]


def _stray_text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        content = "".join(c.get("text", "") for c in content if c.get("type") == "text")
    return f"Result of tool call {block['tool_use_id']}:\n{content}"


def _tools(req: ChatRequest, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for t in req.tools:
        if t.kind == "custom":
            tool = {
                "name": t.name,
                "description": custom_tool_description(t),
                "input_schema": custom_tool_parameters(),
            }
        else:
            schema = dict(t.parameters or {})
            schema.setdefault("type", "object")  # the API wants an object schema at the top
            tool = {"name": t.name, "input_schema": schema}
            if t.description:
                tool["description"] = t.description
        if t.cache_control is not None:
            tool["cache_control"] = t.cache_control
        tools.append(tool)
    if tools:
        return tools
    # The API refuses tool_use / tool_result blocks in a request without tools (Cursor's Ask
    # mode replays agent history with `tools: null`): declare the names used, and forbid calls.
    names = dict.fromkeys(
        b["name"]
        for t in turns
        if t["role"] == "assistant"
        for b in t["content"]
        if b["type"] == "tool_use"
    )
    return [
        {"name": n, "description": "Not available now.", "input_schema": {"type": "object"}}
        for n in names
    ]


def _tool_choice(req: ChatRequest, declared_only: bool) -> dict[str, Any] | None:
    if declared_only:
        return {"type": "none"}
    tc = req.tool_choice
    if tc is None and req.parallel_tool_calls is not False:
        return None  # the API's default is auto
    if tc is None:
        choice: dict[str, Any] = {"type": "auto"}
    elif tc.name:
        choice = {"type": "tool", "name": tc.name}
    else:
        choice = {"type": {"auto": "auto", "none": "none", "required": "any"}[tc.mode]}
    if req.parallel_tool_calls is False and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = True
    return choice


def _thinking_budget(req: ChatRequest, target: Target, turns: list[dict[str, Any]]) -> int | None:
    effort = req.reasoning_effort
    if effort is None:
        effort = target.defaults.reasoning_effort
    explicit = target.options.thinking_budget
    if effort == "none" or (effort is None and explicit is None):
        return None
    budget = (
        int(explicit)
        if explicit is not None
        else THINKING_BUDGETS.get(str(effort), THINKING_BUDGETS["medium"])
    )
    if budget <= 0:
        return None
    tc = req.tool_choice
    if tc is not None and (tc.name or tc.mode == "required"):
        return None  # the API refuses thinking together with a forced tool call
    last = turns[-1]
    if last["role"] == "assistant":
        return None  # a prefilled answer cannot start with thinking
    final = next((t for t in reversed(turns) if t["role"] == "assistant"), None)
    if final is not None:
        content = final["content"]
        if (
            any(b["type"] == "tool_use" for b in content)
            and content[0]["type"] not in _THINKING_TYPES
        ):
            # With thinking on, the API requires the last assistant turn of a tool loop to start
            # with its signed thinking block, and Cursor never replays those: think next turn.
            return None
    return max(budget, MIN_THINKING_BUDGET)


def _strip_prefill(turns: list[dict[str, Any]]) -> None:
    """A final assistant turn is a prefill, whose text may not end in whitespace."""
    content = turns[-1]["content"]
    if content[-1]["type"] == "text":
        text = content[-1]["text"].rstrip()
        if text:
            content[-1]["text"] = text
        else:
            content.pop()
            if not content:
                turns.pop()


def build_messages_body(req: ChatRequest, target: Target) -> dict[str, Any]:
    """The Messages API body. Only fields the API defines, and only when set."""
    system, turns = _turns(req)
    if turns[-1]["role"] == "assistant":
        _strip_prefill(turns)
    max_tokens = req.max_tokens or target.defaults.max_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": target.model, "max_tokens": int(max_tokens)}
    if system:
        body["system"] = system
    body["messages"] = turns
    tools = _tools(req, turns)
    if tools:
        body["tools"] = tools
        choice = _tool_choice(req, declared_only=not req.tools)
        if choice is not None:
            body["tool_choice"] = choice
    budget = _thinking_budget(req, target, turns)
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if body["max_tokens"] <= budget:
            # the budget is part of max_tokens: the client's limit is kept for the answer
            body["max_tokens"] = budget + body["max_tokens"]
    else:  # the API refuses sampling parameters while thinking
        temperature = (
            req.temperature if req.temperature is not None else target.defaults.temperature
        )
        if temperature is not None:  # OpenAI's range is 0-2, this API's 0-1
            body["temperature"] = min(float(temperature), 1.0)
        top_p = req.top_p if req.top_p is not None else target.defaults.top_p
        if top_p is not None:
            body["top_p"] = top_p
        if target.defaults.top_k is not None:
            body["top_k"] = target.defaults.top_k
    stops = [s for s in req.stop if s.strip()]  # whitespace-only stop sequences are refused
    if stops:
        body["stop_sequences"] = stops
    if req.user:
        body["metadata"] = {"user_id": req.user[:256]}
    if req.stream:
        body["stream"] = True
    if target.options.prompt_caching:
        mark_cache(body)
    return body


class AnthropicProvider(Provider):
    name = "anthropic"

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        base = target.api_base.rstrip("/")
        url = join_url(base, "messages" if base.endswith("/v1") else "v1/messages")
        headers = {
            "content-type": "application/json",
            "anthropic-version": target.api_version or API_VERSION,
        }
        if target.api_key:
            headers["x-api-key"] = target.api_key
        headers.update(target.headers)
        return HttpRequest("POST", url, headers, orjson.dumps(build_messages_body(req, target)))

    def stream_decoder(self, req: ChatRequest, target: Target) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def decode_body(self, body: bytes, req: ChatRequest, target: Target) -> list[Event]:
        return decode_message(json_body(body, self.name))
