"""OpenAI Responses API (`POST /v1/responses`): the adapter and its request building.

Placement of system text: the system messages that open the conversation become
`instructions` (joined in order with a blank line); a system message that arrives later
becomes a `developer` message item at its own position, so what came before and after it
keeps its order.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..tools import unwrap_custom_arguments
from ..types import (
    ChatRequest,
    Event,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
)
from .base import (
    CALL_ID_MAX,
    HttpRequest,
    Provider,
    Target,
    bearer_headers,
    join_url,
    json_body,
    prompt_cache_key,
    short_call_id,
)
from .openai_responses_stream import ResponsesStreamDecoder, decode_response_object

_MIN_OUTPUT_TOKENS = 16  # the API rejects a smaller max_output_tokens


def restore_map(req: ChatRequest) -> dict[str, str]:
    """Shortened call id -> the client's original, for the ids this request had to shorten."""
    out: dict[str, str] = {}
    for m in req.messages:
        for cid in (*(tc.id for tc in m.tool_calls), m.tool_call_id or ""):
            if len(cid) > CALL_ID_MAX:
                out[short_call_id(cid)] = cid
    return out


# ---------------------------------------------------------------------------------------------
# request
# ---------------------------------------------------------------------------------------------


def _parts(m: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, ImagePart):
            parts.append({"type": "input_image", "image_url": p.url, "detail": p.detail or "auto"})
        else:
            parts.append({"type": "input_text", "text": p.text})
    return parts or [{"type": "input_text", "text": ""}]


def _call_item(tc: ToolCall, custom: bool) -> dict[str, Any]:
    cid = short_call_id(tc.id)
    if not custom:
        args = tc.arguments or "{}"
        return {"type": "function_call", "call_id": cid, "name": tc.name, "arguments": args}
    # a custom call replayed as a function envelope may still be JSON-wrapped
    raw = tc.arguments if tc.kind == "custom" else unwrap_custom_arguments(tc.arguments)
    return {"type": "custom_tool_call", "call_id": cid, "name": tc.name, "input": raw}


def input_items(req: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    """(instructions, input items) for the request's conversation."""
    custom_names = req.custom_tool_names
    custom_ids = {
        tc.id
        for m in req.messages
        for tc in m.tool_calls
        if tc.kind == "custom" or tc.name in custom_names
    }
    call_ids = {tc.id for m in req.messages for tc in m.tool_calls}
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for m in req.messages:
        content = m.content
        # one text part is the usual content: no join to make, no image to look for
        one = content[0] if len(content) == 1 else None
        if m.role == "system":
            if items:
                if content:
                    items.append({"type": "message", "role": "developer", "content": _parts(m)})
            else:
                instructions.append(m.text)
        elif m.role == "user":
            if content:  # an empty message says nothing, and no part may be empty
                items.append({"type": "message", "role": "user", "content": _parts(m)})
        elif m.role == "assistant":
            text = one.text if isinstance(one, TextPart) else m.text
            if text or m.tool_calls:  # a reasoning item must be followed by the item it produced
                if m.reasoning:
                    # only this API's own items: another upstream's thinking means nothing here
                    items.extend(r for r in m.reasoning if r.get("type") == "reasoning")
                if text:
                    said = [{"type": "output_text", "text": text}]
                    items.append({"type": "message", "role": "assistant", "content": said})
                for tc in m.tool_calls:
                    items.append(_call_item(tc, tc.id in custom_ids))
        else:
            cid = m.tool_call_id or ""
            # an answer to an unknown call can only be matched by its tool's name
            custom = cid in custom_ids if cid in call_ids else m.name in custom_names
            output: str | list[dict[str, Any]]
            if isinstance(one, TextPart):
                output = one.text
            elif any(isinstance(p, ImagePart) for p in content):
                output = _parts(m)
            else:
                output = m.text
            items.append(
                {
                    "type": "custom_tool_call_output" if custom else "function_call_output",
                    "call_id": short_call_id(cid),
                    "output": output,
                }
            )
    if not items:  # the API wants some input: the one message there was, empty
        items.append({"type": "message", "role": "user", "content": ""})
    return ("\n\n".join(instructions) if instructions else None), items


def _tools(req: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in req.tools:
        tool: dict[str, Any]
        if t.kind == "custom":
            tool = {"type": "custom", "name": t.name}
            if t.description:
                tool["description"] = t.description
            if t.format:
                tool["format"] = t.format
        else:
            tool = {"type": "function", "name": t.name}
            if t.description:
                tool["description"] = t.description
            tool["parameters"] = t.parameters or {"type": "object", "properties": {}}
            # the Responses API defaults `strict` to true, which rejects ordinary schemas
            tool["strict"] = bool(t.strict)
        out.append(tool)
    return out


def _reasoning(effort: str | None, summary: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if effort is not None:
        out["effort"] = effort
    if summary is None and effort not in (None, "none"):
        summary = "auto"  # without it the API streams no summary at all
    if summary is not None:
        out["summary"] = summary
    return out


def _text(req: ChatRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if req.verbosity is not None:
        out["verbosity"] = req.verbosity
    rf = req.response_format
    if rf is not None and rf.type == "json_schema":
        fmt: dict[str, Any] = {"type": "json_schema", "name": rf.name or "response"}
        fmt["schema"] = rf.schema or {}
        if rf.strict is not None:
            fmt["strict"] = rf.strict
        out["format"] = fmt
    elif rf is not None:
        out["format"] = {"type": rf.type}
    return out


def build_responses_body(req: ChatRequest, target: Target) -> dict[str, Any]:
    """The Responses API body. Only fields the API defines, and only when set."""
    instructions, items = input_items(req)
    body: dict[str, Any] = {"model": target.model}
    if instructions is not None:
        body["instructions"] = instructions
    body["input"] = items
    if req.stream:
        body["stream"] = True
    if req.tools:
        body["tools"] = _tools(req)
        tc = req.tool_choice
        if tc is not None:
            if tc.name:
                tool = req.tool(tc.name)
                kind = "custom" if tool is not None and tool.kind == "custom" else "function"
                body["tool_choice"] = {"type": kind, "name": tc.name}
            else:
                body["tool_choice"] = tc.mode
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    d = target.defaults
    max_tokens = req.max_tokens if req.max_tokens is not None else d.max_tokens
    if max_tokens is not None:
        body["max_output_tokens"] = max(int(max_tokens), _MIN_OUTPUT_TOKENS)
    effort = req.reasoning_effort if req.reasoning_effort is not None else d.reasoning_effort
    # reasoning models refuse sampling parameters (400 "Unsupported parameter: 'temperature'")
    sampling = effort is None or effort == "none"
    for name in ("temperature", "top_p"):
        value = getattr(req, name)
        if value is None:
            value = getattr(d, name)
        if value is not None and sampling:
            body[name] = value
    reasoning = _reasoning(effort, req.reasoning_summary)
    if reasoning:
        body["reasoning"] = reasoning
    text = _text(req)
    if text:
        body["text"] = text
    body.update(req.responses_extras)  # only `RESPONSES_EXTRAS`, as the client sent them
    body.setdefault("store", False)  # litecursor resends the whole history every turn
    if body["store"] is False and "reasoning" in body and body["reasoning"].get("effort") != "none":
        # with nothing stored upstream, reasoning survives to the next turn only encrypted
        include = list(body.get("include") or ())
        if "reasoning.encrypted_content" not in include:
            body["include"] = [*include, "reasoning.encrypted_content"]
    cache_key = prompt_cache_key(req, target)
    if cache_key is not None:
        body["prompt_cache_key"] = cache_key
    if req.service_tier is not None:
        body["service_tier"] = "priority" if req.service_tier == "fast" else req.service_tier
    if req.user:
        body["user"] = req.user[:CALL_ID_MAX]  # the same 64-character limit
    return body


class OpenAIResponsesProvider(Provider):
    name = "openai"
    native_custom_tools = True

    def build_request(self, req: ChatRequest, target: Target) -> HttpRequest:
        return HttpRequest(
            "POST",
            join_url(target.api_base or "https://api.openai.com/v1", "responses"),
            bearer_headers(target),
            orjson.dumps(build_responses_body(req, target)),
        )

    def stream_decoder(self, req: ChatRequest, target: Target) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder(restore_map(req))

    def decode_body(self, body: bytes, req: ChatRequest, target: Target) -> list[Event]:
        return decode_response_object(json_body(body, self.name), restore_map(req))
